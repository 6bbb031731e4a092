#!/usr/bin/env bash
# Install the Debian packages pushpull needs. Idempotent: quiet and a no-op
# when everything is present. Needs root (or prints the apt-get line).
# --browser: also what `make test-browser` needs, and playwright-core into
# tests/browser/node_modules from its lockfile (npm ci, skipped when current).
# --fuzz: clang and its libFuzzer runtime (make fuzz, make fuzz-smoke).
# --valgrind: valgrind (make test-valgrind).
# The default set includes the other push servers of peers/ (Nchan, Pushpin,
# node) and every peer's node_modules from its lockfile (npm ci, skipped
# when current): make test starts each of them. --peers is the same set.
set -eu
cd "$(dirname "$0")/.."

# build: compiler, pkg-config and the libraries the Makefile asks pkg-config for
BUILD="build-essential pkg-config libmicrohttpd-dev libgnutls28-dev libevent-dev libwslay-dev
libjansson-dev libssl-dev libcurl4-openssl-dev libhiredis-dev"
# tests: independent clients (curl CLI, python3-websockets), procps for ps,
# gnuplot (the report generator's test draws its charts), the openssl CLI
# (self-signed certificates for the HTTPS tests and the bench's tls profile),
# redis-server (the broker tests start their own on an ephemeral port; the
# package's system service is not started: policy-rc.d below)
TEST="curl python3 python3-websockets procps gnuplot-nox openssl redis-server redis-tools"
# bench: wrk (reference load), nginx-light (reference server), bc
BENCH="wrk nginx-light bc"
# browser: Debian's chromium (driven headless) and a font for its screenshots;
# node and npm unless a node is already there (any from 18 on will do)
BROWSER="chromium fonts-dejavu-core"
# fuzz: clang 14 and compiler-rt (libFuzzer, ASan, UBSan runtimes)
FUZZ="clang libclang-rt-14-dev"
# valgrind: memcheck under the integration suite
VALGRIND="valgrind"
# peers: nginx + Nchan (peers/nchan), Pushpin with its condure and zurl
# (peers/pushpin); node and npm for the node peers, as for --browser
PEERS="nginx-light libnginx-mod-nchan pushpin condure zurl"
NODE=""
command -v node >/dev/null || NODE="$NODE nodejs"
command -v npm >/dev/null || NODE="$NODE npm"
BROWSER="$BROWSER $NODE"
PEERS="$PEERS $NODE"

want="$BUILD $TEST $PEERS"
# folders whose package-lock.json npm ci installs
lockdirs=$(dirname peers/*/package-lock.json)
case "${1:-}" in
  --bench) want="$want $BENCH" ;;
  --browser) want="$want $BROWSER"; lockdirs="$lockdirs tests/browser" ;;
  --fuzz) want="$want $FUZZ" ;;
  --valgrind) want="$want $VALGRIND" ;;
  --peers) ;;
  --all) want="$want $BENCH $BROWSER $FUZZ $VALGRIND"; lockdirs="$lockdirs tests/browser" ;;
  "") ;;
  *) echo "usage: $0 [--bench|--browser|--fuzz|--valgrind|--peers|--all]" >&2; exit 2 ;;
esac

# node packages exactly as locked (scripts/npm-ci.sh skips a current one).
npm_deps() {
    for dir in $lockdirs; do
        scripts/npm-ci.sh "$dir"
    done
}

# Installing a package with a service (nginx, pushpin, zurl) makes its
# maintainer scripts start it through invoke-rc.d: a system nginx would
# hold port 80 and take CPU during every benchmark, and nothing here wants
# one (the tests and the bench start their own on free loopback ports).
# invoke-rc.d asks /usr/sbin/policy-rc.d first, and exit status 101 means
# "not allowed": one is put there for this install only, and only when none
# exists (a container's or an admin's own is left alone).
policy=/usr/sbin/policy-rc.d
no_services() {
    [ -e "$policy" ] && return 0
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
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
no_services
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
npm_deps
