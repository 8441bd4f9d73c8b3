#!/usr/bin/env bash
# A/B of two paytree binaries under the same wrk load, in one run, alternating, with the bare
# axum server (examples/bare.rs) as the yardstick of what HTTP alone costs on this machine.
#
#   benches/ab.sh A_BINARY B_BINARY [ROUNDS]       # ROUNDS=3, RUN_SECONDS=15, CONNECTIONS=32
#
# Each round runs bare, A and B in turn, each on a fresh data dir: durable registrations
# (wrk + benches/wrk/register.lua), then mypage reads of the customers just registered
# (benches/wrk/mypage.lua). Prints one line per run, then each side's median and its ratio
# to bare. Build first: cargo build --release --bin paytree --example bare.
# Keys: wrk sends the admin key paytree wrote to its data dir (KEY, see benches/wrk/*.lua);
# a build from before keys writes none and is sent none, so A/B across the change to keys
# measures what authentication costs. paytree runs with PAYTREE_RATE_LIMIT_PER_KEY=1000000:
# the per-key limiter checks every request and throttles none.
# Everything binds to 127.0.0.1 and every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

A=$1
B=$2
ROUNDS=${3:-3}
SECONDS_PER_RUN=${RUN_SECONDS:-15}
CONNECTIONS=${CONNECTIONS:-32}
PORT=127.0.0.1:18181
BARE=./target/release/examples/bare
work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
# paytree would store this key instead of writing admin.key, which is where the key is read.
unset PAYTREE_ADMIN_KEY

source benches/common.sh

# load SCRIPT KEY -> "requests_per_second p99_ms non_2xx"
load() {
    local out
    out=$(KEY=$2 timeout $((SECONDS_PER_RUN + 30)) wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" \
        --latency -s "benches/wrk/$1" "http://$PORT")
    local rps p99 bad
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000
        printf "%.1f", v }' <<<"$out")
    bad=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
    echo "$rps $p99 ${bad:-0}"
}

run() {
    local name=$1 binary=$2 dir="$work/data-$1-$3"
    if [ "$name" = bare ]; then
        "$binary" "$PORT" >"$work/$name.log" 2>&1 &
    else
        # The per-key limit in the environment, not as a flag: a build from before keys
        # refuses unknown flags but ignores the variable.
        PAYTREE_RATE_LIMIT_PER_KEY=1000000 "$binary" serve --listen "$PORT" --data-dir "$dir" \
            >"$work/$name.log" 2>&1 &
    fi
    pid=$!
    wait_up "$PORT"
    local key reg myp
    key=$(admin_key "$dir")
    reg=$(load register.lua "$key")
    myp=$(load mypage.lua "$key")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    rm -rf "$dir"
    printf '%-5s round %s  register %8.0f/s p99 %6s ms (%s non-2xx)  mypage %8.0f/s p99 %6s ms (%s non-2xx)  %s\n' \
        "$name" "$3" $reg $myp "$([ -n "$key" ] && echo 'with a key' || echo 'no key')"
    echo "$name $reg $myp" >>"$work/results"
}

for round in $(seq 1 "$ROUNDS"); do
    run bare "$BARE" "$round"
    # Alternate which side goes first, so neither always runs on a warmer machine.
    if [ $((round % 2)) -eq 1 ]; then
        run A "$A" "$round"
        run B "$B" "$round"
    else
        run B "$B" "$round"
        run A "$A" "$round"
    fi
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
col() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/results" | median; }
echo
echo "medians of $ROUNDS rounds ($CONNECTIONS connections, ${SECONDS_PER_RUN} s per load):"
bare_reg=$(col bare 2)
bare_myp=$(col bare 5)
for side in bare A B; do
    reg=$(col "$side" 2); reg99=$(col "$side" 3); myp=$(col "$side" 5); myp99=$(col "$side" 6)
    printf '%-5s register %8.0f/s (%5.1f%% of bare) p99 %6s ms   mypage %8.0f/s (%5.1f%% of bare) p99 %6s ms\n' \
        "$side" "$reg" "$(awk -v a="$reg" -v b="$bare_reg" 'BEGIN { print 100 * a / b }')" "$reg99" \
        "$myp" "$(awk -v a="$myp" -v b="$bare_myp" 'BEGIN { print 100 * a / b }')" "$myp99"
done
