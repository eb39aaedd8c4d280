#!/bin/sh
# verify: equal images pass in every mode; a single differing byte is
# found with its offset (full, ranges) and the digests differ.
. "$(dirname "$0")/functions.sh"
cd "$T"

size=$((8 * 1024 * 1024 + 512))
qemu-img create -q -f qcow2 src.qcow2 $size
qemu-io -t unsafe -f qcow2 -c "write -P 0x42 0 3M" -c "write -P 0x43 6M 1M" \
    src.qcow2 >/dev/null
"$D" copy --src qemu-nbd:qcow2:src.qcow2 --dst qemu-nbd:qcow2:dst.qcow2 \
    --create qcow2 --allocated --log log
"$D" copy --src qemu-nbd:qcow2:src.qcow2 --dst file:dst.raw --create raw \
    --log log

"$D" verify --src qemu-nbd:qcow2:src.qcow2 --dst qemu-nbd:qcow2:dst.qcow2 \
    --full --log log > out
grep -q '^equal=1$' out || fail "full verify of equal images"
a=$(sed -n 's/^sha256_src=//p' out)
b=$(sed -n 's/^sha256_dst=//p' out)
[ "$a" = "$b" ] || fail "digests differ for equal images"
qemu-img convert -O raw src.qcow2 flat.raw
[ "$a" = "$(sha256sum flat.raw | cut -d" " -f1)" ] ||
    fail "digest is not the sha256 of the disk"
"$D" verify --src qemu-nbd:qcow2:src.qcow2 --dst file:dst.raw \
    --sample 20 --seed 1 --log log > out
grep -q '^equal=1$' out || fail "sample verify of equal images"

# One byte differs, in the middle of a zero area.
off=$((5 * 1048576 + 12345))
qemu-io -f qcow2 -c "write -P 0x01 $off 1" dst.qcow2 >/dev/null
printf '%s\n' "$off" | dd of=dst.raw bs=1 seek=$off conv=notrunc status=none
if "$D" verify --src qemu-nbd:qcow2:src.qcow2 --dst qemu-nbd:qcow2:dst.qcow2 \
        --full --log log > out 2> err; then
    fail "full verify missed a one-byte difference"
fi
grep -q "^first_diff=$off\$" out || { cat out; fail "wrong offset"; }
grep -q "differ at offset $off" err || { cat err; fail "no error message"; }
[ "$(sed -n 's/^sha256_src=//p' out)" != "$(sed -n 's/^sha256_dst=//p' out)" ] ||
    fail "digests equal for different images"

printf '%s %s\n' 0 1048576 $((5 * 1048576)) 1048576 > ranges
if "$D" verify --src qemu-nbd:qcow2:src.qcow2 --dst file:dst.raw \
        --ranges ranges --log log > out 2>/dev/null; then
    fail "ranges verify missed the difference"
fi
grep -q "^first_diff=$off\$" out || fail "wrong offset (ranges)"

# Many samples on a small disk reach the byte; same seed, same answer.
for i in 1 2; do
    if "$D" verify --src qemu-nbd:qcow2:src.qcow2 --dst file:dst.raw \
            --sample 200 --seed 9 --log log > out.$i 2>/dev/null; then
        fail "sample verify missed the difference"
    fi
done
cmp -s out.1 out.2 || fail "same seed gave different results"
echo "$0: ok"
