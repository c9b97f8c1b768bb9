#!/usr/bin/env bash
# Build odyssey and run it in front of PostgreSQL with an example config.
#
#   scripts/run.sh                  # transaction pooling (examples/transaction.conf)
#   MODE=session scripts/run.sh     # or statement
#   PORT=7432 scripts/run.sh        # the pooler's port (default 6432)
#
# PostgreSQL: with PG_PORT (and optionally PG_HOST) set, that server is used.
# Otherwise a throwaway cluster is created in a temp dir (initdb, trust auth,
# user "postgres"), started on 127.0.0.1:TMP_PG_PORT (default: a free port
# between 20000 and 29999), and removed on exit. As root the cluster runs as
# the "postgres" OS user, since PostgreSQL refuses root.
#
# The psql lines are printed once the pooler listens. Needs bash, coreutils
# and PostgreSQL's server binaries; nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-transaction}
PORT=${PORT:-6432}
CONF_TEMPLATE=examples/$MODE.conf
LISTEN_HOST=127.0.0.1 # the examples' listen host
START_TIMEOUT=15      # seconds for the pooler to listen

die() {
	echo "run.sh: $*" >&2
	exit 1
}

[ -f "$CONF_TEMPLATE" ] || die "no such example: $CONF_TEMPLATE (MODE is session, transaction or statement)"
is_port() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
is_port "$PORT" || die "PORT=$PORT is not a TCP port"

# in_use PORT: something accepts connections on 127.0.0.1:PORT. A plain
# connect and close (bash's /dev/tcp), bounded by timeout.
in_use() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Checked before anything is built or started, so that a taken port is one
# clear message.
in_use "$PORT" && die "port $PORT on $LISTEN_HOST is already in use (another odyssey or PostgreSQL?); choose another with PORT=, e.g. PORT=$((PORT + 1)) make run"
if [ -n "${PG_PORT:-}" ]; then
	is_port "$PG_PORT" || die "PG_PORT=$PG_PORT is not a TCP port"
	[ -z "${TMP_PG_PORT:-}" ] || echo "run.sh: PG_PORT is set, so TMP_PG_PORT (the throwaway cluster's port) is ignored" >&2
elif [ -n "${TMP_PG_PORT:-}" ]; then
	is_port "$TMP_PG_PORT" || die "TMP_PG_PORT=$TMP_PG_PORT is not a TCP port"
	[ "$TMP_PG_PORT" != "$PORT" ] || die "TMP_PG_PORT and PORT are both $PORT; the pooler and PostgreSQL need a port each"
	in_use "$TMP_PG_PORT" && die "TMP_PG_PORT=$TMP_PG_PORT is already in use; choose another, or leave TMP_PG_PORT unset for a free one"
fi

mkdir -p bin
go build -o bin/odyssey ./cmd/odyssey

WORK=$(mktemp -d "${TMPDIR:-/tmp}/odyssey-dev.XXXXXX")
chmod 755 "$WORK"
PGBIN=""
ODY=""
cleanup() {
	if [ -n "$ODY" ] && kill -0 "$ODY" 2>/dev/null; then
		kill -TERM "$ODY" 2>/dev/null || true
		wait "$ODY" 2>/dev/null || true
	fi
	if [ -n "$PGBIN" ] && [ -f "$WORK/data/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# start_pg PORT: start the throwaway cluster on PORT. Returns 0 when it
# runs, 1 when the port was taken, and fails the script otherwise.
start_pg() {
	local port=$1 before
	before=$(wc -l <"$WORK/postgres.log")
	if as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -w -t 60 \
		-o "-p $port -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null 2>&1; then
		return 0
	fi
	if tail -n +"$((before + 1))" "$WORK/postgres.log" | grep -q 'could not bind\|could not create any TCP/IP sockets\|Address already in use'; then
		return 1
	fi
	echo "run.sh: PostgreSQL did not start on port $port; its log ($WORK/postgres.log):" >&2
	tail -n 20 "$WORK/postgres.log" >&2
	exit 1
}

PG_WHAT="PostgreSQL at ${PG_HOST:-127.0.0.1}:${PG_PORT:-}"
if [ -z "${PG_PORT:-}" ]; then
	if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
		PGBIN=$(pg_config --bindir)
	else
		PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	fi
	[ -x "$PGBIN/initdb" ] || die "PostgreSQL server binaries (initdb) not found; install PostgreSQL (Debian: apt-get install postgresql) or set PG_PORT to use a running server"
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || die "as root the throwaway cluster runs as the postgres OS user, and there is none (installing PostgreSQL's package creates it)"
		chown postgres "$WORK"
	fi
	echo "run.sh: creating a throwaway PostgreSQL cluster in $WORK/data"
	as_pg "$PGBIN/initdb" -D "$WORK/data" -A trust -U postgres --no-sync -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1 ||
		{ cat "$WORK/initdb.log" >&2; die "initdb failed"; }
	as_pg touch "$WORK/postgres.log"
	PG_HOST=127.0.0.1
	if [ -n "${TMP_PG_PORT:-}" ]; then
		start_pg "$TMP_PG_PORT" || die "TMP_PG_PORT=$TMP_PG_PORT is already in use; choose another, or leave TMP_PG_PORT unset for a free one"
		PG_PORT=$TMP_PG_PORT
	else
		# No port given: try free-looking ports below Linux's ephemeral range
		# until PostgreSQL binds one.
		for _ in $(seq 1 20); do
			candidate=$((20000 + RANDOM % 10000))
			[ "$candidate" != "$PORT" ] || continue
			in_use "$candidate" && continue
			if start_pg "$candidate"; then
				PG_PORT=$candidate
				break
			fi
		done
		[ -n "${PG_PORT:-}" ] || die "found no free port for PostgreSQL in 20 tries; set TMP_PG_PORT"
	fi
	PG_WHAT="a throwaway PostgreSQL ($("$PGBIN/postgres" --version | awk '{print $3}')) at $PG_HOST:$PG_PORT, data in $WORK/data, removed on exit"
fi
PG_HOST=${PG_HOST:-127.0.0.1}

# The example with this server's address and our port.
CONF=$WORK/odyssey.conf
sed -e "/^storage/,/^}/ s/host \".*\"/host \"$PG_HOST\"/" \
    -e "/^storage/,/^}/ s/port [0-9]*/port $PG_PORT/" \
    -e "/^listen/,/^}/ s/port [0-9]*/port $PORT/" \
    "$CONF_TEMPLATE" >"$CONF"
bin/odyssey --test --silent "$CONF" || die "$CONF_TEMPLATE does not load (above)"

# block_value DATABASE KEYWORD: the first quoted value of KEYWORD in the
# config's database DATABASE block (DATABASE as written: default or "name").
block_value() {
	awk -v db="$1" -v kw="$2" '
		$1 == "database" && $2 == db { inside = 1; next }
		inside && /^}/ { exit }
		inside && $1 == kw { v = $2; gsub(/"/, "", v); print v; exit }
	' "$CONF"
}
# psql_line USER DB PASSWORD: a psql command for the pooler.
psql_line() {
	local pw=""
	[ -z "$3" ] || pw="PGPASSWORD=$3 "
	echo "${pw}psql \"host=$LISTEN_HOST port=$PORT user=$1 dbname=$2\""
}
CONNECT=$(psql_line postgres postgres "$(block_value default password)")
CONSOLE=""
CONSOLE_USER=$(block_value '"console"' user)
if [ -n "$CONSOLE_USER" ]; then
	CONSOLE="$(psql_line "$CONSOLE_USER" console "$(block_value '"console"' password)") -c 'show pools'"
fi

# The pooler's output goes to files until it listens: a start that fails
# (a port taken since the check above, say) is then reported once, not as
# both a log line and a message on stderr.
bin/odyssey "$CONF" >"$WORK/odyssey.out" 2>"$WORK/odyssey.err" &
ODY=$!
deadline=$((SECONDS + START_TIMEOUT))
until in_use "$PORT"; do
	if ! kill -0 "$ODY" 2>/dev/null; then
		status=0
		wait "$ODY" || status=$?
		ODY=""
		msg=$(cat "$WORK/odyssey.err")
		[ -n "$msg" ] || msg=$(tail -n 5 "$WORK/odyssey.out")
		echo "run.sh: odyssey did not start (exit status $status): $msg" >&2
		case $msg in *"address already in use"*)
			echo "run.sh: choose another port with PORT=, e.g. PORT=$((PORT + 1)) make run" >&2 ;;
		esac
		exit 1
	fi
	if [ "$SECONDS" -ge "$deadline" ]; then
		cat "$WORK/odyssey.out" "$WORK/odyssey.err" >&2
		die "odyssey did not listen on $LISTEN_HOST:$PORT within $START_TIMEOUT s (its output is above)"
	fi
	sleep 0.1
done

# What it logged so far, then how to connect, then its output as it comes.
logged=$(stat -c %s "$WORK/odyssey.out")
head -c "$logged" "$WORK/odyssey.out"
cat <<MSG

odyssey ($MODE pooling, $CONF_TEMPLATE) listens on $LISTEN_HOST:$PORT,
in front of $PG_WHAT.

Connect with:

    $CONNECT

Admin console (SHOW POOLS, SHOW STATS, SHOW CLIENTS, ...; see the README):

    ${CONSOLE:-(none in $CONF_TEMPLATE)}

Stop with Ctrl-C.

MSG
tail -c +"$((logged + 1))" -f --pid="$ODY" "$WORK/odyssey.out" &
OUT_TAIL=$!
tail -c +1 -f --pid="$ODY" "$WORK/odyssey.err" >&2 &
ERR_TAIL=$!

# Ctrl-C reaches odyssey too (it shuts down gracefully on SIGINT); SIGTERM
# asks for the same. Either way wait for it, let the tails print its last
# lines, then stop PostgreSQL (cleanup).
stop() {
	trap '' INT TERM
	kill -TERM "$ODY" 2>/dev/null || true
}
trap stop INT TERM
# A trapped signal interrupts wait (status above 128) while odyssey runs on.
while :; do
	wait "$ODY" && status=0 || status=$?
	kill -0 "$ODY" 2>/dev/null || break
done
if [ "$status" -gt 128 ]; then # interrupted as it exited: its own status
	wait "$ODY" 2>/dev/null && status=0 || { s=$?; [ "$s" = 127 ] || status=$s; }
fi
ODY=""
wait "$OUT_TAIL" "$ERR_TAIL" 2>/dev/null || true
exit "$status"
