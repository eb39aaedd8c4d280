#!/bin/sh
# A server that stops replying (a stalled NFS mount, a stuck VDDK) fails
# the copy (and verify) after the I/O timeout, naming which side, instead of hanging
# the sync for ever; a slow server that still replies is not cut off.
. "$(dirname "$0")/functions.sh"
cd "$T"

size=$((8 * 1024 * 1024))
qemu-img create -q -f raw src.raw $size
qemu-io -t unsafe -f raw -c "write -P 0x5a 0 8M" src.raw >/dev/null

# elapsed CMD...: run, set $rc and $secs (whole seconds).
elapsed ()
{
    t0=$(date +%s)
    rc=0
    "$@" 2> err || rc=$?
    secs=$(( $(date +%s) - t0 ))
}

# 1. The source never answers within the timeout.
start_nbdkit "$T/stuck.sock" -r --filter=delay file src.raw delay-read=60
qemu-img create -q -f qcow2 dst.qcow2 $size
elapsed "$D" copy --src nbd:"$T/stuck.sock" --dst qemu-nbd:qcow2:dst.qcow2 \
    --io-timeout 2 --checkpoint-file ckpt --log log
[ $rc -ne 0 ] || fail "a copy from a stuck source succeeded"
grep -q "no reply from the source '.*' in 2 s" err || { cat err; fail "no clear error"; }
[ $secs -lt 20 ] || fail "gave up after $secs s, not about 2"

# ... and so does verify, with the reads of both sides in flight.
elapsed "$D" verify --src nbd:"$T/stuck.sock" --dst file:src.raw --full --io-timeout 2
[ $rc -ne 0 ] || fail "a verify against a stuck source succeeded"
grep -q "no reply from '.*' in 2 s" err || { cat err; fail "no clear error from verify"; }
[ $secs -lt 20 ] || fail "verify gave up after $secs s, not about 2"

# 2. The target never answers: named, and not flushed (that would hang).
start_nbdkit "$T/dst.sock" --filter=delay memory $size delay-write=60
elapsed "$D" copy --src file:src.raw --dst nbd:"$T/dst.sock" --io-timeout 2 --log log
[ $rc -ne 0 ] || fail "a copy to a stuck target succeeded"
grep -q "no reply from the target '.*' in 2 s" err || { cat err; fail "no clear error"; }
[ $secs -lt 20 ] || fail "gave up after $secs s, not about 2"

# 3. Slow replies (0.5 s each, less than the timeout) are waited for.
start_nbdkit "$T/slow.sock" -r --filter=delay file src.raw delay-read=500ms
rm -f dst.qcow2
qemu-img create -q -f qcow2 dst.qcow2 $size
"$D" copy --src nbd:"$T/slow.sock" --dst qemu-nbd:qcow2:dst.qcow2 --chunk 1M \
    --requests 1 --io-timeout 1 --log log || fail "a slow source was cut off"
same -f raw src.raw dst.qcow2
echo "copy-stall: ok"
