#!/usr/bin/env bash
# Start a multi-node Ray cluster on this one machine: one head node plus
# NUM_WORKERS worker nodes, each a separate set of Ray processes (raylet, object
# store, agents) registered with the head's GCS.
#
#   cluster/local/start.sh [NUM_WORKERS] [STATE_DIR]
#
#   NUM_WORKERS  worker nodes to add next to the head (default 1)
#   STATE_DIR    where the cluster's bookkeeping goes (default ./.synaflow-ray)
#
# stdout carries only `export ...` lines, so `eval "$(cluster/local/start.sh)"`
# points the current shell at the new cluster. Progress goes to stderr.
#
# Files written to STATE_DIR:
#   address        GCS address (host:port) for ray.init(address=...) / RAY_ADDRESS
#   client_address ray://127.0.0.1:<port>, the head's Ray Client server
#   dashboard_url  http://127.0.0.1:<port>, for `ray job submit --address ...`
#   pids           every process this script started, one PID per line
#   procs          "PID STARTTIME SID NODE" for each of them (stop.sh uses the
#                  start time to never signal a recycled PID)
#   sessions       "SID LEADER_STARTTIME NODE": one Unix session per Ray node,
#                  written before `ray start` runs, so that even a start.sh
#                  killed halfway leaves enough behind for stop.sh
#   temp_root      the private Ray temp dir (one sub-dir per node)
#   env            the export lines printed on stdout
#   logs/          output of each `ray start`
#
# How processes are found: every `ray start` runs as the leader of a brand-new
# Unix session (setsid). All daemons Ray forks from it (gcs_server, raylet,
# dashboard and its module processes, agents, log monitor, autoscaler monitor,
# client server) inherit that session id, even after `ray start` exits and they
# are re-parented to init, and even when Ray rewrites their process titles.
# Processes of other users' or other tests' Ray clusters live in other sessions
# and are never recorded. stop.sh signals only these processes.
#
# Environment knobs (all optional):
#   SYNAFLOW_RAY_BIN                 ray executable (default: `ray` on PATH)
#   SYNAFLOW_PYTHON                  python used to pick free ports (default: the
#                                    python next to the ray executable, else python3)
#   SYNAFLOW_RAY_NUM_CPUS            CPUs advertised per node (default 1)
#   SYNAFLOW_RAY_OBJECT_STORE_MEMORY object store bytes per node (default 512 MiB)
#   SYNAFLOW_RAY_DASHBOARD           1 (default) starts the dashboard (needed for
#                                    `ray job submit`); 0 leaves it out
#   SYNAFLOW_RAY_AUTH_MODE           value for RAY_AUTH_MODE (default "disabled");
#                                    with "token", Ray reads the token from
#                                    RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or
#                                    ~/.ray/auth_token, as always
#   SYNAFLOW_RAY_START_TIMEOUT       seconds to wait for each node (default 120)
#   SYNAFLOW_RAY_HEAD_ARGS           extra `ray start` arguments for the head only,
#                                    split on whitespace (e.g. "--num-gpus=1
#                                    --resources={\"special\":2}")

set -euo pipefail

NUM_WORKERS="${1:-1}"
STATE_DIR="${2:-./.synaflow-ray}"

log() { printf '[synaflow-local-ray] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$NUM_WORKERS" =~ ^[0-9]+$ ]] || die "NUM_WORKERS must be a non-negative integer, got '$NUM_WORKERS'"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

RAY_BIN="${SYNAFLOW_RAY_BIN:-$(command -v ray || true)}"
[[ -n "$RAY_BIN" && -x "$RAY_BIN" ]] || die "no 'ray' executable found; install synaflow[ray] or set SYNAFLOW_RAY_BIN"
if [[ -n "${SYNAFLOW_PYTHON:-}" ]]; then
    PYTHON_BIN="$SYNAFLOW_PYTHON"
elif [[ -x "$(dirname "$RAY_BIN")/python" ]]; then
    PYTHON_BIN="$(dirname "$RAY_BIN")/python"
else
    PYTHON_BIN="$(command -v python3 || true)"
fi
[[ -n "$PYTHON_BIN" ]] || die "no python found to pick free ports; set SYNAFLOW_PYTHON"
command -v setsid >/dev/null || die "'setsid' (util-linux) is required"

NUM_CPUS="${SYNAFLOW_RAY_NUM_CPUS:-1}"
OBJECT_STORE_MEMORY="${SYNAFLOW_RAY_OBJECT_STORE_MEMORY:-536870912}"
WITH_DASHBOARD="${SYNAFLOW_RAY_DASHBOARD:-1}"
START_TIMEOUT="${SYNAFLOW_RAY_START_TIMEOUT:-120}"

# Ray 2.59+ turns token authentication on for new local clusters. This is a
# one-machine development cluster, so it runs without it, explicitly; every
# process below inherits this.
export RAY_AUTH_MODE="${SYNAFLOW_RAY_AUTH_MODE:-disabled}"
export RAY_USAGE_STATS_ENABLED=0
# Never let a stray RAY_ADDRESS from the caller's shell leak into `ray start`.
unset RAY_ADDRESS RAY_API_SERVER_ADDRESS || true

# Start time (field 22 of /proc/PID/stat) of a running, non-zombie process;
# empty if it is gone. Parsed after the last ')' since the name may hold spaces.
start_time_of() {
    local stat_line rest
    stat_line="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    rest="${stat_line##*) }"
    # shellcheck disable=SC2086
    set -- $rest
    [[ "${1:-}" == Z || "${1:-}" == X ]] && return 0
    echo "${20:-}"
}

mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"

# Refuse to overwrite the records of a cluster that still runs ("pid start ...").
for f in procs sessions; do
    [[ -s "$STATE_DIR/$f" ]] || continue
    while read -r pid start _rest; do
        if [[ -n "$start" && "$(start_time_of "$pid")" == "$start" ]]; then
            die "a cluster recorded in $STATE_DIR is still running (PID $pid); run stop.sh $STATE_DIR first"
        fi
    done <"$STATE_DIR/$f"
done
rm -rf "$STATE_DIR/logs"
rm -f "$STATE_DIR"/{address,client_address,dashboard_url,pids,procs,sessions,temp_root,env}
mkdir -p "$STATE_DIR/logs"

# Short private temp root: Ray puts Unix sockets below it and socket paths are
# limited to ~107 bytes, so it must not live under a deep pytest tmp_path.
TEMP_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/sfray.XXXXXX")"
echo "$TEMP_ROOT" >"$STATE_DIR/temp_root"
: >"$STATE_DIR/procs"
: >"$STATE_DIR/pids"
: >"$STATE_DIR/sessions"

SUCCESS=0
cleanup_on_failure() {
    if [[ "$SUCCESS" != 1 ]]; then
        log "start failed; stopping what was started (logs in $STATE_DIR/logs)"
        local node_dir
        for node_dir in "$TEMP_ROOT"/*; do
            [[ -d "$node_dir/session_latest/logs" ]] || continue
            cp -rL "$node_dir/session_latest/logs" "$STATE_DIR/logs/ray-$(basename "$node_dir")" 2>/dev/null || true
        done
        for f in "$STATE_DIR"/logs/*.log; do
            [[ -f "$f" ]] || continue
            log "---- $(basename "$f") (last lines)"
            tail -n 15 "$f" >&2 || true
        done
        "$HERE/stop.sh" "$STATE_DIR" >&2 || true
        # Keep Ray's own logs next to the state; stop.sh removed the temp dir.
        local d
        for d in "$STATE_DIR"/logs/ray-*; do
            [[ -d "$d" ]] && log "Ray's logs: $d"
        done
    fi
}
trap cleanup_on_failure EXIT

# Distinct free TCP ports, all held open at the same time so none repeats.
free_ports() {
    "$PYTHON_BIN" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

# Record every live process whose session id is $1 (tagged with node name $2).
record_session() {
    local sid="$1" node="$2" pid psid start
    while read -r pid psid; do
        [[ "$psid" == "$sid" ]] || continue
        start="$(start_time_of "$pid")"
        [[ -n "$start" ]] || continue
        if ! grep -q "^$pid " "$STATE_DIR/procs"; then
            echo "$pid $start $sid $node" >>"$STATE_DIR/procs"
            echo "$pid" >>"$STATE_DIR/pids"
        fi
    done < <(ps -eo pid=,sid=)
}

# Run `ray start ...` as the leader of a new session, wait for it to return,
# then record all processes of that session.
#   start_node NODE_NAME ray-start-args...
start_node() {
    local node="$1"; shift
    local rc=0 sid
    # setsid --wait: if setsid has to fork, still wait for `ray start` to return.
    # Inside the new session, bash appends its PID (== the session id) and its
    # start time (field 22 of /proc/PID/stat; "bash" has no spaces) to the
    # sessions file, then execs `ray start`, which keeps both.
    # shellcheck disable=SC2016
    timeout --kill-after=10 "$START_TIMEOUT" \
        setsid --wait bash -c \
        'echo "$$ $(cut -d" " -f22 /proc/$$/stat) $2" >>"$1"; shift 2; exec "$@"' \
        _ "$STATE_DIR/sessions" "$node" \
        "$RAY_BIN" start "$@" </dev/null >"$STATE_DIR/logs/$node.log" 2>&1 || rc=$?
    sid="$(awk -v n="$node" '$3 == n { s = $1 } END { print s }' "$STATE_DIR/sessions")"
    if [[ -n "$sid" ]]; then
        record_session "$sid" "$node"
    fi
    if [[ "$rc" != 0 ]]; then
        log "error: 'ray start' for $node exited with status $rc (see $STATE_DIR/logs/$node.log)"
    fi
    return "$rc"
}

read -r GCS_PORT CLIENT_PORT DASH_PORT HEAD_AGENT_PORT <<<"$(free_ports 4)"

HEAD_TMP="$TEMP_ROOT/head"
mkdir -p "$HEAD_TMP"
head_args=(
    --head
    --node-ip-address=127.0.0.1
    --port="$GCS_PORT"
    --ray-client-server-port="$CLIENT_PORT"
    --num-cpus="$NUM_CPUS"
    --object-store-memory="$OBJECT_STORE_MEMORY"
    --dashboard-agent-listen-port="$HEAD_AGENT_PORT"
    --temp-dir="$HEAD_TMP"
    --disable-usage-stats
)
if [[ "$WITH_DASHBOARD" == 1 ]]; then
    head_args+=(--include-dashboard=true --dashboard-host=127.0.0.1 --dashboard-port="$DASH_PORT")
else
    head_args+=(--include-dashboard=false)
fi
if [[ -n "${SYNAFLOW_RAY_HEAD_ARGS:-}" ]]; then
    read -r -a extra_head_args <<<"$SYNAFLOW_RAY_HEAD_ARGS"
    head_args+=("${extra_head_args[@]}")
fi

log "starting head node (GCS port $GCS_PORT, temp dir $HEAD_TMP)"
start_node head "${head_args[@]}" || exit 1

# Ray writes the GCS address it actually bound into the node's temp dir. On
# Linux Ray replaces a loopback --node-ip-address with the host's primary
# address, so read it back rather than assuming 127.0.0.1.
ADDRESS_FILE="$HEAD_TMP/ray_current_cluster"
[[ -s "$ADDRESS_FILE" ]] || die "head started but $ADDRESS_FILE is missing"
ADDRESS="$(tr -d '[:space:]' <"$ADDRESS_FILE")"
echo "$ADDRESS" >"$STATE_DIR/address"
# The Ray Client server comes up a moment after `ray start` returns: wait until it
# accepts connections, so the client address written below can be used at once.
client_deadline=$((SECONDS + START_TIMEOUT))
until (exec 3<>"/dev/tcp/127.0.0.1/$CLIENT_PORT") 2>/dev/null; do
    ((SECONDS < client_deadline)) || die "the Ray Client server never listened on port $CLIENT_PORT"
    sleep 0.2
done
echo "ray://127.0.0.1:$CLIENT_PORT" >"$STATE_DIR/client_address"
log "head is up at $ADDRESS"

# Worker nodes start in parallel; each records its own session's processes
# (whole-line appends, so the shared files stay consistent).
if ((NUM_WORKERS > 0)); then
    read -r -a AGENT_PORTS <<<"$(free_ports "$NUM_WORKERS")"
    log "starting $NUM_WORKERS worker node(s)"
fi
worker_jobs=()
for ((i = 1; i <= NUM_WORKERS; i++)); do
    mkdir -p "$TEMP_ROOT/w$i"
    start_node "worker$i" \
        --address="$ADDRESS" \
        --node-ip-address=127.0.0.1 \
        --num-cpus="$NUM_CPUS" \
        --object-store-memory="$OBJECT_STORE_MEMORY" \
        --dashboard-agent-listen-port="${AGENT_PORTS[i - 1]}" \
        --temp-dir="$TEMP_ROOT/w$i" &
    worker_jobs+=("$!")
done
failed=0
for job in "${worker_jobs[@]}"; do
    wait "$job" || failed=1
done
((failed == 0)) || die "a worker node did not start"

{
    echo "export RAY_ADDRESS=$ADDRESS"
    echo "export RAY_AUTH_MODE=$RAY_AUTH_MODE"
    if [[ "$WITH_DASHBOARD" == 1 ]]; then
        echo "export RAY_API_SERVER_ADDRESS=http://127.0.0.1:$DASH_PORT"
    fi
} >"$STATE_DIR/env"
if [[ "$WITH_DASHBOARD" == 1 ]]; then
    echo "http://127.0.0.1:$DASH_PORT" >"$STATE_DIR/dashboard_url"
fi

SUCCESS=1
log "cluster up: 1 head + $NUM_WORKERS worker(s), $(wc -l <"$STATE_DIR/pids") processes recorded in $STATE_DIR/pids"
log "stop it with: $HERE/stop.sh $STATE_DIR"
cat "$STATE_DIR/env"
