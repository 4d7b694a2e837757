#!/usr/bin/env bash
# Start a single-node SLURM cluster with accounting on this machine, for `make test-cluster`.
#
#   .ci/slurm/start.sh [STATE_DIR]      (default: $HAFRAME_SLURM_STATE or /tmp/haframe-slurm)
#   sbatch/squeue/sacct, snakemake --profile profiles/slurm ...
#   .ci/slurm/stop.sh [STATE_DIR]
#
# The configuration is written to STATE_DIR/etc/ and linked as /etc/slurm/slurm.conf (the
# executor's job steps run srun without SLURM_CONF); the script refuses to run where that file
# already exists, where a SLURM daemon runs, or where a port it needs is taken.
# Needs root and Debian 12 (installs munge, SLURM 22.05 and MariaDB with apt when missing).
# Starts, directly and without systemd: munged (only if no munged answers already), a private
# mariadbd (datadir in STATE_DIR), slurmdbd, slurmctld and slurmd. Each PID is appended to
# STATE_DIR/pids as soon as the daemon is started; stop.sh stops exactly those PIDs. If
# anything fails here, the EXIT trap stops what this script started. Every daemon listens on
# 127.0.0.1 only (checked with ss before the script succeeds). The node has one fake GPU
# (a character device made with mknod), so `--gpus=1` jobs are scheduled; the cluster has the
# partition `gpu` and the account `haframe-ci` (root is a user of it). STATE_DIR/cluster.json
# describes the cluster for the test.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
STATE="$(realpath -m "${1:-${HAFRAME_SLURM_STATE:-/tmp/haframe-slurm}}")"
PARTITION=gpu
ACCOUNT=haframe-ci
CLUSTER=haframe
DB_PORT="${HAFRAME_SLURM_DB_PORT:-3307}"   # the private MariaDB (3306 is left to a system one)
PORTS=(6817 6818 6819 "$DB_PORT")         # slurmctld, slurmd, slurmdbd, mariadbd
T0=$SECONDS

log() { echo "[slurm start +$((SECONDS - T0))s] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "needs root (it installs packages and starts daemons)"
STARTED_OK=0
cleanup() {
    local rc=$?
    if [[ $STARTED_OK -ne 1 ]]; then
        log "start failed (exit $rc): stopping the daemons it started"
        for f in "$STATE"/log/*.out "$STATE"/slurm/*.log "$STATE"/slurmd/*.log "$STATE"/mysql/run/*.log; do
            [[ -s "$f" ]] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }
        done
        "$HERE/stop.sh" "$STATE" || true
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# A PID file from an earlier start whose daemons still run: refuse (stop.sh first).
if [[ -s "$STATE/pids" ]]; then
    while read -r name pid; do
        if [[ -d /proc/$pid ]]; then
            STARTED_OK=1  # do not stop another start's daemons
            die "$name ($pid) from an earlier start still runs: run .ci/slurm/stop.sh $STATE first"
        fi
    done < "$STATE/pids"
fi

# --- packages ------------------------------------------------------------------------------
missing=0
for tool in munged mungekey slurmctld slurmd slurmdbd sbatch sacct sacctmgr srun mariadbd mariadb-install-db; do
    command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 || missing=1
done
export PATH="$PATH:/usr/sbin:/sbin"
if [[ $missing -eq 1 ]]; then
    log "installing munge, SLURM and MariaDB (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout -k 10 300 apt-get update -q >"${TMPDIR:-/tmp}/haframe-slurm-apt.log" 2>&1 \
        || { tail -n 20 "${TMPDIR:-/tmp}/haframe-slurm-apt.log" >&2; die "apt-get update failed"; }
    timeout -k 10 420 apt-get install -y -q --no-install-recommends \
        munge slurm-client slurmctld slurmd slurmdbd mariadb-server >>"${TMPDIR:-/tmp}/haframe-slurm-apt.log" 2>&1 \
        || { tail -n 20 "${TMPDIR:-/tmp}/haframe-slurm-apt.log" >&2; die "apt-get install failed"; }
    log "installed: $(dpkg-query -W -f='${Package} ${Version}  ' slurmctld mariadb-server munge)"
fi

# --- nothing of ours may clash with running services ---------------------------------------
for port in "${PORTS[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port on 127.0.0.1 is in use (another SLURM or database?)"
    fi
done
# The SLURM daemons bind to the address this host's name resolves to (NoInAddrAny): it must be
# a loopback address, or they would listen on the network.
NODE="$(hostname -s)"
NODE_ADDR="$(getent ahostsv4 "$NODE" | awk 'NR == 1 {print $1}')"
[[ "$NODE_ADDR" == 127.* ]] || die "hostname $NODE resolves to '${NODE_ADDR:-nothing}', not to 127.0.0.1: the daemons would listen on the network (add '127.0.0.1 $NODE' to /etc/hosts on a throwaway machine)"
for daemon in slurmctld slurmd slurmdbd; do
    if pgrep -x "$daemon" >/dev/null; then die "a $daemon already runs on this machine"; fi
done

# --- state directory and configuration -----------------------------------------------------
if [[ -e "$STATE" && ! -e "$STATE/pids" && -n "$(ls -A "$STATE" 2>/dev/null)" ]]; then
    STARTED_OK=1
    die "$STATE exists and is not a state directory of this script: choose another"
fi
rm -rf "$STATE"
mkdir -p "$STATE"/{etc,log,dev,slurm/state,slurmd,mysql/data,mysql/run}
chmod 755 "$STATE"
: > "$STATE/pids"
CPUS="$(nproc)"
AVAIL_MB=$(( $(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) / 1024 ))
REAL_MB=$(( AVAIL_MB * 3 / 4 ))
GPU_DEV="$STATE/dev/nvidia0"
mknod "$GPU_DEV" c 195 0   # a fake GPU: SLURM only needs a character device to hand out
chown -R slurm:slurm "$STATE/slurm"
chown -R mysql:mysql "$STATE/mysql"

export SLURM_CONF="$STATE/etc/slurm.conf"
cat >"$SLURM_CONF" <<EOF
# Written by .ci/slurm/start.sh: a single-node test cluster on localhost.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
StateSaveLocation=$STATE/slurm/state
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurm/slurmctld.pid
SlurmdPidFile=$STATE/slurmd/slurmd.pid
SlurmctldLogFile=$STATE/slurm/slurmctld.log
SlurmdLogFile=$STATE/slurmd/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups here (containers, no systemd): Linux process tracking and CPU affinity.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
# Finished jobs stay visible to squeue for 5 minutes (sacct keeps them forever).
MinJobAge=300
KillWait=5
InactiveLimit=0
Waittime=0
SlurmctldTimeout=30
SlurmdTimeout=60
# Accounting through slurmdbd: sacct (the executor's status command) and AllocTRES with gres/gpu.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
# One fake GPU (gres.conf) so that --gpus=1 and --gres=gpu:1 jobs are scheduled.
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS RealMemory=$REAL_MB Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
cat >"$STATE/etc/gres.conf" <<EOF
NodeName=$NODE Name=gpu File=$GPU_DEV
EOF
DB_PASS="$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat >"$STATE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=$NODE
DbdAddr=127.0.0.1
DbdPort=6819
CommunicationParameters=NoInAddrAny
SlurmUser=slurm
PidFile=$STATE/slurm/slurmdbd.pid
LogFile=$STATE/slurm/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
chown slurm:slurm "$STATE/etc/slurmdbd.conf"
chmod 600 "$STATE/etc/slurmdbd.conf"
chmod 644 "$SLURM_CONF" "$STATE/etc/gres.conf"

# Job steps: the executor's jobstep runs `srun` without SLURM_CONF, as on a real cluster, so
# the configuration must be at the default path: link it there (removed again by stop.sh),
# never replacing a real one.
ETC_CONF=/etc/slurm/slurm.conf
if [[ -L "$ETC_CONF" && ! -e "$ETC_CONF" ]]; then
    rm -f "$ETC_CONF"   # a dangling link, e.g. left by an earlier test cluster
elif [[ -e "$ETC_CONF" || -L "$ETC_CONF" ]]; then
    STARTED_OK=1
    die "$ETC_CONF exists (a real SLURM configuration?): not touching it"
fi
mkdir -p /etc/slurm
ln -s "$SLURM_CONF" "$ETC_CONF"
echo "$ETC_CONF" >"$STATE/links"

# start NAME COMMAND...: run a daemon in the foreground of a new session, in the background of
# this script; exec keeps the PID, which is recorded at once.
start() {
    local name=$1; shift
    setsid "$@" </dev/null >>"$STATE/log/$name.out" 2>&1 &
    local pid=$!
    echo "$name $pid" >>"$STATE/pids"
    log "started $name (pid $pid)"
}
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [[ $SECONDS -lt $deadline ]] || die "timed out after ${limit}s waiting for $what"
        for entry in $(awk '{print $2}' "$STATE/pids"); do
            [[ -d /proc/$entry ]] || die "a daemon died while waiting for $what ($(grep " $entry\$" "$STATE/pids"))"
        done
        sleep 0.5
    done
}

# --- munge ---------------------------------------------------------------------------------
if timeout 5 bash -c 'munge -n | unmunge' >/dev/null 2>&1; then
    log "a munged already answers: using it (not started, not stopped here)"
else
    [[ -s /etc/munge/munge.key ]] || { mungekey --create --force; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o munge -g munge -m 700 /var/lib/munge /var/log/munge
    start munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground
    wait_for 20 "munged" bash -c 'munge -n | unmunge'
fi

# --- MariaDB (private datadir, 127.0.0.1 only) ---------------------------------------------
timeout -k 5 120 mariadb-install-db --no-defaults --datadir="$STATE/mysql/data" --user=mysql \
    --auth-root-authentication-method=socket --skip-test-db >"$STATE/log/mariadb-install-db.log" 2>&1 \
    || { tail -n 20 "$STATE/log/mariadb-install-db.log" >&2; die "mariadb-install-db failed"; }
start mariadbd /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$STATE/mysql/data" \
    --socket="$STATE/mysql/run/mysqld.sock" --pid-file="$STATE/mysql/run/mysqld.pid" --port="$DB_PORT" \
    --bind-address=127.0.0.1 --skip-name-resolve --log-error="$STATE/mysql/run/mariadbd.log" \
    --innodb-buffer-pool-size=128M --innodb-log-file-size=32M --innodb-lock-wait-timeout=900
SQL=(mariadb --no-defaults --socket="$STATE/mysql/run/mysqld.sock" -uroot)
wait_for 60 "mariadbd" "${SQL[@]}" -e "SELECT 1"
"${SQL[@]}" <<EOF
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF

# --- slurmdbd, the cluster, its account ----------------------------------------------------
start slurmdbd /usr/sbin/slurmdbd -D
wait_for 60 "slurmdbd" sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null
sacctmgr -i add account "$ACCOUNT" Description="haframe test account" Organization=haframe >/dev/null
sacctmgr -i add user root DefaultAccount="$ACCOUNT" Account="$ACCOUNT" >/dev/null

# --- slurmctld and slurmd ------------------------------------------------------------------
start slurmctld /usr/sbin/slurmctld -D -i
wait_for 30 "slurmctld" scontrol ping
start slurmd /usr/sbin/slurmd -D
node_idle() { [[ "$(sinfo -h -n "$NODE" -o %T 2>/dev/null)" == idle ]]; }
wait_for 60 "node $NODE to be idle" node_idle

# --- only localhost listens ----------------------------------------------------------------
sleep 0.5
for pid in $(awk '{print $2}' "$STATE/pids"); do
    bad="$(ss -Hltnp 2>/dev/null | grep "pid=$pid," | awk '{print $4}' | grep -v -E '^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):' || true)"
    [[ -z "$bad" ]] || die "pid $pid ($(cat /proc/$pid/comm)) listens on $bad (not localhost)"
done

cat >"$STATE/cluster.json" <<EOF
{"slurm_conf": "$SLURM_CONF", "cluster": "$CLUSTER", "partition": "$PARTITION", "account": "$ACCOUNT",
 "node": "$NODE", "cpus": $CPUS, "real_memory_mb": $REAL_MB, "gpus": 1, "pids": "$STATE/pids"}
EOF
STARTED_OK=1
log "cluster up: $(sinfo -h -o '%P %D %c %m %G %T' | tr '\n' ' ')"
log "export SLURM_CONF=$SLURM_CONF"
cat "$STATE/pids" >&2
