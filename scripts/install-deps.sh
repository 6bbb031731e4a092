#!/usr/bin/env bash
# Install the Debian packages pushpull needs. Idempotent: quiet and a no-op
# when everything is present. Needs root (or prints the apt-get line).
set -eu

# build: compiler, pkg-config and the libraries the Makefile asks pkg-config for
BUILD="build-essential pkg-config libmicrohttpd-dev libevent-dev libwslay-dev
libjansson-dev libssl-dev libcurl4-openssl-dev"
# tests: independent clients (curl CLI, python3-websockets), procps for ps,
# gnuplot (the report generator's test draws its charts)
TEST="curl python3 python3-websockets procps gnuplot-nox"
# bench: wrk (reference load), nginx-light (reference server), bc
BENCH="wrk nginx-light bc"

want="$BUILD $TEST"
case "${1:-}" in
  --bench|--all) want="$want $BENCH" ;;
  "") ;;
  *) echo "usage: $0 [--bench|--all]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages:$missing" >&2
  echo "run as root: apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing:$missing" >&2
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
