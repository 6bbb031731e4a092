#!/usr/bin/env bash
# What every node peer's run does: peers/node-peer.sh DIR PORT checks PORT,
# installs DIR/node_modules from DIR/package-lock.json on first use (npm
# ci), then runs node DIR/server.js PORT in the foreground (exec: SIGTERM
# reaches node itself, whose exit status is run's).
set -eu
dir=${1:?usage: peers/node-peer.sh DIR PORT}
port=${2:-0}
name=peers/$(basename "$dir")/run
case $port in
    ''|*[!0-9]*) echo "$name: PORT must be a number, got '$port'" >&2; exit 2 ;;
esac
command -v node >/dev/null || { echo "$name: node missing (scripts/install-deps.sh --peers)" >&2; exit 1; }
"$dir/../../scripts/npm-ci.sh" "$dir"
exec node "$dir/server.js" "$port"
