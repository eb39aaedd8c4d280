#!/bin/bash
# Data-path benchmark: v2k's copy engine (through tests/copy/copy-driver)
# against nbdcopy and qemu-img convert, same source, same kind of target,
# same machine, one run.  Prints wall time, MiB/s of copied data, CPU
# seconds per copied GiB (copier + target server) and peak RSS.
#
#   bench/copy-bench.sh [BUILD_DIR]     (default: build)
#
# Source: a 4 GiB raw file, about a third allocated in scattered extents,
# served read-only by nbdkit on a UNIX socket (as the vddk source is).
# Every copy ends with its target flushed (nbdcopy --flush; sync for
# qemu-img), so nobody wins by leaving dirty pages behind.
set -euo pipefail

BUILD=${1:-build}
D=$(realpath "$BUILD")/src/copy/copy-driver
[ -x "$D" ] || { echo "build $D first"; exit 1; }
W=$(mktemp -d /var/tmp/v2k-bench.XXXXXX)
pids=()
cleanup () { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
cd "$W"
GiB=$((1024 * 1024 * 1024))

# --- source ---------------------------------------------------------------
nbdkit -r -U gen.sock sparse-random size=4G percent=33 runlength=1048576 \
    seed=1 --run 'nbdcopy "$uri" src.raw'
alloc=$(du -B1 src.raw | cut -f1)
start_server () {    # name, args...: start a server, wait for its pidfile
    local name=$1; shift
    "$@" >>"$W/server.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$W/$name.pid" ] && return; sleep 0.1; done
    echo "server $name did not start"; exit 1
}
start_server src nbdkit -r -f -U "$W/src.sock" --pidfile "$W/src.pid" file src.raw
SRC="nbd+unix:///?socket=$W/src.sock"

proc_cpu () {   # utime+stime of a pid, seconds
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

# run NAME TARGET-KIND CMD...: time CMD; for qcow2 targets a fresh qemu-nbd
# serves dst.qcow2 on $W/dst.sock and its CPU is added to the copier's.
results=()
run () {
    local name=$1 kind=$2; shift 2
    local srvpid="" srvcpu=0 t
    rm -f dst.qcow2 dst.raw dst.pid
    if [ "$kind" = qcow2-nbd ]; then
        qemu-img create -q -f qcow2 dst.qcow2 4G
        start_server dst qemu-nbd -f qcow2 -t --shared=0 --discard=unmap \
            --detect-zeroes=unmap -k "$W/dst.sock" --pid-file="$W/dst.pid" dst.qcow2
        srvpid=$(cat dst.pid)
    elif [ "$kind" = raw ]; then
        truncate -s 4G dst.raw
    fi
    sync
    /usr/bin/time -f "%e %U %S %M" -o t.out "$@" > out.log 2>&1 ||
        { cat out.log; echo "$name failed"; exit 1; }
    [ -f dst.raw ] && sync -f dst.raw
    if [ -n "$srvpid" ]; then
        srvcpu=$(proc_cpu "$srvpid"); kill "$srvpid"; wait "$srvpid" 2>/dev/null || true
    fi
    read -r wall user sys rss < t.out
    t=$(awk -v w="$wall" -v u="$user" -v s="$sys" -v c="$srvcpu" -v a="$alloc" -v r="$rss" -v n="$name" \
        'BEGIN { g = a / 2^30; printf "%-34s %7.2f s %7.0f MiB/s %6.2f cpu-s/GiB %6.0f MiB rss", n, w, a / 2^20 / w, (u + s + c) / g, r / 1024 }')
    echo "$t"
    results+=("$name $wall $(awk -v u="$user" -v s="$sys" -v c="$srvcpu" 'BEGIN{print u+s+c}')")
    if [ "$kind" = qcow2-nbd ]; then qemu-img compare -q -f raw src.raw dst.qcow2 || { echo "$name: target differs"; exit 1; }; fi
    if [ "$kind" = raw ] || [ "$kind" = rawnew ]; then cmp -s src.raw dst.raw || { echo "$name: target differs"; exit 1; }; fi
}

echo "source: 4 GiB, $((alloc / 1048576)) MiB allocated; $(nproc) cores"
echo "--- qcow2 target through qemu-nbd"
run "v2k chunk=4M"          qcow2-nbd "$D" copy --src "uri:$SRC" --dst "nbd:$W/dst.sock" --allocated
run "v2k chunk=1M"          qcow2-nbd "$D" copy --src "uri:$SRC" --dst "nbd:$W/dst.sock" --allocated --chunk 1M
run "v2k chunk=2M"          qcow2-nbd "$D" copy --src "uri:$SRC" --dst "nbd:$W/dst.sock" --allocated --chunk 2M
run "nbdcopy"               qcow2-nbd nbdcopy --flush "$SRC" "nbd+unix:///?socket=$W/dst.sock"
run "nbdcopy --request-size=1M" qcow2-nbd nbdcopy --flush --request-size=1048576 "$SRC" "nbd+unix:///?socket=$W/dst.sock"
echo "--- qcow2 file written by qemu-img itself"
run "qemu-img convert (qcow2)" none sh -c "qemu-img convert -f raw -O qcow2 '$SRC' dst.qcow2 && sync -f dst.qcow2"
echo "--- raw target"
run "v2k raw direct"        raw "$D" copy --src "uri:$SRC" --dst file:dst.raw --allocated
run "nbdcopy raw"           raw nbdcopy --flush "$SRC" dst.raw
run "qemu-img convert (raw)" rawnew sh -c "qemu-img convert -f raw -O raw '$SRC' dst.raw && sync -f dst.raw"

echo "--- incremental: 1% of the disk in 656 scattered 64 KiB areas"
qemu-img create -q -f qcow2 dst.qcow2 4G
start_server dst qemu-nbd -f qcow2 -t --shared=0 --discard=unmap \
    --detect-zeroes=unmap -k "$W/dst.sock" --pid-file="$W/dst.pid" dst.qcow2
"$D" copy --src "uri:$SRC" --dst "nbd:$W/dst.sock" --allocated --stats > base.stats
awk 'BEGIN { srand(3); for (i = 0; i < 656; i++) printf "%d\n", int(rand() * 65535) * 65536 }' |
    sort -nu | awk '{ print $1, 65536 }' > ranges
/usr/bin/time -f "%e %U %S %M" -o t.out "$D" copy --mode incr --src "uri:$SRC" \
    --dst "nbd:$W/dst.sock" --ranges ranges --coalesce 1M --stats > incr.stats
read -r iwall _ _ irss < t.out
bwall=$(sed -n 's/^seconds=//p' base.stats)
echo "base $bwall s, incr $(sed -n 's/^seconds=//p' incr.stats) s (process $iwall s, $((irss / 1024)) MiB rss): ratio $(awk -v a="$iwall" -v b="$bwall" 'BEGIN{printf "%.3f", a/b}')"
kill "$(cat dst.pid)"

echo "--- 2 TiB sparse disk, whole-disk BASE copy to a raw file"
start_server big nbdkit -r -f -U "$W/big.sock" --pidfile "$W/big.pid" \
    sparse-random size=2T percent=0.0005 runlength=65536 seed=5
truncate -s 2T big.raw
/usr/bin/time -f "%e %U %S %M" -o t.out "$D" copy --src "nbd:$W/big.sock" --dst file:big.raw --stats > big.stats
read -r bw _ _ brss < t.out
echo "2 TiB: $bw s, peak RSS $((brss / 1024)) MiB, read $(( $(sed -n 's/^bytes_read=//p' big.stats) / 1048576 )) MiB"
/usr/bin/time -f "%e %U %S %M" -o t.out "$D" copy --mode incr --src "nbd:$W/big.sock" --dst file:big.raw --stats > big.stats
read -r bw _ _ brss < t.out
echo "2 TiB INCR (zeroes written everywhere): $bw s, peak RSS $((brss / 1024)) MiB"

echo "--- ratios (>1 means v2k faster / cheaper)"
printf '%s\n' "${results[@]}" | awk '
    { cpu = $NF; wall = $(NF-1); $NF = ""; $(NF-1) = ""; sub(/ +$/, ""); w[$0] = wall; c[$0] = cpu }
    END {
      printf "qcow2: nbdcopy/v2k(4M) time %.2f  cpu %.2f\n", w["nbdcopy"] / w["v2k chunk=4M"], c["nbdcopy"] / c["v2k chunk=4M"]
      printf "qcow2: nbdcopy/v2k(1M) time %.2f  cpu %.2f\n", w["nbdcopy"] / w["v2k chunk=1M"], c["nbdcopy"] / c["v2k chunk=1M"]
      printf "qcow2: nbdcopy(1M)/v2k(1M) time %.2f  cpu %.2f\n", w["nbdcopy --request-size=1M"] / w["v2k chunk=1M"], c["nbdcopy --request-size=1M"] / c["v2k chunk=1M"]
      printf "qcow2: qemu-img/v2k(1M) time %.2f\n", w["qemu-img convert (qcow2)"] / w["v2k chunk=1M"]
      printf "raw:   nbdcopy/v2k time %.2f  cpu %.2f\n", w["nbdcopy raw"] / w["v2k raw direct"], c["nbdcopy raw"] / c["v2k raw direct"]
      printf "raw:   qemu-img/v2k time %.2f  cpu %.2f\n", w["qemu-img convert (raw)"] / w["v2k raw direct"], c["qemu-img convert (raw)"] / c["v2k raw direct"]
    }'
