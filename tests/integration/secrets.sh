#!/bin/bash
# The vCenter password never appears in a child's argv, in any workdir file
# but the 0600 credentials file, in events, status output or errors.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
TRANSPORT=vddk
requires pgrep

three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"
PW=$GOVC_PASSWORD
[ ${#PW} -ge 8 ] || fail "the lab password '$PW' is too short to search for"
gwrite 0 0 $((4 * MiB)) 1

# Sample every process's command line while v2k works.
( set +e
  while :; do
    ps -ww -eo args
  done ) > "$T/argv.log" 2>/dev/null &
SAMPLER=$!
cleanup_add "kill $SAMPLER"

WD=$T/wd
init_transport "$WD" "$T/dst" 2> "$T/out.1"
v2k --workdir "$WD" cbt enable >> "$T/out.2" 2>&1
v2k --workdir "$WD" snapshot base >> "$T/out.3" 2>&1
v2k -v --workdir "$WD" sync base >> "$T/out.4" 2>&1
gwrite 1 0 $((2 * MiB)) 2
v2k --workdir "$WD" snapshot incr >> "$T/out.5" 2>&1
v2k --workdir "$WD" sync incr >> "$T/out.6" 2>&1
v2k --workdir "$WD" verify --samples 4 >> "$T/out.7" 2>&1
v2k --workdir "$WD" status --json >> "$T/out.8" 2>&1
v2k --workdir "$WD" status >> "$T/out.9" 2>&1
v2k --workdir "$WD" cbt status --json >> "$T/out.10" 2>&1
# Failures print errors: they must not echo the password either.
GOVC_PASSWORD="$PW-wrong" expect_fail v2k --workdir "$T/w2" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/d2"
echo "$ERR" > "$T/out.11"
"$V2K_LAB" fault --state "$LAB_STATE" --nbd-drop-after 100000
gwrite 0 0 $((3 * MiB)) 3
v2k --workdir "$WD" snapshot incr >> "$T/out.12" 2>&1
v2k --workdir "$WD" sync incr --retries 0 >> "$T/out.13" 2>&1 || true
kill $SAMPLER 2>/dev/null || fail "the argv sampler died early"
wait $SAMPLER 2>/dev/null || true

grep -q "password=+" "$T/argv.log" || fail "the sampler never saw nbdkit's command line"
grep -qF -- "$PW" "$T/argv.log" && fail "password in a process's argv: $(grep -F -- "$PW" "$T/argv.log" | head -1)"
for f in "$T"/out.*; do
  grep -qF -- "$PW" "$f" && fail "password in command output $(basename "$f")"
done
[ "$(stat -c %a "$WD/credentials")" = 600 ] || fail "credentials not 0600"
leaks=$(grep -rlF -- "$PW" "$WD" | grep -v "^$WD/credentials$" || true)
[ -z "$leaks" ] || fail "password in workdir files: $leaks"
ls "$WD"/.vddk-password* >/dev/null 2>&1 && fail "a vddk password file was left behind"
note "ok"
