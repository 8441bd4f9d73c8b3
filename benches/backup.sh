#!/usr/bin/env bash
# What an online backup costs: its time and size on a store of METHODS payment methods, and
# the registrations per second while it runs against the same load without it; then the
# compaction of that store, paytree stopped.
#
#   benches/backup.sh [METHODS] [ROUNDS]    # 1000000 and 3; RUN_SECONDS=30, CONNECTIONS=32
#
# Fills the store through the API with wrk (benches/wrk/register.lua, CUSTOMERS=100000, in
# runs of 60 s until METHODS are registered), restarts paytree, takes a backup with no load,
# then for each round: wrk alone, and wrk with `paytree backup` started 2 s in, each for
# max(RUN_SECONDS, 3 x the idle backup's time + 10 s), so that the backup, slower under load,
# ends inside the run (the script says so if it did not).
# Prints one line a run; the rate while the backup ran is read from paytree's own counter of
# registrations answered 201. WORK (default: a new directory in target/) holds the data dir and the backups, which
# need about three times the store's size; each backup is deleted once measured.
# Build first: cargo build --release --bin paytree. Everything binds to 127.0.0.1 and every
# run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

METHODS=${1:-1000000}
ROUNDS=${2:-3}
SECONDS_PER_RUN=${RUN_SECONDS:-30}
CONNECTIONS=${CONNECTIONS:-32}
PORT=127.0.0.1:18281
BIN=./target/release/paytree
work=${WORK:-$(mktemp -d -p target backup-bench.XXXXXX)}
dir="$work/data"
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
unset PAYTREE_ADMIN_KEY
source benches/common.sh

start() {
    PAYTREE_RATE_LIMIT_PER_KEY=1000000 "$BIN" serve --listen "$PORT" --data-dir "$dir" \
        >>"$work/serve.log" 2>&1 &
    pid=$!
    wait_up "$PORT"
}

stop() {
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}

# registered: the payment methods registered so far (the last id handed out).
registered() {
    curl -fs -H "Authorization: Bearer $(admin_key "$dir")" "http://$PORT/metrics" |
        awk '/^paytree_http_requests_total/ && /route="\/paymethods"/ && /method="POST"/ && /status="201"/ { n += $2 } END { printf "%d", n }'
}

# load SECONDS -> requests per second (all 201: the script fails otherwise)
load() {
    local out rps bad
    out=$(KEY=$(admin_key "$dir") CUSTOMERS=100000 timeout $(($1 + 30)) wrk -t2 -c"$CONNECTIONS" \
        -d"${1}s" -s benches/wrk/register.lua "http://$PORT")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    bad=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
    [ -z "$bad" ] || { echo "$bad non-2xx answers" >&2; exit 1; }
    echo "$rps"
}

size() { stat -c %s "$1"; }

start
echo "== filling $dir to $METHODS payment methods" >&2
total=0
filled=$(date +%s)
while [ "$total" -lt "$METHODS" ]; do
    load 60 >/dev/null
    total=$(registered)
    echo "   $total registered" >&2
done
# Restarted, so that every round starts from the same server state (caches empty).
stop
start
echo "filled: $total payment methods in $(( $(date +%s) - filled )) s; store file $(size "$dir/paytree.redb") bytes"

# backup -> "SECONDS BYTES REGISTERED": how long `paytree backup` took, its size, and how many
# registrations the server answered meanwhile (from its own counter).
backup() {
    local to="$work/backup.redb" started ended before after
    before=$(registered)
    started=$(date +%s.%N)
    timeout 1800 "$BIN" backup --to "$to" --url "http://$PORT" --key-file "$dir/admin.key" \
        >"$work/backup.out" 2>"$work/backup.err"
    ended=$(date +%s.%N)
    after=$(registered)
    echo "$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }') $(size "$to") $((after - before))"
    cat "$work/backup.out" >&2
    rm -f "$to"
}

read -r took bytes _ < <(backup)
echo "idle: backup of $bytes bytes in $took s (store file $(size "$dir/paytree.redb") bytes)"
# Each load run covers a whole backup started 2 s in.
run=$(awk -v t="$took" -v min="$SECONDS_PER_RUN" 'BEGIN { r = int(t * 3) + 10; print (r > min ? r : min) }')
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round: registrations alone $(load "$run")/s over $run s"
    ( sleep 2; backup >"$work/during.txt" ) &
    during=$!
    rps=$(load "$run")
    wait "$during"
    read -r took bytes done <"$work/during.txt"
    awk -v t="$took" -v r="$run" 'BEGIN { exit !(t + 2 > r) }' &&
        echo "round $round: the backup outlasted the load run; its rate below is too low" >&2
    echo "round $round: registrations $rps/s over $run s with a backup in it; the backup: $bytes bytes in $took s, $(awk -v n="$done" -v t="$took" 'BEGIN { printf "%.0f", n / t }') registrations/s while it ran (store file now $(size "$dir/paytree.redb") bytes)"
done
# A last backup with no load, kept and restored into a new data directory, paytree stopped.
timeout 1800 "$BIN" backup --to "$work/last.redb" --url "http://$PORT" --key-file "$dir/admin.key" \
    2>/dev/null
stop
echo "compact: $(timeout 1800 "$BIN" compact --data-dir "$dir")"
echo "restore: $(timeout 1800 "$BIN" restore --from "$work/last.redb" --data-dir "$work/restored" \
    --secret "$dir/secret.key" | head -1)"
rm -f "$work/last.redb"
