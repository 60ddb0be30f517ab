#!/usr/bin/env bash
# Thresher's service topology on this machine, without containers (the same parts as
# infra/compose.yaml):
#
#   PostgreSQL (its own cluster) <- Prefect server -> thresher serve (only with --service)
#   Dask scheduler <- two Dask workers            (Beam's DaskRunner sends the stages here)
#   the dashboard over DIR/out
#
# Usage:
#   infra/local-cluster.sh up     [DIR] [--service FILE]   start what is not running, wait
#                                                           until each part answers, print
#                                                           the environment to use
#   infra/local-cluster.sh status [DIR]                     each part up or down (exit 3 if
#                                                           any is down)
#   infra/local-cluster.sh down   [DIR]                     stop everything, keep the data
#
# DIR (default ./thresher-cluster) holds everything: pg/ (the database), sock/ (its unix
# socket), logs/, pids/, prefect-home/, dask/ (worker scratch) and out/ (the dashboard's
# output root). The chosen ports and the database password are kept in DIR/cluster.env, so a
# later `up` reuses them. Ports are picked free on the first `up`, unless set with
# THRESHER_PG_PORT, THRESHER_PREFECT_PORT, THRESHER_DASK_PORT or THRESHER_DASHBOARD_PORT.
#
# Needs: Debian's postgresql (server binaries in /usr/lib/postgresql/*/bin, or set
# THRESHER_PG_BIN) and a Python with `thresher[dask]` installed (python3 on PATH, or set
# THRESHER_PYTHON). Run as root, PostgreSQL runs as the `postgres` system user (or
# THRESHER_PG_OS_USER), since it refuses to run as root.
#
# Everything listens on 127.0.0.1 only. Every part runs in its own process group, whose id
# is in DIR/pids/NAME.pid; `down` signals the whole group.
set -euo pipefail

die() {
  echo "local-cluster: $*" >&2
  exit 1
}
say() { echo "local-cluster: $*" >&2; }

# ---------------------------------------------------------------- arguments
usage="usage: infra/local-cluster.sh up|down|status [DIR] [--service FILE]"
[ $# -ge 1 ] || die "$usage"
action=$1
shift
case $action in up | down | status) ;; *) die "$usage" ;; esac
DIR=""
SERVICE=""
while [ $# -gt 0 ]; do
  case $1 in
    --service)
      [ $# -ge 2 ] || die "--service needs a file"
      SERVICE=$2
      shift 2
      ;;
    -h | --help)
      echo "$usage"
      exit 0
      ;;
    -*) die "unknown option $1; $usage" ;;
    *)
      [ -z "$DIR" ] || die "one state directory only; $usage"
      DIR=$1
      shift
      ;;
  esac
done
[ -z "$SERVICE" ] || [ "$action" = up ] || die "--service goes with up"
DIR=$(realpath -m "${DIR:-./thresher-cluster}")
if [ -n "$SERVICE" ]; then
  [ -f "$SERVICE" ] || die "service file $SERVICE not found"
  SERVICE=$(realpath "$SERVICE")
fi

LOGS=$DIR/logs
PIDS=$DIR/pids
SOCK=$DIR/sock
PGDATA=$DIR/pg
STATE=$DIR/cluster.env
PY=${THRESHER_PYTHON:-python3}
PG_OS_USER=${THRESHER_PG_OS_USER:-postgres}
PG_ROLE=thresher # the database superuser; Prefect's database is `prefect`
# the parts started as plain processes, in start order (postgres is managed by pg_ctl)
PARTS=(prefect-server dask-scheduler dask-worker-1 dask-worker-2 dashboard serve)

# ---------------------------------------------------------------- helpers
# PostgreSQL's server binaries: the newest Debian version, unless THRESHER_PG_BIN is set
find_pg_bin() {
  if [ -n "${THRESHER_PG_BIN:-}" ]; then
    PG_BIN=$THRESHER_PG_BIN
  else
    PG_BIN=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  fi
  [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] ||
    die "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: apt-get install postgresql (or set THRESHER_PG_BIN)"
}

# run a PostgreSQL tool as the user that owns the database (never root)
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$PG_OS_USER" -- "$@"
  else
    "$@"
  fi
}

# true if a process of the part's group is alive (zombies, exited but not yet reaped by
# their parent, do not count)
running() {
  local pidfile=$PIDS/$1.pid pgid stat fields
  [ -f "$pidfile" ] || return 1
  pgid=$(cat "$pidfile")
  for stat in /proc/[0-9]*/stat; do
    { read -r fields <"$stat"; } 2>/dev/null || continue # gone meanwhile
    # after "pid (command) ": state, parent pid, process group, ...
    read -r -a fields <<<"${fields##*) }"
    [ "${fields[2]}" = "$pgid" ] && [ "${fields[0]}" != Z ] && return 0
  done
  return 1
}

pg_running() {
  [ -f "$PGDATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

quiet() { "$@" >/dev/null 2>&1; }

# an HTTP GET (or, with a second argument, a JSON POST) that answers 2xx; prints the body
http() {
  "$PY" -c 'import sys, urllib.request as u
body = sys.argv[2].encode() if len(sys.argv) > 2 else None
r = u.Request(sys.argv[1], data=body, headers={"Content-Type": "application/json"})
print(u.urlopen(r, timeout=3).read().decode())' "$@" 2>/dev/null
}
http_ok() { http "$1" >/dev/null; }

# the last line of a log, for one-line errors
last_line() { grep -v '^[[:space:]]*$' "$LOGS/$1.log" 2>/dev/null | tail -n 1 | cut -c1-200; }

# fail early, in one line, when another program holds a part's port
port_free() {
  ! port_open "$2" || die "port $2 for $1 is in use by another program: free it, or set $3 (ports are kept in $STATE)"
}

# start NAME [VAR=VALUE...]: run the command in the array CMD, with those variables, in a
# new session (so its own process group), output to logs/NAME.log. The subshell execs env,
# which execs setsid, which execs the command: one pid throughout, the group's id.
start() {
  local name=$1
  shift
  if running "$name"; then
    say "$name already up"
    return
  fi
  (exec env "$@" setsid "${CMD[@]}" >>"$LOGS/$name.log" 2>&1 </dev/null) &
  echo $! >"$PIDS/$name.pid"
}

# wait_for NAME WHAT SECONDS CHECK...: until the command CHECK succeeds; fail in one line if
# the part's processes exit or time runs out
wait_for() {
  local name=$1 what=$2 timeout=$3
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! running "$name"; then
      die "$what exited during start-up ($(last_line "$name")); log: $LOGS/$name.log"
    fi
    [ $SECONDS -lt $deadline ] || die "$what did not answer within $timeout s; log: $LOGS/$name.log"
    sleep 0.5
  done
}

# stop a part's process group: SIGTERM, then SIGKILL after 20 s
stop() {
  local name=$1 pid i
  if running "$name"; then
    pid=$(cat "$PIDS/$name.pid")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
      running "$name" || break
      sleep 0.5
    done
    if running "$name"; then
      say "$name ignored SIGTERM for 20 s: killing it"
      kill -KILL -- "-$pid" 2>/dev/null || true
      sleep 0.5
    fi
    say "$name stopped"
  fi
  rm -f "$PIDS/$name.pid"
}

# ports and password: from DIR/cluster.env, the THRESHER_*_PORT variables, or picked free
load_state() {
  PG_PORT="" PREFECT_PORT="" DASK_PORT="" DASHBOARD_PORT="" PG_PASSWORD=""
  # shellcheck disable=SC1090
  [ -f "$STATE" ] && . "$STATE"
  PG_PORT=${THRESHER_PG_PORT:-$PG_PORT}
  PREFECT_PORT=${THRESHER_PREFECT_PORT:-$PREFECT_PORT}
  DASK_PORT=${THRESHER_DASK_PORT:-$DASK_PORT}
  DASHBOARD_PORT=${THRESHER_DASHBOARD_PORT:-$DASHBOARD_PORT}
}

save_state() {
  if [ -z "$PG_PORT" ] || [ -z "$PREFECT_PORT" ] || [ -z "$DASK_PORT" ] || [ -z "$DASHBOARD_PORT" ]; then
    # four distinct free ports, held open together while they are chosen
    local free
    free=$("$PY" -c 'import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))') || die "$PY cannot run"
    read -r p1 p2 p3 p4 <<<"$free"
    PG_PORT=${PG_PORT:-$p1} PREFECT_PORT=${PREFECT_PORT:-$p2}
    DASK_PORT=${DASK_PORT:-$p3} DASHBOARD_PORT=${DASHBOARD_PORT:-$p4}
  fi
  [ -n "$PG_PASSWORD" ] || PG_PASSWORD=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  (
    umask 077
    cat >"$STATE" <<EOF
PG_PORT=$PG_PORT
PREFECT_PORT=$PREFECT_PORT
DASK_PORT=$DASK_PORT
DASHBOARD_PORT=$DASHBOARD_PORT
PG_PASSWORD=$PG_PASSWORD
EOF
  )
}

# ---------------------------------------------------------------- the parts
start_postgres() {
  if [ "$(id -u)" = 0 ]; then
    id "$PG_OS_USER" >/dev/null 2>&1 ||
      die "running as root, PostgreSQL needs a non-root user to run as: '$PG_OS_USER' does not exist (set THRESHER_PG_OS_USER)"
  fi
  local socket=$SOCK/.s.PGSQL.$PG_PORT
  [ ${#socket} -lt 100 ] || die "the socket path $socket is too long for a unix socket: use a shorter DIR"
  mkdir -p "$PGDATA" "$SOCK"
  touch "$LOGS/postgres.log"
  if [ "$(id -u)" = 0 ]; then
    chown "$PG_OS_USER" "$PGDATA" "$SOCK" "$LOGS/postgres.log"
    as_pg test -w "$PGDATA" ||
      die "the '$PG_OS_USER' user cannot reach $DIR (is a parent folder private to root?): pick a DIR it can enter, e.g. under /var/tmp"
  fi
  chmod 700 "$PGDATA"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    say "initdb $PGDATA"
    as_pg "$PG_BIN/initdb" -D "$PGDATA" -U "$PG_ROLE" -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >>"$LOGS/postgres.log" 2>&1 ||
      die "initdb failed; log: $LOGS/postgres.log"
    # TCP on loopback only, with the password; the unix socket in DIR/sock, for its owner only
    cat >>"$PGDATA/postgresql.conf" <<EOF
# local-cluster.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
unix_socket_permissions = 0700
EOF
  fi
  if pg_running; then
    say "postgres already up"
  else
    port_free postgres "$PG_PORT" THRESHER_PG_PORT
    as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$LOGS/postgres.log" -o "-p $PG_PORT" -w -t 60 start \
      >/dev/null 2>&1 || die "PostgreSQL did not start ($(last_line postgres)); log: $LOGS/postgres.log"
  fi
  # the password Prefect connects with, and its database unless it is there (SQL on stdin,
  # so the password is in no command line)
  printf "%s\n" "ALTER ROLE $PG_ROLE PASSWORD '$PG_PASSWORD';" \
    "SELECT 'CREATE DATABASE prefect' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'prefect') \gexec" |
    as_pg "$PG_BIN/psql" -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PG_PORT" -U "$PG_ROLE" -d postgres \
      >>"$LOGS/postgres.log" 2>&1 || die "could not create Prefect's database; log: $LOGS/postgres.log"
}

up() {
  find_pg_bin
  command -v "$PY" >/dev/null || die "$PY not found: activate the environment Thresher is installed in (or set THRESHER_PYTHON)"
  "$PY" -c 'import thresher.flows.cli, distributed, prefect' 2>/dev/null ||
    die "$PY cannot import thresher with its dask extra: pip install '.[dask]' (or set THRESHER_PYTHON)"
  mkdir -p "$LOGS" "$PIDS" "$DIR/prefect-home" "$DIR/dask" "$DIR/out"
  load_state
  save_state
  start_postgres

  local api=http://127.0.0.1:$PREFECT_PORT/api
  local dask_address=tcp://127.0.0.1:$DASK_PORT
  local dashboard=http://127.0.0.1:$DASHBOARD_PORT

  # Prefect's API and UI, its database in our PostgreSQL (over TCP, with the password)
  running prefect-server || port_free prefect-server "$PREFECT_PORT" THRESHER_PREFECT_PORT
  CMD=("$PY" -m prefect server start --host 127.0.0.1 --port "$PREFECT_PORT")
  start prefect-server PREFECT_HOME="$DIR/prefect-home" \
    PREFECT_API_DATABASE_CONNECTION_URL="postgresql+asyncpg://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/prefect" \
    PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 PYTHONUNBUFFERED=1

  # the Dask scheduler and two single-threaded worker processes
  running dask-scheduler || port_free dask-scheduler "$DASK_PORT" THRESHER_DASK_PORT
  CMD=("$PY" -m dask scheduler --host 127.0.0.1 --port "$DASK_PORT" --no-dashboard)
  start dask-scheduler PYTHONUNBUFFERED=1
  wait_for dask-scheduler "the Dask scheduler" 60 port_open "$DASK_PORT"
  for n in 1 2; do
    CMD=("$PY" -m dask worker "$dask_address" --name "worker-$n" --nworkers 1 --nthreads 1
      --no-dashboard --local-directory "$DIR/dask/worker-$n")
    start "dask-worker-$n" PYTHONUNBUFFERED=1
  done

  # the dashboard over DIR/out (loopback only, so no token); it shows runs as they appear
  running dashboard || port_free dashboard "$DASHBOARD_PORT" THRESHER_DASHBOARD_PORT
  CMD=("$PY" -m thresher.flows.cli dashboard --out "$DIR/out" --port "$DASHBOARD_PORT")
  start dashboard PYTHONUNBUFFERED=1

  # now wait for the slow ones
  wait_for prefect-server "the Prefect server" 180 http_ok "$api/health"
  local workers="from distributed import Client
with Client('$dask_address', timeout=30) as c: c.wait_for_workers(2, timeout=60)"
  wait_for dask-worker-1 "the Dask workers" 90 quiet "$PY" -c "$workers"
  wait_for dashboard "the dashboard" 60 http_ok "$dashboard/"

  # optionally: the scheduled service, its deployments on this Prefect server
  if [ -n "$SERVICE" ]; then
    CMD=("$PY" -m thresher.flows.cli serve --config "$SERVICE")
    start serve PREFECT_API_URL="$api" THRESHER_DASHBOARD_URL="$dashboard"
    wait_for serve "thresher serve" 120 deployments_exist "$api"
  fi

  say "up in $DIR (logs in $LOGS); stop with: infra/local-cluster.sh down $DIR"
  # stdout: the environment, for `eval "$(infra/local-cluster.sh up)"`
  cat <<EOF
export PREFECT_API_URL=$api
export THRESHER_DASHBOARD_URL=$dashboard
export THRESHER_BEAM_ARGS="--runner apache_beam.runners.dask.dask_runner.DaskRunner --dask_client_address $dask_address"
# thresher run --out $DIR/out -- \$THRESHER_BEAM_ARGS
EOF
}

deployments_exist() {
  local n
  n=$(http "$1/deployments/count" '{}') || return 1
  [ "${n:-0}" -gt 0 ]
}

status() {
  [ -d "$DIR" ] || die "no cluster in $DIR"
  find_pg_bin
  load_state
  local down=0 pid
  line() { printf '%-15s %-5s %s\n' "$@"; }
  if pg_running; then
    pid=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null || echo "?")
    line postgres up "pid $pid, 127.0.0.1:$PG_PORT, socket $SOCK"
  else
    line postgres down ""
    down=1
  fi
  for name in "${PARTS[@]}"; do
    if running "$name"; then
      local where=""
      case $name in
        prefect-server) where="http://127.0.0.1:$PREFECT_PORT/api" ;;
        dask-scheduler) where="tcp://127.0.0.1:$DASK_PORT" ;;
        dashboard) where="http://127.0.0.1:$DASHBOARD_PORT" ;;
      esac
      line "$name" up "pid $(cat "$PIDS/$name.pid")${where:+, $where}"
    elif [ "$name" = serve ]; then
      line serve down "(only with up --service FILE)"
    else
      line "$name" down ""
      down=1
    fi
  done
  return $((down * 3))
}

down() {
  if [ ! -d "$DIR" ]; then
    say "nothing to stop: no cluster in $DIR"
    return
  fi
  # dependents first: the service, then the dashboard and Dask, then Prefect, then PostgreSQL
  local i
  for ((i = ${#PARTS[@]} - 1; i >= 0; i--)); do
    stop "${PARTS[i]}"
  done
  if [ -f "$PGDATA/PG_VERSION" ]; then
    find_pg_bin
    if pg_running; then
      as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null ||
        die "PostgreSQL did not stop; log: $LOGS/postgres.log"
      say "postgres stopped"
    fi
  fi
  say "down; data kept in $DIR"
}

"$action"
