#!/bin/bash
# Two VMs called web01 in different VM folders (as vSphere allows): init
# --vm web01 refuses, listing both; an inventory path or a moref picks one.
. "$(dirname "$0")/functions.sh"
set -e

# The same VM twice, once in folder "prod", once in folder "test".
make_spec web01 "$(disk_json 1073741824 pvscsi 0 0)" \
  | jq '.vms[0].folder = "prod" | .vms += [.vms[0] | .folder = "test"
        | .nics[0].mac = "00:50:56:aa:bb:02"]' > "$T/spec.json"
start_lab "$T/spec.json"

prod=$(lab info --vm prod/web01 | jq -r .moref)
test=$(lab info --vm test/web01 | jq -r .moref)
[ -n "$prod" ] && [ -n "$test" ] && [ "$prod" != "$test" ] || fail "lab morefs: '$prod' '$test'"
[ "$(lab info --vm test/web01 | jq -r .inventory_path)" = /DC0/vm/test/web01 ] || fail "lab inventory path"

# The bare name is ambiguous: exit 1, both candidates named, no manifest.
expect_fail v2k --workdir "$T/wd" init --vm web01 --vcenter "$GOVC_URL" --dst "$T/d"
assert_contains "$ERR" "ambiguous"
assert_contains "$ERR" "$prod"
assert_contains "$ERR" "$test"
assert_contains "$ERR" "/DC0/vm/prod/web01"
assert_contains "$ERR" "/DC0/vm/test/web01"
[ ! -e "$T/wd/manifest.json" ] || fail "an ambiguous init wrote a manifest"
note "refused: $ERR"

# The lab refuses the bare name the same way.
expect_fail lab info --vm web01
assert_contains "$ERR" "$prod"
assert_contains "$ERR" "$test"

# An inventory path picks one.
v2k --workdir "$T/wd" init --vm /DC0/vm/prod/web01 --vcenter "$GOVC_URL" --dst "$T/d" >/dev/null
jq -e --arg m "$prod" '.vm.moref == $m and .vm.name == "web01"' "$T/wd/manifest.json" >/dev/null \
  || fail "by path: $(jq -c .vm "$T/wd/manifest.json") (want $prod)"
jq -e '.disks[0].file == "[datastore1] web01/web01.vmdk"' "$T/wd/manifest.json" >/dev/null \
  || fail "prod disk: $(jq -c '.disks[0].file' "$T/wd/manifest.json")"

# So does a moref: the test one, with its own disk and MAC.
v2k --workdir "$T/wd2" init --vm "$test" --vcenter "$GOVC_URL" --dst "$T/d2" >/dev/null
jq -e --arg m "$test" '.vm.moref == $m and .vm.name == "web01"' "$T/wd2/manifest.json" >/dev/null \
  || fail "by moref: $(jq -c .vm "$T/wd2/manifest.json") (want $test)"
jq -e '.disks[0].file == "[datastore1] web01_1/web01.vmdk" and .nics[0].mac == "00:50:56:aa:bb:02"' \
  "$T/wd2/manifest.json" >/dev/null || fail "test disk/nic: $(jq -c '[.disks[0].file, .nics[0].mac]' "$T/wd2/manifest.json")"
note "ok"
