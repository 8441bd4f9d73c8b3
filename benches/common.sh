# Shared by the benchmark scripts (sourced, not run).

# wait_up HOST:PORT [PATH [TENTHS]]: waits (at most 10 s, or TENTHS tenths of a second) until
# the server there answers PATH (/healthz) with a 2xx.
wait_up() {
    for _ in $(seq 1 "${3:-100}"); do
        curl -fs "http://$1${2:-/healthz}" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$1 did not come up" >&2
    return 1
}

# admin_key DATA_DIR: the admin key paytree wrote to DATA_DIR/admin.key at its first start
# (before it answers /healthz); nothing for a build from before keys, which writes none.
admin_key() {
    if [ -f "$1/admin.key" ]; then cat "$1/admin.key"; fi
}
