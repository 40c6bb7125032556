#!/usr/bin/env bash
# CI smoke for the fuzz targets: builds them and runs each for a short bounded time, starting
# from the checked-in corpus (new inputs go to a scratch directory, never into fuzz/corpus).
#
#   fuzz/smoke.sh [SECONDS_PER_TARGET]      (default 20)
#
# Skips with a message when cargo-fuzz is not installed (install: cargo install cargo-fuzz).
# Works on the stable toolchain: --sanitizer none needs no -Z flags. -O builds without debug
# assertions (see docs/FUZZING.md for why, and how to turn them back on).
set -euo pipefail
seconds="${1:-20}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/smoke.sh: cargo-fuzz is not installed; skipping (cargo install cargo-fuzz)"
    exit 0
fi
flags=(-O --sanitizer none)
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    flags+=(--target-dir "$CARGO_TARGET_DIR")
fi
cargo fuzz build "${flags[@]}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
targets=$(cargo fuzz list)
for target in $targets; do
    mkdir -p "$scratch/$target"
    echo "== $target: ${seconds}s"
    if ! cargo fuzz run "${flags[@]}" "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=1024 -timeout=10 \
        -print_final_stats=1 2>"$scratch/$target.log"; then
        failed+=("$target")
        tail -n 40 "$scratch/$target.log"
    fi
    grep -E '^#[0-9]+\s+DONE' "$scratch/$target.log" || tail -n 3 "$scratch/$target.log"
done
total=$(wc -w <<<"$targets")
if ((${#failed[@]})); then
    echo "fuzz/smoke.sh: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)"
    echo "smoke: $((total - ${#failed[@]})) passed, ${#failed[@]} failed"
    exit 1
fi
echo "fuzz/smoke.sh: all targets ran clean"
echo "smoke: $total passed, 0 failed"
