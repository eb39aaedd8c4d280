#!/bin/sh
# Three incremental rounds: data, zeroes over data, discards, last sector,
# into a qcow2 target via qemu-nbd and a raw target written directly.
. "$(dirname "$0")/functions.sh"
cd "$T"

size=$((33 * 1024 * 1024 + 512))
qemu-img create -q -f qcow2 src.qcow2 $size
qemu-io -t unsafe -f qcow2 -c "write -P 0x55 0 8M" -c "write -P 0x66 16M 4M" \
    src.qcow2 >/dev/null
"$D" copy --src qemu-nbd:qcow2:src.qcow2 --dst qemu-nbd:qcow2:dst.qcow2 \
    --create qcow2 --allocated --log log
"$D" copy --src qemu-nbd:qcow2:src.qcow2 --dst file:dst.raw --create raw \
    --allocated --log log
same src.qcow2 dst.qcow2
same -F raw src.qcow2 dst.raw

round ()
{
    # $1: qemu-io commands; $2: changed areas (what CBT would report)
    eval "qemu-io -t unsafe -f qcow2 $1 src.qcow2" >/dev/null
    printf '%s\n' "$2" > ranges
    "$D" copy --mode incr --src qemu-nbd:qcow2:src.qcow2 \
        --dst qemu-nbd:qcow2:dst.qcow2 --ranges ranges --log log --stats > s1
    "$D" copy --mode incr --src qemu-nbd:qcow2:src.qcow2 \
        --dst file:dst.raw --ranges ranges --log log --stats > s2
    same src.qcow2 dst.qcow2
    same -F raw src.qcow2 dst.raw
}

# Round 1: zeroes over data (write -z keeps allocation, discard drops it),
# a chunk-crossing write and the last sector.
round '-c "write -z 1M 2M" -c "discard 5M 1M" -c "write -P 0x77 4194000 1000" -c "write -P 0x78 '$((size - 512))' 512"' \
"1048576 2097152
4194000 1000
5242880 1048576
$((size - 512)) 512"
grep -q '^bytes_zeroed=[1-9]' s1 || { cat s1; fail "zeroes were not written"; }

# Round 2: data written over zeroes, zero-filled data (written as data by
# the guest, must still land as zeroes).
round '-c "write -P 0x99 1M 64K" -c "write -P 0 16M 1M"' \
"1048576 65536
16777216 1048576"

# Round 3: the first sector and a change inside the gap between ranges.
round '-c "write -P 0xaa 0 512" -c "write -P 0xbb 30M 4K"' \
"0 512
31457280 4096"
echo "$0: ok"
