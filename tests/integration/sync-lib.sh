# Shared by the sync tests: a three-disk VM on different controllers, with
# sizes that are not multiples of the chunk, and helpers to write as the
# guest and to compare every target with the snapshot v2k last synced.

MiB=1048576
# pvscsi, sata, lsilogic-sas; none a multiple of 4 MiB.
SIZES=(
  $((64 * MiB + 3 * 512))
  $((24 * MiB + 4096 + 512))
  $((9 * MiB + 512))
)

three_disk_spec () {
  make_spec web01 \
    "$(disk_json "${SIZES[0]}" pvscsi 0 0)" \
    "$(disk_json "${SIZES[1]}" sata 0 1)" \
    "$(disk_json "${SIZES[2]}" lsilogic-sas 1 0)"
}

gwrite () { # disk offset length seed|zero [count stride]
  local d=$1 off=$2 len=$3 what=$4
  local extra=()
  [ $# -ge 6 ] && extra=(--count "$5" --stride "$6")
  if [ "$what" = zero ]; then
    "$V2K_LAB" write --state "$LAB_STATE" --vm web01 --disk "$d" --offset "$off" --length "$len" --zero "${extra[@]}"
  else
    "$V2K_LAB" write --state "$LAB_STATE" --vm web01 --disk "$d" --offset "$off" --length "$len" --seed "$what" "${extra[@]}"
  fi
}

# Writes that stress the edges: first and last sector, across the 4 MiB
# chunk boundary, and zeroes over data written earlier.
edge_writes () { # seed
  local s=$1 d
  for d in 0 1 2; do
    gwrite $d 0 512 $((s + d))
    gwrite $d $((SIZES[d] - 512)) 512 $((s + 10 + d))
    gwrite $d $((4 * MiB - 4096)) 8192 $((s + 20 + d))
  done
  gwrite 0 $((8 * MiB)) $((2 * MiB)) $((s + 30))
  gwrite 0 $((8 * MiB + 4096)) $((MiB)) zero
}

# Every target equals its disk in the snapshot v2k synced last.
compare_all () { # workdir label
  local wd=$1 label=$2 snap n i key target frozen
  snap=$(jq -r '[.snapshots[] | select(.synced)] | last | .moref' "$wd/manifest.json")
  "$V2K_LAB" info --state "$LAB_STATE" --vm web01 > "$T/info.json"
  n=$(jq '.disks | length' "$wd/manifest.json")
  for ((i = 0; i < n; i++)); do
    key=$(jq -r ".disks[$i].key" "$wd/manifest.json")
    target=$(jq -r ".disks[$i].target.path" "$wd/manifest.json")
    fmt=$(jq -r ".disks[$i].target.format" "$wd/manifest.json")
    frozen=$(jq -r --arg s "$snap" --argjson k "$key" \
      '.snapshots[] | select(.moref == $s) | .disks[] | select(.key == $k) | .file' "$T/info.json")
    [ -n "$frozen" ] && [ -f "$frozen" ] || fail "$label: no frozen file for disk $key in $snap"
    qemu-img compare -q -f "$fmt" -F vmdk "$target" "$frozen" \
      || fail "$label: disk $i ($target) differs from $frozen"
  done
  note "$label: $n disks identical to $snap"
}

# How many v2k snapshots web01 has in vCenter.
v2k_snaps () {
  "$V2K_LAB" info --state "$LAB_STATE" --vm web01 \
    | jq '[.snapshots[] | select(.name | startswith("v2k-"))] | length'
}

# After a kill -9 of v2k: every server it started (qemu-nbd gets SIGKILL
# when v2k dies) is gone within SECONDS; those left are named on stderr.
servers_gone () { # seconds
  local w
  for ((w = 0; w < $1 * 20; w++)); do
    pgrep -f "qemu-nbd.*$T/" >/dev/null || return 0
    sleep 0.05
  done
  ! pgrep -af "qemu-nbd.*$T/" >&2
}

# At most two v2k snapshots exist at any time.
check_snapshot_count () {
  local n
  n=$(v2k_snaps)
  [ "$n" -le 2 ] || fail "$n v2k snapshots exist"
}

# init with the transport under test ($TRANSPORT: file or vddk).
init_transport () { # workdir dst [extra init args]
  local wd=$1 dst=$2; shift 2
  if [ "$TRANSPORT" = file ]; then
    local ds
    ds=$(jq -r '.datastores.datastore1' "$LAB_STATE/lab.json")
    v2k --workdir "$wd" init --vm web01 --vcenter "$GOVC_URL" --dst "$dst" \
      --transport file --datastore-map "datastore1=$ds" "$@" >/dev/null
  else
    # The lab's nbdkit stand-in takes nbdkit's place, exactly as a
    # packaged nbdkit with the vddk plugin would be found.
    mkdir -p "$T/vddk-lib" "$T/bin"
    printf '#!/bin/sh\nexec "%s" nbdkit "$@"\n' "$V2K_LAB" > "$T/bin/nbdkit"
    chmod +x "$T/bin/nbdkit"
    export V2K_NBDKIT=$T/bin/nbdkit VDDK_LIBDIR=$T/vddk-lib
    v2k --workdir "$wd" init --vm web01 --vcenter "$GOVC_URL" --dst "$dst" \
      --transport vddk "$@" >/dev/null
  fi
}
