# Shared shell helpers for the bench scripts (sourced, not run).

# A free TCP port on 127.0.0.1 (the kernel picks; racy but fine for benches).
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server VAR [server flags...]: starts pushpull-server on a free port,
# waits for its "listening on" line, sets VAR_PID and VAR_URL.
start_server() {
    local var=$1; shift
    local out; out=$(mktemp)
    "$PUSHPULL_BIN/pushpull-server" --port 0 --quiet "$@" >"$out" &
    local pid=$!
    local i
    for i in $(seq 100); do
        grep -q '^listening on ' "$out" && break
        sleep 0.05
    done
    local url; url=$(sed -n 's/^listening on //p' "$out")
    rm -f "$out"
    if [ -z "$url" ]; then
        kill "$pid" 2>/dev/null
        echo "pushpull-server did not start" >&2
        return 1
    fi
    printf -v "${var}_PID" '%s' "$pid"
    printf -v "${var}_URL" '%s' "$url"
}

# median of the numbers on stdin
median() {
    sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}
