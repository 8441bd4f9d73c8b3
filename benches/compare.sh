#!/usr/bin/env bash
# One-run comparison of paytree against the limits of this machine:
#   - the disk's single-commit rate (fdatasync, and a one-row redb commit);
#   - a bare axum server answering the same JSON shapes with no work (examples/bare.rs);
#   - paytree itself, under the same goose load test (examples/loadtest), audited.
# Prints a table of ratios (the result; absolute figures depend on the machine).
# The load test makes its users' keys with the admin key each paytree wrote to its data dir
# (the bare server is sent none); paytree runs with PAYTREE_RATE_LIMIT_PER_KEY=1000000, so
# the per-key limiter checks every request and throttles none.
#
#   benches/compare.sh            # USERS=32 RUN_SECONDS=20 by default
#   USERS=32 RUN_SECONDS=30 benches/compare.sh
#
# Everything binds to 127.0.0.1 and every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-32}
SECONDS_PER_RUN=${RUN_SECONDS:-20}
BARE=127.0.0.1:18080
PAYTREE=127.0.0.1:18081
PROVIDER=127.0.0.1:18090
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
# paytree would store this key instead of writing admin.key, which is where the key is read.
unset PAYTREE_ADMIN_KEY

echo "== building (release)" >&2
cargo build --release --quiet --bin paytree --example loadtest --example bare --example fsync \
    --example aggregate_memory

source benches/common.sh

# loadtest SCENARIO HOST [extra flags...] -> its output in $work/SCENARIO-HOST.log
loadtest() {
    local scenario=$1 host=$2
    shift 2
    local log="$work/$scenario-${host//[:.]/_}.log"
    echo "== loadtest $scenario against $host ($USERS users, ${SECONDS_PER_RUN}s)" >&2
    timeout $((SECONDS_PER_RUN + 300)) ./target/release/examples/loadtest \
        --host "http://$host" --scenario "$scenario" -u "$USERS" -r "$USERS" \
        -t "${SECONDS_PER_RUN}s" --quiet "$@" >"$log" 2>&1 || {
        tail -40 "$log" >&2
        echo "loadtest $scenario against $host failed" >&2
        return 1
    }
    grep -E '^(  [a-z-]+ +(ok|[0-9]+ FAILED)|audited|RESULT)' "$log" >&2 || true
}

# summary LOG REQUEST FIELD: FIELD 3 = count, 4 = ok/s, 5 = p50, 6 = p95, 7 = p99 (ms)
summary() { awk -F'\t' -v r="$2" -v f="$3" '$1 == "SUMMARY" && $2 == r { print $f }' "$1"; }

echo "== fsync rate" >&2
./target/release/examples/fsync "$work/disk" 3 >"$work/fsync.log"
fsync_raw=$(awk -F'\t' '$2 == "raw" { print $3 }' "$work/fsync.log")
fsync_redb=$(awk -F'\t' '$2 == "redb" { print $3 }' "$work/fsync.log")

echo "== bare axum server" >&2
./target/release/examples/bare "$BARE" >"$work/bare.log" 2>&1 &
pids+=($!)
wait_up "$BARE"
loadtest register "$BARE" --no-audit --no-keys
loadtest mypage "$BARE" --no-audit --no-keys
kill "${pids[-1]}"

echo "== paytree (embedded payment system)" >&2
PAYTREE_RATE_LIMIT_PER_KEY=1000000 ./target/release/paytree serve --listen "$PAYTREE" \
    --data-dir "$work/data" >"$work/paytree.log" 2>&1 &
pids+=($!)
wait_up "$PAYTREE"
loadtest register "$PAYTREE" --admin-key-file "$work/data/admin.key"
loadtest mypage "$PAYTREE" --admin-key-file "$work/data/admin.key"
rss_kb=$(awk '/VmRSS/ { print $2 }' "/proc/${pids[-1]}/status")
kill "${pids[-1]}"

echo "== paytree against a payment system that goes down" >&2
./target/release/paytree provider --listen "$PROVIDER" >"$work/provider.log" 2>&1 &
pids+=($!)
wait_up "$PROVIDER"
PAYTREE_RATE_LIMIT_PER_KEY=1000000 ./target/release/paytree serve --listen "$PAYTREE" \
    --data-dir "$work/data-outage" --provider "http://$PROVIDER" --breaker-open-ms 5000 \
    >"$work/paytree-outage.log" 2>&1 &
pids+=($!)
wait_up "$PAYTREE"
outage_secs=$((SECONDS_PER_RUN < 25 ? 25 : SECONDS_PER_RUN))
SECONDS_PER_RUN=$outage_secs loadtest outage "$PAYTREE" --provider "http://$PROVIDER" \
    --outage-at 5 --outage-for 10 --admin-key-file "$work/data-outage/admin.key"
# The header from stdin, so that the key is not on a command line.
metrics=$(curl -fs -H @- "http://$PAYTREE/metrics" \
    <<<"Authorization: Bearer $(admin_key "$work/data-outage")")
under_1ms=$(echo "$metrics" | awk '
    /^paytree_http_request_duration_seconds_bucket\{method="POST",route="\/paymethods",status="503",le="0.001"\}/ { a = $2 }
    /^paytree_http_request_duration_seconds_count\{method="POST",route="\/paymethods",status="503"\}/ { n = $2 }
    END { if (n > 0) printf "%.2f", 100 * a / n; else print "n/a" }')
# The server's p99 of those 503s: the upper bound of the first histogram bucket that holds 99%.
server_p99=$(echo "$metrics" | awk '
    /^paytree_http_request_duration_seconds_bucket\{method="POST",route="\/paymethods",status="503",le="[0-9.]+"\}/ {
        match($0, /le="[0-9.]+"/); le[++k] = substr($0, RSTART + 4, RLENGTH - 5); c[k] = $2 }
    /^paytree_http_request_duration_seconds_count\{method="POST",route="\/paymethods",status="503"\}/ { n = $2 }
    END { for (i = 1; i <= k; i++) if (n > 0 && c[i] >= 0.99 * n) { printf "≤ %g", le[i] * 1000; exit } print "n/a" }')
calls_open=$(awk '/^calls reaching it while open/ { print $NF }' "$work"/outage-*.log)
kill "${pids[-1]}" "${pids[-2]}"

echo "== memory per live aggregate (20,000, in-process)" >&2
./target/release/examples/aggregate_memory 20000 >"$work/memory.log" 2>&1
per_aggregate=$(awk -F'\t' '$1 == "MEMORY" { print $3 }' "$work/memory.log")

B="$work/register-${BARE//[:.]/_}.log"
BM="$work/mypage-${BARE//[:.]/_}.log"
P="$work/register-${PAYTREE//[:.]/_}.log"
PM="$work/mypage-${PAYTREE//[:.]/_}.log"
O="$work/outage-${PAYTREE//[:.]/_}.log"
reg=$(summary "$P" POST_register 4)
bare_post=$(summary "$B" POST_register 4)
mypage=$(summary "$PM" GET_mypage 4)
bare_get=$(summary "$BM" GET_mypage 4)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/a" }'; }

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
cat <<EOF

Machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); load generator on the same machine.
Command: USERS=$USERS RUN_SECONDS=$SECONDS_PER_RUN benches/compare.sh ($(date -u +%Y-%m-%d))
Percentiles are goose's, with coordinated-omission mitigation (average).

| measure | paytree | baseline | ratio | target |
|---|---|---|---|---|
| durable registrations/s vs bare POST/s | $reg | $bare_post | $(pct "$reg" "$bare_post") | ≥ 25% |
| durable registrations/s vs fdatasync/s | $reg | $fsync_raw | $(ratio "$reg" "$fsync_raw")× | ≥ 5× |
| durable registrations/s vs one-row redb commits/s | $reg | $fsync_redb | $(ratio "$reg" "$fsync_redb")× | — |
| mypage reads/s vs bare GET/s | $mypage | $bare_get | $(pct "$mypage" "$bare_get") | ≥ 60% |
| registration p50 / p99 (ms), $USERS clients | $(summary "$P" POST_register 5) / $(summary "$P" POST_register 7) | $(summary "$B" POST_register 5) / $(summary "$B" POST_register 7) | | p99 ≤ 10 |
| mypage p50 / p99 (ms) | $(summary "$PM" GET_mypage 5) / $(summary "$PM" GET_mypage 7) | $(summary "$BM" GET_mypage 5) / $(summary "$BM" GET_mypage 7) | | |
| breaker-open 503s: p50 / p99 (ms, client) | $(summary "$O" outage_503 5) / $(summary "$O" outage_503 7) | | | p99 < 1 |
| breaker-open 503s: p99 (ms, server histogram) | $server_p99 | | | p99 < 1 |
| breaker-open 503s under 1 ms (server histogram) | $under_1ms% | | | |
| calls reaching the payment system while open | $calls_open | | | 0 |
| heap per live aggregate (bytes, allocator count) | $per_aggregate | | | ≤ 8 KB |
| paytree resident memory after the runs | $((rss_kb / 1024)) MiB | | | |
EOF
