#!/usr/bin/env bash
# Three replicas of paytree on one machine, on PostgreSQL and NATS JetStream: a way to try the
# replicated mode, not a way to run it in production (deploy/k8s/replicas is).
#
#   bash deploy/local/replicas.sh            # private PostgreSQL and nats-server, removed at exit
#   PAYTREE_STORE=postgres://... PAYTREE_EVENTS=nats://... bash deploy/local/replicas.sh
#
# Without PAYTREE_STORE and PAYTREE_EVENTS it starts a PostgreSQL cluster and a nats-server of
# its own (Debian's packages, installed if missing: .ci/with-postgres, .ci/with-nats), on
# loopback, their data in temp dirs. The replicas listen on 127.0.0.1:8081, 8082 and 8083
# (REPLICA_PORTS to change), share one data dir (one installation secret, one admin key) and
# use the release build (cargo build --release) unless PAYTREE_BIN names another. Ctrl-C
# stops them all.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${PAYTREE_STORE:-}" ] || [ -z "${PAYTREE_EVENTS:-}" ]; then
    if [ -n "${PAYTREE_TEST_POSTGRES_URL:-}" ] && [ -n "${PAYTREE_TEST_NATS_URL:-}" ]; then
        db="paytree_$(date +%s)"
        psql "$PAYTREE_TEST_POSTGRES_URL" -qc "CREATE DATABASE $db"
        export PAYTREE_STORE="${PAYTREE_TEST_POSTGRES_URL%/*}/$db"
        export PAYTREE_EVENTS="$PAYTREE_TEST_NATS_URL"
    else
        exec bash .ci/with-postgres bash .ci/with-nats bash "$0" "$@"
    fi
fi

BIN=${PAYTREE_BIN:-target/release/paytree}
if [ ! -x "$BIN" ]; then
    echo "== cargo build --release (once: a few minutes)"
    cargo build --release --quiet
fi
DATA=${PAYTREE_DATA_DIR:-$(mktemp -d /tmp/paytree-replicas.XXXXXX)}
read -r -a ports <<< "${REPLICA_PORTS:-8081 8082 8083}"
pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop EXIT INT TERM

for port in "${ports[@]}"; do
    "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$DATA" \
        --store "$PAYTREE_STORE" --events "$PAYTREE_EVENTS" > "$DATA/replica-$port.log" 2>&1 &
    pids+=($!)
    # One at a time: the first makes the installation secret and the admin key.
    for _ in $(seq 1 300); do
        curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
        kill -0 "${pids[-1]}" 2>/dev/null || { cat "$DATA/replica-$port.log"; exit 1; }
        sleep 0.1
    done
    echo "replica on http://127.0.0.1:$port (log: $DATA/replica-$port.log)"
done
echo "admin key: $(cat "$DATA/admin.key") (also in $DATA/admin.key)"
echo "every replica serves every request; Ctrl-C stops them"
wait
