#!/bin/sh
# Source errors mid-copy: the copy fails with the offset, keeps a durable
# checkpoint, and runs resumed from it finish with an identical target.
. "$(dirname "$0")/functions.sh"
cd "$T"

size=$((24 * 1024 * 1024 + 4096))
qemu-img create -q -f raw src.raw $size
qemu-io -t unsafe -f raw -c "write -P 0x5a 0 12M" -c "write -P 0xa5 14M 10M" \
    -c "write -P 0x77 $((size - 512)) 512" src.raw >/dev/null

# 1. Injected EIO on reads (nbdkit error filter), resumed by re-running
#    with --resume until done: each run must make progress.
start_nbdkit "$T/err.sock" -r --filter=error file src.raw \
    error-pread-rate=0.1 error-pread=EIO
qemu-img create -q -f qcow2 dst.qcow2 $size
fails=0 last=0 finished=
for attempt in $(seq 400); do
    if "$D" copy --src nbd:"$T/err.sock" --dst qemu-nbd:qcow2:dst.qcow2 \
        --chunk 256K --checkpoint-bytes 1M --checkpoint-file ckpt \
        --resume --log log 2> err; then
        finished=1
        break
    fi
    fails=$((fails + 1))
    grep -q "cannot read source .* at offset [0-9]* length" err ||
        { cat err; fail "error without offset"; }
    now=$(cat ckpt 2>/dev/null || echo 0)
    [ "$now" -ge "$last" ] || fail "checkpoint went back: $last -> $now"
    last=$now
done
# About 50 runs here: each advances by what is contiguous on the target
# when its first read fails, often less than a 1 MiB checkpoint.
[ -n "$finished" ] || fail "not done after $fails failed runs (checkpoint $last)"
[ "$fails" -gt 0 ] || fail "no injected error was hit"
same -f raw src.raw dst.qcow2
echo "EIO: $fails failed runs before completion"

# 2. The same in one process: reconnect and resume from the checkpoint
#    that v2k_copy returned (the library's retry contract).
rm -f dst.raw ckpt
"$D" copy --src nbd:"$T/err.sock" --dst file:dst.raw --create raw \
    --chunk 256K --checkpoint-bytes 1M --retries 200 --log log --stats \
    > stats 2> err
grep -q "attempt 1 failed at checkpoint" err || fail "no retry happened"
same -f raw -F raw src.raw dst.raw

# 3. A dropped connection: the server dies mid-copy.  The copy fails
#    cleanly and a new server + resume finishes the job.
rm -f ckpt
qemu-img create -q -f qcow2 dst2.qcow2 $size
start_nbdkit "$T/slow.sock" -r --filter=delay file src.raw delay-read=100ms
slowpid=$(cat "$T/slow.sock.pid")
"$D" copy --src nbd:"$T/slow.sock" --dst qemu-nbd:qcow2:dst2.qcow2 \
    --chunk 256K --requests 4 --checkpoint-bytes 512K \
    --checkpoint-file ckpt --log log 2> err &
cpid=$!
# Kill the server once a checkpoint is down (however slow this machine
# is to start the copy), well before the 100 reads of the whole copy.
for _ in $(seq 300); do
    [ "$(cat ckpt 2>/dev/null || echo 0)" -gt 0 ] && break
    sleep 0.05
done
kill -9 "$slowpid"
if wait $cpid; then fail "copy survived a dead server"; fi
cat err
p=$(cat ckpt)
[ "$p" -gt 0 ] && [ "$p" -lt $size ] || fail "checkpoint $p after drop"
start_nbdkit "$T/ok.sock" -r file src.raw
"$D" copy --src nbd:"$T/ok.sock" --dst qemu-nbd:qcow2:dst2.qcow2 \
    --checkpoint-file ckpt --resume --log log --stats > stats
grep -q "^bytes_total=$((size - p))\$" stats || { cat stats; fail "resume did not start at $p"; }
same -f raw src.raw dst2.qcow2
echo "$0: ok"
