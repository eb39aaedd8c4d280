#!/bin/sh
# Build the v2k lab: tests/lab/build.sh OUTDIR  ->  OUTDIR/v2k-lab
# Go in GOPATH mode against Debian's govmomi; no module downloads.
# Idempotent: the Go build cache makes a rebuild with no changes fast, and
# an up-to-date binary is not touched at all.
set -eu
out=${1:?usage: build.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$out/v2k-lab
if ! command -v go >/dev/null 2>&1; then
    echo "build.sh: go not found (apt-get install golang-go golang-github-vmware-govmomi-dev)" >&2
    exit 1
fi
if [ -x "$bin" ] && [ -z "$(find "$here/src" -newer "$bin" -name '*.go' ! -name '*_test.go' | head -n 1)" ]; then
    exit 0
fi
export GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS=
[ -n "${GOCACHE:-}" ] || export GOCACHE="${XDG_CACHE_HOME:-$HOME/.cache}/go-build"
cd "$here/src"
go build -o "$bin.tmp" .
mv -f "$bin.tmp" "$bin"
