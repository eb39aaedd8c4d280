#!/bin/sh
# The operators' runbook calls bin/ablestack_v2k.sh; it is v2k with the same
# arguments.  An uninstalled checkout uses its own build.
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${V2K:-}" ]; then
  exec "$V2K" "$@"
elif [ -x "$here/../build/v2k" ]; then
  exec "$here/../build/v2k" "$@"
elif [ -x "$here/v2k" ]; then
  exec "$here/v2k" "$@"
else
  exec v2k "$@"
fi
