#!/bin/bash
# Every golden domain XML is valid under libvirt's own schema.
. "$(dirname "$0")/functions.sh"
set -e
requires virt-xml-validate
n=0
for f in "$TOP"/tests/unit/data/domain/*.xml; do
  virt-xml-validate "$f" domain >/dev/null 2>"$T/err" || fail "$(basename "$f"): $(cat "$T/err")"
  n=$((n + 1))
done
[ $n -ge 5 ] || fail "only $n golden files"
note "ok: $n domain XML files validate"
