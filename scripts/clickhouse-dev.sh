#!/usr/bin/env bash
# Run a throwaway ClickHouse server on loopback for tests and development.
#
#   scripts/clickhouse-dev.sh start   install (Debian's clickhouse-server, if
#                                     missing) and start on 127.0.0.1:19000
#   scripts/clickhouse-dev.sh stop    stop it and delete its data
#
# Then: CLICKHOUSE_ADDR=127.0.0.1:19000 make test
set -euo pipefail

PORT="${CLICKHOUSE_PORT:-19000}"
HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-18123}"
DIR="${CLICKHOUSE_DIR:-${TMPDIR:-/tmp}/carecrest-clickhouse}"

need_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install() {
  if command -v clickhouse-server >/dev/null 2>&1; then return; fi
  echo "installing clickhouse-server from Debian..." >&2
  need_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
}

ready() {
  clickhouse-client --host 127.0.0.1 --port "$PORT" -q 'SELECT 1' >/dev/null 2>&1
}

ours() {
  [ -f "$DIR/pid" ] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null
}

start() {
  install
  if ready; then
    if ours; then echo "ClickHouse already running on 127.0.0.1:$PORT (data in $DIR)" >&2; return; fi
    echo "port $PORT answers but is not this script's server: stop it or set CLICKHOUSE_PORT" >&2
    exit 1
  fi
  mkdir -p "$DIR"/{data,tmp,user_files,format_schemas}
  config=/etc/clickhouse-server/config.xml
  (
    cd "$DIR"
    nohup clickhouse-server --config-file="$config" -- \
      --path="$DIR/data/" --tmp_path="$DIR/tmp/" --user_files_path="$DIR/user_files/" \
      --format_schema_path="$DIR/format_schemas/" \
      --logger.log="$DIR/server.log" --logger.errorlog="$DIR/error.log" \
      --listen_host=127.0.0.1 --tcp_port="$PORT" --http_port="$HTTP_PORT" \
      >"$DIR/stdout.log" 2>&1 &
    echo $! >"$DIR/pid" # the server's own pid, so stop() can wait for it
  )
  for _ in $(seq 1 60); do
    if ready; then
      echo "ClickHouse $(clickhouse-client --port "$PORT" -q 'SELECT version()') on 127.0.0.1:$PORT (data in $DIR)" >&2
      return
    fi
    sleep 0.5
  done
  echo "ClickHouse did not start; see $DIR/error.log" >&2
  tail -20 "$DIR/error.log" >&2 || true
  exit 1
}

stop() {
  if [ -f "$DIR/pid" ]; then
    pid="$(cat "$DIR/pid")"
    kill "$pid" 2>/dev/null || true
    # ClickHouse can take a while to shut down; never delete its data under it.
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    fi
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
