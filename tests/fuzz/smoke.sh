#!/usr/bin/env bash
# The ctest smoke run of one fuzz target (label `fuzz`): every seed in the
# tree's corpus (the regression cases included) and then SECONDS of new
# inputs, in a scratch copy of the corpus so that the tree is never written.
# Usage: smoke.sh FUZZER CORPUS_DIR SECONDS [DICT]
set -euo pipefail
fuzzer=$1 corpus=$2 seconds=$3 dict=${4:-}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/netcpu-fuzz-smoke.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/corpus" "$scratch/artifacts"
cp -r "$corpus"/. "$scratch/corpus/"
args=(-max_total_time="$seconds" -max_len=4096 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1
      -artifact_prefix="$scratch/artifacts/")
[ -n "$dict" ] && args+=(-dict="$dict")
cd "$scratch"
if ! "$fuzzer" "${args[@]}" "$scratch/corpus"; then
  for f in "$scratch"/artifacts/*; do
    [ -e "$f" ] || continue
    echo "=== fuzz smoke: failing input $(basename "$f") (base64):"
    base64 -w 76 "$f" | head -n 40
  done
  exit 1
fi
