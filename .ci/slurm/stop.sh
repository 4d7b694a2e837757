#!/usr/bin/env bash
# Stop the test cluster that .ci/slurm/start.sh started: exactly the PIDs in STATE_DIR/pids.
#
#   .ci/slurm/stop.sh [STATE_DIR]      (default: $HAFRAME_SLURM_STATE or /tmp/haframe-slurm)
#
# Cancels the cluster's remaining jobs first (while slurmctld still runs), then sends SIGTERM
# to each recorded daemon in reverse start order, waits for it (up to 20 s) and sends SIGKILL if
# it is still there. A PID is signalled only while /proc/PID/comm still names the recorded
# daemon (a PID reused by another process is left alone). Safe to run twice, or with nothing
# started: the PID file is emptied once every daemon is gone.
set -uo pipefail

STATE="$(realpath -m "${1:-${HAFRAME_SLURM_STATE:-/tmp/haframe-slurm}}")"
PIDS="$STATE/pids"
export PATH="$PATH:/usr/sbin:/sbin"
log() { echo "[slurm stop] $*" >&2; }

if [[ ! -s "$PIDS" ]]; then
    log "nothing recorded in $PIDS: nothing to stop"
    [[ -s "$STATE/links" ]] || exit 0
fi

alive() {  # alive NAME PID: the recorded daemon still runs under that PID
    local comm
    comm="$(cat "/proc/$2/comm" 2>/dev/null)" || return 1
    [[ "$comm" == "$1" ]]
}

# Jobs first, so that no job step outlives its slurmd.
if [[ -f "$STATE/etc/slurm.conf" ]] && grep -q '^slurmctld ' "$PIDS"; then
    read -r _ ctld < <(grep '^slurmctld ' "$PIDS")
    if alive slurmctld "$ctld"; then
        export SLURM_CONF="$STATE/etc/slurm.conf"
        jobs="$(timeout -k 2 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')"
        if [[ -n "${jobs// /}" ]]; then
            log "cancelling jobs: $jobs"
            timeout -k 2 10 scancel $jobs 2>/dev/null || true
            for _ in $(seq 1 30); do
                [[ -z "$(timeout -k 2 5 squeue -h -o %i 2>/dev/null)" ]] && break
                sleep 0.5
            done
        fi
    fi
fi

status=0
mapfile -t entries < <(tac "$PIDS")
for entry in "${entries[@]}"; do
    read -r name pid <<<"$entry"
    [[ -n "${pid:-}" ]] || continue
    if ! alive "$name" "$pid"; then
        log "$name ($pid) is not running"
        continue
    fi
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 40); do
        alive "$name" "$pid" || break
        sleep 0.5
    done
    if alive "$name" "$pid"; then
        log "$name ($pid) ignored SIGTERM for 20 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        sleep 0.5
    fi
    if alive "$name" "$pid"; then
        log "could not stop $name ($pid)"
        status=1
    else
        log "stopped $name ($pid)"
    fi
done
# The configuration link start.sh made at /etc/slurm/slurm.conf (only while it points here).
if [[ $status -eq 0 && -s "$STATE/links" ]]; then
    while read -r link; do
        if [[ -L "$link" && "$(readlink "$link")" == "$STATE/"* ]]; then
            rm -f "$link" && log "removed $link"
        fi
    done < "$STATE/links"
    : > "$STATE/links"
fi
[[ $status -eq 0 ]] && : > "$PIDS"
exit $status
