#!/usr/bin/env bash
# Install the Debian packages pushpull needs. Idempotent: quiet and a no-op
# when everything is present. Needs root (or prints the apt-get line).
# --browser: also what `make test-browser` needs, and playwright-core into
# tests/browser/node_modules from its lockfile (npm ci, skipped when current).
# --fuzz: clang and its libFuzzer runtime (make fuzz, make fuzz-smoke).
# --valgrind: valgrind (make test-valgrind).
# --peers: what peers/ needs (Nginx and Nchan); the tests and the bench need
# it too, so it is part of the default set.
set -eu
cd "$(dirname "$0")/.."

# build: compiler, pkg-config and the libraries the Makefile asks pkg-config for
BUILD="build-essential pkg-config libmicrohttpd-dev libgnutls28-dev libevent-dev libwslay-dev
libjansson-dev libssl-dev libcurl4-openssl-dev"
# tests: independent clients (curl CLI, python3-websockets), procps for ps,
# gnuplot (the report generator's test draws its charts), the openssl CLI
# (self-signed certificates for the HTTPS tests and the bench's tls profile)
TEST="curl python3 python3-websockets procps gnuplot-nox openssl"
# peers: the servers the runner measures beside pushpull-server
# (peers/NAME/run; tests/integration/test_bench_peers.py starts them)
PEERS="nginx-light libnginx-mod-nchan"
# bench: wrk (reference load), nginx-light (reference server), bc
BENCH="wrk nginx-light bc"
# browser: Debian's chromium (driven headless) and a font for its screenshots;
# node and npm unless a node is already there (any from 18 on will do)
BROWSER="chromium fonts-dejavu-core"
# fuzz: clang 14 and compiler-rt (libFuzzer, ASan, UBSan runtimes)
FUZZ="clang libclang-rt-14-dev"
# valgrind: memcheck under the integration suite
VALGRIND="valgrind"
command -v node >/dev/null || BROWSER="$BROWSER nodejs"
command -v npm >/dev/null || BROWSER="$BROWSER npm"

want="$BUILD $TEST $PEERS"
browser=""
case "${1:-}" in
  --bench) want="$want $BENCH" ;;
  --browser) want="$want $BROWSER"; browser=1 ;;
  --fuzz) want="$want $FUZZ" ;;
  --valgrind) want="$want $VALGRIND" ;;
  --peers) ;;
  --all) want="$want $BENCH $BROWSER $FUZZ $VALGRIND"; browser=1 ;;
  "") ;;
  *) echo "usage: $0 [--bench|--browser|--fuzz|--valgrind|--peers|--all]" >&2; exit 2 ;;
esac

# playwright-core, exactly as locked; a copy of the lockfile marks it done.
npm_deps() {
    [ -n "$browser" ] || return 0
    local dir=tests/browser
    cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock" && return 0
    echo "npm ci --prefix $dir" >&2
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >&2
    cp "$dir/package-lock.json" "$dir/node_modules/.installed-lock"
}

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  npm_deps
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages:$missing" >&2
  echo "run as root: apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing:$missing" >&2
# Debian's nginx packages start a system nginx on port 80 from their
# maintainer scripts (invoke-rc.d). Nothing here wants one: the bench and
# the tests start their own on a free loopback port, and a system nginx
# would hold port 80 and take CPU during every benchmark. invoke-rc.d asks
# /usr/sbin/policy-rc.d first and exit status 101 means "not allowed": one
# is put there for this install only, and only when none exists (a
# container or an admin's own is left alone).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# scripts/install-deps.sh: start no service during this install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
npm_deps
