"""Which fields' training-period click rates carry to the validation and test periods, and what
a tower that knows only the item's click rate would add to an ID model's scores.

    python scripts/analysis/field_lookups.py $FLIP_HOME/raw/ml-100k \
        $FLIP_HOME/prepared/ml-100k-temporal [--scores RUN_SCORES_PREFIX]

For each user field and the item, every validation and test row is scored by the training rows'
click rate of its value (smoothed with 10 pseudo-rows at the overall rate; unseen values get the
overall rate) and the AUC of that lookup printed. A field whose lookup ranks a period's rows
below 0.5 says the opposite there of what it said in training. With `--scores P`, the files
`P-valid.csv` and `P-test.csv` (written by `cargo xtask predict --run RUN --input ROWS
--output P-<split>.csv`, ROWS from `--write-rows`) are an ID model's click probabilities of the
same rows in split order; the lookup of the item, from 4,096 sampled to all training rows, is
then mixed with them as FLIP mixes its towers (`α z_id + (1 − α) z_lookup`, `α` on a 0.01 grid),
`α` chosen on the validation rows, and the test AUC printed beside the best `α` in hindsight.
`--write-rows DIR` writes `valid_rows.csv` and `test_rows.csv` with the recipe's input columns
for `cargo xtask predict`. ML-100K's RecBole atomic files only. Needs pandas, pyarrow, numpy,
scikit-learn."""
import argparse
import pathlib

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score

parser = argparse.ArgumentParser()
parser.add_argument("raw", type=pathlib.Path, help="the ml-100k raw folder (RecBole atomic files)")
parser.add_argument("prepared", type=pathlib.Path, help="the prepared ml-100k dataset folder")
parser.add_argument("--scores", help="prefix of an ID model's scores files (P-valid.csv, P-test.csv)")
parser.add_argument("--write-rows", type=pathlib.Path, help="write the predict input rows here")
parser.add_argument("--smoothing", type=float, default=10.0)
args = parser.parse_args()


def atomic(name, **kw):
    table = pd.read_csv(args.raw / f"ml-100k.{name}", sep="\t", **kw)
    table.columns = [c.split(":")[0] for c in table.columns]
    return table


inter = atomic("inter")
users = atomic("user", dtype=str).astype({"user_id": int})
items = atomic("item", dtype=str).astype({"item_id": int})


def split(name):
    rows = pq.read_table(args.prepared / f"{name}.parquet", columns=["source_row", "label"]).to_pandas()
    joined = inter.iloc[rows.source_row.values].reset_index(drop=True)
    joined = joined.merge(users, on="user_id", how="left").merge(items, on="item_id", how="left")
    joined["label"] = rows.label.values
    return joined


train, splits = split("train"), {s: split(s) for s in ["valid", "test"]}
prior = train.label.mean()


def lookup(source, rows, column):
    counts = source.groupby(column).label.agg(["sum", "count"])
    rate = (counts["sum"] + args.smoothing * prior) / (counts["count"] + args.smoothing)
    return rows[column].map(rate).fillna(prior).to_numpy(dtype=float)


print("lookup AUC of each field's training click rate")
for column in ["gender", "age", "occupation", "zip_code", "item_id"]:
    cells = [f"{s} {roc_auc_score(d.label, lookup(train, d, column)):.4f}" for s, d in splits.items()]
    print(f"  {column}: " + ", ".join(cells))
for s, d in splits.items():
    new = ~d.user_id.isin(train.user_id)
    print(f"{s}: {d.user_id.nunique()} users, {new.sum()} of {len(d)} rows from users not in training")

if args.write_rows:
    for s, d in splits.items():
        out = pd.DataFrame({
            "user_id": d.user_id, "gender": d.gender, "age": d.age, "occupation": d.occupation,
            "zip": d.zip_code, "movie_id": d.item_id,
            "title": d.movie_title + " (" + d.release_year.fillna("") + ")",
            "genres": d["class"].str.replace(" ", "|"),
        })
        out.to_csv(args.write_rows / f"{s}_rows.csv", index=False)

if args.scores:
    def logit(p):
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    z_id = {s: logit(pd.read_csv(f"{args.scores}-{s}.csv").score.to_numpy()) for s in splits}
    grid = np.round(np.arange(0, 1.001, 0.01), 2)
    rng = np.random.default_rng(0)
    print("the ID model mixed with the item's click rate (alpha on validation / in hindsight)")
    for n in [4096, 16384, 40000, len(train)]:
        source = train.iloc[rng.choice(len(train), n, replace=False)] if n < len(train) else train
        z_item = {s: logit(lookup(source, d, "item_id")) for s, d in splits.items()}
        auc = {s: [roc_auc_score(d.label, a * z_id[s] + (1 - a) * z_item[s]) for a in grid]
               for s, d in splits.items()}
        chosen = int(np.argmax(auc["valid"]))
        best = int(np.argmax(auc["test"]))
        print(f"  item rates from {n} training rows: test AUC ID model {auc['test'][-1]:.4f}, "
              f"lookup {auc['test'][0]:.4f}, mixture at alpha {grid[chosen]} (validation) "
              f"{auc['test'][chosen]:.4f} ({auc['test'][chosen] - auc['test'][-1]:+.4f}), "
              f"at alpha {grid[best]} (hindsight) {auc['test'][best]:.4f}")
