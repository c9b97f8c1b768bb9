#!/usr/bin/env bash
# Run the drivers' own test suites (pgx v5 and lib/pq, the versions in go.mod)
# directly against PostgreSQL and through the pooler in session and
# transaction mode, and report what fails only through the pooler.
#
#   scripts/driver-suites/run.sh                     # build odyssey from git HEAD
#   scripts/driver-suites/run.sh --pooler ./bin/odyssey
#   ODYSSEY_BIN=./bin/odyssey SUITES=pgx TARGETS="direct transaction" \
#       scripts/driver-suites/run.sh -- -run 'TestConnect|TestPgbouncer'
#
# Options (environment variable in brackets):
#   --pooler BIN      pooler binary [ODYSSEY_BIN]; default: build a clean
#                     snapshot of git HEAD (git archive) in a temp dir
#   --suites LIST     "pgx pq" [SUITES]
#   --targets LIST    "direct session transaction" [TARGETS]; "statement"
#                     is accepted too
#   --results DIR     where logs and the summary go [RESULTS_DIR];
#                     default /tmp/driver-suites/<timestamp>
#   --timeout D       go test -timeout, per test binary [TEST_TIMEOUT=5m]; the
#                     slowest package (pgx/pgconn) takes about 35s directly
#                     and 2-2.5m through the pooler. A package
#                     whose binary hangs or panics is rerun without the
#                     tests to blame, up to RERUNS (3) times
#   --run-timeout D   hard limit for one whole `go test ./...` [RUN_TIMEOUT=40m]
#   --confirm N       run each test that failed only through the pooler again
#                     alone, N times (-count), through the pooler and
#                     directly, to tell steady failures from flaky ones or
#                     ones that need the rest of the suite [CONFIRM=3]; 0: off;
#                     these runs get -timeout CONFIRM_TIMEOUT (2m)
#   --pq-binary LIST  lib/pq PQTEST_BINARY_PARAMETERS values to run, "no",
#                     "yes" or "no yes" [PQ_BINARY="no yes"]; each value is a
#                     suite of its own (pq, pq-binary)
#   --no-tls          PostgreSQL and the pooler without TLS [TLS=yes]; with
#                     TLS both use lib/pq's test certificates (server name
#                     "postgres"), as lib/pq's CI does, and the pq runs see
#                     the names postgres and postgres-invalid resolve to
#                     127.0.0.1 (a private /etc/hosts in a mount namespace)
#   --keep            keep the temp dir (PostgreSQL data, configs, sources)
#   -- ARGS           passed to every `go test` (e.g. -run REGEX)
# Other knobs: TX_POOL_SIZE (40), SESSION_POOL_SIZE (0 = unlimited),
# GO_TEST_P (packages at once, 1), PG_BIN (/usr/lib/postgresql/15/bin).
#
# The machine's package cache must hold the drivers' module sources (it does
# once the project has been built); their test dependencies are fetched with
# the ordinary go command if missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

ODYSSEY_BIN=${ODYSSEY_BIN:-}
SUITES=${SUITES:-pgx pq}
TARGETS=${TARGETS:-direct session transaction}
RESULTS_DIR=${RESULTS_DIR:-}
TEST_TIMEOUT=${TEST_TIMEOUT:-5m}
RERUNS=${RERUNS:-3}
CONFIRM=${CONFIRM:-3}
CONFIRM_TIMEOUT=${CONFIRM_TIMEOUT:-2m}
RUN_TIMEOUT=${RUN_TIMEOUT:-40m}
PQ_BINARY=${PQ_BINARY:-no yes}
TX_POOL_SIZE=${TX_POOL_SIZE:-40}
SESSION_POOL_SIZE=${SESSION_POOL_SIZE:-0}
GO_TEST_P=${GO_TEST_P:-1}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
KEEP=${KEEP:-}
TLS=${TLS:-yes}
EXTRA_ARGS=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case "$1" in
	--pooler) ODYSSEY_BIN=$2; shift 2 ;;
	--suites) SUITES=$2; shift 2 ;;
	--targets) TARGETS=$2; shift 2 ;;
	--results) RESULTS_DIR=$2; shift 2 ;;
	--timeout) TEST_TIMEOUT=$2; shift 2 ;;
	--reruns) RERUNS=$2; shift 2 ;;
	--confirm) CONFIRM=$2; shift 2 ;;
	--run-timeout) RUN_TIMEOUT=$2; shift 2 ;;
	--pq-binary) PQ_BINARY=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--no-tls) TLS=no; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; EXTRA_ARGS=("$@"); break ;;
	*) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
done

for t in $TARGETS; do
	case $t in direct | session | transaction | statement) ;; *) echo "unknown target: $t" >&2; exit 2 ;; esac
done
for s in $SUITES; do
	case $s in pgx | pq) ;; *) echo "unknown suite: $s" >&2; exit 2 ;; esac
done
for b in $PQ_BINARY; do
	case $b in no | yes) ;; *) echo "PQ_BINARY takes no and/or yes, not $b" >&2; exit 2 ;; esac
done

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v go >/dev/null || die "go not found"
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL binaries not found in $PG_BIN (set PG_BIN)"

if [ -z "$RESULTS_DIR" ]; then
	RESULTS_DIR=/tmp/driver-suites/$(date +%Y%m%d-%H%M%S)
fi
mkdir -p "$RESULTS_DIR"
RESULTS_DIR=$(cd "$RESULTS_DIR" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/driver-suites.XXXXXX")
chmod 755 "$WORK"
PGDATA=$WORK/pgdata
PGSOCK=$WORK/pgsock
PG_STARTED=""
declare -A POOLER_PID=() POOLER_PORT=() POOLER_SOCK=()
TEST_PID=""

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$TEST_PID" ] && kill -0 "$TEST_PID" 2>/dev/null; then
		# `timeout` made itself a process-group leader: this ends go test
		# and the test binary it runs.
		kill -TERM -- "-$TEST_PID" 2>/dev/null || true
		sleep 1
		kill -KILL -- "-$TEST_PID" 2>/dev/null || true
	fi
	local m
	for m in "${!POOLER_PID[@]}"; do
		stop_pooler "$m"
	done
	if [ -n "$PG_STARTED" ]; then
		as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	[ -f "$WORK/postgres.log" ] && cp "$WORK/postgres.log" "$RESULTS_DIR/postgres.log" 2>/dev/null
	if [ -n "$KEEP" ]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null && return
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

# ---------------------------------------------------------------- the pooler

HEAD_COMMIT=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
if [ -z "$ODYSSEY_BIN" ]; then
	log "building odyssey from a clean snapshot of HEAD ($HEAD_COMMIT)"
	mkdir -p "$WORK/src"
	git -C "$REPO" archive HEAD | tar -x -C "$WORK/src"
	(cd "$WORK/src" && go build -o "$WORK/odyssey" ./cmd/odyssey) || die "go build failed"
	rm -rf "$WORK/src"
	ODYSSEY_BIN=$WORK/odyssey
	POOLER_DESC="built from HEAD $HEAD_COMMIT"
else
	[ -x "$ODYSSEY_BIN" ] || die "not an executable: $ODYSSEY_BIN"
	ODYSSEY_BIN=$(cd "$(dirname "$ODYSSEY_BIN")" && pwd)/$(basename "$ODYSSEY_BIN")
	POOLER_DESC="given: $ODYSSEY_BIN"
fi

# ------------------------------------------------------- the drivers' sources

MODCACHE=$(go env GOMODCACHE)
mod_version() { (cd "$REPO" && go list -m -f '{{.Version}}' "$1"); }
PGX_VERSION=$(mod_version github.com/jackc/pgx/v5)
PQ_VERSION=$(mod_version github.com/lib/pq)
PGX_SRC=$MODCACHE/github.com/jackc/pgx/v5@$PGX_VERSION
PQ_SRC=$MODCACHE/github.com/lib/pq@$PQ_VERSION

copy_module() { # src dst
	[ -d "$1" ] || (cd "$REPO" && go mod download "$(basename "$(dirname "$1")")" >/dev/null 2>&1) || true
	[ -d "$1" ] || die "module sources not in the module cache: $1 (go mod download in $REPO)"
	cp -r "$1" "$2"
	chmod -R u+w "$2"
}

# ----------------------------------------------------------------- PostgreSQL

PG_PORT=$(free_port)
log "starting PostgreSQL ($("$PG_BIN/postgres" --version)) on 127.0.0.1:$PG_PORT"
mkdir -p "$PGSOCK"
[ "$(id -u)" = 0 ] && chown postgres "$WORK" "$PGSOCK"
as_pg "$PG_BIN/initdb" -D "$PGDATA" -A trust -U postgres --no-sync -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1 ||
	{ cat "$WORK/initdb.log" >&2; die "initdb failed"; }
# The drivers' CI authenticate some users with passwords over TCP; the
# pooler then logs in with the rule's password. lib/pq's pqgossl and
# pqgosslcert must come with TLS (pqgosslcert with a client certificate).
# Everyone else is trusted.
{
	cat <<'EOF'
local all all                         trust
host  all pgx_md5      127.0.0.1/32   md5
host  all pgx_scram    127.0.0.1/32   scram-sha-256
host  all pgx_pw       127.0.0.1/32   password
host  all pqgomd5      127.0.0.1/32   md5
host  all pqgopassword 127.0.0.1/32   password
host  all pqgoscram    127.0.0.1/32   scram-sha-256
EOF
	if [ "$TLS" = yes ]; then
		cat <<'EOF'
hostnossl all pqgossl     127.0.0.1/32 reject
hostnossl all pqgosslcert 127.0.0.1/32 reject
hostssl   all pqgossl     127.0.0.1/32 trust
hostssl   all pqgosslcert 127.0.0.1/32 cert
EOF
	fi
	echo "host  all all          127.0.0.1/32   trust"
} >"$WORK/pg_hba.conf"
PG_OPTS="-p $PG_PORT -k $PGSOCK -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
CERTS=$WORK/certs
if [ "$TLS" = yes ]; then
	# lib/pq's test certificates: server.crt is for the name "postgres",
	# postgresql.crt is the client certificate of pqgosslcert.
	mkdir -p "$CERTS"
	cp "$PQ_SRC"/testdata/ssl/{server.crt,server.key,root.crt,postgresql.crt,postgresql.key} "$CERTS/"
	chmod 644 "$CERTS"/*.crt
	chmod 600 "$CERTS"/*.key
	PG_OPTS="$PG_OPTS -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c ssl_ca_file=root.crt"
fi
if [ "$(id -u)" = 0 ]; then
	install -o postgres -m 600 "$WORK/pg_hba.conf" "$PGDATA/pg_hba.conf"
	touch "$WORK/postgres.log" && chown postgres "$WORK/postgres.log"
else
	cp "$WORK/pg_hba.conf" "$PGDATA/pg_hba.conf"
fi
if [ "$TLS" = yes ]; then
	for f in server.crt server.key root.crt; do
		if [ "$(id -u)" = 0 ]; then
			install -o postgres -m 600 "$CERTS/$f" "$PGDATA/$f"
		else
			install -m 600 "$CERTS/$f" "$PGDATA/$f"
		fi
	done
fi
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$WORK/postgres.log" -w -t 60 -o "$PG_OPTS" \
	start >/dev/null || { cat "$WORK/postgres.log" >&2; die "PostgreSQL did not start"; }
PG_STARTED=1

psql_pg() { # db, then psql args
	local db=$1
	shift
	PGOPTIONS= psql -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PG_PORT" -U postgres -d "$db" "$@"
}

# pgx: what ci/setup_test.bash does (testsetup/postgresql_setup.sql), which
# also creates a superuser named after the OS user for the unix socket test.
psql_pg postgres -c "create database pgx_test"
psql_pg pgx_test -f "$PGX_SRC/testsetup/postgresql_setup.sql" >"$WORK/setup-pgx.log" 2>&1 ||
	{ cat "$WORK/setup-pgx.log" >&2; die "pgx database setup failed"; }
# lib/pq: what its compose file does (POSTGRES_USER=pqgo, database pqgo, and
# testdata/postgres/docker-entrypoint-initdb.d/20-config.sql, whose ALTER
# SYSTEM ssl settings are the -c ssl options above).
psql_pg postgres >"$WORK/setup-pq.log" 2>&1 <<'EOF' || { cat "$WORK/setup-pq.log" >&2; die "lib/pq database setup failed"; }
create role pqgo with login superuser password 'unused';
create database pqgo owner pqgo;
create role pqgossl      with login nocreatedb nocreaterole nosuperuser;
create role pqgosslcert  with login nocreatedb nocreaterole nosuperuser;
create role pqgopassword with login nocreatedb nocreaterole nosuperuser password 'wordpass';
create role pqgoscram    with login nocreatedb nocreaterole nosuperuser password 'wordpass';
create role pqgomd5      with login nocreatedb nocreaterole nosuperuser password 'wordpass';
update pg_authid set rolpassword = 'md5' || md5('wordpasspqgomd5') where rolname = 'pqgomd5';
EOF

# -------------------------------------------------------------- pooler config

pool_settings() { # mode
	case $1 in
	session)
		printf '\t\tpool "session"\n\t\tpool_size %s\n\t\tpool_discard yes\n' "$SESSION_POOL_SIZE" ;;
	transaction | statement)
		printf '\t\tpool "%s"\n\t\tpool_size %s\n\t\tpool_discard no\n' "$1" "$TX_POOL_SIZE" ;;
	esac
	printf '\t\tpool_timeout 30000\n\t\tpool_rollback yes\n\t\tpool_cancel yes\n'
}

user_rule() { # mode name auth password [conn-type [storage]]
	local name=\"$2\"
	[ "$2" = default ] && name=default
	printf '\tuser %s %s{\n\t\tauthentication "%s"\n' "$name" "${5:+$5 }" "$3"
	[ -n "$4" ] && printf '\t\tpassword "%s"\n' "$4"
	printf '\t\tstorage "%s"\n' "${6:-pg}"
	pool_settings "$1"
	printf '\t}\n'
}

write_pooler_conf() { # mode port sockdir
	local mode=$1 port=$2 sock=$3
	{
		cat <<EOF
# Written by scripts/driver-suites/run.sh for the $mode target.
log_format "%p %t %l [%i %s] (%c) %m\n"
log_to_stdout no
log_file "$RESULTS_DIR/odyssey-$mode.log"
log_session no
log_query no
log_stats no
unix_socket_dir "$sock"
unix_socket_mode "0777"
EOF
		if [ "$TLS" = yes ]; then
			# The pooler refuses pqgossl and pqgosslcert without TLS, as
			# PostgreSQL's pg_hba.conf above does.
			cat >"$WORK/pooler-hba-$mode.conf" <<'EOF'
hostnossl all pqgossl     all reject
hostnossl all pqgosslcert all reject
host      all all         all trust
local     all all             trust
EOF
			echo "hba_file \"$WORK/pooler-hba-$mode.conf\""
		fi
		cat <<EOF

listen {
	host "127.0.0.1"
	port $port
EOF
		if [ "$TLS" = yes ]; then
			cat <<EOF
	tls "allow"
	tls_cert_file "$CERTS/server.crt"
	tls_key_file "$CERTS/server.key"
	tls_ca_file "$CERTS/root.crt"
EOF
		fi
		cat <<EOF
}
listen {
	port $port
}

storage "pg" {
	type "remote"
	host "127.0.0.1"
	port $PG_PORT
}
EOF
		if [ "$TLS" = yes ]; then
			cat <<EOF
# For lib/pq's pqgossl and pqgosslcert, which PostgreSQL accepts only over
# TLS (pqgosslcert with its client certificate).
storage "pg_tls" {
	type "remote"
	host "127.0.0.1"
	port $PG_PORT
	tls "require"
	tls_cert_file "$CERTS/postgresql.crt"
	tls_key_file "$CERTS/postgresql.key"
}
EOF
		fi
		cat <<EOF

# The users the drivers' CI authenticate with passwords are checked by the
# pooler with the same method (and it logs in to PostgreSQL with the
# password); everyone else is trusted, as PostgreSQL trusts them.
database default {
EOF
		if [ "$TLS" = yes ]; then
			# Only over TLS (hba_file refuses them without it).
			user_rule "$mode" pqgossl none "" hostssl pg_tls
			user_rule "$mode" pqgosslcert cert "" hostssl pg_tls
		fi
		user_rule "$mode" pgx_md5 md5 secret
		user_rule "$mode" pgx_scram scram-sha-256 secret
		user_rule "$mode" pgx_pw clear_text secret
		user_rule "$mode" pqgomd5 md5 wordpass
		user_rule "$mode" pqgopassword clear_text wordpass
		user_rule "$mode" pqgoscram scram-sha-256 wordpass
		user_rule "$mode" default none ""
		echo "}"
	} >"$WORK/odyssey-$mode.conf"
	cp "$WORK/odyssey-$mode.conf" "$RESULTS_DIR/odyssey-$mode.conf"
}

start_pooler() { # mode
	local mode=$1 port sock i
	port=${POOLER_PORT[$mode]:-$(free_port)}
	sock=$WORK/sock-$mode
	mkdir -p "$sock"
	write_pooler_conf "$mode" "$port" "$sock"
	"$ODYSSEY_BIN" --test "$WORK/odyssey-$mode.conf" >"$WORK/odyssey-$mode.test" 2>&1 ||
		{ cat "$WORK/odyssey-$mode.test" >&2; die "odyssey --test rejected the $mode config"; }
	"$ODYSSEY_BIN" "$WORK/odyssey-$mode.conf" >>"$RESULTS_DIR/odyssey-$mode.stdout" 2>&1 &
	POOLER_PID[$mode]=$!
	POOLER_PORT[$mode]=$port
	POOLER_SOCK[$mode]=$sock
	for i in $(seq 1 100); do
		if psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
			log "pooler ($mode) pid ${POOLER_PID[$mode]} on 127.0.0.1:$port and $sock"
			return 0
		fi
		kill -0 "${POOLER_PID[$mode]}" 2>/dev/null || break
		sleep 0.2
	done
	tail -n 20 "$RESULTS_DIR/odyssey-$mode.log" "$RESULTS_DIR/odyssey-$mode.stdout" >&2 2>/dev/null || true
	die "pooler ($mode) did not come up"
}

stop_pooler() { # mode
	local pid=${POOLER_PID[$1]:-} i
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	unset "POOLER_PID[$1]"
}

for t in $TARGETS; do
	[ "$t" = direct ] || start_pooler "$t"
done

# ------------------------------------------------------------------- the runs

RUNS_FILE=$RESULTS_DIR/runs.tsv
printf 'suite\ttarget\tjson\texit\tseconds\tpooler_log_from\tpooler_log_to\tpooler_died\n' >"$RUNS_FILE"

{
	echo "date: $(date -Is)"
	echo "pooler: $POOLER_DESC"
	echo "repo HEAD: $HEAD_COMMIT"
	echo "go: $(go version)"
	echo "postgres: $("$PG_BIN/postgres" --version) on 127.0.0.1:$PG_PORT"
	echo "pgx: $PGX_VERSION ($PGX_SRC)"
	echo "lib/pq: $PQ_VERSION ($PQ_SRC)"
	echo "suites: $SUITES; pq binary_parameters: $PQ_BINARY; targets: $TARGETS"
	echo "go test: -json -count=1 -vet=off -p $GO_TEST_P -timeout $TEST_TIMEOUT ${EXTRA_ARGS[*]:-}"
	echo "transaction pool_size: $TX_POOL_SIZE; session pool_size: $SESSION_POOL_SIZE"
	echo "TLS: $TLS"
} >"$RESULTS_DIR/env.txt"

target_host_port() { # target -> "host port sockdir"
	if [ "$1" = direct ]; then
		echo "127.0.0.1 $PG_PORT $PGSOCK"
	else
		echo "127.0.0.1 ${POOLER_PORT[$1]} ${POOLER_SOCK[$1]}"
	fi
}

# A clean environment for go test: none of the caller's PG*/PGX_*/PQ* vars.
clean_env() {
	local v
	for v in $(env | sed -n 's/^\(PG[A-Z0-9_]*\|PQ[A-Z0-9_]*\)=.*/\1/p'); do
		unset "$v"
	done
}

# go_test SUITE HOST PORT SOCK OUT ERR ARGS...: go test -json ARGS in the
# suite's copy with the suite's environment for that address, in the
# background (TEST_PID), waited for; returns go test's exit code.
go_test() {
	local suite=$1 host=$2 port=$3 sock=$4 out=$5 err=$6 rc
	shift 6
	(
		clean_env
		case $suite in
		pgx)
			cd "$WORK/pgx"
			local cs="host=$host port=$port dbname=pgx_test"
			export PGX_TEST_DATABASE="$cs user=pgx_md5 password=secret"
			export PGX_TEST_TCP_CONN_STRING="$cs user=pgx_md5 password=secret"
			export PGX_TEST_MD5_PASSWORD_CONN_STRING="$cs user=pgx_md5 password=secret"
			export PGX_TEST_PLAIN_PASSWORD_CONN_STRING="$cs user=pgx_pw password=secret"
			export PGX_TEST_SCRAM_PASSWORD_CONN_STRING="$cs user=pgx_scram password=secret channel_binding=disable"
			export PGX_TEST_UNIX_SOCKET_CONN_STRING="host=$sock port=$port dbname=pgx_test"
			# pgx's transaction-pooler tests (TestPgbouncer*, the pgbouncer
			# case of TestConnContextCanceledCancelsRunningQueryOnServer): run
			# against every target, so "direct" is their baseline.
			export PGX_TEST_PGBOUNCER_CONN_STRING="$cs user=pgx_md5 password=secret"
			;;
		pq | pq-binary)
			cd "$WORK/pq"
			# localhost, not 127.0.0.1: TestNewConnector and TestService
			# expect the host they get from PGHOST to read "localhost".
			export PGHOST=localhost PGPORT=$port PGUSER=pqgo PGDATABASE=pqgo PGSSLMODE=disable
			if [ "$suite" = pq-binary ]; then
				export PQTEST_BINARY_PARAMETERS=yes
			else
				export PQTEST_BINARY_PARAMETERS=no
			fi
			;;
		esac
		# timeout makes itself a process-group leader, so the EXIT trap can
		# end go test and its test binary together.
		cmd=(timeout -k 30s "$RUN_TIMEOUT" go test -json -count=1 -vet=off -p "$GO_TEST_P"
			-timeout "$TEST_TIMEOUT" "$@")
		if [ "$suite" != pgx ] && [ -n "$HOSTS_NS" ]; then
			# lib/pq's TLS tests connect to "postgres" and "postgres-invalid".
			exec unshare -m --propagation private sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$WORK/hosts" "${cmd[@]}"
		fi
		exec "${cmd[@]}"
	) >"$out" 2>"$err" &
	TEST_PID=$!
	set +e
	wait "$TEST_PID"
	rc=$?
	set -e
	TEST_PID=""
	return $rc
}

run_suite() { # suite target
	local suite=$1 target=$2 host port sock name json rc start secs from to died=no n pkg skip
	read -r host port sock < <(target_host_port "$target")
	name=$suite-$target
	json=$RESULTS_DIR/$name.json
	# Reruns are found by name: none may be left from an earlier run here.
	rm -f "$RESULTS_DIR/$name".*
	from=0
	[ "$target" != direct ] && from=$(wc -l <"$RESULTS_DIR/odyssey-$target.log" 2>/dev/null || echo 0)
	log "running $name (via $host:$port)"
	start=$(date +%s)
	rc=0
	local args=("${EXTRA_ARGS[@]}")
	# lib/pq's Example_openConfig connects to localhost:5432 whatever the
	# environment says, and its log.Fatal ends the test binary: skipped.
	case $suite in pq | pq-binary) args=(-skip '^Example_openConfig$' "${args[@]}") ;; esac
	go_test "$suite" "$host" "$port" "$sock" "$json" "$RESULTS_DIR/$name.stderr" "${args[@]}" ./... || rc=$?
	[ $rc = 124 ] && log "$name: hit RUN_TIMEOUT ($RUN_TIMEOUT), killed"
	# A test binary that hung (-timeout) or panicked took the rest of its
	# package with it: rerun such packages without the tests to blame, at
	# most RERUNS times.
	n=0
	while [ $rc != 124 ] && [ "$n" -lt "$RERUNS" ]; do
		local files=("$json")
		local i
		for ((i = 1; i <= n; i++)); do files+=("$RESULTS_DIR/$name.rerun$i.json"); done
		local todo
		todo=$("$REPORT_BIN" -culprits "${files[@]}") || break
		[ -n "$todo" ] || break
		n=$((n + 1))
		: >"$RESULTS_DIR/$name.rerun$n.json"
		while IFS=$'\t' read -r pkg skip; do
			log "$name: rerunning $pkg without $skip (hung or panicked)"
			local r=0
			go_test "$suite" "$host" "$port" "$sock" "$RESULTS_DIR/$name.rerun$n.part" "$RESULTS_DIR/$name.rerun$n.stderr" \
				"${EXTRA_ARGS[@]}" -skip "$skip" "$pkg" || r=$?
			cat "$RESULTS_DIR/$name.rerun$n.part" >>"$RESULTS_DIR/$name.rerun$n.json"
			rm -f "$RESULTS_DIR/$name.rerun$n.part"
			[ $r = 124 ] && { rc=124; log "$name: rerun hit RUN_TIMEOUT"; break; }
		done <<<"$todo"
	done
	secs=$(($(date +%s) - start))
	to=0
	if [ "$target" != direct ]; then
		to=$(wc -l <"$RESULTS_DIR/odyssey-$target.log" 2>/dev/null || echo 0)
		if ! kill -0 "${POOLER_PID[$target]}" 2>/dev/null; then
			died=yes
			log "pooler ($target) DIED during $name; restarting it"
			wait "${POOLER_PID[$target]}" 2>/dev/null || true
			unset "POOLER_PID[$target]"
			start_pooler "$target"
		fi
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$suite" "$target" "$(basename "$json")" "$rc" "$secs" "$from" "$to" "$died" >>"$RUNS_FILE"
	log "$name done in ${secs}s (go test exit $rc)"
}

# lib/pq's CI maps postgres and postgres-invalid to 127.0.0.1 in /etc/hosts;
# here that happens in a private mount namespace of the pq runs only.
HOSTS_NS=""
if [ "$TLS" = yes ]; then
	{ cat /etc/hosts; echo "127.0.0.1 postgres postgres-invalid"; } >"$WORK/hosts"
	if unshare -m --propagation private sh -c 'mount --bind "$0" /etc/hosts && getent hosts postgres-invalid' "$WORK/hosts" >/dev/null 2>&1; then
		HOSTS_NS=1
	else
		log "warning: cannot bind-mount a private /etc/hosts (needs root and unshare); lib/pq's tests that connect to host \"postgres\" fail on every target"
	fi
fi

SUITE_ORDER=()
for s in $SUITES; do
	case $s in
	pgx)
		copy_module "$PGX_SRC" "$WORK/pgx"
		SUITE_ORDER+=(pgx)
		;;
	pq)
		copy_module "$PQ_SRC" "$WORK/pq"
		for b in $PQ_BINARY; do
			if [ "$b" = yes ]; then SUITE_ORDER+=(pq-binary); else SUITE_ORDER+=(pq); fi
		done
		;;
	esac
done

# The report tool, in a module of its own so that the project's go.mod
# (maybe mid-edit) does not matter.
mkdir -p "$WORK/report"
cp "$HERE/report.go" "$WORK/report/report.go"
printf 'module driversuitesreport\n\ngo 1.21\n' >"$WORK/report/go.mod"
(cd "$WORK/report" && go build -o report report.go) || die "building report.go failed"
REPORT_BIN=$WORK/report/report

# Compile the test binaries once up front, so that a missing dependency
# shows up here and not as a failed run, and build time is not run time.
for s in $SUITES; do
	log "fetching test dependencies and compiling the $s tests"
	(cd "$WORK/$s" && go test -count=1 -vet=off -exec /bin/true ./... >"$WORK/compile-$s.log" 2>&1) ||
		log "warning: compiling the $s tests reported errors (see the runs' stderr)"
done

for s in "${SUITE_ORDER[@]}"; do
	for t in $TARGETS; do
		run_suite "$s" "$t"
	done
done

# A failure seen once may be a flake: run the pooler-only failures again
# alone, through the pooler and directly.
if [ "$CONFIRM" -gt 0 ]; then
	"$REPORT_BIN" -dir "$RESULTS_DIR" -confirm-list >"$WORK/confirm.tsv" || : >"$WORK/confirm.tsv"
	TEST_TIMEOUT=$CONFIRM_TIMEOUT # a test alone takes seconds; a hang should not cost 5m
	while IFS=$'\t' read -r suite target pkg pattern; do
		[ -n "$pkg" ] || continue
		for t in "$target" direct; do
			if [ "$t" = direct ]; then
				out=$RESULTS_DIR/$suite-direct.confirm-$target.json
			else
				out=$RESULTS_DIR/$suite-$target.confirm.json
			fi
			read -r host port sock < <(target_host_port "$t")
			log "again alone ($CONFIRM times), $suite on $t: $pkg $pattern"
			go_test "$suite" "$host" "$port" "$sock" "$out.part" "$out.stderr" \
				-run "$pattern" -count "$CONFIRM" "$pkg" || true
			cat "$out.part" >>"$out"
			rm -f "$out.part"
		done
	done <"$WORK/confirm.tsv"
fi

# ----------------------------------------------------------------- the report

log "writing the report"
"$REPORT_BIN" -dir "$RESULTS_DIR" -pqsrc "$PQ_SRC" | tee "$RESULTS_DIR/summary.txt"
echo
echo "results: $RESULTS_DIR"
