#!/bin/bash
# The whole command, side by side with its peers: `v2k sync base` of a
# lab VM (file transport: qemu-nbd reading the snapshot's VMDK) against
# nbdcopy and qemu-img convert copying the same snapshot into the same
# kind of target, then `v2k sync incr` of 1% scattered changes against
# the base.  Prints wall seconds, MiB/s of allocated data, CPU seconds
# per GiB (process and its children; for nbdcopy plus its target
# qemu-nbd) and peak RSS, and the ratios.  CPU includes the source
# qemu-nbd for v2k (its child) and nbdcopy alike; qemu-img reads the VMDK
# itself.  Run as root on a quiet machine: caches are dropped before every
# copier.  Every copier runs REPS times (default 3) from the same state and
# the run with the median wall time is reported: these virtual machines
# change speed by 2x from one minute to the next.
#
#   [REPS=N] bench/sync-bench.sh [SIZE_GIB=4]   (needs: make; root not required)
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
V2K=$TOP/build/v2k LAB=$TOP/build/v2k-lab
[ -x "$V2K" ] && [ -x "$LAB" ] || { echo "run make first"; exit 1; }
G=${1:-4} REPS=${REPS:-3}
GiB=$((1 << 30)) MiB=$((1 << 20))
W=$(mktemp -d /var/tmp/v2k-sync-bench.XXXXXX)
pids=()
cleanup () { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT

# Two identical VMs, one per target format, so that each base copy reads
# a plain base VMDK (not a delta chain left by the other's snapshots).
vm_json () {
  cat <<JSON
{"name": "$1", "guest_id": "otherGuest64", "firmware": "bios", "secure_boot": false,
 "cpus": 2, "cores_per_socket": 1, "memory_mb": 2048, "hw_version": 19, "power": "poweredOn", "tools": "toolsOk",
 "disks": [{"size": $((G * GiB)), "controller": "pvscsi", "bus": 0, "unit": 0, "datastore": "datastore1",
            "provisioning": "thin", "mode": "persistent"}],
 "nics": [{"type": "vmxnet3", "mac": "$2", "network": "VM Network"}]}
JSON
}
cat > "$W/spec.json" <<JSON
{"datacenter": "DC0", "host": "esxi01.lab.local", "datastores": ["datastore1"], "networks": ["VM Network"],
 "vms": [$(vm_json bench-qcow2 00:50:56:aa:bb:01), $(vm_json bench-raw 00:50:56:aa:bb:02)]}
JSON
"$LAB" serve --state "$W/lab" --spec "$W/spec.json" > "$W/lab.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$W/lab/lab.env" ] && break; sleep 0.1; done
set -a; . "$W/lab/lab.env"; set +a
DS=$(jq -r .datastores.datastore1 "$W/lab/lab.json")

# A third of the disk allocated, in 1 MiB runs every 3 MiB.
n=$((G * 1024 / 3))
for vm in bench-qcow2 bench-raw; do
  "$LAB" write --state "$W/lab" --vm $vm --disk 0 --offset 0 --length $MiB --count $n --stride $((3 * MiB)) --seed 1
done
alloc=$((n * MiB))

# Every copier starts from the same state: nothing dirty, nothing cached
# (the first run must not pay for the lab's writes, nor a later one
# profit from the page cache the others filled).
quiesce () { sync; [ -w /proc/sys/vm/drop_caches ] && echo 3 > /proc/sys/vm/drop_caches || true; }
measure () { # label cmd...: wall, cpu (self + children), rss
  local t0 t1
  quiesce
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S %M" -o "$W/time" "$@" > "$W/cmd.log" 2>&1 || { cat "$W/cmd.log"; exit 1; }
  t1=$(date +%s.%N)
  read -r u s rss < "$W/time"
  WALL=$(echo "$t1 - $t0" | bc -l); CPU=$(echo "$u + $s" | bc -l); RSS=$((rss / 1024))
}
proc_cpu () { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
report () { # label bytes
  printf '%-36s %7.2f s %8.1f MiB/s %6.2f CPU-s/GiB %5d MiB RSS\n' "$1" "$WALL" \
    "$(echo "$2 / $MiB / $WALL" | bc -l)" "$(echo "$CPU / ($2 / $GiB)" | bc -l)" "$RSS"
}

# median LABEL BYTES RUN-FN: call RUN-FN (which sets WALL CPU RSS) REPS
# times; keep and report the run with the median wall time.
median () {
  local label=$1 bytes=$2 fn=$3 i runs=()
  for ((i = 0; i < REPS; i++)); do
    "$fn"
    runs+=("$WALL $CPU $RSS")
  done
  read -r WALL CPU RSS < <(printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(( (REPS + 1) / 2 ))p")
  report "$label" "$bytes"
  printf '%38s runs: %s s\n' "" "$(printf '%s\n' "${runs[@]}" | awk '{ printf "%.2f ", $1 }')"
}

declare -A T C
for fmt in qcow2 raw; do
  WD=$W/wd-$fmt
  "$V2K" --workdir "$WD" init --vm bench-$fmt --vcenter "$GOVC_URL" --dst "$W/v2k-$fmt" \
    --transport file --datastore-map "datastore1=$DS" --target-format $fmt >/dev/null 2>&1
  "$V2K" --workdir "$WD" cbt enable >/dev/null
  "$V2K" --workdir "$WD" snapshot base >/dev/null
  cp "$WD/manifest.json" "$W/manifest-presync-$fmt"
  # Each repetition starts from the manifest before the base (the
  # target is made afresh by the base).
  v2k_base () {
    cp "$W/manifest-presync-$fmt" "$WD/manifest.json"
    # Removed outside the measurement, as the peers' targets are: this
    # filesystem is mounted with discard, and freeing 1.3 GiB costs.
    rm -f "$W/v2k-$fmt"/disk0.*
    measure "$V2K" --workdir "$WD" sync base --jobs 1
  }
  median "v2k sync base -> $fmt" $alloc v2k_base; T[v2k-$fmt]=$WALL C[v2k-$fmt]=$CPU

  frozen=$("$LAB" info --state "$W/lab" --vm bench-$fmt | jq -r '.snapshots[0].disks[0].file')
  # The same source for the peers: qemu-nbd on the same frozen VMDK.
  peer_nbdcopy () {
    local spid dpid scpu0 dcpu
    rm -f "$W"/peer.* "$W/src.sock" "$W/dst.sock"
    qemu-nbd -r -f vmdk --socket "$W/src.sock" --persistent --shared=0 "$frozen" & spid=$!; pids+=($spid)
    for _ in $(seq 50); do [ -S "$W/src.sock" ] && break; sleep 0.1; done
    scpu0=$(proc_cpu $spid)
    if [ $fmt = qcow2 ]; then
      qemu-img create -q -f qcow2 "$W/peer.qcow2" $((G * GiB))
      qemu-nbd -f qcow2 --persistent --socket "$W/dst.sock" --discard=unmap --detect-zeroes=unmap "$W/peer.qcow2" & dpid=$!; pids+=($dpid)
      for _ in $(seq 50); do [ -S "$W/dst.sock" ] && break; sleep 0.1; done
      measure nbdcopy --flush "nbd+unix:///?socket=$W/src.sock" "nbd+unix:///?socket=$W/dst.sock"
      dcpu=$(proc_cpu $dpid)
      CPU=$(echo "$CPU + $dcpu" | bc -l)
      kill $dpid; wait $dpid 2>/dev/null || true
    else
      truncate -s $((G * GiB)) "$W/peer.raw"
      measure nbdcopy --flush "nbd+unix:///?socket=$W/src.sock" "$W/peer.raw"
    fi
    # v2k's figure includes its source qemu-nbd (a child); so does this one.
    CPU=$(echo "$CPU + $(proc_cpu $spid) - $scpu0" | bc -l)
    kill $spid; wait $spid 2>/dev/null || true
  }
  median "nbdcopy -> $fmt" $alloc peer_nbdcopy; T[nbdcopy-$fmt]=$WALL C[nbdcopy-$fmt]=$CPU
  peer_convert () {
    rm -f "$W"/peer.*
    measure bash -c "qemu-img convert -f vmdk -O $fmt '$frozen' '$W/peer.$fmt' && sync '$W/peer.$fmt'"
  }
  median "qemu-img convert -> $fmt" $alloc peer_convert; T[qemu-img-$fmt]=$WALL
  rm -f "$W"/peer.* "$W/src.sock" "$W/dst.sock"
done

# Incremental: 1% of the disk in 64 KiB pieces scattered over all of it.
k=$((G * 1024 * 16 / 100))
"$LAB" write --state "$W/lab" --vm bench-qcow2 --disk 0 --offset $((512 * 1024)) --length 65536 --count $k --stride $((G * GiB / k)) --seed 2
"$V2K" --workdir "$W/wd-qcow2" snapshot incr >/dev/null
# Each repetition starts from the state after the base: manifest and
# target (a repeated incr would otherwise find its clusters allocated).
cp "$W/wd-qcow2/manifest.json" "$W/manifest-preincr"
cp --sparse=always "$W/v2k-qcow2/disk0.qcow2" "$W/target-preincr.qcow2"
v2k_incr () {
  cp "$W/manifest-preincr" "$W/wd-qcow2/manifest.json"
  cp --sparse=always "$W/target-preincr.qcow2" "$W/v2k-qcow2/disk0.qcow2"
  # --keep-snapshots: the base's removal (a consolidation in vCenter) is
  # not part of the copy being measured.
  measure "$V2K" --workdir "$W/wd-qcow2" sync incr --keep-snapshots
}
median "v2k sync incr (1% scattered) -> qcow2" $((k * 65536)) v2k_incr; T[incr]=$WALL

echo
echo "(median of $REPS runs each)"
printf 'ratio nbdcopy/v2k wall (qcow2, raw): %.2f %.2f   (>1: v2k faster)\n' \
  "$(echo "${T[nbdcopy-qcow2]} / ${T[v2k-qcow2]}" | bc -l)" "$(echo "${T[nbdcopy-raw]} / ${T[v2k-raw]}" | bc -l)"
printf 'ratio v2k/nbdcopy CPU (qcow2, raw):  %.2f %.2f   (<=1: v2k cheaper)\n' \
  "$(echo "${C[v2k-qcow2]} / ${C[nbdcopy-qcow2]}" | bc -l)" "$(echo "${C[v2k-raw]} / ${C[nbdcopy-raw]}" | bc -l)"
printf 'ratio qemu-img/v2k wall (qcow2, raw): %.2f %.2f\n' \
  "$(echo "${T[qemu-img-qcow2]} / ${T[v2k-qcow2]}" | bc -l)" "$(echo "${T[qemu-img-raw]} / ${T[v2k-raw]}" | bc -l)"
printf 'incr 1%% / base time: %.3f   (target < 0.1)\n' "$(echo "${T[incr]} / ${T[v2k-qcow2]}" | bc -l)"
