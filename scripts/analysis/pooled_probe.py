"""How much click information a language model's pooled prompt vector carries, for the plain
checkpoint and for the one FLIP's alignment pretraining wrote: for a sample of a prepared
dataset's training and validation prompts, the mean-pooled and the [CLS] vector of each model,
with their geometry (norms, mean pairwise cosine, variance on the first principal components),
the logit spread a freshly initialised linear head would give them, the validation AUC of a
logistic-regression probe trained on them, and next to that the AUC of a per-title click-rate
lookup (no model).

    OMP_NUM_THREADS=1 python scripts/analysis/pooled_probe.py \
        --plain $FLIP_HOME/models/all-MiniLM-L6-v2 --pretrained $RUN/pretrain/plm \
        --data $FLIP_HOME/prepared/ml-1m-short-temporal --rows 20000 --out pooled_probe.txt

Does the alignment pretraining leave the pooled vector, the one FLIP_PLM's head reads, with more
or less click information than the checkpoint it started from? The probe answers that; the
geometry and head spread say whether a new head starts from a vector that barely varies.

Each model is a numpy BERT forward (no torch) of the first K transformer layers of the folder's
model.safetensors, K from its config.json unless --plain-layers/--pretrained-layers cut it;
--plain-layers defaults to 2, as our product keeps 2 layers of all-MiniLM-L6-v2. Rows are drawn
with seed 0, so both models see the same prompts. Numeric libraries run on one thread unless the
environment says otherwise. --self-check first runs the whole plain model on five sentences
(paraphrase and non-paraphrase cosines, padding invariance) with the folder's tokenizer.json;
that needs the `tokenizers` package, no network. Needs numpy, pyarrow, scipy, scikit-learn and
safetensors; 20000 rows take about 5 minutes per model on one core."""
import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import argparse
import dataclasses
import json
import pathlib
import re
import time

import numpy as np
import pyarrow.parquet as pq
from safetensors.numpy import load_file
from scipy.special import erf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

parser = argparse.ArgumentParser()
parser.add_argument("--plain", type=pathlib.Path, required=True,
                    help="folder of the plain checkpoint (config.json, model.safetensors)")
parser.add_argument("--pretrained", type=pathlib.Path, required=True,
                    help="folder of the language model FLIP's pretraining wrote")
parser.add_argument("--data", type=pathlib.Path, required=True,
                    help="a prepared dataset folder (train.parquet, valid.parquet)")
parser.add_argument("--rows", type=int, default=20000, help="rows drawn from each split")
parser.add_argument("--plain-layers", type=int, default=2,
                    help="transformer layers of the plain model to run")
parser.add_argument("--pretrained-layers", type=int, default=None,
                    help="transformer layers of the pretrained model to run (default: its config)")
parser.add_argument("--self-check", action="store_true",
                    help="first check the forward on paraphrases (needs `tokenizers`)")
parser.add_argument("--out", type=pathlib.Path, help="also write what is printed to this file")
args = parser.parse_args()

start = time.time()
out = open(args.out, "w") if args.out else None
CLICK_RATE_SMOOTHING = 5.0  # pseudo-rows at the overall click rate in the title lookup
PROBE_C = (0.01, 0.1, 1.0)  # inverse regularisation strengths of the standardised probe


def log(text=""):
    print(text, flush=True)
    if out:
        print(text, file=out, flush=True)


# ---------------- the forward ----------------
@dataclasses.dataclass
class Bert:
    weights: dict  # parameter name without "bert." -> float32 array
    layers: int  # transformer layers run
    config_layers: int
    heads: int
    eps: float
    hidden: int


def load_bert(folder, layers):
    config = json.loads((folder / "config.json").read_text())
    if config.get("hidden_act", "gelu") != "gelu":
        raise SystemExit(f"{folder}: hidden_act {config['hidden_act']}, not gelu")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit(f"{folder}: position embeddings are not absolute")
    config_layers = config["num_hidden_layers"]
    layers = config_layers if layers is None else layers
    if layers > config_layers:
        raise SystemExit(f"{folder}: {layers} layers asked, the config has {config_layers}")
    weights = load_file(str(folder / "model.safetensors"))
    weights = {name.removeprefix("bert."): w.astype(np.float32) for name, w in weights.items()}
    return Bert(weights, layers, config_layers, config["num_attention_heads"],
                config.get("layer_norm_eps", 1e-12), config["hidden_size"])


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * weight + bias


def linear(model, x, name):
    return x @ model.weights[name + ".weight"].T + model.weights[name + ".bias"]


def split_heads(model, x):
    # (B, S, D) -> (B, heads, S, D / heads)
    batch, length, hidden = x.shape
    return x.reshape(batch, length, model.heads, hidden // model.heads).transpose(0, 2, 1, 3)


def embed(model, ids):
    # ids (B, S) -> (B, S, D), all tokens of token type 0
    w = model.weights
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:ids.shape[1]][None]
         + w["embeddings.token_type_embeddings.weight"][0][None, None])
    return layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"],
                      model.eps)


def attention(model, x, additive_mask, prefix):
    # x (B, S, D), additive_mask (B, 1, 1, S) -> (B, S, D) before the output projection
    q, k, v = (split_heads(model, linear(model, x, prefix + "attention.self." + part))
               for part in ("query", "key", "value"))
    scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(q.shape[-1])) + additive_mask
    scores = scores - scores.max(-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(-1, keepdims=True)
    return (probs @ v).transpose(0, 2, 1, 3).reshape(x.shape)


def transformer_layer(model, x, additive_mask, index):
    # (B, S, D) -> (B, S, D)
    p = f"encoder.layer.{index}."
    w = model.weights
    a = linear(model, attention(model, x, additive_mask, p), p + "attention.output.dense")
    x = layer_norm(a + x, w[p + "attention.output.LayerNorm.weight"],
                   w[p + "attention.output.LayerNorm.bias"], model.eps)
    h = gelu(linear(model, x, p + "intermediate.dense"))
    o = linear(model, h, p + "output.dense")
    return layer_norm(o + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
                      model.eps)


def forward(model, ids, mask):
    # ids (B, S) int64, mask (B, S) float32 1 on tokens -> mean-pooled (B, D), [CLS] (B, D)
    x = embed(model, ids)
    additive_mask = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
    for index in range(model.layers):
        x = transformer_layer(model, x, additive_mask, index)
    m = mask[..., None]
    return (x * m).sum(1) / m.sum(1), x[:, 0]


def encode(model, sequences, batch=256):
    # n token-id sequences -> mean-pooled (n, D), [CLS] (n, D); batches of similar lengths
    lengths = np.array([len(s) for s in sequences])
    order = np.argsort(lengths, kind="stable")
    mean = np.zeros((len(sequences), model.hidden), np.float32)
    cls = np.zeros((len(sequences), model.hidden), np.float32)
    for first in range(0, len(sequences), batch):
        rows = order[first:first + batch]
        ids = np.zeros((len(rows), lengths[rows].max()), np.int64)
        mask = np.zeros(ids.shape, np.float32)
        for j, row in enumerate(rows):
            ids[j, :lengths[row]] = sequences[row]
            mask[j, :lengths[row]] = 1
        mean[rows], cls[rows] = forward(model, ids, mask)
    return mean, cls


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def self_check(folder):
    """The whole model's mean-pooled cosines of paraphrases against unrelated sentences, and the
    largest change of a row's vector when it is padded next to a longer one."""
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    sentences = ["A man is playing a guitar.",
                 "Someone is playing an acoustic guitar.",
                 "The stock market fell sharply today.",
                 "How do I bake chocolate chip cookies?",
                 "What is a good recipe for chocolate cookies?"]
    sequences = [tokenizer.encode(s).ids for s in sentences]
    log(f"tokenized[0]: {sequences[0]}")
    model = load_bert(folder, None)
    mean, _ = encode(model, sequences, batch=8)
    log(f"{model.layers}-layer {folder.name} validation cosines (mean pool):")
    log(f"  guitar paraphrase      : {cosine(mean[0], mean[1]):.4f}")
    log(f"  guitar vs stock market : {cosine(mean[0], mean[2]):.4f}")
    log(f"  cookie paraphrase      : {cosine(mean[3], mean[4]):.4f}")
    log(f"  cookie vs guitar       : {cosine(mean[3], mean[0]):.4f}")
    alone, _ = encode(model, [sequences[0]], batch=8)
    padded, _ = encode(model, [sequences[0], sequences[3]], batch=8)
    log(f"  lens={[len(s) for s in sequences]}; padding invariance max|diff|: "
        f"{np.abs(alone[0] - padded[0]).max():.2e}")


# ---------------- data ----------------
def load_split(split):
    # -> labels (rows,), token-id sequences, prompts; the same rows for every model
    table = pq.read_table(args.data / f"{split}.parquet", columns=["label", "tokens", "prompt"])
    picked = np.random.default_rng(0).choice(table.num_rows, size=args.rows, replace=False)
    table = table.take(np.sort(picked))
    labels = table.column("label").to_numpy().astype(np.int64)
    sequences = [np.asarray(s, dtype=np.int64) for s in table.column("tokens").to_pylist()]
    return labels, sequences, table.column("prompt").to_pylist()


# ---------------- analyses ----------------
def geometry(x, rng):
    # x (n, D) -> norms, mean pairwise cosine of up to 2000 rows, principal-component shares
    x = x.astype(np.float64)
    norms = np.linalg.norm(x, axis=1)
    mean = x.mean(0)
    centred = x - mean
    sample = x[rng.choice(len(x), min(2000, len(x)), replace=False)]
    unit = sample / np.linalg.norm(sample, axis=1, keepdims=True)
    cosines = unit @ unit.T
    n = len(sample)
    variances = np.linalg.eigvalsh(centred.T @ centred / len(x))[::-1]
    return dict(mean_norm=norms.mean(), norm_of_mean=np.linalg.norm(mean),
                mean_norm_centered=np.linalg.norm(centred, axis=1).mean(),
                ratio=np.linalg.norm(mean) / norms.mean(),
                mean_pair_cos=(cosines.sum() - np.trace(cosines)) / (n * (n - 1)),
                pc1_frac=variances[0] / variances.sum(),
                pc1_3_frac=variances[:3].sum() / variances.sum())


def fresh_heads(x, rng, draws=20):
    # x (n, D) -> mean over draws of the logit spread of a head initialised U(-1/sqrt(D), 1/sqrt(D))
    x = x.astype(np.float64)
    bound = 1.0 / np.sqrt(x.shape[1])
    sds, mean_abs, means = [], [], []
    for _ in range(draws):
        weight = rng.uniform(-bound, bound, size=x.shape[1])
        bias = rng.uniform(-bound, bound)
        z = x @ weight + bias  # (n,)
        sds.append(z.std())
        mean_abs.append(np.abs(z).mean())
        means.append(z.mean())
    return dict(logit_sd=np.mean(sds), logit_mean_abs=np.mean(mean_abs),
                logit_mean_abs_of_mean=np.mean(np.abs(means)))


def probe(x_train, y_train, x_valid, y_valid):
    """Validation (and training) AUCs of logistic regressions on standardised features for each
    C in PROBE_C and on raw features with C=1, and the C with the best standardised AUC."""
    aucs = {}
    mean, sd = x_train.mean(0), x_train.std(0) + 1e-8
    z_train, z_valid = (x_train - mean) / sd, (x_valid - mean) / sd
    for c in PROBE_C:
        model = LogisticRegression(C=c, max_iter=3000).fit(z_train, y_train)
        aucs[f"std_C{c}"] = roc_auc_score(y_valid, model.decision_function(z_valid))
        aucs[f"std_C{c}_trainAUC"] = roc_auc_score(y_train, model.decision_function(z_train))
    model = LogisticRegression(C=1.0, max_iter=5000).fit(x_train, y_train)
    aucs["raw_C1"] = roc_auc_score(y_valid, model.decision_function(x_valid))
    return aucs, max(PROBE_C, key=lambda c: aucs[f"std_C{c}"])


def title(prompt):
    found = re.search(r"title is (.*?)\. genre", prompt)
    return found.group(1) if found else ""


def title_lookup(prompts_train, y_train, prompts_valid, y_valid):
    """Validation AUC of each title's smoothed training click rate, the share of validation rows
    whose title the training sample has, and the distinct titles of both samples together."""
    prior = y_train.mean()
    clicks, counts = {}, {}
    for prompt, label in zip(prompts_train, y_train):
        t = title(prompt)
        clicks[t] = clicks.get(t, 0.0) + label
        counts[t] = counts.get(t, 0) + 1
    valid_titles = [title(p) for p in prompts_valid]
    rate = np.array([(clicks.get(t, 0.0) + CLICK_RATE_SMOOTHING * prior)
                     / (counts.get(t, 0) + CLICK_RATE_SMOOTHING) for t in valid_titles])
    seen = np.mean([t in counts for t in valid_titles])
    return roc_auc_score(y_valid, rate), seen, len(set(counts) | set(valid_titles))


def report(name, x_train, y_train, x_valid, y_valid):
    x = np.concatenate([x_train, x_valid])
    shape = geometry(x, np.random.default_rng(1))
    heads = fresh_heads(x, np.random.default_rng(2))
    log(f"-- {name} --")
    log("  geometry: " + ", ".join(f"{k}={v:.4f}" for k, v in shape.items()))
    log("  fresh head (20 draws): " + ", ".join(f"{k}={v:.4f}" for k, v in heads.items()))
    probe_start = time.time()
    aucs, best_c = probe(x_train, y_train, x_valid, y_valid)
    log("  probe valid AUC: " + ", ".join(f"{k}={v:.4f}" for k, v in aucs.items())
        + f", best_C={best_c}  [{time.time() - probe_start:.0f}s]")


def elapsed():
    log(f"[t={time.time() - start:.0f}s]")


if args.self_check:
    log("== forward validation ==")
    self_check(args.plain)
    elapsed()
y_train, tokens_train, prompts_train = load_split("train")
y_valid, tokens_valid, prompts_valid = load_split("valid")
log(f"train n={len(y_train)} ctr={y_train.mean():.4f} "
    f"mean_len={np.mean([len(s) for s in tokens_train]):.1f}; "
    f"valid n={len(y_valid)} ctr={y_valid.mean():.4f}")
auc, seen, titles = title_lookup(prompts_train, y_train, prompts_valid, y_valid)
log(f"per-title CTR lookup baseline ({len(y_train)} train rows, {titles} titles in train and valid "
    f"samples, smoothing k={CLICK_RATE_SMOOTHING:g}): valid AUC={auc:.4f}, "
    f"valid rows with title seen={seen:.3f}")
for name, folder, layers in (("P", args.plain, args.plain_layers),
                             ("F", args.pretrained, args.pretrained_layers)):
    model = load_bert(folder, layers)
    name = f"{name}({folder.name})"
    log(f"\n== {name}: layers run={model.layers} (config says {model.config_layers}), "
        f"heads={model.heads}, eps={model.eps} ==")
    encode_start = time.time()
    mean_train, cls_train = encode(model, tokens_train)
    mean_valid, cls_valid = encode(model, tokens_valid)
    log(f"encoded {len(tokens_train) + len(tokens_valid)} rows in "
        f"{time.time() - encode_start:.0f}s")
    report(f"{name} MEAN", mean_train, y_train, mean_valid, y_valid)
    report(f"{name} CLS", cls_train, y_train, cls_valid, y_valid)
    elapsed()
log(f"\nTOTAL wall time {time.time() - start:.0f}s")
