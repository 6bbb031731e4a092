#!/usr/bin/env bash
# npm ci DIR: install DIR/node_modules exactly as DIR/package-lock.json
# locks it, unless that lock is already installed (a copy of it in
# node_modules marks it done). Used by install-deps.sh and the node peers'
# run scripts, so a peer installs itself on first use.
set -eu
dir=${1:?usage: scripts/npm-ci.sh DIR}
[ -f "$dir/package-lock.json" ] || { echo "npm-ci.sh: no $dir/package-lock.json" >&2; exit 2; }
cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock" 2>/dev/null && exit 0
command -v npm >/dev/null || { echo "npm-ci.sh: npm missing (scripts/install-deps.sh --peers)" >&2; exit 1; }
echo "npm ci --prefix $dir" >&2
npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >&2
cp "$dir/package-lock.json" "$dir/node_modules/.installed-lock"
