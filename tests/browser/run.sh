#!/usr/bin/env bash
# The browser tests: starts paytree (the debug build `cargo test` made, or PAYTREE_BIN) on a
# fresh data dir on 127.0.0.1, installs the pinned npm packages if needed, runs run.mjs in
# Debian's Chromium, stops paytree. SCREENSHOTS=DIR writes the README's pictures there.
set -euo pipefail
cd "$(dirname "$0")"
BIN=${PAYTREE_BIN:-../../target/debug/paytree}
[ -x "$BIN" ] || { echo "no paytree binary at $BIN (run cargo build first)" >&2; exit 1; }
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent
DATA=$(mktemp -d)
OUT=$(mktemp)
"$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" >"$OUT" 2>"$DATA.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DATA" "$DATA.log" "$OUT"' EXIT
for _ in $(seq 1 100); do
    grep -q "listening on" "$OUT" && break
    sleep 0.1
done
BASE=$(sed -n 's/^paytree listening on //p' "$OUT")
[ -n "$BASE" ] || { echo "paytree did not start"; cat "$DATA.log"; exit 1; }
BASE=$BASE ADMIN_KEY=$(cat "$DATA/admin.key") node run.mjs
