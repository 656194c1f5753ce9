"""How far a tower that only memorises click rates per value could rank the test rows: the test
AUC of the training rows' smoothed click rate of each field value (a lookup table, no model),
alone and added as logits, for samples of the training rows of a prepared dataset.

    python scripts/analysis/lookup_ceiling.py $FLIP_HOME/prepared/ml-1m-temporal \
        --rows 4096 16384 100000 200000 0

A text tower that sees a title but no user identity can at best learn the title's click rate
from the rows it is trained on: the `item` column is that ceiling. `--rows 0` uses every
training row. Needs pyarrow and numpy."""
import argparse
import pathlib

import numpy as np
import pyarrow.parquet as pq

parser = argparse.ArgumentParser()
parser.add_argument("prepared", type=pathlib.Path, help="a prepared dataset folder")
parser.add_argument("--rows", type=int, nargs="+", default=[0], help="training rows (0: all)")
parser.add_argument("--smoothing", type=float, default=10.0,
                    help="pseudo-rows at the overall click rate added to every value")
parser.add_argument("--user", type=int, default=0, help="index of the user field in `ids`")
parser.add_argument("--item", type=int, default=5, help="index of the item field in `ids`")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()


def load(split):
    table = pq.read_table(args.prepared / f"{split}.parquet", columns=["ids", "label"])
    ids = np.array(table.column("ids").to_pylist(), dtype=np.int64)
    return ids, table.column("label").to_numpy().astype(np.float64)


def auc(labels, scores):
    """Mann-Whitney AUC with tied scores sharing their mean rank."""
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores))
    start = 0
    while start < len(scores):
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    positives = labels.sum()
    negatives = len(labels) - positives
    return (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)


def smoothed_rate(train_ids, train_labels, test_ids, field):
    """Each test row's value's click rate over the training rows, with `smoothing` pseudo-rows
    at the overall rate (unseen values get the overall rate)."""
    prior = train_labels.mean()
    values, inverse = np.unique(train_ids[:, field], return_inverse=True)
    clicks = np.bincount(inverse, weights=train_labels)
    counts = np.bincount(inverse)
    rate = (clicks + args.smoothing * prior) / (counts + args.smoothing)
    where = np.searchsorted(values, test_ids[:, field])
    where = np.minimum(where, len(values) - 1)
    seen = values[where] == test_ids[:, field]
    return np.where(seen, rate[where], prior)


def logit(p):
    return np.log(p / (1 - p))


train_ids, train_labels = load("train")
test_ids, test_labels = load("test")
print(f"{args.prepared.name}: {len(train_labels)} training rows, {len(test_labels)} test rows")
print("| training rows | item | user | item + user |")
print("|---:|---:|---:|---:|")
for rows in args.rows:
    n = len(train_labels) if rows <= 0 else min(rows, len(train_labels))
    pick = np.random.default_rng(args.seed).permutation(len(train_labels))[:n]
    ids, labels = train_ids[pick], train_labels[pick]
    item = smoothed_rate(ids, labels, test_ids, args.item)
    user = smoothed_rate(ids, labels, test_ids, args.user)
    print(f"| {n:,} | {auc(test_labels, item):.4f} | {auc(test_labels, user):.4f} "
          f"| {auc(test_labels, logit(item) + logit(user)):.4f} |")
