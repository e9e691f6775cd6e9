#!/bin/sh
# render.sh OUT IN...: the markdown files IN, joined, as a man page OUT
# (go-md2man). A line of text that starts with a dot (".data:" in the
# language reference) would be read as a troff request: it gets "\&" before
# it; go-md2man's own requests (lower case nh/nf/fi/ti/sp/br, or upper case)
# are left alone.
set -e
out=$1
shift
cat "$@" | go-md2man | sed -E '/^\.(nh|nf|fi|ti|sp|br|in|ft|ad|na|[A-Z]+)( |$)/!s/^\./\\\&./' >"$out.tmp"
mv "$out.tmp" "$out"
