#!/usr/bin/env bash
# Build odyssey and run it in front of PostgreSQL with an example config.
#
#   scripts/run.sh                  # transaction pooling (examples/transaction.conf)
#   MODE=session scripts/run.sh     # or statement
#
# PostgreSQL: with PG_PORT (and optionally PG_HOST) set, that server is used.
# Otherwise a throwaway cluster is created in a temp dir (initdb, trust auth,
# user "postgres"), started on a free port, and removed on exit. As root the
# cluster runs as the "postgres" OS user, since PostgreSQL refuses root.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-transaction}
PORT=${PORT:-6432}
CONF_TEMPLATE=examples/$MODE.conf
[ -f "$CONF_TEMPLATE" ] || { echo "no such example: $CONF_TEMPLATE" >&2; exit 2; }

mkdir -p bin
go build -o bin/odyssey ./cmd/odyssey

WORK=$(mktemp -d "${TMPDIR:-/tmp}/odyssey-dev.XXXXXX")
chmod 755 "$WORK"
PGBIN=""
cleanup() {
	if [ -n "$PGBIN" ] && [ -f "$WORK/data/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if [ -z "${PG_PORT:-}" ]; then
	if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
		PGBIN=$(pg_config --bindir)
	else
		PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	fi
	[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL server binaries not found; install postgresql or set PG_PORT" >&2; exit 1; }
	[ "$(id -u)" = 0 ] && chown postgres "$WORK"
	PG_HOST=127.0.0.1
	PG_PORT=$(free_port)
	echo "starting a throwaway PostgreSQL on $PG_HOST:$PG_PORT ($WORK/data)"
	as_pg "$PGBIN/initdb" -D "$WORK/data" -A trust -U postgres --no-sync -E UTF8 --locale=C >/dev/null
	as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -w \
		-o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
fi
PG_HOST=${PG_HOST:-127.0.0.1}

# The example with this server's address and our port.
sed -e "/^storage/,/^}/ s/host \".*\"/host \"$PG_HOST\"/" \
    -e "/^storage/,/^}/ s/port [0-9]*/port $PG_PORT/" \
    -e "/^listen/,/^}/ s/port [0-9]*/port $PORT/" \
    "$CONF_TEMPLATE" > "$WORK/odyssey.conf"

cat <<MSG

odyssey ($MODE pooling) is starting with $WORK/odyssey.conf
Connect with:

    psql "host=127.0.0.1 port=$PORT user=postgres dbname=postgres"

(the session and statement examples ask for password "secret")
Stop with Ctrl-C.

MSG
bin/odyssey "$WORK/odyssey.conf" &
ODY=$!
trap 'kill -TERM $ODY 2>/dev/null; wait $ODY; cleanup' INT TERM
wait $ODY
