#!/bin/sh
# A VMDK snapshot chain laid out as ESXi writes it (small unpadded text
# descriptors) read through v2k's qemu-nbd source: its data files get
# io_uring, its descriptors the thread pool (qemu 7.2's io_uring hangs on
# a read past the end of a file, which every descriptor read is); the
# copy finishes and is identical.  A qemu-nbd that refuses io_uring is
# retried without it.
. "$(dirname "$0")/functions.sh"
cd "$T"

# base: monolithicFlat, 4200 MiB (its descriptor unpadded below);
# mid: twoGbMaxExtentSparse (three sparse extents); top: monolithicSparse.
qemu-img create -q -f vmdk -o subformat=monolithicFlat base.vmdk 4200M
qemu-io -f vmdk -c "write -P 0x11 0 1M" -c "write -P 0x12 4100M 1M" base.vmdk >/dev/null
qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse -b base.vmdk -F vmdk mid.vmdk
qemu-io -f vmdk -c "write -P 0x21 512K 1M" -c "write -P 0x22 3000M 64K" \
    -c "write -P 0x23 4150M 64K" mid.vmdk >/dev/null
qemu-img create -q -f vmdk -b mid.vmdk -F vmdk top.vmdk
qemu-io -f vmdk -c "write -P 0x31 100M 64K" -c "write -P 0x32 4199M 1M" top.vmdk >/dev/null
# qemu-img pads descriptors with NUL bytes to a sector; ESXi does not.
for f in base.vmdk mid.vmdk; do
    tr -d '\000' < $f > x && mv x $f
    [ $(($(stat -c %s $f) % 512)) -ne 0 ] || fail "$f is still a whole sector"
done

# A qemu-nbd on PATH that records its arguments, then runs the real one
# (or, with REFUSE set, fails as a qemu without io_uring support does).
real=$(command -v qemu-nbd)
mkdir bin
cat > bin/qemu-nbd <<EOF
#!/bin/sh
echo "\$*" >> "$T/argv"
case "\$*" in *aio=io_uring*) if [ -n "\${REFUSE:-}" ]; then
    echo "qemu-nbd: aio=io_uring not supported" >&2; exit 1; fi ;; esac
exec "$real" "\$@"
EOF
chmod +x bin/qemu-nbd

copy ()
{
    rm -f out.raw
    truncate -s 4200M out.raw
    PATH=$T/bin:$PATH timeout 60 "$D" copy --src qemu-nbd:vmdk:"$T/top.vmdk" \
        --dst file:out.raw --allocated --log log ||
        fail "the copy failed or hung (exit $?): $(tail -3 log)"
    same -f vmdk -F raw top.vmdk out.raw
}

copy
opts=$(grep -o 'driver=vmdk,[^ ]*' argv)
want="driver=vmdk,file.driver=file,file.aio=io_uring,backing.extents.0.aio=io_uring,backing.extents.1.aio=io_uring,backing.extents.2.aio=io_uring,backing.backing.extents.0.aio=io_uring,file.filename=$T/top.vmdk"
[ "$opts" = "$want" ] || fail "qemu-nbd options: '$opts', expected '$want'"

# A snapshot whose top is a text descriptor (ESXi's deltas are): the
# descriptor itself is not named.
qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse -b top.vmdk -F vmdk snap.vmdk
tr -d '\000' < snap.vmdk > x && mv x snap.vmdk
: > argv
rm -f out.raw; truncate -s 4200M out.raw
PATH=$T/bin:$PATH timeout 60 "$D" copy --src qemu-nbd:vmdk:"$T/snap.vmdk" \
    --dst file:out.raw --allocated --log log || fail "the copy of snap.vmdk failed or hung"
same -f vmdk -F raw snap.vmdk out.raw
grep -q 'extents.0.aio=io_uring,extents.1.aio=io_uring,extents.2.aio=io_uring,backing.file.aio=io_uring,' argv ||
    fail "snap.vmdk's extents are not read with io_uring: $(cat argv)"
if grep -q '[,=]file.aio=io_uring\|backing.backing.file.aio' argv; then
    fail "a text descriptor was given io_uring: $(cat argv)"
fi

# Without io_uring support: the second start, without the options, works.
: > argv
REFUSE=1
export REFUSE
copy
[ "$(grep -c . argv)" -eq 2 ] || fail "expected a refused start and a retry: $(cat argv)"
tail -1 argv | grep -q io_uring && fail "the retry still asks for io_uring"
echo "copy-vmdk: ok"
