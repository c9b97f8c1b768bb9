#!/usr/bin/env bash
# What `make test` needs besides Go, checked before the tests run (make test
# calls this first, and CI runs make test):
#
#   - PostgreSQL's server binaries (initdb, postgres; found as
#     internal/testpg finds them: $PG_BINDIR, pg_config --bindir, or the
#     newest /usr/lib/postgresql/*/bin), psql and pgbench on PATH;
#   - OpenLDAP's slapd, for the LDAP tests (internal/testldap);
#   - psycopg 3 for Debian's /usr/bin/python3, and Node.js with npm, for the
#     driver matrix (integration/drivers_test.go; the test runs npm ci
#     itself).
#
# The tests fail, not skip, without them. Run as root, this installs the
# missing Debian packages with apt-get; otherwise it prints what to install
# and exits non-zero before any test runs.
set -euo pipefail

GO=${GO:-go}
pkgs=()  # Debian packages to install
lacks=() # what is missing, for people
want() { # want PACKAGE WHAT
	lacks+=("$2")
	local p
	for p in "${pkgs[@]}"; do [ "$p" != "$1" ] || return 0; done
	pkgs+=("$1")
}

pg_bindir() {
	local dir
	if [ -n "${PG_BINDIR:-}" ]; then
		echo "$PG_BINDIR"
		return
	fi
	if dir=$(pg_config --bindir 2>/dev/null) && [ -x "$dir/initdb" ]; then
		echo "$dir"
		return
	fi
	for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$dir/initdb" ]; then
			echo "$dir"
			return
		fi
	done
}

have_slapd() {
	command -v slapd >/dev/null 2>&1 && return 0
	local p
	for p in /usr/sbin/slapd /usr/local/sbin/slapd /usr/libexec/slapd; do
		[ -x "$p" ] && return 0
	done
	return 1
}

check() {
	pkgs=()
	lacks=()
	[ -n "$(pg_bindir)" ] || want postgresql "PostgreSQL's server binaries (initdb, postgres)"
	command -v psql >/dev/null 2>&1 || want postgresql-client "psql on PATH"
	command -v pgbench >/dev/null 2>&1 || want postgresql "pgbench on PATH"
	if ! have_slapd; then
		want slapd "OpenLDAP's slapd, for the LDAP tests"
		pkgs+=(ldap-utils) # its client tools, to look into a test directory by hand
	fi
	/usr/bin/python3 -c 'import psycopg' >/dev/null 2>&1 ||
		want python3-psycopg "psycopg 3 for /usr/bin/python3, for the driver matrix"
	command -v node >/dev/null 2>&1 || want nodejs "Node.js (20), for the driver matrix"
	command -v npm >/dev/null 2>&1 || want npm "npm, for the driver matrix"
	return 0
}

if [ -n "${PG_BINDIR:-}" ] && [ ! -x "$PG_BINDIR/initdb" ]; then
	echo "test-deps: PG_BINDIR=$PG_BINDIR has no initdb; point it at the directory with initdb and postgres, or unset it" >&2
	exit 1
fi
command -v "$GO" >/dev/null 2>&1 || {
	echo "test-deps: $GO is not on PATH; make test needs Go (the version in go.mod)" >&2
	exit 1
}

check
if [ ${#pkgs[@]} -eq 0 ]; then
	echo "test-deps: all present (PostgreSQL in $(pg_bindir), slapd, psycopg, node $(node --version))"
	exit 0
fi

{
	echo "test-deps: make test needs what this machine lacks:"
	printf '  - %s\n' "${lacks[@]}"
} >&2
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	{
		echo "Install them (Debian or Ubuntu, as root), then run make test again:"
		echo
		echo "    apt-get update && apt-get install -y ${pkgs[*]}"
		echo
		echo "(make test installs these itself when run as root on Debian.)"
	} >&2
	exit 1
fi

echo "test-deps: installing ${pkgs[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${pkgs[@]}"

check
if [ ${#pkgs[@]} -gt 0 ]; then
	echo "test-deps: still missing after apt-get install:" >&2
	printf '  - %s\n' "${lacks[@]}" >&2
	exit 1
fi
echo "test-deps: all present (PostgreSQL in $(pg_bindir), slapd, psycopg, node $(node --version))"
