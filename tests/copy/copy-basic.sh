#!/bin/sh
# Base copies of qcow2 and nbdkit sources into qcow2 (via qemu-nbd) and
# raw (direct) targets: odd sizes, first/last sector, chunk edges.
. "$(dirname "$0")/functions.sh"
cd "$T"

size=$((37 * 1024 * 1024 + 3 * 512))          # not a multiple of any chunk
qemu-img create -q -f qcow2 src.qcow2 $size
qemu-io -t unsafe -f qcow2 \
    -c "write -P 0x11 0 512" \
    -c "write -P 0x22 $((4 * 1048576 - 700)) 1400" \
    -c "write -P 0x33 $((size - 512)) 512" \
    -c "write -P 0x44 20M 3M" \
    -c "write -z 10M 1M" \
    src.qcow2 >/dev/null

for chunk in 4M 1M 64K; do
    rm -f dst.qcow2 dst.raw
    "$D" copy --src qemu-nbd:qcow2:src.qcow2 --dst qemu-nbd:qcow2:dst.qcow2 \
        --create qcow2 --allocated --chunk $chunk --log log
    same src.qcow2 dst.qcow2
    "$D" copy --src qemu-nbd:qcow2:src.qcow2 --dst file:dst.raw \
        --create raw --chunk $chunk --log log --stats > stats
    same -F raw src.qcow2 dst.raw
done
# The whole-disk copy read only the allocated data and left holes.
written=$(sed -n "s/^bytes_written=//p" stats)
[ "$written" -ge $((3 * 1048576)) ] && [ "$written" -lt $((4 * 1048576)) ] ||
    { cat stats; fail "unexpected bytes written"; }
[ "$(du -k dst.raw | cut -f1)" -lt 8192 ] || fail "raw target not sparse"

# nbdkit source spawned by the helper (the vddk convention: -r -f
# --exit-with-parent -U SOCK --pidfile PID), compared to the same data
# served by an independent nbdkit.
args="sparse-random size=64M percent=30 seed=7 runlength=65536"
rm -f dst.qcow2
"$D" copy --src "nbdkit:$args" --dst qemu-nbd:qcow2:dst.qcow2 --create qcow2 \
    --allocated --log log
start_nbdkit "$T/ref.sock" -r $args
same -f raw "nbd+unix:///?socket=$T/ref.sock" dst.qcow2

# A server that fails to start is reported with its log line.
if "$D" copy --src qemu-nbd:qcow2:missing.qcow2 --dst file:dst.raw --log log 2> err; then
    fail "copy from a missing image succeeded"
fi
grep -q "exited with status" err || { cat err; fail "no server error"; }
echo "$0: ok"
