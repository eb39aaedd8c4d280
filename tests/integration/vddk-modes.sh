#!/bin/bash
# VDDK's account and server: --vddk-cred-file (stored 0600 in the
# workdir, never in the manifest), --vddk-server esxi (the host, with
# --esxi-host/--esxi-thumbprint overriding what was discovered) and
# vcenter (vCenter's address, port and certificate); nbdkit's argv shows
# the server and thumbprint it got.  A wrong VDDK password fails with the
# child's log named in the error and in the event.  Then cbt query.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
TRANSPORT=vddk
requires qemu-nbd
three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"
gwrite 0 0 $((3 * MiB)) 1
THUMB=$(jq -r .thumbprint "$LAB_STATE/lab.json")
PORT=$(echo "$GOVC_URL" | sed -E 's|https://[^:/]+:([0-9]+)/.*|\1|')

# Record nbdkit's argv (the stand-in behind a wrapper).
mkdir -p "$T/bin2"
printf '#!/bin/sh\necho "$*" >> %s/nbdkit-argv\nexec "%s" nbdkit "$@"\n' "$T" "$V2K_LAB" > "$T/bin2/nbdkit"
chmod +x "$T/bin2/nbdkit"
printf 'user=%s\npassword=%s\n' "$GOVC_USERNAME" "$GOVC_PASSWORD" > "$T/vddk.cred"

# esxi, with the host name and thumbprint overridden (lowercase: still the lab's).
init_transport "$T/wd1" "$T/dst1" --vddk-cred-file "$T/vddk.cred" --vddk-server esxi \
  --esxi-host localhost --esxi-thumbprint "$(echo "$THUMB" | tr A-F a-f)"
export V2K_NBDKIT=$T/bin2/nbdkit
[ "$(stat -c %a "$T/wd1/vddk-credentials")" = 600 ] || fail "vddk-credentials is not 0600"
jq -e '.host.name == "localhost" and .host.name_discovered == "esxi01.lab.local"
       and .transfer.vddk_server == "esxi" and .transfer.vddk_account == "vddk-credentials"' \
  "$T/wd1/manifest.json" >/dev/null || fail "overrides not recorded: $(jq -c '{host, transfer}' "$T/wd1/manifest.json")"
! grep -q "$GOVC_PASSWORD" "$T/wd1/manifest.json" || fail "a password is in the manifest"
v2k --workdir "$T/wd1" cbt enable
v2k --workdir "$T/wd1" snapshot base >/dev/null
v2k --workdir "$T/wd1" sync base
compare_all "$T/wd1" "esxi mode"
grep -q "server=localhost .*thumbprint=$(echo "$THUMB" | tr A-F a-f)" "$T/nbdkit-argv" || fail "esxi: $(head -1 "$T/nbdkit-argv")"
! grep -q "port=" "$T/nbdkit-argv" || fail "esxi mode passed a port"

# cbt query on that disk and snapshot.
snap=$(jq -r '.snapshots[0].name' "$T/wd1/manifest.json")
v2k --workdir "$T/wd1" cbt query --disk scsi0:0 --snapshot "$snap" --json > "$T/q.json"
jq -e --argjson cap "${SIZES[0]}" '.complete and .bytes >= 3145728 and (.pages | length) >= 1
   and ([.pages[] | .length] | add) == $cap and (.pages[0].areas | length) == .pages[0].areas_count' "$T/q.json" >/dev/null \
  || fail "cbt query: $(jq -c 'del(.pages)' "$T/q.json")"
v2k --workdir "$T/wd1" cbt query --disk 2000 --snapshot "$(jq -r '.snapshots[0].moref' "$T/wd1/manifest.json")" > "$T/q.txt"
grep -q "^page 1: start 0 length" "$T/q.txt" && grep -q "coverage complete" "$T/q.txt" || fail "cbt query text: $(cat "$T/q.txt")"
expect_fail v2k --workdir "$T/wd1" cbt query --disk scsi0:0 --snapshot "$snap" --change-id "52 00 bogus/1"
assert_contains "$ERR" "changeId"
expect_fail -s 2 v2k --workdir "$T/wd1" cbt query --disk scsi0:0

# vcenter mode: vCenter's address, port and thumbprint.
rm -f "$T/nbdkit-argv"
init_transport "$T/wd2" "$T/dst2" --vddk-cred-file "$T/vddk.cred" --vddk-server vcenter
export V2K_NBDKIT=$T/bin2/nbdkit
v2k --workdir "$T/wd2" cbt enable
v2k --workdir "$T/wd2" snapshot base >/dev/null
v2k --workdir "$T/wd2" sync base
compare_all "$T/wd2" "vcenter mode"
grep -q "server=127.0.0.1 .*thumbprint=$THUMB.* port=$PORT" "$T/nbdkit-argv" || fail "vcenter: $(head -1 "$T/nbdkit-argv")"

# A wrong VDDK password: a clear failure naming nbdkit's log.
printf 'user=%s\npassword=wrong-vddk-pass\n' "$GOVC_USERNAME" > "$T/bad.cred"
init_transport "$T/wd3" "$T/dst3" --vddk-cred-file "$T/bad.cred"
export V2K_NBDKIT=$T/bin2/nbdkit
v2k --workdir "$T/wd3" cbt enable
v2k --workdir "$T/wd3" snapshot base >/dev/null
expect_fail v2k --workdir "$T/wd3" sync base --retries 0
assert_contains "$ERR" "log: $T/wd3/logs/"
! grep -q "wrong-vddk-pass" <<<"$ERR" || fail "the VDDK password is in an error"
grep '"sync.failed"' "$T/wd3/events.log" | grep -q "$T/wd3/logs/.*-source.log" || fail "no event names the log"
grep -rq "incorrect user name or password" "$T/wd3/logs/" || fail "nbdkit's log lacks its error"
note "ok"
