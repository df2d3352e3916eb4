#!/usr/bin/env bash
# Stop the test SLURM cluster that start_cluster.sh started in STATE_DIR.
#
# Usage: tests/slurm/stop_cluster.sh [STATE_DIR]       (or THEX_SLURM_DIR=STATE_DIR)
#
# Cancels the cluster's jobs (if slurmctld still answers), then ends exactly
# the daemons recorded in STATE_DIR/run/*.pid, in reverse start order (slurmd,
# slurmctld, slurmdbd, mariadbd, munged): SIGTERM, wait up to
# THEX_SLURM_STOP_TIMEOUT seconds (default 20) each, then SIGKILL.  A PID is
# only signalled if that process still is the daemon started from STATE_DIR
# (name and command line/environment checked), so stale pid files are safe.
# Job steps (slurmstepd) of this cluster that outlive slurmd are killed too.
# Idempotent: nothing running is not an error.  Exit 1 if a process survived.
set -uo pipefail

PROG=stop_cluster.sh
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }

STATE=${1:-${THEX_SLURM_DIR:-}}
[ -n "$STATE" ] || { log "usage: $PROG STATE_DIR (or set THEX_SLURM_DIR)"; exit 2; }
[ -d "$STATE" ] || { log "no state directory $STATE; nothing to stop"; exit 0; }
STATE=$(cd "$STATE" && pwd)
RUN=$STATE/run
CONF=$STATE/etc/slurm.conf
STOP_TIMEOUT=${THEX_SLURM_STOP_TIMEOUT:-20}
export PATH=$PATH:/usr/sbin:/sbin

# running and not a zombie
running() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
# is PID the daemon NAME started from this state dir?
ours() {
    local pid=$1 name=$2 comm
    running "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [ "$comm" = "${name:0:15}" ] || return 1
    tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$STATE" && return 0
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$CONF"
}
# stop_pid PID LABEL: TERM, bounded wait, KILL
stop_pid() {
    local pid=$1 label=$2 t0 deadline
    t0=$(date +%s.%N)
    kill -TERM "$pid" 2>/dev/null || return 0
    deadline=$(( $(date +%s) + STOP_TIMEOUT ))
    while running "$pid" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    if running "$pid"; then
        log "$label (pid $pid) still running after ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        deadline=$(( $(date +%s) + 10 ))
        while running "$pid" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    fi
    if running "$pid"; then
        log "ERROR: $label (pid $pid) survived SIGKILL"
        return 1
    fi
    log "stopped $label (pid $pid) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
}
# slurmstepd processes of this cluster (they inherit slurmd's SLURM_CONF)
stepds() {
    local p
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        [ "$(cat "$d/comm" 2>/dev/null)" = slurmstepd ] || continue
        running "$p" || continue
        tr '\0' '\n' < "$d/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$CONF" && echo "$p"
    done
}

# all descendants of PID (children first-level order), from /proc/*/stat ppid
descendants() {
    local root=$1 d pid ppid
    local -A kids=()
    for d in /proc/[0-9]*; do
        read -r pid ppid < <(awk '{pid = $1; sub(/^.*\) /, ""); print pid, $2}' "$d/stat" 2>/dev/null) || continue
        kids[$ppid]+="$pid "
    done
    local queue=("$root") cur
    while [ ${#queue[@]} -gt 0 ]; do
        cur=${queue[0]}; queue=("${queue[@]:1}")
        for pid in ${kids[$cur]:-}; do echo "$pid"; queue+=("$pid"); done
    done
}
# a slurmstepd left without slurmd/slurmctld: SIGKILL its job processes, then it
# (slurmstepd ignores SIGTERM)
kill_stepd() {
    local p=$1 tasks
    tasks=$(descendants "$p" | tr '\n' ' ')
    log "killing orphaned slurmstepd $p ($(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)) and its processes: ${tasks:-none}"
    # shellcheck disable=SC2086
    [ -n "$tasks" ] && kill -KILL $tasks 2>/dev/null
    kill -KILL "$p" 2>/dev/null
    local deadline=$(( $(date +%s) + 10 ))
    while running "$p" && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    ! running "$p" || { log "ERROR: slurmstepd $p survived SIGKILL"; return 1; }
}

status=0

# 1. cancel jobs while slurmctld still answers, so job processes end cleanly
if [ -s "$RUN/slurmctld.pid" ] && ours "$(cat "$RUN/slurmctld.pid")" slurmctld; then
    jobs=$(SLURM_CONF=$CONF timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
        log "cancelling jobs: $jobs"
        # shellcheck disable=SC2086
        SLURM_CONF=$CONF timeout 10 scancel $jobs 2>/dev/null
        deadline=$(( $(date +%s) + 15 ))
        while [ -n "$(SLURM_CONF=$CONF timeout 10 squeue -h -t R,CG -o %i 2>/dev/null)" ] \
              && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
    fi
fi

# 2. daemons, reverse start order
for name in slurmd slurmctld slurmdbd mariadbd munged; do
    f=$RUN/$name.pid
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    if ours "$pid" "$name"; then
        stop_pid "$pid" "$name" || status=1
    fi
    if ! { running "$pid" && ours "$pid" "$name"; }; then rm -f "$f"; fi
done
for p in $(stepds); do kill_stepd "$p" || status=1; done
rm -f "$RUN"/*.daemon.pid
# the /etc/slurm/slurm.conf link that start_cluster.sh made for this cluster
if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$CONF" ]; then
    rm -f /etc/slurm/slurm.conf
fi
exit $status
