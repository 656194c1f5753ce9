"""FLIP_ID against its backbone from scratch, epoch by epoch, on the validation split: the
paired (by seed) differences of the first epoch's training loss and validation AUC, and of the
best validation AUC over the epochs (the one each model's epoch is chosen by), beside the
report's FLIP_ID minus scratch on the full test split.

    python scripts/analysis/epoch_gaps.py docs/runs/ml-1m-pretrain-262144-batch-256-id-only-2026-12-05 ...

Reads each run folder's `epochs/` (the run's per-epoch JSONL logs of FLIP_ID and of the backbone
from scratch trained on all rows, `flip-id-seed<S>.jsonl` and `<backbone>-scratch-seed<S>.jsonl`)
and its results.json (the backbone's name and the seeds). Prints one Markdown row per run."""
import json
import pathlib
import statistics
import sys


def epochs(path: pathlib.Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    scored = [r for r in rows if "valid" in r]
    if not scored:
        sys.exit(f"{path}: no epoch with a validation score")
    return scored


def cell(values: list[float]) -> str:
    above = sum(v > 0 for v in values)
    return (", ".join(f"{v:+.4f}" for v in values)
            + f" = {statistics.mean(values):+.4f} ({above}/{len(values)})")


print("| run | epoch 1: training loss | epoch 1: validation AUC | best validation AUC"
      " | full test split |")
print("|---|---|---|---|---|")
for run in map(pathlib.Path, sys.argv[1:]):
    results = json.loads((run / "results.json").read_text())
    backbone = results["settings"]["pretraining"]["backbone"]["model"]
    seeds = results["settings"]["seeds"]
    loss, first, best = [], [], []
    for seed in seeds:
        flip_id = epochs(run / "epochs" / f"flip-id-seed{seed}.jsonl")
        scratch = epochs(run / "epochs" / f"{backbone}-scratch-seed{seed}.jsonl")
        loss.append(flip_id[0]["train_loss"] - scratch[0]["train_loss"])
        first.append(flip_id[0]["valid"]["auc"] - scratch[0]["valid"]["auc"])
        best.append(max(r["valid"]["auc"] for r in flip_id) - max(r["valid"]["auc"] for r in scratch))
    test = next(p for p in results["paired"] if p["first"].startswith("FLIP_ID")
                and p["first"].endswith("), full test split")
                and p["second"] == f"{backbone} from scratch, full test split")
    on_test = [d for _, d in sorted(test["per_seed"])]
    print(f"| {run.name} | {cell(loss)} | {cell(first)} | {cell(best)} | {cell(on_test)} |")
