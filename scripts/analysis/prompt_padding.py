"""Token positions a language-model batch computes per row: the mean prompt length of a prepared
dataset's training rows, against the mean padded length of random batches and of batches cut
from length-sorted windows (what `length_bucket_batches` does).

    python scripts/analysis/prompt_padding.py $FLIP_HOME/prepared/ml-1m-temporal --batch 32 --window 64

Needs pyarrow and numpy."""
import argparse
import pathlib

import numpy as np
import pyarrow.parquet as pq

parser = argparse.ArgumentParser()
parser.add_argument("prepared", type=pathlib.Path, help="a prepared dataset folder")
parser.add_argument("--batch", type=int, default=32, help="rows per batch")
parser.add_argument("--window", type=int, default=64, help="batches per length-sorted window")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

tokens = pq.read_table(args.prepared / "train.parquet", columns=["tokens"]).column("tokens")
lengths = np.array([len(t) for t in tokens.to_pylist()])
window = args.batch * args.window
usable = len(lengths) // window * window
shuffled = lengths[np.random.default_rng(args.seed).permutation(len(lengths))][:usable]
random_batches = shuffled.reshape(-1, args.batch).max(axis=1).mean()
bucketed = np.sort(shuffled.reshape(-1, window), axis=1).reshape(-1, args.batch).max(axis=1).mean()
print(f"{args.prepared.name}: {len(lengths)} training prompts, mean {lengths.mean():.1f} tokens "
      f"(max {lengths.max()})")
print(f"padded per row: random batches of {args.batch} {random_batches:.1f}, "
      f"windows of {args.window} batches sorted by length {bucketed:.1f}")
