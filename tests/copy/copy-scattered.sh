#!/bin/sh
# 5000+ scattered changed areas in one incremental round, then a
# coalesced copy of the same list.
. "$(dirname "$0")/functions.sh"
cd "$T"

size=$((256 * 1024 * 1024))
qemu-img create -q -f qcow2 src.qcow2 $size
"$D" copy --src qemu-nbd:qcow2:src.qcow2 --dst qemu-nbd:qcow2:dst.qcow2 \
    --create qcow2 --allocated --log log

# 5200 4 KiB areas on distinct 48 KiB slots, some of them zero-filled.
awk -v n=5200 'BEGIN { srand(42); for (i = 0; i < 5400; i++) s[i] = i;
    for (i = 5399; i > 0; i--) { j = int(rand() * (i + 1)); t = s[i]; s[i] = s[j]; s[j] = t }
    for (i = 0; i < n; i++) print s[i] * 49152 }' | sort -n > offs
[ "$(wc -l < offs)" -ge 5000 ] || fail "not enough areas"
awk '{ printf "-c \"write -P %d %d 4096\" ", NR % 7 == 0 ? 0 : NR % 251 + 1, $1 }' offs > cmds
eval "qemu-io -t unsafe -f qcow2 $(cat cmds) src.qcow2" >/dev/null
awk '{ print $1, 4096 }' offs > ranges

"$D" copy --mode incr --src qemu-nbd:qcow2:src.qcow2 \
    --dst qemu-nbd:qcow2:dst.qcow2 --ranges ranges --log log --stats > stats
grep -q '^areas=5200$' stats || { cat stats; fail "areas"; }
same src.qcow2 dst.qcow2

# Same changes into a raw target, coalesced at 1 MiB.
"$D" copy --src qemu-nbd:qcow2:src.qcow2 --dst file:dst.raw --create raw \
    --mode incr --ranges ranges --coalesce 1M --log log --stats > stats
same -F raw src.qcow2 dst.raw
echo "$0: ok"
