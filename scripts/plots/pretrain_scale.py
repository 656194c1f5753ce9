"""The pretraining-scale study of docs/results.md as a PNG: FLIP_ID minus DCNv2 from scratch
(test AUC, full test split, paired by seed) against the number of pretraining rows.

    python scripts/plots/pretrain_scale.py docs/runs/ml-1m-pretrain-scale-*-2026-12-03 \
        --label "long template, epochs on 5,000 validation rows" \
        --series "short template, epochs on all validation rows" \
            docs/runs/ml-1m-pretrain-4096-id-only-by-user-2026-12-04 \
            docs/runs/ml-1m-pretrain-65536-id-only-by-user-2026-12-04 \
            docs/runs/ml-1m-pretrain-131072-id-only-2026-12-04 \
        --series "short template, epochs on all validation rows" \
            docs/runs/ml-1m-pretrain-65536-batch-256-id-only-2026-12-05 \
            docs/runs/ml-1m-pretrain-131072-batch-256-id-only-2026-12-05 \
        --out docs/img/pretrain-scale-ml-1m.png

With `--x steps` the horizontal axis is the pretraining steps (rows / batch size) instead of
the rows, which puts runs of different batch sizes side by side by how far pretraining moved.

Reads each run folder's results.json (its settings give the pretraining rows and batch size; a
group's legend names its batch size, and a group whose runs differ in it is refused). `--series`
adds another group of runs (a label, then its folders), drawn in its own colour."""
import argparse
import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("runs", nargs="+", type=pathlib.Path)
parser.add_argument("--label", default="mean of 3 seeds", help="the label of the runs given first")
parser.add_argument("--series", nargs="+", action="append", default=[],
                    metavar="LABEL_THEN_RUNS", help="a label, then the run folders of another group")
parser.add_argument("--x", choices=["rows", "steps"], default="rows",
                    help="the horizontal axis: pretraining rows, or pretraining steps")
parser.add_argument("--out", type=pathlib.Path, required=True)
args = parser.parse_args()


def group_of(label, runs):
    """The legend label with the runs' batch size, and (pretraining rows or steps, per-seed
    differences, mean) of each run, sorted by the first."""
    points, batches = [], set()
    for run in runs:
        results = json.loads((pathlib.Path(run) / "results.json").read_text())
        pretrain = results["settings"]["pretraining"]["pretrain"]
        batches.add(pretrain["batch_size"])
        paired = next(p for p in results["paired"] if p["first"].endswith("full test split")
                      and p["first"].startswith("FLIP_ID"))
        x = pretrain["max_rows"]
        if args.x == "steps":
            x = -(-x // pretrain["batch_size"])
        points.append((x, [d for _, d in paired["per_seed"]], paired["mean"]))
    if len(batches) != 1:
        raise SystemExit(f"the runs of '{label}' differ in pretraining batch size: {sorted(batches)}")
    return f"{label}, batch {batches.pop()}", sorted(points)


groups = [group_of(args.label, args.runs)]
groups += [group_of(series[0], series[1:]) for series in args.series if len(series) > 1]

fig, ax = plt.subplots(figsize=(6.4, 4.0))
ticks = set()
for (label, points), color in zip(groups, ["tab:blue", "tab:orange", "tab:green"]):
    for rows, diffs, _ in points:
        ax.scatter([rows] * len(diffs), diffs, color=color, alpha=0.5, s=18)
    ax.plot([p[0] for p in points], [p[2] for p in points], "o-", color=color,
            label=f"{label} (mean of seeds)")
    ticks.update(p[0] for p in points)
ax.axhline(0.0, color="grey", lw=0.8)
ax.axhline(0.003, color="tab:red", lw=0.8, ls="--", label="target +0.003")
ax.set_xscale("log", base=2)
ax.set_xticks(sorted(ticks), [f"{t:,}" for t in sorted(ticks)])
ax.set_xlabel("pretraining rows (one epoch)" if args.x == "rows"
              else "pretraining steps (rows / batch size, one epoch)")
ax.set_ylabel("FLIP_ID − DCNv2 from scratch (test AUC)")
ax.set_title("ML-1M, full test split, paired by seed")
ax.set_ylim(top=max(0.0042, ax.get_ylim()[1]))
ax.legend(fontsize=8, loc="upper left", framealpha=0.5)
fig.tight_layout()
fig.savefig(args.out, dpi=110)
