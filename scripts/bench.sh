#!/usr/bin/env bash
# make bench: start pushpull-server on a free loopback port, run the default
# four-transport comparison with pushpull-client, and keep everything under
# results/<UTC time>-quick/. (The scenario runner, network profiles and the
# charted report are issue #4; this is the one-comparison version.)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
: "${PUSHPULL_BIN:=$here/../bin}"
SUBSCRIBERS=${SUBSCRIBERS:-100}
RATE=${RATE:-100}
DURATION=${DURATION:-5s}

out="$here/../results/$(date -u +%Y%m%dT%H%M%SZ)-quick"
mkdir -p "$out"
start_server SRV
trap 'kill "$SRV_PID" 2>/dev/null; wait 2>/dev/null' EXIT
echo "server: $SRV_URL (pid $SRV_PID); results: $out"
set +e
"$PUSHPULL_BIN/pushpull-client" --url "$SRV_URL" --transport all \
    --subscribers "$SUBSCRIBERS" --rate "$RATE" --duration "$DURATION" \
    --json "$out/client.json" --csv "$out/runs.csv" | tee "$out/summary.txt"
rc=${PIPESTATUS[0]}
set -e
curl -s "$SRV_URL/stats" >"$out/server-stats.json"
echo "wrote $out/{summary.txt,client.json,runs.csv,server-stats.json}"
exit "$rc"
