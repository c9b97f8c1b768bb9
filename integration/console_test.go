package integration

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// consoleRules enable the admin console: one user per role, each with a
// different authentication method (the console authenticates like any
// rule).
const consoleRules = `
stats_interval 1
storage "local" {
	type "local"
}
database "console" {
	user "admin" {
		authentication "clear_text"
		password "adminpw"
		role "admin"
		storage "local"
		pool "session"
		quantiles "0.99,0.5"
	}
	user "stat" {
		authentication "md5"
		password "statpw"
		role "stat"
		storage "local"
		pool "session"
	}
	user "nobody" {
		authentication "none"
		role "notallow"
		storage "local"
		pool "session"
	}
}
`

// appRule is a transaction pool of one server, so that a second client
// waits while the first holds a transaction.
const appRule = `
database default {
	user default {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size 1
		pool_timeout 30000
		pool_discard no
	}
}
`

func consoleConf(rules string) string { return baseConf + consoleRules + rules }

// consoleConn opens a simple-protocol pgx connection to the console.
func (p *pooler) consoleConn(user, password string) *pgx.Conn {
	p.t.Helper()
	cfg, err := pgx.ParseConfig(p.dsn(user, "console", password))
	if err != nil {
		p.t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		p.t.Fatalf("console login as %s: %v", user, err)
	}
	p.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// shown is one console answer as text.
type shown struct {
	cols []string
	rows [][]string
}

// row returns the first row whose column col is val, as a map.
func (s shown) row(col, val string) map[string]string {
	i := slices.Index(s.cols, col)
	for _, r := range s.rows {
		if i >= 0 && r[i] == val {
			m := make(map[string]string, len(r))
			for j, c := range s.cols {
				m[c] = r[j]
			}
			return m
		}
	}
	return nil
}

func tryShow(c *pgx.Conn, sql string) (shown, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := c.Query(ctx, sql)
	if err != nil {
		return shown{}, err
	}
	defer rows.Close()
	var s shown
	for _, f := range rows.FieldDescriptions() {
		s.cols = append(s.cols, f.Name)
	}
	for rows.Next() {
		var r []string
		for _, v := range rows.RawValues() {
			r = append(r, string(v))
		}
		s.rows = append(s.rows, r)
	}
	return s, rows.Err()
}

func show(t *testing.T, c *pgx.Conn, sql string) shown {
	t.Helper()
	s, err := tryShow(c, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// consoleColumns are Odyssey's (PgBouncer-shaped) columns, in order.
var consoleColumns = map[string]string{
	"STATS": "database total_xact_count total_query_count total_server_assignment_count total_received total_sent " +
		"total_xact_time total_query_time total_wait_time avg_xact_count avg_query_count avg_server_assignment_count " +
		"avg_recv avg_sent avg_xact_time avg_query_time avg_wait_time total_parse_count total_parse_count_reuse total_cancel_count",
	"POOLS": "database user cl_active cl_waiting sv_active sv_idle sv_used sv_tested sv_login maxwait maxwait_us pool_mode",
	"POOLS_EXTENDED": "database user cl_active cl_waiting sv_active sv_idle sv_used sv_tested sv_login maxwait maxwait_us " +
		"pool_mode bytes_received bytes_sent tcp_conn_count query_0.99 transaction_0.99 query_0.5 transaction_0.5",
	"DATABASES": "name host port database force_user pool_size reserve_pool pool_mode max_connections current_connections paused disabled",
	"CLIENTS": "type user database state storage_user addr port local_addr local_port connect_time request_time wait wait_us " +
		"id ptr coro remote_pid tls",
	"SERVERS": "type user database state addr port local_addr local_port connect_time request_time wait wait_us " +
		"ptr link remote_pid tls offline",
	"LISTS":             "list items",
	"SERVER_PREP_STMTS": "type user database sid name definition refcount",
	"ERRORS":            "error_type count",
	"ERRORS_PER_ROUTE":  "error_type user database count",
	"VERSION":           "version",
	"LISTEN":            "host port tls tls_cert_file tls_key_file tls_ca_file tls_protocols",
	"STORAGES":          "type host port tls tls_cert_file tls_key_file tls_ca_file tls_protocols",
	"RULES":             "database user address connection_type obsolete",
	"IS_PAUSED":         "is_paused",
	"CONFIG":            "key value default changeable",
	"USERS":             "name pool_mode",
}

// TestConsoleColumns: every SHOW answers with Odyssey's columns, in order,
// to pgx in simple-protocol mode, with traffic on a pool so that no table
// is empty.
func TestConsoleColumns(t *testing.T) {
	p := startPooler(t, consoleConf(appRule))
	app := p.connect(plainUser, plainUser, "")
	mustExec(t, app, "select 1")
	mustExec(t, app, "select $1::int", 1) // a prepared statement
	con := p.consoleConn("admin", "adminpw")
	for item, cols := range consoleColumns {
		s := show(t, con, "SHOW "+item)
		if got := strings.Join(s.cols, " "); got != cols {
			t.Errorf("SHOW %s columns:\n got %s\nwant %s", item, got, cols)
		}
		if len(s.rows) == 0 {
			t.Errorf("SHOW %s: no rows", item)
		}
	}
	if s := show(t, con, "show version"); s.rows[0][0] != p.inst.Version() {
		t.Errorf("SHOW VERSION %q", s.rows)
	}
	// Odyssey's alias, and its exporter's spelling.
	if s := show(t, con, "select * from pools"); s.row("database", plainUser) == nil {
		t.Errorf("SELECT * FROM pools: %q", s.rows)
	}
	if s := show(t, con, "show pools_extended;"); s.row("database", "aggregated") == nil {
		t.Errorf("SHOW POOLS_EXTENDED has no aggregated row: %q", s.rows)
	}
	if s := show(t, con, "show server_prep_stmts"); s.row("definition", "select $1::int") == nil {
		t.Errorf("SHOW SERVER_PREP_STMTS lacks the client's statement: %q", s.rows)
	}
}

// TestConsoleRoles: admin may run everything, stat only SHOW, notallow
// nothing; a wrong password is refused like anywhere else.
func TestConsoleRoles(t *testing.T) {
	p := startPooler(t, consoleConf(appRule))
	ctx := ctxTimeout(t, 30*time.Second)
	admin := p.consoleConn("admin", "adminpw")
	stat := p.consoleConn("stat", "statpw")
	nobody := p.consoleConn("nobody", "")
	tests := []struct {
		c     *pgx.Conn
		who   string
		sql   string
		state string
	}{
		{admin, "admin", "show pools", ""},
		{admin, "admin", "pause", ""},
		{admin, "admin", "resume", ""},
		{admin, "admin", "set client_encoding = 'UTF8'", ""},
		{stat, "stat", "show stats", ""},
		{stat, "stat", "pause", "42501"},
		{stat, "stat", "reload", "42501"},
		{stat, "stat", "shutdown", "42501"},
		{nobody, "nobody", "show pools", "42501"},
		{nobody, "nobody", "show version", "42501"},
		{admin, "admin", "show nothing", "42601"},
		{stat, "stat", "frobnicate", "42601"},
	}
	for _, tt := range tests {
		_, err := tt.c.Exec(ctx, tt.sql)
		if got := sqlState(err); got != tt.state {
			t.Errorf("%s: %q: %v (SQLSTATE %q), want %q", tt.who, tt.sql, err, got, tt.state)
		}
		if tt.state == "42501" && !strings.Contains(err.Error(), "Unsuitable user role to emit console command") {
			t.Errorf("%s: %q: %v", tt.who, tt.sql, err)
		}
		if tt.state == "42601" && !strings.Contains(err.Error(), "console command error") {
			t.Errorf("%s: %q: %v", tt.who, tt.sql, err)
		}
	}
	_, err := tryShow(admin, "frobnicate")
	var pe *pgconn.PgError
	if !asPgError(err, &pe) || !strings.Contains(pe.Hint, "SHOW STATS") || !strings.Contains(pe.Hint, "KILL_CLIENT") {
		t.Errorf("unknown command: %v: want the list of commands in the hint", err)
	}
	if _, err := p.tryConnect("admin", "console", "wrong", nil); sqlState(err) != "28P01" {
		t.Errorf("console login with a wrong password: %v, want 28P01", err)
	}
}

// TestConsoleExtendedProtocol: pgx's default mode (extended protocol) gets
// a clean 0A000 and the connection stays usable; simple mode works.
func TestConsoleExtendedProtocol(t *testing.T) {
	p := startPooler(t, consoleConf(appRule))
	ctx := ctxTimeout(t, 30*time.Second)
	cfg, err := pgx.ParseConfig(p.dsn("admin", "console", "adminpw"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.ConnectConfig(ctx, cfg) // default QueryExecModeCacheStatement
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "show pools")
	if err == nil {
		rows.Close()
		err = rows.Err()
	}
	if sqlState(err) != "0A000" {
		t.Fatalf("extended protocol: %v, want 0A000", err)
	}
	rows, err = c.Query(ctx, "show version", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	var v string
	for rows.Next() {
		rows.Scan(&v)
	}
	if err := rows.Err(); err != nil || v != p.inst.Version() {
		t.Fatalf("simple query after the refused one: %q %v", v, err)
	}
}

// TestConsolePsql: plain psql works against the console.
func TestConsolePsql(t *testing.T) {
	p := startPooler(t, consoleConf(appRule))
	mustExec(t, p.connect(plainUser, plainUser, ""), "select 1")
	psql := func(user, password string, args ...string) (string, error) {
		cmd := exec.Command("psql", append([]string{"-X", "-h", "127.0.0.1", "-p", strconv.Itoa(p.port),
			"-U", user, "-d", "console"}, args...)...)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=10")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := psql("admin", "adminpw", "-c", "show pools")
	if err != nil {
		t.Fatalf("psql -c 'show pools': %v\n%s", err, out)
	}
	header := "database | user | cl_active | cl_waiting | sv_active | sv_idle | sv_used | sv_tested | sv_login | maxwait | maxwait_us | pool_mode"
	if !strings.Contains(strings.Join(strings.Fields(out), " "), header) || !strings.Contains(out, plainUser) {
		t.Errorf("psql -c 'show pools':\n%s", out)
	}
	out, err = psql("stat", "statpw", "-c", "SHOW HELP")
	if err != nil || !strings.Contains(out, "Console usage") || !strings.Contains(out, "KILL_CLIENT") {
		t.Errorf("psql -c 'SHOW HELP': %v\n%s", err, out)
	}
	out, err = psql("stat", "statpw", "-v", "ON_ERROR_STOP=1", "-c", "pause")
	if err == nil || !strings.Contains(out, "Unsuitable user role") {
		t.Errorf("psql -c 'pause' as stat: %v\n%s", err, out)
	}
	out, err = psql("admin", "adminpw", "-At", "-c", "show is_paused")
	if err != nil || strings.TrimSpace(out) != "f" {
		t.Errorf("psql -At -c 'show is_paused': %v %q", err, out)
	}
}
