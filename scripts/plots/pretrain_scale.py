"""The pretraining-scale study of docs/results.md as a PNG: FLIP_ID minus DCNv2 from scratch
(test AUC, full test split, paired by seed) against the number of pretraining rows.

    python scripts/plots/pretrain_scale.py docs/runs/ml-1m-pretrain-scale-*-2026-12-03 \
        --out docs/img/pretrain-scale-ml-1m.png

Reads each run folder's results.json (its settings give the pretraining rows)."""
import argparse
import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("runs", nargs="+", type=pathlib.Path)
parser.add_argument("--out", type=pathlib.Path, required=True)
args = parser.parse_args()

points = []
for run in args.runs:
    results = json.loads((run / "results.json").read_text())
    rows = results["settings"]["pretraining"]["pretrain"]["max_rows"]
    paired = next(p for p in results["paired"] if p["first"].endswith("full test split")
                  and p["first"].startswith("FLIP_ID"))
    points.append((rows, [d for _, d in paired["per_seed"]], paired["mean"]))
points.sort()

fig, ax = plt.subplots(figsize=(6.4, 4.0))
for rows, diffs, mean in points:
    ax.scatter([rows] * len(diffs), diffs, color="tab:blue", alpha=0.5, s=18)
ax.plot([p[0] for p in points], [p[2] for p in points], "o-", color="tab:blue",
        label="mean of 3 seeds")
ax.axhline(0.0, color="grey", lw=0.8)
ax.axhline(0.003, color="tab:red", lw=0.8, ls="--", label="target +0.003")
ax.set_xscale("log", base=2)
ax.set_xticks([p[0] for p in points], [f"{p[0]:,}" for p in points])
ax.set_xlabel("pretraining rows (one epoch, batch 32)")
ax.set_ylabel("FLIP_ID − DCNv2 from scratch (test AUC)")
ax.set_title("ML-1M, full test split, paired by seed")
ax.legend()
fig.tight_layout()
fig.savefig(args.out, dpi=110)
