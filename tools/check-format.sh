#!/usr/bin/env bash
# Checks that the project's C and C++ sources are formatted by .clang-format
# (the ctest "Style.ClangFormat" runs it). --fix formats them in place instead.
# Exits 1 and names the files when some are not, 77 (a skip for ctest) when
# clang-format or git is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null ||
  { echo "check-format: skipped, clang-format is not installed (tools/install-deps.sh installs it)"; exit 77; }
command -v git >/dev/null && git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
  { echo "check-format: skipped, not a git checkout (the files to check are git's)"; exit 77; }
mapfile -t files < <(git ls-files -- '*.c' '*.cc' '*.cpp' '*.h' '*.hpp')
if [ "${1:-}" = --fix ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format: not formatted by .clang-format ($(clang-format --version)):"
  printf '  %s\n' "${bad[@]}"
  echo "check-format: tools/check-format.sh --fix formats them"
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
