#!/usr/bin/env bash
# Start a throw-away single-node SLURM cluster (with accounting) for tests.
#
# Usage (as root, Debian 12):
#   tests/slurm/start_cluster.sh [STATE_DIR]        (or THEX_SLURM_DIR=STATE_DIR)
#
# Installs Debian's SLURM + munge + MariaDB if missing (apt, skipped when
# installed), writes every config/state/log/pid/socket file under STATE_DIR,
# starts munged, mariadbd, slurmdbd, (registers the cluster), slurmctld, slurmd
# without systemd, and waits until the node is idle.  Every wait is bounded.
# Re-runnable: daemons still running from an earlier start in the same
# STATE_DIR are stopped first; the database and slurmctld state are kept.
#
# On success it writes STATE_DIR/env.sh and prints its lines on stdout:
#   export SLURM_CONF=STATE_DIR/etc/slurm.conf   <- callers MUST export this
#   export THEX_SLURM_DIR=... THEX_SLURM_PARTITION=... THEX_SLURM_CPUS=...
#   export THEX_SLURM_MEM_MB=... THEX_SLURM_CLUSTER=... THEX_SLURM_ACCOUNT=...
# It also links /etc/slurm/slurm.conf to STATE_DIR/etc/slurm.conf (srun inside
# snakemake jobs ignores SLURM_CONF; see README.md); stop_cluster.sh removes it.
# Progress goes to stderr.  All daemon output goes to STATE_DIR/log, never to
# this script's stdout/stderr, so a caller may capture its output (the daemons
# do not hold the pipe).
#
# Optional environment:
#   THEX_SLURM_CPUS        CPUs of the node            (default: nproc)
#   THEX_SLURM_MEM_MB      RealMemory of the node, MB  (default: 90% of MemTotal)
#   THEX_SLURM_PORT_BASE   slurmctld=B, slurmd=B+1, slurmdbd=B+2, mariadb=B+3
#                          (default 6817)
#   THEX_SLURM_PARTITION   partition name              (default: debug)
#   THEX_SLURM_TIMEOUT     seconds allowed for each wait (default: 60)
#   THEX_SLURM_NO_APT=1    never run apt; fail if a package is missing
#   THEX_SLURM_ETC_LINK=0  do not create the /etc/slurm/slurm.conf link
#
# Exit status: 0 ready; 1 something failed (the message names it and shows the
# tail of that daemon's log); 2 usage error.
set -euo pipefail

PROG=start_cluster.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T0=$(date +%s.%N)

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
since() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
phase() { log "[$(since) s] $*"; }
die() { log "ERROR: $*"; exit 1; }

STATE=${1:-${THEX_SLURM_DIR:-}}
[ -n "$STATE" ] || { log "usage: $PROG STATE_DIR (or set THEX_SLURM_DIR)"; exit 2; }
[ "$(id -u)" -eq 0 ] || die "must run as root (the test cluster runs every daemon and job as root)"
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)

TIMEOUT=${THEX_SLURM_TIMEOUT:-60}
PORT_BASE=${THEX_SLURM_PORT_BASE:-6817}
CTLD_PORT=$PORT_BASE
SLURMD_PORT=$((PORT_BASE + 1))
DBD_PORT=$((PORT_BASE + 2))
DB_PORT=$((PORT_BASE + 3))
PARTITION=${THEX_SLURM_PARTITION:-debug}
CLUSTER=thex
ACCOUNT=thex

ETC=$STATE/etc
LOGD=$STATE/log
RUN=$STATE/run
export SLURM_CONF=$ETC/slurm.conf

# --------------------------------------------------------------- packages --
PKGS=(munge mariadb-server slurmdbd slurmctld slurmd slurm-client)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "${THEX_SLURM_NO_APT:-0}" = 1 ] && die "packages missing and THEX_SLURM_NO_APT=1: ${missing[*]}"
    log "installing ${missing[*]} (apt)"
    # Keep apt's maintainer scripts from starting system-wide daemons (munge,
    # mariadb, slurm*) through invoke-rc.d: this cluster runs its own.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# temporary, from thex tests/slurm/start_cluster.sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt_rc=0
    {
        timeout 300 apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q \
            --no-install-recommends "${missing[@]}"
    } > "$STATE/apt.log" 2>&1 || apt_rc=$?
    if grep -q 'from thex tests/slurm' /usr/sbin/policy-rc.d 2>/dev/null; then
        rm -f /usr/sbin/policy-rc.d; trap - EXIT
    fi
    if [ "$apt_rc" -ne 0 ]; then
        tail -n 30 "$STATE/apt.log" >&2
        die "apt-get failed (exit $apt_rc) installing ${missing[*]}; log: $STATE/apt.log"
    fi
fi
for b in munged mungekey mariadbd mariadb-install-db mariadb slurmdbd slurmctld slurmd \
         sbatch sacct sacctmgr sinfo scontrol; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "program $b not found after installation"
done
export PATH=$PATH:/usr/sbin:/sbin

# ------------------------------------------- stop leftovers of an earlier run --
if ls "$RUN"/*.pid >/dev/null 2>&1; then
    log "pid files from an earlier start found; stopping those daemons first"
    "$HERE/stop_cluster.sh" "$STATE" >&2 || die "could not stop the daemons of the earlier start"
fi

# something listening on 127.0.0.1:PORT? (bash /dev/tcp: no iproute2 needed)
# shellcheck disable=SC2016
port_in_use() { timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }
for p in "$CTLD_PORT" "$SLURMD_PORT" "$DBD_PORT" "$DB_PORT"; do
    port_in_use "$p" && die "TCP port $p is already in use (another SLURM/MariaDB?); set THEX_SLURM_PORT_BASE"
done

mkdir -p "$ETC" "$LOGD" "$RUN" "$STATE/munge" "$STATE/ctld" "$STATE/slurmd" "$STATE/mysql"
chmod 700 "$STATE/munge"

# ----------------------------------------------------------------- sizing --
HOST=$(hostname -s 2>/dev/null || uname -n); HOST=${HOST%%.*}
CPUS=${THEX_SLURM_CPUS:-$(nproc)}
# Socket/core layout as slurmd detects it, when it matches CPUS (avoids a
# "Node reconfigured socket/core boundaries" message); else CPUs only.
TOPO=$(slurmd -C 2>/dev/null | head -n 1 | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ' || true)
case " $TOPO" in *" CPUs=$CPUS "*) NODE_CPUS=${TOPO% } ;; *) NODE_CPUS="CPUs=$CPUS" ;; esac
MEM_MB=${THEX_SLURM_MEM_MB:-$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)}
{ [ "$CPUS" -ge 1 ] && [ "$MEM_MB" -ge 256 ]; } 2>/dev/null || die "bad sizing: CPUs=$CPUS memory=${MEM_MB}MB"
DEF_MEM=$((MEM_MB / CPUS)); [ "$DEF_MEM" -gt 1024 ] && DEF_MEM=1024

# ---------------------------------------------------------------- configs --
DB_PASS=thex-test-only
AUTHINFO="socket=$RUN/munge.socket"

cat > "$ETC/slurm.conf" <<EOF
# Generated by tests/slurm/start_cluster.sh for a single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=$AUTHINFO
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$RUN/slurmctld.daemon.pid
SlurmdPidFile=$RUN/slurmd.daemon.pid
SlurmctldLogFile=$LOGD/slurmctld.log
SlurmdLogFile=$LOGD/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups (works in containers/VMs without a delegated cgroup tree);
# task/affinity gives srun --cpu-bind (the snakemake jobstep plugin uses it).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
# start batch jobs at once (default: up to 3 s delay after each submission)
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=$DEF_MEM
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# Munge socket for connections to slurmdbd (sacct, sacctmgr, slurmctld): AuthInfo
# is not used for those.
AccountingStoragePass=$RUN/munge.socket
AccountingStorageEnforce=associations
# keep sbatch --comment (the snakemake plugin puts rule_<name> there) for sacct -o Comment
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
MailProg=/bin/true
# Finished jobs stay visible to squeue/scontrol for 5 minutes.
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
MessageTimeout=10
NodeName=$HOST NodeAddr=127.0.0.1 NodeHostname=$HOST $NODE_CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

# slurmdbd reads slurmdbd.conf from the directory of SLURM_CONF; it must be
# mode 600 and owned by SlurmUser (root).
cat > "$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=$AUTHINFO
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$RUN/slurmdbd.daemon.pid
LogFile=$LOGD/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
chown root:root "$ETC/slurmdbd.conf"
chmod 600 "$ETC/slurmdbd.conf"

cat > "$ETC/my.cnf" <<EOF
[mysqld]
datadir=$STATE/mysql
socket=$RUN/mysqld.sock
pid-file=$RUN/mariadbd.daemon.pid
log-error=$LOGD/mariadbd.log
port=$DB_PORT
bind-address=127.0.0.1
user=root
skip-name-resolve
innodb_buffer_pool_size=128M
innodb_log_file_size=64M
innodb_lock_wait_timeout=900
innodb_use_native_aio=0
max_connections=50
EOF

# /etc/slurm/slurm.conf -> STATE_DIR/etc/slurm.conf.  Needed because SLURM_CONF
# does not reach every client: snakemake-executor-plugin-slurm-jobstep removes
# all SLURM_* variables (SLURM_CONF too) before its `srun` inside the job, and
# srun then reads the compiled-in /etc/slurm/slurm.conf.  A regular file there
# (a real SLURM installation) is never replaced.
ETC_LINK=/etc/slurm/slurm.conf
if [ "${THEX_SLURM_ETC_LINK:-1}" = 1 ]; then
    if [ -e "$ETC_LINK" ] && [ ! -L "$ETC_LINK" ]; then
        die "$ETC_LINK exists and is not a link made by this script; refusing to replace it (set THEX_SLURM_ETC_LINK=0 to skip; srun inside snakemake jobs then fails)"
    fi
    if [ -L "$ETC_LINK" ] && [ "$(readlink "$ETC_LINK")" != "$ETC/slurm.conf" ]; then
        other=$(readlink "$ETC_LINK")
        other_run=$(dirname "$(dirname "$other")")/run
        if [ -e "$(dirname "$other")/.thex-test-cluster" ] && \
           ls "$other_run"/slurmctld.pid >/dev/null 2>&1 && \
           kill -0 "$(cat "$other_run/slurmctld.pid")" 2>/dev/null; then
            die "$ETC_LINK points to another running test cluster ($other); stop it first"
        fi
        [ -e "$(dirname "$other")/.thex-test-cluster" ] || [ ! -e "$other" ] \
            || die "$ETC_LINK is a link to $other, not made by this script; refusing to replace it"
    fi
    mkdir -p /etc/slurm
    ln -sfn "$ETC/slurm.conf" "$ETC_LINK"
fi
touch "$ETC/.thex-test-cluster"

# --------------------------------------------------------------- helpers --
# tail of a daemon's logs, for error messages
show_log() {
    local name=$1 f
    for f in "$LOGD/$name.log" "$LOGD/$name.out"; do
        [ -s "$f" ] || continue
        printf -- '----- last lines of %s -----\n' "$f" >&2
        tail -n 25 "$f" >&2
        return 0   # the .out copy repeats the .log (foreground daemons log to both)
    done
}
fail() { # fail DAEMON MESSAGE
    log "ERROR: $2"
    show_log "$1"
    log "stopping the daemons started so far"
    "$HERE/stop_cluster.sh" "$STATE" >&2 || true
    exit 1
}
# daemon NAME running (and not a zombie left for init to reap)?
alive() {
    local st
    [ -s "$RUN/$1.pid" ] || return 1
    st=$(awk '{print $3}' "/proc/$(cat "$RUN/$1.pid")/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
# start_daemon NAME CMD...: start CMD in the foreground of its own session,
# detached from our stdin/stdout/stderr; its PID goes to RUN/NAME.pid
start_daemon() {
    local name=$1; shift
    setsid "$@" < /dev/null >> "$LOGD/$name.out" 2>&1 &
    echo $! > "$RUN/$name.pid"
}
# wait_for NAME WHAT CMD...: poll CMD (each try bounded to 10 s) until it
# succeeds, the daemon dies, or TIMEOUT seconds pass
wait_for() {
    local name=$1 what=$2; shift 2
    local deadline=$(( $(date +%s) + TIMEOUT ))
    while :; do
        if timeout 10 "$@" > "$LOGD/last-check.out" 2>&1; then return 0; fi
        alive "$name" || fail "$name" "$name exited while waiting for $what"
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "last try: $* ->"; tail -n 5 "$LOGD/last-check.out" >&2
            fail "$name" "timed out after ${TIMEOUT}s waiting for $what"
        fi
        sleep 0.2
    done
}

# ------------------------------------------------------------------ munge --
if [ ! -s "$STATE/munge/munge.key" ]; then
    mungekey --create --keyfile="$STATE/munge/munge.key" \
        || dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1 count=1024 2>/dev/null
fi
chmod 400 "$STATE/munge/munge.key"
start_daemon munged munged --foreground --force \
    --socket="$RUN/munge.socket" --key-file="$STATE/munge/munge.key" \
    --pid-file="$RUN/munged.daemon.pid" --log-file="$LOGD/munged.log" \
    --seed-file="$STATE/munge/munged.seed"
# shellcheck disable=SC2016
wait_for munged "munge to encode/decode a credential" \
    bash -c 'munge -n --socket="$1" | unmunge --socket="$1"' _ "$RUN/munge.socket"
phase "munged up"

# ---------------------------------------------------------------- mariadb --
MYSQL=(mariadb --no-defaults --socket="$RUN/mysqld.sock" --user=root --connect-timeout=5)
if [ ! -e "$STATE/mysql/.thex-initialized" ]; then
    rm -rf "$STATE/mysql"; mkdir -p "$STATE/mysql"
    timeout "$TIMEOUT" mariadb-install-db --defaults-file="$ETC/my.cnf" --user=root \
        --auth-root-authentication-method=socket --skip-test-db \
        > "$LOGD/mariadb-install-db.log" 2>&1 \
        || fail mariadb-install-db "mariadb-install-db failed (datadir $STATE/mysql)"
    phase "mariadb datadir initialised"
    need_db_user=1
else
    need_db_user=0
fi
start_daemon mariadbd mariadbd --defaults-file="$ETC/my.cnf"
wait_for mariadbd "mariadbd to accept connections on $RUN/mysqld.sock" "${MYSQL[@]}" -e 'SELECT 1'
phase "mariadbd up"
if [ "$need_db_user" = 1 ]; then
    "${MYSQL[@]}" -e "
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
        CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        FLUSH PRIVILEGES;" 2>> "$LOGD/mariadbd.log" \
        || fail mariadbd "could not create the slurm database user"
    touch "$STATE/mysql/.thex-initialized"
fi

# --------------------------------------------------------------- slurmdbd --
start_daemon slurmdbd slurmdbd -D
wait_for slurmdbd "slurmdbd to answer sacctmgr" sacctmgr -n show cluster
phase "slurmdbd up"
if [ ! -e "$STATE/mysql/.thex-registered" ]; then
if ! sacctmgr -nP show cluster format=cluster | grep -qx "$CLUSTER"; then
    timeout 30 sacctmgr -i add cluster "$CLUSTER" >> "$LOGD/sacctmgr.log" 2>&1 \
        || fail sacctmgr "sacctmgr add cluster $CLUSTER failed"
fi
# An account for the tests (the snakemake slurm plugin wants one) with root in it.
if ! sacctmgr -nP show account "$ACCOUNT" format=account | grep -qx "$ACCOUNT"; then
    timeout 30 sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" \
        description="thex tests" organization=thex >> "$LOGD/sacctmgr.log" 2>&1 \
        || fail sacctmgr "sacctmgr add account $ACCOUNT failed"
fi
if ! sacctmgr -nP show assoc where user=root account="$ACCOUNT" format=user | grep -qx root; then
    timeout 30 sacctmgr -i add user root account="$ACCOUNT" cluster="$CLUSTER" >> "$LOGD/sacctmgr.log" 2>&1 \
        || fail sacctmgr "sacctmgr add user root account=$ACCOUNT failed"
fi
touch "$STATE/mysql/.thex-registered"
fi

phase "cluster, account and user registered in slurmdbd"

# ------------------------------------------------------ slurmctld, slurmd --
# Jobs are recovered from the saved state, but not the node state: a node
# drained in an earlier run (e.g. with other sizing) must not stay drained.
rm -f "$STATE"/ctld/node_state "$STATE"/ctld/node_state.old
start_daemon slurmctld slurmctld -D
wait_for slurmctld "slurmctld to answer scontrol ping" \
    bash -c 'scontrol ping | grep -q "is UP"'
phase "slurmctld up"
start_daemon slurmd slurmd -D
node_reason() { scontrol show node "$HOST" 2>&1 | sed -n 's/^ *\(State=[^ ]*\).*/\1/p; s/^ *\(Reason=.*\)/\1/p' | tr '\n' ' '; }
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
    st=$(timeout 10 sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
    case $st in
        idle) break ;;
        inval*|drain*)   # bad registration, e.g. less memory/CPUs than configured
            show_log slurmctld
            fail slurmd "node $HOST is '$st' instead of idle: $(node_reason)" ;;
    esac
    alive slurmd || fail slurmd "slurmd exited before node $HOST became idle"
    alive slurmctld || fail slurmctld "slurmctld exited before node $HOST became idle"
    if [ "$(date +%s)" -ge "$deadline" ]; then
        show_log slurmctld
        fail slurmd "timed out after ${TIMEOUT}s waiting for node $HOST to become idle (state '$st': $(node_reason))"
    fi
    sleep 0.2
done

# -------------------------------------------------------------------- env --
cat > "$STATE/env.sh" <<EOF
export SLURM_CONF=$SLURM_CONF
export THEX_SLURM_DIR=$STATE
export THEX_SLURM_CLUSTER=$CLUSTER
export THEX_SLURM_PARTITION=$PARTITION
export THEX_SLURM_ACCOUNT=$ACCOUNT
export THEX_SLURM_CPUS=$CPUS
export THEX_SLURM_MEM_MB=$MEM_MB
EOF
cat "$STATE/env.sh"
log "cluster $CLUSTER ready: node $HOST ($CPUS CPUs, ${MEM_MB} MB), partition $PARTITION, in $(since) s; state in $STATE"
