#!/bin/bash
# 'v2k run' on its own: base, incremental rounds while the guest keeps
# writing, convergence once the writes stop, cutover, a booted domain
# that prints the marker the guest wrote last.  The rounds and the
# forecast are in status.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/libvirt-lib.sh"
. "$(dirname "$0")/run-lib.sh"
set -e
requires python3 qemu-nbd
setup_libvirt
boot_spec warm01 pvscsi > "$T/spec.json"
start_lab "$T/spec.json"
DOM=v2k-warm-$$
drop_domain "$DOM"
WD=$T/wd
cutover_args "$DOM"

# The guest writes 256 KiB every 0.3 s for a while, then its last marker.
LAST="warm-final-$$"
( for i in $(seq 1 20); do
    "$V2K_LAB" write --state "$LAB_STATE" --vm warm01 --disk 1 --offset $(((i % 30) * 256 * 1024)) --length $((256 * 1024)) --seed "$i" || exit 1
    sleep 0.3
  done
  marker warm01 "$LAST" ) > "$T/writer.log" 2>&1 &
WRITER=$!
cleanup_add "kill $WRITER"

# shellcheck disable=SC2046
"$V2K" --workdir "$WD" run --vm warm01 --vcenter "$GOVC_URL" --dst "$T/dst" $(file_transport_args) \
  --interval 2s --converge-bytes 4K --max-rounds 12 "${CUT[@]}" > "$T/run.out" 2> "$T/run.err" &
RUN=$!
wait $WRITER || fail "the guest writer failed: $(cat "$T/writer.log")"
wait $RUN || fail "run failed: $(cat "$T/run.err")"
note "$(cat "$T/run.out")"

jq -e '.run.converged and .run.converged_by == "converge-bytes"' "$WD/manifest.json" >/dev/null \
  || fail "not converged by bytes: $(jq -c .run "$WD/manifest.json")"
n=$(jq '[.rounds[] | select(.kind == "incr" and .bytes > 0)] | length' "$WD/manifest.json")
[ "$n" -ge 2 ] || fail "only $n incremental rounds carried the guest's writes"
jq -e '.phase == "running" and .cutover.downtime_seconds > 0' "$WD/manifest.json" >/dev/null || fail "no cutover"
virsh -c qemu:///system domstate "$DOM" | grep -q running || fail "domain not running"
wait_console "$WD/console.log" "V2K-BOOT $LAST" 90 \
  || fail "no marker on the console: $(tr -d '\0' < "$WD/console.log" 2>/dev/null | tail -c 300)"

v2k --workdir "$WD" status --json > "$T/status.json"
jq -e '(.rounds | length) >= 3 and (.rounds[0].kind == "base")
       and (.rounds | all(has("bytes") and has("seconds") and has("bytes_per_s")))
       and .forecast.final_sync_seconds >= 0 and .forecast.throughput_bytes_per_s > 0' "$T/status.json" >/dev/null \
  || fail "status lacks rounds/forecast: $(jq -c '{rounds, forecast}' "$T/status.json")"
v2k --workdir "$WD" status > "$T/status.txt"
grep -q "^ROUND" "$T/status.txt" && grep -q "^forecast: final sync about" "$T/status.txt" \
  || fail "no round table: $(cat "$T/status.txt")"
grep -q "final sync forecast" "$T/run.out" || fail "run did not print the forecast"

# Running it again changes nothing.
# shellcheck disable=SC2046
v2k --workdir "$WD" run --vm warm01 --dst "$T/dst" "${CUT[@]}" >/dev/null
note "ok"
