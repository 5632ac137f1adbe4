#!/usr/bin/env bash
# Stop a cluster started by start.sh, and nothing else.
#
#   cluster/local/stop.sh [STATE_DIR]        (default ./.synaflow-ray)
#
# This never calls `ray stop`: that command kills every Ray process of the
# user on the machine, including clusters that belong to other people or tests.
#
# What is signalled:
#   1. every PID in STATE_DIR/procs whose start time still matches the recorded
#      one (a recycled PID that now belongs to someone else is left alone);
#   2. any other process in one of the cluster's Unix sessions (STATE_DIR/sessions)
#      while that session still holds a recorded process or its leader (the
#      `ray start` that created it, checked by start time) - this catches Ray
#      worker processes the raylets forked after start.sh returned, and the
#      processes of a start.sh that was killed halfway;
#   3. any Ray program (gcs_server, raylet, python .../ray/...) whose command
#      line names the cluster's private temp root.
# They get SIGTERM, then SIGKILL after a grace period (SYNAFLOW_RAY_STOP_GRACE
# seconds, default 3; Ray's GCS can hang for a long time on SIGTERM).
# The private temp root is deleted afterwards unless SYNAFLOW_KEEP_RAY_TEMP=1.
#
# Exit status: 0 when nothing of the cluster is left running, 1 otherwise.

set -uo pipefail

STATE_DIR="${1:-./.synaflow-ray}"
GRACE="${SYNAFLOW_RAY_STOP_GRACE:-3}"
KILL_WAIT=10

log() { printf '[synaflow-local-ray] %s\n' "$*" >&2; }

if [[ ! -d "$STATE_DIR" ]]; then
    log "no state dir $STATE_DIR; nothing to stop"
    exit 0
fi
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
PROCS_FILE="$STATE_DIR/procs"
SESSIONS_FILE="$STATE_DIR/sessions"
TEMP_ROOT=""
[[ -s "$STATE_DIR/temp_root" ]] && TEMP_ROOT="$(cat "$STATE_DIR/temp_root")"

# Start time (field 22 of /proc/PID/stat) of a running, non-zombie process;
# empty if the process is gone or a zombie.
start_time_of() {
    local stat_line rest
    stat_line="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    rest="${stat_line##*) }"
    # shellcheck disable=SC2086
    set -- $rest
    [[ "${1:-}" == Z || "${1:-}" == X ]] && return 0
    echo "${20:-}"
}

declare -A RECORDED_START=()   # pid -> recorded start time
declare -A RECORDED_SID=()     # pid -> session id
if [[ -f "$PROCS_FILE" ]]; then
    while read -r pid start sid _node; do
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        RECORDED_START[$pid]="$start"
        RECORDED_SID[$pid]="$sid"
    done <"$PROCS_FILE"
fi
declare -A LEADER_START=()     # session id -> start time of its leader
if [[ -f "$SESSIONS_FILE" ]]; then
    while read -r sid start _node; do
        [[ "$sid" =~ ^[0-9]+$ ]] && LEADER_START[$sid]="$start"
    done <"$SESSIONS_FILE"
fi

# Print the PIDs that belong to this cluster and are still running.
cluster_pids() {
    declare -A out=()
    declare -A anchored=()
    local pid sid cmd
    local -a argv
    for pid in "${!RECORDED_START[@]}"; do
        if [[ "$(start_time_of "$pid")" == "${RECORDED_START[$pid]}" ]]; then
            out[$pid]=1
            anchored[${RECORDED_SID[$pid]}]=1
        fi
    done
    # A session whose leader still runs is ours even if nothing was recorded yet.
    for sid in "${!LEADER_START[@]}"; do
        if [[ "$(start_time_of "$sid")" == "${LEADER_START[$sid]}" ]]; then
            out[$sid]=1
            anchored[$sid]=1
        fi
    done
    if ((${#anchored[@]})); then
        while read -r pid sid; do
            [[ -n "${anchored[$sid]:-}" ]] || continue
            [[ -n "$(start_time_of "$pid")" ]] && out[$pid]=1
        done < <(ps -eo pid=,sid=)
    fi
    if [[ -n "$TEMP_ROOT" ]]; then
        for pid in $(pgrep -f -- "$TEMP_ROOT/" 2>/dev/null); do
            mapfile -d '' -t argv <"/proc/$pid/cmdline" 2>/dev/null || continue
            cmd="${argv[*]}"
            [[ "$cmd" == *"$TEMP_ROOT/"* ]] || continue
            # Only Ray's own programs (gcs_server, raylet, python .../ray/...py),
            # not, say, someone's `tail -f` of a log file in the temp dir.
            [[ "${argv[*]:0:3}" == */ray/* ]] || continue
            [[ -n "$(start_time_of "$pid")" ]] && out[$pid]=1
        done
    fi
    [[ ${#out[@]} -gt 0 ]] && printf '%s\n' "${!out[@]}" | sort -n
    return 0
}

signal_all() {
    local sig="$1"; shift
    local pid
    for pid in "$@"; do
        kill "-$sig" "$pid" 2>/dev/null || true
    done
}

# Wait until none of the cluster's processes is running, up to $1 seconds.
wait_gone() {
    local deadline=$((SECONDS + $1))
    while ((SECONDS < deadline)); do
        [[ -z "$(cluster_pids)" ]] && return 0
        sleep 0.2
    done
    [[ -z "$(cluster_pids)" ]]
}

mapfile -t targets < <(cluster_pids)
if ((${#targets[@]} == 0)); then
    log "nothing of the cluster in $STATE_DIR is running"
else
    log "sending SIGTERM to ${#targets[@]} process(es)"
    signal_all TERM "${targets[@]}"
    if ! wait_gone "$GRACE"; then
        mapfile -t targets < <(cluster_pids)
        log "sending SIGKILL to ${#targets[@]} process(es) still running after ${GRACE}s"
        signal_all KILL "${targets[@]}"
        wait_gone "$KILL_WAIT" || true
        # Anything forked during shutdown gets the same treatment.
        mapfile -t targets < <(cluster_pids)
        if ((${#targets[@]})); then
            signal_all KILL "${targets[@]}"
            wait_gone "$KILL_WAIT" || true
        fi
    fi
fi

mapfile -t left < <(cluster_pids)
if ((${#left[@]})); then
    log "still running: ${left[*]}"
    exit 1
fi

if [[ -n "$TEMP_ROOT" && -d "$TEMP_ROOT" && "${SYNAFLOW_KEEP_RAY_TEMP:-0}" != 1 ]]; then
    rm -rf -- "$TEMP_ROOT"
fi
log "stopped"
exit 0
