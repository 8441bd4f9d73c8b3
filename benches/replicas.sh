#!/usr/bin/env bash
# Throughput of 1, 2 and 3 replicas of paytree on PostgreSQL + NATS JetStream against the
# embedded store (redb, one process), in one run, alternating; then what one registration and
# one mypage read cost in PostgreSQL round trips, statements and transactions.
#
#   benches/replicas.sh [ROUNDS]     # ROUNDS=2, RUN_SECONDS=15, CONNECTIONS=32
#   CONFIGS="redb pg1 pg3" ROUND_TRIPS=0 benches/replicas.sh 3
#   KEEP=1 benches/replicas.sh       # keeps the servers' logs and wrk's reports (their path is printed)
#
# Starts a private PostgreSQL and nats-server (.ci/with-postgres, .ci/with-nats; Debian's
# packages, installed if missing), each configuration on a fresh database and stream. For each
# configuration and round: the replicas on 127.0.0.1 (the first alone until /readyz answers,
# then the others; they share one data dir, so one admin key), then
#   (a) registrations: one wrk per replica at once (benches/wrk/register.lua, each on customers
#       of its own, a new customer per request), RUN_SECONDS;
#   (b) mypage reads (benches/wrk/mypage.lua): each wrk reads, through its replica, 1,000 of
#       the customers another replica registered (one method and one message each), once the
#       views show them.
# One wrk per replica rather than a proxy in front: wrk holds its connections open and sends
# each request on the connection that answered the last, so a script cannot spread requests by
# host, and a round-robin proxy would be another process on the same two cores, with a hop of
# its own in every request. The wrks' counts are added up and their p99 taken over all their
# requests (benches/wrk/report.lua, benches/wrk/merge.py). CONNECTIONS is the total, shared
# between the wrks; each wrk runs one thread. paytree runs with PAYTREE_RATE_LIMIT_PER_KEY=1000000
# (the per-key limiter checks every request and throttles none).
#
# CPU: user + system time of the paytree processes, of PostgreSQL (its postmaster and
# backends), of nats-server (from /proc) and of the wrks (this shell's children), over each
# load: on a machine of few cores, N replicas share the same cores, so the figures show what a
# request costs more than how replicas scale.
#
# Round trips (ROUND_TRIPS=0 to skip): one replica whose --store goes through a counting proxy
# (benches/pgwire.py, the approach of tests/postgres/round_trips.rs); after a warm-up (every
# statement prepared on the connections the requests use), the round trips of 10 s with no
# request, then 100 registrations, 100 under an Idempotency-Key and 100 mypage reads, one at a
# time, 0.6 s apart: each request's window (and to 0.3 s after its answer, for all it caused)
# less the next 0.3 s, which had no request.
#
# Everything binds to 127.0.0.1 and every run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${1:-2}
SECONDS_PER_RUN=${RUN_SECONDS:-15}
CONNECTIONS=${CONNECTIONS:-32}
CONFIGS=${CONFIGS:-redb pg1 pg2 pg3}
ROUND_TRIPS=${ROUND_TRIPS:-1}
# Customers each wrk registers for: one per request, so each mypage holds one method.
SPAN=1000000
# Customers each wrk reads the mypages of.
READ=1000

command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
if [ -z "${PAYTREE_TEST_POSTGRES_URL:-}" ] || [ -z "${PAYTREE_TEST_NATS_URL:-}" ]; then
    echo "== building (release)" >&2
    cargo build --release --quiet --bin paytree
    exec bash .ci/with-postgres bash .ci/with-nats bash "$0" "$@"
fi
# paytree would store this key instead of writing admin.key, which is where the key is read.
unset PAYTREE_ADMIN_KEY
BIN=./target/release/paytree

work=$(mktemp -d /tmp/paytree-bench.XXXXXX)
pids=()
proxy=
cleanup() {
    for pid in "${pids[@]}" $proxy; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${KEEP:-}" ]; then echo "logs and reports kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

source benches/common.sh

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PostgreSQL's postmaster and nats-server, for their CPU time.
pg_data=$(psql "$PAYTREE_TEST_POSTGRES_URL" -Atc 'SHOW data_directory')
pg_pid=$(head -1 "$pg_data/postmaster.pid")
nats_port=${PAYTREE_TEST_NATS_URL##*:}
nats_pid=$(ss -Htlnp "sport = :$nats_port" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
clk=$(getconf CLK_TCK)

# ticks PID...: clock ticks of CPU (user + system) these processes have used, with their
# children that have exited and those still running (PostgreSQL's backends).
ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v pids=" $* " '
        { pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
          # f[2] ppid, f[12] utime, f[13] stime, f[14] cutime, f[15] cstime
          if (index(pids, " " pid " ") || index(pids, " " f[2] " "))
              t += f[12] + f[13] + f[14] + f[15] }
        END { print t + 0 }'
}

# children_ticks: CPU this shell's children had used (the wrks: they have exited) when
# `times` wrote $work/times.
children_ticks() {
    awk -v clk="$clk" 'NR == 2 {
        split($1, u, /[ms]/); split($2, s, /[ms]/)
        printf "%.0f\n", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * clk }' "$work/times"
}

# machine_ticks: CPU the whole machine has used (all but idle and I/O wait), in clock ticks.
machine_ticks() {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# cpu_mark FILE: "paytree postgres nats wrk machine" ticks so far, into FILE (in this shell,
# not a subshell: `times` must see this shell's children).
cpu_mark() {
    times >"$work/times"
    echo "$(ticks "${pids[@]}") $(ticks "$pg_pid") $(ticks "$nats_pid") $(children_ticks) $(machine_ticks)" >"$1"
}

# cpu_used BEFORE AFTER SECONDS: "paytree postgres nats wrk others" in cores (CPU seconds a
# second); others: the rest of the machine's (other users of this shared machine).
cpu_used() {
    awk -v a="$1" -v b="$2" -v t="$3" -v clk="$clk" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= 5; i++) d[i] = (y[i] - x[i]) / clk / t
        printf "%.2f %.2f %.2f %.2f %.2f", d[1], d[2], d[3], d[4], d[5] - d[1] - d[2] - d[3] - d[4] }'
}

# A database of its own on the private cluster; its URL.
fresh_database() {
    psql "$PAYTREE_TEST_POSTGRES_URL" -qc "CREATE DATABASE $1"
    echo "${PAYTREE_TEST_POSTGRES_URL%/*}/$1"
}

# xacts DATABASE: transactions committed in it so far (PostgreSQL's statistics, which each
# backend reports within a second of going idle).
xacts() {
    psql "$PAYTREE_TEST_POSTGRES_URL" -Atc \
        "SELECT xact_commit FROM pg_stat_database WHERE datname = '$1'"
}

# start_replicas NAME DIR STORE EVENTS N: N replicas on free ports, their addresses in $addrs.
start_replicas() {
    local name=$1 dir=$2 store=$3 events=$4 n=$5 i port
    addrs=()
    for i in $(seq 1 "$n"); do
        port=$(free_port)
        if [ -z "$store" ]; then
            PAYTREE_RATE_LIMIT_PER_KEY=1000000 "$BIN" serve --listen "127.0.0.1:$port" \
                --data-dir "$dir" >"$work/$name-$i.log" 2>&1 &
        else
            PAYTREE_RATE_LIMIT_PER_KEY=1000000 "$BIN" serve --listen "127.0.0.1:$port" \
                --data-dir "$dir" --store "$store" --events "$events" >"$work/$name-$i.log" 2>&1 &
        fi
        pids+=($!)
        addrs+=("127.0.0.1:$port")
        # One at a time: the first makes the installation secret and the admin key.
        wait_up "127.0.0.1:$port" /readyz 300 || { tail -20 "$work/$name-$i.log" >&2; return 1; }
    done
}

stop_replicas() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}

# load SCRIPT KEY TAG FIRST_OF_WRK...: one wrk per replica at once, wrk i on ${addrs[i]} from
# customer FIRST_OF_WRK[i]; prints merge.py's "rate p99_ms non_2xx other_errors requests".
load() {
    local script=$1 key=$2 tag=$3 n=${#addrs[@]} i c wrk_pids=()
    shift 3
    local firsts=("$@")
    for i in $(seq 0 $((n - 1))); do
        c=$((CONNECTIONS / n + (i < CONNECTIONS % n ? 1 : 0)))
        KEY=$key FIRST=${firsts[$i]} CUSTOMERS=$CUSTOMERS_OF_LOAD REPORT="$work/$tag-$i.report" \
            timeout $((SECONDS_PER_RUN + 30)) wrk -t1 -c"$c" -d"${SECONDS_PER_RUN}s" \
            -s "benches/wrk/$script" "http://${addrs[$i]}" >"$work/$tag-$i.out" 2>&1 &
        wrk_pids+=($!)
    done
    for i in "${wrk_pids[@]}"; do wait "$i"; done
    python3 benches/wrk/merge.py "$work/$tag"-*.report
}

# server_p99 NAME ROUTE: the p99 (ms) of the requests to ROUTE (e.g. "POST" route=/paymethods)
# as paytree's access log timed them, over every replica of run NAME: from the request's
# arrival in the router to its answer, without the wait for a thread to read it.
server_p99() {
    grep -h "method=$2" "$work/$1"-*.log | sed -n 's/.* ms=\([0-9.]*\).*/\1/p' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", v[int(0.99 * NR + 0.5)]; else print "n/a" }'
}

# has_method ADDR KEY CUSTOMER: whether that customer's mypage shows a payment method.
has_method() {
    curl -fs -H @- "http://$1/mypages/$3" <<<"Authorization: Bearer $2" 2>/dev/null |
        grep -q '"paymentMethods":\[{'
}

run() {
    local name=$1 round=$2 n store="" events="" db="" dir="$work/data-$1-$2"
    case $name in
        redb) n=1 ;;
        pg[0-9]) n=${name#pg} ;;
        *) echo "unknown configuration $name" >&2; return 1 ;;
    esac
    if [ "$name" != redb ]; then
        db="bench_${name}_${round}_$$"
        store=$(fresh_database "$db")
        events="$PAYTREE_TEST_NATS_URL/BENCH_${name}_${round}_$$"
    fi
    local load_average
    load_average=$(cut -d' ' -f1 /proc/loadavg)
    # The cluster's next transaction id (see "xids" in the line printed for the run).
    local xid_from=""
    [ -n "$db" ] && xid_from=$(psql "$PAYTREE_TEST_POSTGRES_URL" -Atc 'SELECT pg_snapshot_xmax(pg_current_snapshot())')
    start_replicas "$name-$round" "$dir" "$store" "$events" "$n"
    local key i firsts=() reads=() reg myp reg_cpu myp_cpu xa xb xa_at xb_at idle_xacts=0 waited
    key=$(admin_key "$dir")
    for i in $(seq 0 $((n - 1))); do
        firsts+=($((i * SPAN)))
        # Through replica i, the customers that replica i+1 registered.
        reads+=($(((i + 1) % n * SPAN + 1)))
    done

    if [ -n "$db" ]; then
        # Transactions with no request (the relay's polling, the readers' leases), to take
        # out of those counted over the registrations.
        sleep 2
        local i0 t0
        i0=$(xacts "$db")
        t0=$(date +%s.%N)
        sleep 4
        xb=$(xacts "$db")
        xb_at=$(date +%s.%N)
        idle_xacts=$(awk -v a="$i0" -v b="$xb" -v t="$t0" -v u="$xb_at" 'BEGIN { printf "%.1f", (b - a) / (u - t) }')
    fi
    cpu_mark "$work/before"
    reg=$(CUSTOMERS_OF_LOAD=$SPAN load register.lua "$key" "reg-$name-$round" "${firsts[@]}")
    cpu_mark "$work/after"
    reg_cpu=$(cpu_used "$(cat "$work/before")" "$(cat "$work/after")" "$SECONDS_PER_RUN")

    # Until the views have caught up. On PostgreSQL, exactly: until every stored method is
    # in the mypage views (registrations only add methods), or their count has not moved for
    # 10 s (views missing: the projector skipped events); at most 300 s. On the embedded store,
    # through the API: until each wrk's last registrations but two connections' worth (those
    # cut off when wrk stopped may never have been stored) show.
    for i in $(seq 0 $((n - 1))); do
        [ "$(awk '$1 == "requests" { print $2 }' "$work/reg-$name-$round-$i.report")" -gt "$READ" ] ||
            echo "$name round $round: wrk $i registered fewer than $READ customers; some reads find none" >&2
    done
    local started missing=0 caught=yes
    started=$(date +%s.%N)
    if [ -n "$db" ]; then
        local count last_count=-1 still=0
        for _ in $(seq 1 1500); do
            count=$(psql "$store" -Atc "SELECT (SELECT count(*) FROM paymethods) - (SELECT count(*) FROM mypage WHERE what = 0)")
            [ "$count" = 0 ] && break
            if [ "$count" = "$last_count" ]; then still=$((still + 1)); else still=0; fi
            [ "$still" -ge 50 ] && break
            last_count=$count
            sleep 0.2
        done
        missing=$count
        [ "$missing" = 0 ] || caught=no
    else
        for i in $(seq 0 $((n - 1))); do
            local last
            last=$(awk '$1 == "requests" { print $2 }' "$work/reg-$name-$round-$i.report")
            last=$((firsts[i] + last - 2 * CONNECTIONS))
            for _ in $(seq 1 3000); do
                has_method "${addrs[0]}" "$key" "load-$last" && break
                sleep 0.1
            done
            has_method "${addrs[0]}" "$key" "load-$last" || caught=no
        done
    fi
    waited=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    [ "$caught" = yes ] || echo "$name round $round: the views had not caught up after ${waited} s ($missing methods not in them; transaction ids $xid_from to $(psql "$PAYTREE_TEST_POSTGRES_URL" -Atc 'SELECT pg_snapshot_xmax(pg_current_snapshot())'))" >&2
    if [ -n "$db" ]; then
        # PostgreSQL's statistics reach pg_stat_database within about a second.
        sleep 1.5
        xa=$(xacts "$db")
        xa_at=$(date +%s.%N)
    fi

    cpu_mark "$work/before"
    myp=$(CUSTOMERS_OF_LOAD=$READ load mypage.lua "$key" "myp-$name-$round" "${reads[@]}")
    cpu_mark "$work/after"
    myp_cpu=$(cpu_used "$(cat "$work/before")" "$(cat "$work/after")" "$SECONDS_PER_RUN")
    stop_replicas
    rm -rf "$dir"
    local reg_server myp_server
    reg_server=$(server_p99 "$name-$round" '"POST" route=/paymethods ')
    myp_server=$(server_p99 "$name-$round" '"GET" route=/mypages/')

    local per_reg=n/a
    if [ -n "$db" ]; then
        per_reg=$(awk -v a="$xb" -v b="$xa" -v r="$(awk '{ print $5 }' <<<"$reg")" \
            -v idle="$idle_xacts" -v t="$xb_at" -v u="$xa_at" \
            'BEGIN { printf "%.2f", (b - a - idle * (u - t)) / r }')
    fi
    # 1 name, 2 round | 3-7 registrations: rate p99 non-2xx other-errors requests | 8-12 mypage
    # reads: the same | 13-17 CPU during registrations: paytree postgres nats wrk others | 18-22
    # during reads | 23 views caught up after (s) | 24 transactions per registration | 25 the
    # machine's load average before the run | 26 methods missing from the views | 27
    # transactions a second with no request | 28-29 CPU (paytree + postgres + nats) per
    # registration, per mypage read, in ms | 30-31 the server's p99 (access log) of
    # registrations, of mypage reads
    local reg_ms myp_ms
    reg_ms=$(awk -v c="$reg_cpu" -v r="${reg%% *}" 'BEGIN { split(c, x, " "); printf "%.3f", 1000 * (x[1] + x[2] + x[3]) / r }')
    myp_ms=$(awk -v c="$myp_cpu" -v r="${myp%% *}" 'BEGIN { split(c, x, " "); printf "%.3f", 1000 * (x[1] + x[2] + x[3]) / r }')
    echo "$name $round $reg $myp $reg_cpu $myp_cpu $waited $per_reg $load_average $missing $idle_xacts $reg_ms $myp_ms $reg_server $myp_server" \
        >>"$work/results"
    set -- $reg
    local reg_rate=$1 reg_p99=$2 reg_bad=$(($3 + $4))
    set -- $myp
    printf '%-4s round %s  register %6s/s p99 %6s ms (%s errors)  mypage %6s/s p99 %6s ms (%s errors)  views after %ss (%s missing)  %s xacts/reg  load %s\n' \
        "$name" "$round" "$reg_rate" "$reg_p99" "$reg_bad" "$1" "$2" "$(($3 + $4))" "$waited" "$missing" "$per_reg" "$load_average"
    echo "     CPU (cores) paytree postgres nats wrk others: registrations $reg_cpu; reads $myp_cpu"
    echo "     server CPU per request: registration $reg_ms ms, mypage read $myp_ms ms; server's own p99: registrations $reg_server ms, reads $myp_server ms"
}

if [ "$ROUNDS" -gt 0 ]; then
    cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
    echo "== $(nproc) cores ($cpu); $ROUNDS rounds of: $CONFIGS; $CONNECTIONS connections, ${SECONDS_PER_RUN} s per load"
    read -r -a configs <<<"$CONFIGS"
    for round in $(seq 1 "$ROUNDS"); do
        # Every other round in reverse, so that no configuration always runs on a warmer machine.
        order=("${configs[@]}")
        if [ $((round % 2)) -eq 0 ]; then
            order=()
            for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[$i]}"); done
        fi
        for name in "${order[@]}"; do run "$name" "$round"; done
    done

    median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
    col() { awk -v n="$1" -v c="$2" '$1 == n { print $c }' "$work/results" | median; }
    runs() { awk -v n="$1" -v c="$2" '$1 == n { printf "%s%s", sep, $c; sep = ", " }' "$work/results"; }
    echo
    echo "medians of $ROUNDS rounds (each round's figures in brackets); CPU in cores (CPU s per s); CPU per request:"
    echo "paytree + postgres + nats CPU time over requests answered; server p99: paytree's access log"
    echo
    echo "| configuration | registrations/s | p99 ms | server p99 ms | mypage reads/s | p99 ms | server p99 ms | CPU ms per registration | per read | CPU during registrations: paytree / postgres / nats / wrk / others | during reads | transactions per registration |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for name in "${configs[@]}"; do
        printf '| %s | %s (%s) | %s (%s) | %s | %s (%s) | %s (%s) | %s | %s (%s) | %s (%s) | %s / %s / %s / %s / %s | %s / %s / %s / %s / %s | %s |\n' "$name" \
            "$(col "$name" 3)" "$(runs "$name" 3)" "$(col "$name" 4)" "$(runs "$name" 4)" "$(col "$name" 30)" \
            "$(col "$name" 8)" "$(runs "$name" 8)" "$(col "$name" 9)" "$(runs "$name" 9)" "$(col "$name" 31)" \
            "$(col "$name" 28)" "$(runs "$name" 28)" "$(col "$name" 29)" "$(runs "$name" 29)" \
            "$(col "$name" 13)" "$(col "$name" 14)" "$(col "$name" 15)" "$(col "$name" 16)" "$(col "$name" 17)" \
            "$(col "$name" 18)" "$(col "$name" 19)" "$(col "$name" 20)" "$(col "$name" 21)" "$(col "$name" 22)" \
            "$(runs "$name" 24)"
    done
    echo
    echo "errors (non-2xx answers and socket errors) over all runs: $(awk '{ e += $5 + $6 + $10 + $11 } END { print e + 0 }' "$work/results")"
    echo "views caught up after the registrations stopped (s): $(awk '{ printf "%s%s %s", sep, $1, $23; sep = ", " }' "$work/results")"
    echo "methods missing from the views (not projected): $(awk '{ printf "%s%s %s", sep, $1, $26; sep = ", " }' "$work/results")"
    echo "PostgreSQL transactions a second with no request (taken out of those per registration): $(awk '$1 != "redb" { printf "%s%s %s", sep, $1, $27; sep = ", " }' "$work/results")"
    echo "load average before each run: $(awk '{ printf "%s%s %s", sep, $1, $25; sep = ", " }' "$work/results")"
fi

if [ "$ROUND_TRIPS" = 1 ]; then
    echo
    echo "== PostgreSQL round trips (one replica through a counting proxy)"
    db="bench_round_trips_$$"
    store=$(fresh_database "$db")
    upstream=${store#postgres://*@}
    upstream=${upstream%%/*}
    port=$(free_port)
    python3 benches/pgwire.py proxy "127.0.0.1:$port" "$upstream" "$work/wire.log" &
    proxy=$!
    sleep 0.5
    dir="$work/data-round-trips"
    start_replicas round-trips "$dir" "${store/$upstream/127.0.0.1:$port}" \
        "$PAYTREE_TEST_NATS_URL/BENCH_round_trips_$$" 1
    addr=${addrs[0]}
    keyfile="$dir/admin.key"
    # drive WINDOWS KIND N GAP: prints the customers' prefix; says if any answer was not 2xx.
    drive() {
        local out
        out=$(python3 benches/pgwire.py drive "http://$addr" "$keyfile" "$work/$1.windows" "$2" "$3" "$4")
        [ "${out#* }" = 0 ] || echo "$2: ${out#* } of $3 answers not 2xx" >&2
        echo "${out% *}"
    }
    # Warm-up: each connection prepares its statements the first time it runs them.
    warm=$(drive warm register 60 0)
    drive warm "mypage:$warm" 60 0 >/dev/null
    drive warm register-idem 60 0 >/dev/null
    sleep 2
    xacts_from="$(xacts "$db") $(date +%s.%N)"
    start=$(date +%s.%N)
    sleep 10
    echo "$start $(date +%s.%N)" >"$work/idle.windows"
    # Each request, 0.6 s apart: what it caused is counted from its start to 0.3 s after its
    # answer, less what the next 0.3 s (no request) had: a control taken at the same time,
    # since the relay's and readers' polling varies with how busy the machine is.
    for kind in register register-idem mypage; do
        case $kind in
            mypage) drive mypage "mypage:$reg" 100 0.6 >/dev/null ;;
            register) reg=$(drive register register 100 0.6) ;;
            *) drive "$kind" "$kind" 100 0.6 >/dev/null ;;
        esac
        awk '{ printf "%s %.6f\n", $1, $2 + 0.3 }' "$work/$kind.windows" >"$work/$kind.span"
        awk 'NR > 1 { printf "%.6f %.6f\n", b + 0.3, ($1 < b + 0.6 ? $1 : b + 0.6) } { b = $2 }
             END { printf "%.6f %.6f\n", b + 0.3, b + 0.6 }' "$work/$kind.windows" >"$work/$kind.control"
    done
    sleep 2
    xacts_to="$(xacts "$db") $(date +%s.%N)"
    stop_replicas
    kill "$proxy" 2>/dev/null || true
    wait "$proxy" 2>/dev/null || true
    proxy=
    python3 benches/pgwire.py count "$work/wire.log" "$work/idle.windows" 10 >"$work/idle.count"
    echo "with no request, per second: $(awk '$1 == "ROUNDTRIPS" { printf "%.1f round trips, %.1f statements, %.1f transactions, %.1f statements prepared, %.1f closed", $2, $3, $4, $5, $6 }' "$work/idle.count")"
    awk -F'\t' '$1 == "UNIT" { printf "    %6.2f transactions, %6.2f round trips, %6.2f statements: %s\n", $2, $3, $4, $5 }' "$work/idle.count"
    # The proxy's count of transactions against PostgreSQL's own, over the whole session.
    read -r x0 t0 <<<"$xacts_from"
    read -r x1 t1 <<<"$xacts_to"
    echo "$t0 $t1" >"$work/session.windows"
    wire=$(python3 benches/pgwire.py count "$work/wire.log" "$work/session.windows" 1 | awk '$1 == "ROUNDTRIPS" { print $4 }')
    echo "transactions over the session ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s): counted by the proxy $wire, by pg_stat_database.xact_commit $((x1 - x0)) (its figures lag by up to about a second)"
    for kind in register register-idem mypage; do
        for scope in windows span; do
            python3 benches/pgwire.py count "$work/wire.log" "$work/$kind.$scope" 100 "$work/$kind.control" \
                >"$work/$kind.$scope.count"
        done
        echo
        echo "$kind, per request, one at a time, less the control windows:"
        awk '$1 == "ROUNDTRIPS" { printf "  while the request ran: %.2f round trips, %.2f statements, %.2f transactions (%.2f statements prepared, %.2f closed)\n", $2, $3, $4, $5, $6 }' \
            "$work/$kind.windows.count"
        awk '$1 == "ROUNDTRIPS" { printf "  all it caused (to 0.3 s after the answer): %.2f round trips, %.2f statements, %.2f transactions (%.2f statements prepared, %.2f closed)\n", $2, $3, $4, $5, $6 }' \
            "$work/$kind.span.count"
        for scope in windows span; do
            echo "  by transaction ($([ $scope = windows ] && echo 'while the request ran' || echo 'all it caused')):"
            awk -F'\t' '$1 == "UNIT" { printf "    %6.2f transactions, %6.2f round trips, %6.2f statements: %s\n", $2, $3, $4, $5 }' \
                "$work/$kind.$scope.count"
        done
    done
fi
