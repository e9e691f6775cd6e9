#!/usr/bin/env bash
# Man.PagesRenderWhole: each man page the build generated (docs/man) renders
# with `man -l` without a troff markup error (a request it does not know, as a
# text line starting with a dot would be), names itself in NAME, and has its
# content: the CLI's commands, the module's options, the plugin's commands,
# the whole language reference. Wide tables may exceed 80 columns (a warning).
# Usage: man_test.sh BUILD_DIR. Exit 77: skipped.
set -uo pipefail
dir=$1/docs/man
command -v man >/dev/null || { echo "SKIP: man (man-db) is not installed"; exit 77; }
command -v go-md2man >/dev/null || { echo "SKIP: go-md2man is not installed: no pages were built"; exit 77; }
status=0
check() {  # PAGE TEXT...: the page renders and shows each TEXT
  local page=$dir/$1 out err
  shift
  [ -f "$page" ] || { echo "FAIL: $page was not built"; status=1; return; }
  # Justified text has runs of blanks: one blank each, for the comparison.
  out=$(MANWIDTH=100 man -l "$page" 2>"$dir/man_test.err" | tr -s " ") || { echo "FAIL: man -l $page failed"; status=1; }
  err=$(grep -Ev 'table wider than line width|cannot adjust line|^warning: file|^ *$' "$dir/man_test.err")
  [ -z "$err" ] || { echo "FAIL: $page: $err"; status=1; }
  for text in "$@"; do
    grep -qF -- "$text" <<<"$out" || { echo "FAIL: $page does not show '$text'"; status=1; }
  done
  echo "$(basename "$page"): $(wc -l <<<"$out") lines"
}
check netcpu.1 "netcpu - assemble, verify" "netcpu run" "netcpu ctl" "netcpu fleet" "EXIT STATUS" "SEE ALSO"
check libvdeplug_netcpu.1 "libvdeplug_netcpu - vdeplug4 module" "infilter=EXPR" "VDEPLUGIN_PATH"
check netcpu-plugin.1 "netcpu-plugin - NetCPU on vde_switch" "netcpu/load" "netcpu/table/dump" "netcpu/log"
# The language reference whole: its first and last sections, and a line
# that starts with a dot in the markdown.
check netcpu.7 "netcpu - the NetCPU assembly language" "1. A short tour" "15. Limits at a glance" ".data:"
[ $status -eq 0 ] && echo "PASS: every man page renders"
exit $status
