#!/bin/sh
# Parallel disks: three copies on two threads, each with its own servers
# and libnbd handles; one failing job does not stop the others.
. "$(dirname "$0")/functions.sh"
cd "$T"

for i in 1 2 3; do
    qemu-img create -q -f qcow2 src$i.qcow2 $((i * 5 * 1048576 + 512))
    qemu-io -t unsafe -f qcow2 -c "write -P $i 0 $i""M" \
        -c "write -P 9 $((i * 5 * 1048576 - 512)) 1024" src$i.qcow2 >/dev/null
done
cat > jobs <<EOT
--src qemu-nbd:qcow2:$T/src1.qcow2 --dst qemu-nbd:qcow2:$T/dst1.qcow2 --create qcow2 --allocated --log $T/log1
--src qemu-nbd:qcow2:$T/src2.qcow2 --dst file:$T/dst2.raw --create raw --allocated --log $T/log2
--src nbdkit:file,$T/src3.qcow2 --dst qemu-nbd:qcow2:$T/dst3.qcow2 --create qcow2 --log $T/log3
EOT
# Job 3 copies the qcow2 file as raw bytes through nbdkit: fine as data,
# but check it against the file itself.
"$D" jobs --jobs 2 jobs
same src1.qcow2 dst1.qcow2
same -F raw src2.qcow2 dst2.raw
qemu-img compare -q -f raw src3.qcow2 dst3.qcow2 || fail "job 3"

echo "--src qemu-nbd:qcow2:$T/missing.qcow2 --dst file:$T/x.raw --log $T/log4" >> jobs
rm -f dst1.qcow2 dst2.raw dst3.qcow2
if "$D" jobs --jobs 3 jobs 2> err; then fail "failing job not reported"; fi
grep -q "1 of 4 jobs failed" err || { cat err; fail "no summary"; }
same src1.qcow2 dst1.qcow2
echo "$0: ok"
