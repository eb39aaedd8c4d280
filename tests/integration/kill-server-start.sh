#!/bin/bash
# kill -9 of v2k while its qemu-nbd is starting: no server may survive.
# qemu-nbd loses a SIGTERM that arrives between installing its handler
# and entering its main loop (it resets its state to "running" there), so
# a server started with SIGTERM as its parent-death signal could stay for
# ever, holding the target's write lock; here 1 start in 10 did.  The
# real qemu-nbd runs, behind a wrapper on PATH that only says when it
# starts, so that the kill lands in those few milliseconds.
. "$(dirname "$0")/functions.sh"
. "$(dirname "$0")/sync-lib.sh"
set -e
requires qemu-nbd pgrep
three_disk_spec > "$T/spec.json"
start_lab "$T/spec.json"
TRANSPORT=file
gwrite 0 0 $((8 * MiB)) 1
init_transport "$T/wd" "$T/dst" 2>/dev/null
v2k --workdir "$T/wd" cbt enable
v2k --workdir "$T/wd" snapshot base >/dev/null

mkdir -p "$T/bin"
printf '#!/bin/sh\n: > "%s/started.$$"\nexec %s "$@"\n' "$T" "$(command -v qemu-nbd)" > "$T/bin/qemu-nbd"
chmod +x "$T/bin/qemu-nbd"
left=0 landed=0
for i in $(seq 30); do
  rm -f "$T"/started.*
  PATH=$T/bin:$PATH "$V2K" --workdir "$T/wd" sync base --jobs 1 >/dev/null 2>&1 & pid=$!
  for ((w = 0; w < 3000; w++)); do
    ls "$T"/started.* >/dev/null 2>&1 && break
    sleep 0.001
  done
  sleep "0.00$((RANDOM % 10))"
  kill -9 $pid 2>/dev/null && landed=$((landed + 1))
  wait $pid 2>/dev/null || true
  if ! servers_gone 2; then
    left=$((left + 1))
    pkill -9 -f "qemu-nbd.*$T/" || true
  fi
done
[ $left -eq 0 ] || fail "$left of $landed kills left a qemu-nbd behind"
[ $landed -ge 20 ] || fail "only $landed of 30 kills landed during a server start"
# And the interrupted base still finishes correctly.
v2k --workdir "$T/wd" sync base >/dev/null
compare_all "$T/wd" "base after $landed kills during server starts"
note "ok"
