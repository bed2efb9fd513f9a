#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL server on a loopback port, for the store contract tests.
#   eval "$(scripts/postgres.sh start)"   # installs Debian's postgresql if missing, prints
#                                        # export SUANCHOU_TEST_POSTGRES_URL=...
#   scripts/postgres.sh stop
# The data directory lives under $PGTEST_DIR (default /tmp/suanchou-pgtest) and is recreated on
# every start, so each test run begins from an empty server.
set -euo pipefail
PGTEST_DIR=${PGTEST_DIR:-/tmp/suanchou-pgtest}
PGTEST_PORT=${PGTEST_PORT:-55432}

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local bin
  if ! bin=$(find_bin); then
    if [ "$(id -u)" = 0 ]; then
      echo "postgres.sh: installing Debian's postgresql" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
      bin=$(find_bin)
    else
      echo "postgres.sh: PostgreSQL is not installed and we are not root" >&2
      exit 1
    fi
  fi
  stop >/dev/null 2>&1 || true
  rm -rf "$PGTEST_DIR"
  mkdir -p "$PGTEST_DIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$PGTEST_DIR"
  as_pg "$bin/initdb" -D "$PGTEST_DIR/data" -U suanchou --auth=trust -E UTF8 --locale=C.UTF-8 >&2
  as_pg "$bin/pg_ctl" -D "$PGTEST_DIR/data" -l "$PGTEST_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PGTEST_PORT -k $PGTEST_DIR -c fsync=off" start >&2
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$PGTEST_PORT" -U suanchou suanchou_test >&2
  echo "export SUANCHOU_TEST_POSTGRES_URL=postgresql+psycopg://suanchou@127.0.0.1:$PGTEST_PORT/suanchou_test"
}

stop() {
  local bin
  bin=$(find_bin) || return 0
  [ -d "$PGTEST_DIR/data" ] || return 0
  as_pg "$bin/pg_ctl" -D "$PGTEST_DIR/data" -m fast -w stop >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
