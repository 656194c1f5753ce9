#!/usr/bin/env bash
# GPU check on a CUDA machine: builds the `cuda` backend, runs the cross-backend test (the tiny
# FLIP model on cuda:0 against flex) and every benchmark scenario on cuda:0 and on flex.
#
#   scripts/gpu-check.sh [device index, default 0]
#
# Writes gpu-check/{cross-backend.txt, bench-cuda.jsonl, bench-flex.jsonl, summary.md} (or
# under $OUT when set). Needs the NVIDIA driver; burn's CUDA runtime loads libcuda and NVRTC
# at run time (no toolkit at build time). Sized to finish in under 8 minutes after the build
# on one GPU: the benchmarks run each scenario once (--repeat 1) with few steps.
set -euo pipefail
cd "$(dirname "$0")/.."
index="${1:-0}"
out="${OUT:-gpu-check}"
mkdir -p "$out"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/gpu}"

# burn-cuda 0.22 (cubecl-cuda 0.11) links an LLVM bundle that the build script of
# tracel-llvm-bundler downloads from GitHub on first use. Say so before a long build fails
# on a machine that cannot reach GitHub.
llvm="tracel-llvm-23.1.0-4"
installed="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/$llvm/.tracel-llvm-installed"
archive="$HOME/.cache/tracel/$llvm-linux-x64.tar.xz"
checksums="$HOME/.cache/tracel/$llvm-linux-x64.checksums.json"
if [[ -f "$installed" ]]; then
    echo "LLVM bundle for cubecl: installed"
elif [[ -f "$archive" && -f "$checksums" ]]; then
    echo "LLVM bundle for cubecl: installing from $archive"
    export TRACEL_LLVM_BUNDLER_SKIP_CHECKSUM_DOWNLOAD=1
else
    echo "The cuda build downloads $llvm (linux-x64) from" \
        "https://github.com/tracel-ai/tracel-llvm/releases/download/v23.1.0-4/." \
        "Without access to GitHub, put linux-x64.tar.xz and linux-x64.checksums.json from there" \
        "into $HOME/.cache/tracel/ as $llvm-linux-x64.tar.xz and" \
        "$llvm-linux-x64.checksums.json (see docs/backends.md)." >&2
fi

started=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt" || true
cargo build --release -p xtask --features cuda
cargo test --release -p flip-e2e --features cuda --test cross_backend --no-run
built=$(date +%s)

echo "== cross-backend test (cuda:$index vs flex)"
FLIP_CUDA_INDEX="$index" cargo test --release -p flip-e2e --features cuda --test cross_backend \
    -- --nocapture 2>&1 | tee "$out/cross-backend.txt"

xtask="$CARGO_TARGET_DIR/release/xtask"
echo "== benchmarks on cuda:$index"
"$xtask" --device "cuda:$index" bench all --repeat 1 --steps 20 | tee "$out/bench-cuda.txt"
echo "== benchmarks on flex (the CPU default, for comparison)"
"$xtask" --device flex bench all --repeat 1 --steps 10 | tee "$out/bench-flex.txt"
grep '^{' "$out/bench-cuda.txt" > "$out/bench-cuda.jsonl"
grep '^{' "$out/bench-flex.txt" > "$out/bench-flex.jsonl"

finished=$(date +%s)
{
    echo "# GPU check"
    echo
    echo "GPU: $(tail -n +2 "$out/gpu.txt" 2>/dev/null | head -1)"
    echo "Build: $((built - started)) s; checks: $((finished - built)) s."
    echo
    echo "## cuda:$index"
    sed -n '/^| scenario/,$p' "$out/bench-cuda.txt"
    echo
    echo "## flex"
    sed -n '/^| scenario/,$p' "$out/bench-flex.txt"
} > "$out/summary.md"
cat "$out/summary.md"
