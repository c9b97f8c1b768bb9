package integration

// Indistinguishable from PostgreSQL (issue 11): what real drivers' own test
// suites caught through the pooler. Each test runs the same steps against
// PostgreSQL directly and through the pooler, and asserts the same
// results, SQLSTATEs, messages and command tags.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/lib/pq"
)

// endpoint is where a compatibility check connects: PostgreSQL itself or
// a pooler.
type endpoint struct {
	name string
	port int
}

func directEndpoint() endpoint { return endpoint{name: "direct", port: pg.Port} }

// at is the pooler as an endpoint; name says which pool.
func (p *pooler) at(name string) endpoint { return endpoint{name: name, port: p.port} }

// modeConf is a pool of mode for every user, with extra rule items.
func modeConf(mode string, extra ...string) string {
	return baseConf + rule(`		authentication "none"
		pool "`+mode+`"
		pool_size 2
		pool_timeout 10000
		`+strings.Join(extra, "\n\t\t"))
}

// compatTargets starts one pooler per pool mode and returns them after
// PostgreSQL itself.
func compatTargets(t *testing.T, modes ...string) []endpoint {
	t.Helper()
	out := []endpoint{directEndpoint()}
	for _, mode := range modes {
		out = append(out, startPooler(t, modeConf(mode)).at(mode))
	}
	return out
}

// config is a pgx config for plainUser at e, with params as startup
// parameters.
func (e endpoint) config(t *testing.T, db string, params map[string]string) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable connect_timeout=10",
		e.port, plainUser, db))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	return cfg
}

func (e endpoint) tryConnect(t *testing.T, db string, params map[string]string) (*pgx.Conn, error) {
	t.Helper()
	c, err := pgx.ConnectConfig(ctxTimeout(t, 15*time.Second), e.config(t, db, params))
	if err == nil {
		t.Cleanup(func() { c.Close(context.Background()) })
	}
	return c, err
}

func (e endpoint) connect(t *testing.T, params map[string]string) *pgx.Conn {
	t.Helper()
	c, err := e.tryConnect(t, plainUser, params)
	if err != nil {
		t.Fatalf("%s: connect: %v", e.name, err)
	}
	return c
}

// errText is what a client sees of an error: SQLSTATE and message for a
// server error, else the error's text.
func errText(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Severity + " " + pe.Code + " " + pe.Message
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// outcome runs sql with the simple protocol and describes what came back
// for each of its statements: the command tag and the rows, or the error.
func outcome(ctx context.Context, c *pgx.Conn, sql string) string {
	results, err := c.PgConn().Exec(ctx, sql).ReadAll()
	var out []string
	for _, r := range results {
		var rows []string
		for _, row := range r.Rows {
			var cols []string
			for _, v := range row {
				cols = append(cols, string(v))
			}
			rows = append(rows, strings.Join(cols, ","))
		}
		s := r.CommandTag.String() + " " + strings.Join(rows, "|")
		if r.Err != nil {
			s = errText(r.Err)
		}
		out = append(out, s)
	}
	if err != nil && len(results) == 0 {
		out = append(out, errText(err))
	}
	return strings.Join(out, "; ")
}

// sameEverywhere fails unless every endpoint gave what the first one gave.
func sameEverywhere(t *testing.T, what string, targets []endpoint, got []string) {
	t.Helper()
	for i := 1; i < len(got); i++ {
		if got[i] != got[0] {
			t.Errorf("%s:\n %s: %s\n %s: %s", what, targets[0].name, got[0], targets[i].name, got[i])
		}
	}
}

// ---- 1. The client's backend pid (session pools) ----

// TestCompatSessionBackendPID: in a session pool the client's
// BackendKeyData carries its server's real pid, so pg_cancel_backend and
// pg_terminate_backend of it act on the client's session as they do
// directly; cancel requests (with our secret) still work.
func TestCompatSessionBackendPID(t *testing.T) {
	for _, e := range compatTargets(t, "session") {
		t.Run(e.name, func(t *testing.T) {
			ctx := ctxTimeout(t, 60*time.Second)
			c := e.connect(t, nil)
			var pid uint32
			if err := c.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid); err != nil {
				t.Fatal(err)
			}
			if got := c.PgConn().PID(); got != pid {
				t.Fatalf("BackendKeyData pid %d, pg_backend_pid() %d", got, pid)
			}
			admin := direct(t)

			// pg_cancel_backend from another session.
			done := make(chan error, 1)
			go func() { _, err := c.Exec(ctx, "select pg_sleep(30)"); done <- err }()
			waitFor(t, 10*time.Second, "pg_sleep to run", func() bool {
				var n int
				admin.QueryRow(ctx, "select count(*) from pg_stat_activity where pid = $1 and query like 'select pg_sleep%'", pid).Scan(&n)
				return n == 1
			})
			mustExec(t, admin, fmt.Sprintf("select pg_cancel_backend(%d)", pid))
			if got := errText(<-done); got != "ERROR 57014 canceling statement due to user request" {
				t.Fatalf("after pg_cancel_backend: %s", got)
			}

			// A cancel request from the driver, with the key it was given.
			go func() { _, err := c.Exec(ctx, "select pg_sleep(30) /* cancel request */"); done <- err }()
			waitFor(t, 10*time.Second, "pg_sleep to run", func() bool {
				var n int
				admin.QueryRow(ctx, "select count(*) from pg_stat_activity where pid = $1 and query like '%cancel request%'", pid).Scan(&n)
				return n == 1
			})
			if err := c.PgConn().CancelRequest(ctx); err != nil {
				t.Fatal(err)
			}
			if got := errText(<-done); got != "ERROR 57014 canceling statement due to user request" {
				t.Fatalf("after a cancel request: %s", got)
			}
			mustExec(t, c, "select 1")

			// pg_terminate_backend ends the client's session.
			mustExec(t, admin, fmt.Sprintf("select pg_terminate_backend(%d, 10000)", pid))
			_, err := c.Exec(ctx, "select 1")
			if got := errText(err); got != "FATAL 57P01 terminating connection due to administrator command" {
				t.Fatalf("after pg_terminate_backend: %s", got)
			}
			if !c.IsClosed() {
				t.Fatal("connection still open after its backend was terminated")
			}
		})
	}
}

// TestCompatReserveOff: with reserve_session_server_connection no a session
// client logs in without a server and gets a pid of the pooler's own;
// cancel requests reach its query all the same.
func TestCompatReserveOff(t *testing.T) {
	p := startPooler(t, modeConf("session", "reserve_session_server_connection no"))
	ctx := ctxTimeout(t, 30*time.Second)
	c := p.connect(plainUser, plainUser, "")
	if n := serverConnsOfRoute(p); n != 0 {
		// The route's greeting may have taken one to learn the defaults;
		// it is idle, not the client's.
		t.Logf("%d servers after login", n)
	}
	var pid uint32
	if err := c.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if c.PgConn().PID() == pid {
		t.Fatalf("pid %d is the backend's; want the pooler's own with reserve off", pid)
	}
	qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := c.Exec(qctx, "select pg_sleep(30)")
	cancel()
	if !pgconn.Timeout(err) && sqlState(err) != "57014" {
		t.Fatalf("cancelled query: %v", err)
	}
}

func serverConnsOfRoute(p *pooler) int {
	n := 0
	for _, rt := range p.inst.Router().Routes() {
		n += len(rt.Servers())
	}
	return n
}

// TestCompatSessionGreeting: a session client is greeted with the
// ParameterStatus of its own server, opened with its startup parameters:
// the same values a direct connection reports.
func TestCompatSessionGreeting(t *testing.T) {
	params := map[string]string{"TimeZone": "Asia/Tokyo", "DateStyle": "German", "application_name": "greeting test",
		"IntervalStyle": "sql_standard", "search_path": "pg_catalog, public"}
	names := []string{"application_name", "client_encoding", "DateStyle", "default_transaction_read_only",
		"in_hot_standby", "integer_datetimes", "IntervalStyle", "is_superuser", "server_encoding",
		"server_version", "session_authorization", "standard_conforming_strings", "TimeZone"}
	targets := compatTargets(t, "session")
	got := make([]string, len(targets))
	for i, e := range targets {
		c := e.connect(t, params)
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "%s=%q ", n, c.PgConn().ParameterStatus(n))
		}
		got[i] = b.String()
	}
	sameEverywhere(t, "greeting", targets, got)
}

// ---- 2. PostgreSQL's FATAL, verbatim and alone ----

// rawSession is a protocol-level client that records everything it
// receives.
type rawSession struct {
	t    *testing.T
	conn net.Conn
	fe   *pgproto3.Frontend
}

func rawLogin(t *testing.T, e endpoint, params map[string]string) *rawSession {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(e.port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r := &rawSession{t: t, conn: conn, fe: pgproto3.NewFrontend(conn, conn)}
	p := map[string]string{"user": plainUser, "database": plainUser}
	for k, v := range params {
		p[k] = v
	}
	r.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: p})
	if got := r.until("Z"); got != "AuthenticationOk Z:I" {
		t.Fatalf("%s: login: %s", e.name, got)
	}
	return r
}

func (r *rawSession) send(msgs ...pgproto3.FrontendMessage) {
	r.t.Helper()
	if err := sendAll(r.fe, msgs...); err != nil {
		r.t.Fatal(err)
	}
}

// sendAll sends msgs in one write.
func sendAll(fe *pgproto3.Frontend, msgs ...pgproto3.FrontendMessage) error {
	for _, m := range msgs {
		fe.Send(m)
	}
	return fe.Flush()
}

// next describes the next message: its type letter, the SQLSTATE and
// message of an error, or "EOF" when the connection closed.
func (r *rawSession) next() string {
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := r.fe.Receive()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "timeout"
		}
		return "EOF"
	}
	switch m := m.(type) {
	case *pgproto3.ErrorResponse:
		return "E:" + m.Severity + " " + m.Code + " " + m.Message
	case *pgproto3.ReadyForQuery:
		return "Z:" + string(m.TxStatus)
	case *pgproto3.CommandComplete:
		return "C:" + string(m.CommandTag)
	case *pgproto3.DataRow:
		return "D:" + string(m.Values[0])
	case *pgproto3.ParameterStatus, *pgproto3.BackendKeyData:
		return ""
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", m), "*pgproto3.")
}

// until returns the messages up to the first whose description starts
// with stop, or up to EOF.
func (r *rawSession) until(stop string) string {
	var got []string
	for {
		m := r.next()
		if m == "" {
			continue
		}
		got = append(got, m)
		if strings.HasPrefix(m, stop) || m == "EOF" || m == "timeout" {
			return strings.Join(got, " ")
		}
	}
}

// TestCompatServerFatal: when PostgreSQL ends the session of a client's
// server (pg_terminate_backend), the client receives exactly PostgreSQL's
// FATAL and then sees its connection close: nothing of the pooler's own.
// Idle inside a transaction (the client must never run its next statement
// outside it) and in the middle of a query, in every pool mode.
func TestCompatServerFatal(t *testing.T) {
	admin := direct(t)
	targets := compatTargets(t, "session", "transaction", "statement")
	cases := []struct {
		name  string
		modes string // the pool modes it applies to
		start []pgproto3.FrontendMessage
		until string // the reply to wait for before the victim is terminated
		state string // the victim's in pg_stat_activity
	}{
		{"idle in transaction", "direct session transaction", []pgproto3.FrontendMessage{
			&pgproto3.Query{String: "begin"}, &pgproto3.Query{String: "select 1 /* victim */"}}, "Z:T", "idle in transaction"},
		{"running a query", "direct session transaction statement", []pgproto3.FrontendMessage{
			&pgproto3.Query{String: "select pg_sleep(30) /* victim */"}}, "", "active"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var ran []endpoint
			for _, e := range targets {
				if !strings.Contains(tc.modes, e.name) {
					continue
				}
				ctx := ctxTimeout(t, 30*time.Second)
				r := rawLogin(t, e, nil)
				r.send(tc.start...)
				if tc.until != "" {
					r.until(tc.until)
					r.until(tc.until) // the second query
				}
				var pid int
				waitFor(t, 10*time.Second, "the victim's backend", func() bool {
					admin.QueryRow(ctx, "select pid from pg_stat_activity where query like '%/* victim */' and state = $1"+
						" and (state <> 'active' or wait_event = 'PgSleep')", tc.state).Scan(&pid)
					return pid != 0
				})
				mustExec(t, admin, fmt.Sprintf("select pg_terminate_backend(%d, 10000)", pid))
				got = append(got, r.until("EOF"))
				ran = append(ran, e)
			}
			if !strings.HasSuffix(got[0], "E:FATAL 57P01 terminating connection due to administrator command EOF") {
				t.Fatalf("direct: %s", got[0])
			}
			sameEverywhere(t, "after pg_terminate_backend", ran, got)
		})
	}
}

// ---- 3. Startup values are the reset values ----

// TestCompatStartupValuesReset: settings from the startup packet (explicit
// parameters and options -c) are what RESET, RESET ALL, DISCARD ALL and SET
// TO DEFAULT return to, and what pg_settings shows as reset values and
// source, in a session pool as directly, also when the only server was
// opened for a client with other settings before.
func TestCompatStartupValuesReset(t *testing.T) {
	one := strings.Replace(modeConf("session"), "pool_size 2", "pool_size 1", 1)
	targets := []endpoint{directEndpoint(), startPooler(t, one).at("session"),
		startPooler(t, strings.Replace(one, "pool_size 1", "pool_size 1\n\t\treserve_session_server_connection no", 1)).at("session, reserve off")}
	steps := []string{
		"show work_mem",
		"set work_mem = '7MB'", "reset work_mem", "show work_mem",
		"set work_mem = '7MB'", "set work_mem to default", "show work_mem",
		"set work_mem = '7MB'", "set datestyle = 'ISO'", "reset all", "show work_mem", "show datestyle",
		"set work_mem = '7MB'", "discard all", "show work_mem",
		"select name, setting, reset_val, source from pg_settings where name in ('work_mem', 'DateStyle', 'TimeZone', 'statement_timeout') order by name",
	}
	params := map[string]string{"DateStyle": "German", "TimeZone": "Asia/Tokyo",
		"options": "-c work_mem=5MB -c statement_timeout=17s"}
	got := make([]string, len(targets))
	for i, e := range targets {
		ctx := ctxTimeout(t, 30*time.Second)
		// A client with other settings first: the pooler's one server is
		// then opened for it, and must not be what the next one gets.
		other := e.connect(t, map[string]string{"options": "-c work_mem=9MB"})
		mustExec(t, other, "set work_mem = '10MB'")
		other.Close(ctx)
		c := e.connect(t, params)
		var out []string
		for _, s := range steps {
			out = append(out, s+" -> "+outcome(ctx, c, s))
		}
		got[i] = strings.Join(out, "\n")
	}
	sameEverywhere(t, "session steps", targets, got)
}

// TestCompatSessionSharing: servers of a session pool are shared by clients
// that differ only in application_name (servers are opened without it, and
// it is set after login), and a client with other startup settings does
// not get a server opened with someone else's.
func TestCompatSessionSharing(t *testing.T) {
	p := startPooler(t, strings.Replace(modeConf("session"), "pool_size 2", "pool_size 1", 1))
	e := p.at("session")
	ctx := ctxTimeout(t, 30*time.Second)
	var pids []uint32
	for _, params := range []map[string]string{
		{"application_name": "first"},
		{"application_name": "second"},
		{"application_name": "third", "options": "-c work_mem=3MB"},
	} {
		c := e.connect(t, params)
		var app, wm string
		if err := c.QueryRow(ctx, "select current_setting('application_name'), current_setting('work_mem')").Scan(&app, &wm); err != nil {
			t.Fatal(err)
		}
		if app != params["application_name"] || c.PgConn().ParameterStatus("application_name") != app {
			t.Errorf("application_name %q (reported %q), want %q", app, c.PgConn().ParameterStatus("application_name"), params["application_name"])
		}
		if want := "4MB"; params["options"] != "" && wm != "3MB" || params["options"] == "" && wm != want {
			t.Errorf("%v: work_mem %s", params, wm)
		}
		pids = append(pids, c.PgConn().PID())
		c.Close(ctx)
	}
	if pids[0] != pids[1] {
		t.Errorf("clients differing in application_name only got servers %d and %d, want one shared", pids[0], pids[1])
	}
	if pids[2] == pids[1] {
		t.Errorf("a client with options got the server opened without them")
	}
}

// TestCompatStartupValuesPsql: psql sends PGOPTIONS, PGDATESTYLE and PGTZ as
// startup parameters; the same script gives the same output directly and
// through a session pool.
func TestCompatStartupValuesPsql(t *testing.T) {
	p := startPooler(t, modeConf("session"))
	script := `show datestyle;
select '2026-12-08 10:00'::timestamptz;
set datestyle = 'ISO';
set timezone = 'UTC';
reset all;
show datestyle;
show timezone;
show work_mem;
select reset_val, source from pg_settings where name = 'work_mem';
`
	var got []string
	targets := []endpoint{directEndpoint(), p.at("session")}
	for _, e := range targets {
		cmd := exec.CommandContext(ctxTimeout(t, 30*time.Second), "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
			"-h", "127.0.0.1", "-p", strconv.Itoa(e.port), "-U", plainUser, "-d", plainUser, "-c", script)
		cmd.Env = append(os.Environ(), "PGOPTIONS=-c work_mem=6MB", "PGDATESTYLE=Postgres, DMY", "PGTZ=America/Sao_Paulo",
			"PGCONNECT_TIMEOUT=10")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: psql: %v\n%s", e.name, err, out)
		}
		got = append(got, string(out))
	}
	sameEverywhere(t, "psql", targets, got)
}

// TestCompatResetTag: in a transaction pool the pooler sends a RESET of a
// startup setting as SET (the server's default is not the client's); the
// client still sees the tag RESET, and the value it had at startup.
func TestCompatResetTag(t *testing.T) {
	targets := compatTargets(t, "transaction", "statement")
	steps := []string{"set work_mem = '7MB'", "reset work_mem", "show work_mem",
		"set work_mem = '7MB'", "set work_mem to default", "show work_mem",
		"set work_mem = '7MB'; reset work_mem; show work_mem",
		"set statement_timeout = '1s'", "reset statement_timeout", "show statement_timeout"}
	got := make([]string, len(targets))
	for i, e := range targets {
		ctx := ctxTimeout(t, 30*time.Second)
		c := e.connect(t, map[string]string{"options": "-c work_mem=5MB"})
		var out []string
		for _, s := range steps {
			out = append(out, s+" -> "+outcome(ctx, c, s))
		}
		// The extended protocol, as psycopg sends every statement.
		tag, err := c.Exec(ctx, "reset work_mem", pgx.QueryExecModeExec)
		out = append(out, "extended reset -> "+tag.String()+" "+errText(err)+" "+outcome(ctx, c, "show work_mem"))
		got[i] = strings.Join(out, "\n")
	}
	sameEverywhere(t, "reset", targets, got)
}

// ---- 4. Startup packet semantics ----

// TestCompatStartupPacket: an unknown or invalid startup parameter, an
// explicit parameter against the same one in options, and a database that
// does not exist, as PostgreSQL answers them, in every pool mode.
func TestCompatStartupPacket(t *testing.T) {
	targets := compatTargets(t, "session", "transaction", "statement")
	cases := []struct {
		name   string
		db     string
		params map[string]string
		query  string
	}{
		{"unknown parameter", plainUser, map[string]string{"doesnotexist": "foo"}, ""},
		{"unknown parameter in options", plainUser, map[string]string{"options": "-c doesnotexist=foo"}, ""},
		{"invalid value", plainUser, map[string]string{"DateStyle": "nonsense"}, ""},
		{"explicit wins over options", plainUser, map[string]string{"DateStyle": "German",
			"options": "-c DateStyle=SQL -c work_mem=3MB"}, "select current_setting('DateStyle') || ' ' || current_setting('work_mem')"},
		{"custom placeholder", plainUser, map[string]string{"myapp.tenant": "42"}, "select current_setting('myapp.tenant')"},
		{"a setting of connection start", plainUser, map[string]string{"options": "-c log_connections=on"}, "select 1"},
		{"unknown database", "nosuchdb", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]string, len(targets))
			for i, e := range targets {
				c, err := e.tryConnect(t, tc.db, tc.params)
				if err != nil || tc.query == "" {
					got[i] = errText(err)
					continue
				}
				got[i] = outcome(ctxTimeout(t, 10*time.Second), c, tc.query)
				// Again, after another transaction (and maybe server).
				got[i] += " / " + outcome(ctxTimeout(t, 10*time.Second), c, tc.query)
			}
			sameEverywhere(t, tc.name, targets, got)
		})
	}
}

// TestCompatStartupLength: a first packet with an impossible length (here
// node-postgres's Terminate sent before any startup packet, as its
// connect() then end() does) is closed without a word.
func TestCompatStartupLength(t *testing.T) {
	for _, e := range compatTargets(t, "transaction") {
		t.Run(e.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(e.port), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write([]byte{'X', 0, 0, 0, 4})
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(conn)
			if len(got) != 0 || (err != nil && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset")) {
				t.Fatalf("got %q, %v; want the connection closed without a message", got, err)
			}
		})
	}
}

// ---- 5. lib/pq's Listener in a transaction pool ----

// TestCompatListenerTransactionPool: lib/pq's Listener reconnects until its
// LISTEN succeeds and its Listen waits for that, so a refused LISTEN made
// it hang for ever. A client that LISTENs keeps its server (the default
// pool_pin_on_listen yes): Listen returns at once and notifications
// arrive.
func TestCompatListenerTransactionPool(t *testing.T) {
	p := startPooler(t, modeConf("transaction"))
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable connect_timeout=10", p.port, plainUser, plainUser)
	l := pq.NewListener(dsn, 10*time.Millisecond, time.Second, nil)
	defer l.Close()
	done := make(chan error, 1)
	go func() { done <- l.Listen("compat_jobs") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Listen hangs")
	}
	n := p.connect(plainUser, plainUser, "")
	mustExec(t, n, "notify compat_jobs, 'hello'")
	select {
	case note := <-l.Notify:
		if note == nil || note.Channel != "compat_jobs" || note.Extra != "hello" {
			t.Fatalf("notification %+v", note)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no notification")
	}
}

// ---- 6. Prepared statements after DDL (transaction pools) ----

// TestCompatPreparedAfterDDL: a statement prepared on a pooled server
// before a schema change is not what a client preparing the same text
// afterwards gets: pgx's own enum test (a type dropped and created again)
// and its statement cache invalidation test, through one server shared by
// every client.
func TestCompatPreparedAfterDDL(t *testing.T) {
	p := startPooler(t, strings.Replace(modeConf("transaction"), "pool_size 2", "pool_size 1", 1))
	targets := []endpoint{directEndpoint(), p.at("transaction")}
	for _, e := range targets {
		t.Run(e.name+"/type recreated", func(t *testing.T) {
			ctx := ctxTimeout(t, 30*time.Second)
			for round, labels := range [][]string{{"a", "b"}, {"x", "y", "z"}} {
				c := e.connect(t, nil)
				mustExec(t, c, "drop type if exists compat_enum; create type compat_enum as enum ('"+strings.Join(labels, "', '")+"')")
				var got string
				if err := c.QueryRow(ctx, "select $1::compat_enum::text", labels[1]).Scan(&got); err != nil || got != labels[1] {
					t.Fatalf("round %d: %q, %v", round, got, err)
				}
				c.Close(ctx)
			}
		})
		t.Run(e.name+"/column type altered", func(t *testing.T) {
			ctx := ctxTimeout(t, 30*time.Second)
			c := e.connect(t, nil)
			mustExec(t, c, "drop table if exists compat_cols; create table compat_cols (id serial primary key, f1 int not null, f2 int not null)")
			insert := "insert into compat_cols (f1, f2) values ($1, $2)"
			if _, err := c.Exec(ctx, insert, 1, 2); err != nil {
				t.Fatal(err)
			}
			mustExec(t, c, "alter table compat_cols alter column f1 type boolean using f1::boolean")
			// pgx's cached description encodes an int: it fails, drops
			// the statement, and prepares it again on the next try.
			if _, err := c.Exec(ctx, insert, true, 2); err == nil || !strings.Contains(err.Error(), "failed to encode args[0]") {
				t.Fatalf("first try after ALTER: %v", err)
			}
			if _, err := c.Exec(ctx, insert, true, 2); err != nil {
				t.Fatalf("second try after ALTER: %v", err)
			}
			// Another client preparing the same text gets today's types.
			c2 := e.connect(t, nil)
			if _, err := c2.Exec(ctx, insert, false, 3); err != nil {
				t.Fatalf("another client: %v", err)
			}
		})
	}
}

// TestCompatParseErrorsWherePostgresRaises: a Parse reaches a server when
// the client sends it, if one is free then (here the pool has room), so its
// error (an unknown table), and a statement_timeout that runs out between
// Parse and Describe (pgx's TestPrepareHandlesTimeoutBetweenParseAndDescribe),
// surface where PostgreSQL raises them.
func TestCompatParseErrorsWherePostgresRaises(t *testing.T) {
	p := startPooler(t, strings.Replace(modeConf("transaction"), "pool_size 2", "pool_size 10", 1))
	targets := []endpoint{directEndpoint(), p.at("transaction")}
	got := make([]string, len(targets))
	for i, e := range targets {
		r := rawLogin(t, e, nil)
		var out []string
		// libpq's PQprepare: Parse and Sync.
		r.send(&pgproto3.Parse{Name: "bad", Query: "select * from compat_no_such_table"}, &pgproto3.Sync{})
		out = append(out, r.until("Z"))
		// The same text again after it was prepared by someone else.
		mustExec(t, e.connect(t, nil), "create table if not exists compat_later (i int)")
		r.send(&pgproto3.Parse{Name: "later", Query: "select * from compat_later"}, &pgproto3.Sync{})
		out = append(out, r.until("Z"))
		// A statement_timeout running from the Parse.
		r.send(&pgproto3.Query{String: "set statement_timeout = '100ms'"})
		out = append(out, r.until("Z"))
		r.send(&pgproto3.Parse{Name: "slow", Query: "select $1::varchar"}, &pgproto3.Flush{})
		time.Sleep(300 * time.Millisecond) // the client is slow to send the rest: part of the scenario
		r.send(&pgproto3.Describe{ObjectType: 'S', Name: "slow"}, &pgproto3.Sync{})
		out = append(out, r.until("Z"))
		got[i] = strings.Join(out, " / ")
	}
	if !strings.Contains(got[0], "57014") {
		t.Fatalf("direct: %s", got[0])
	}
	sameEverywhere(t, "parse", targets, got)
}

// TestCompatLoginErrors: an empty password, and a role PostgreSQL does not
// have (the pool logs in as the client's own user), get PostgreSQL's
// SQLSTATE and words (an error of the pooler's own, the empty password,
// with its "odyssey: c…:" prefix).
func TestCompatLoginErrors(t *testing.T) {
	p := startPooler(t, baseConf+clearTextRules(`authentication "none"
		pool "session"`))
	for _, tc := range []struct{ name, user, password, code, msg string }{
		{"empty password", clearUser, "", "28P01", "empty password returned by client"},
		{"no such role", "compat_no_such_role", "", "28000", `role "compat_no_such_role" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, port := range []int{pg.Port, p.port} {
				cfg, err := pgx.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable connect_timeout=10",
					port, tc.user, plainUser))
				if err != nil {
					t.Fatal(err)
				}
				cfg.Password = tc.password
				_, err = pgx.ConnectConfig(ctxTimeout(t, 10*time.Second), cfg)
				if got := errText(err); !strings.HasPrefix(got, "FATAL "+tc.code+" ") || !strings.HasSuffix(got, tc.msg) {
					t.Errorf("port %d: %s, want FATAL %s ... %s", port, got, tc.code, tc.msg)
				}
			}
		})
	}
}

// TestCompatReserveWaits: a session client logging in while the pool is
// full waits in the queue for a server (its login completes when one is
// released), and gets 53300 when pool_timeout passes first.
func TestCompatReserveWaits(t *testing.T) {
	p := startPooler(t, strings.Replace(strings.Replace(modeConf("session"), "pool_size 2", "pool_size 1", 1),
		"pool_timeout 10000", "pool_timeout 1500", 1))
	ctx := ctxTimeout(t, 30*time.Second)
	holder := p.connect(plainUser, plainUser, "")
	if _, err := p.tryConnect(plainUser, plainUser, "", nil); sqlState(err) != "53300" {
		t.Fatalf("login with the pool full past pool_timeout: %v, want 53300", err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := p.tryConnect(plainUser, plainUser, "", nil)
		if err == nil {
			_, err = c.Exec(ctx, "select 1")
		}
		done <- err
	}()
	waitFor(t, 10*time.Second, "the second login to wait", func() bool {
		return p.inst.Router().Routes()[0].PoolStats().Waiting == 1
	})
	holder.Close(ctx)
	if err := <-done; err != nil {
		t.Fatalf("login after the server was released: %v", err)
	}
}

// clearTextRules are a clear_text rule for clearUser and a default user
// rule with items, on storage "pg".
func clearTextRules(defaultItems string) string {
	return `
database default {
	user "` + clearUser + `" {
		authentication "clear_text"
		password "` + clearPass + `"
		storage "pg"
		pool "transaction"
	}
	user default {
		storage "pg"
		` + defaultItems + `
	}
}
`
}

// TestCompatNodePostgres: node-postgres's expectations (testdata/drivers/
// node/compat.js), directly and through a session pool: connect() then
// end() at once ends without an error, and a backend terminated by the
// pid the client was given emits PostgreSQL's 57P01 and then what
// node-postgres says of the closed connection, nothing of the pooler's.
func TestCompatNodePostgres(t *testing.T) {
	node, dir := nodePostgres(t)
	targets := compatTargets(t, "session")
	got := make([]string, len(targets))
	for i, e := range targets {
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "PG") {
				env = append(env, kv)
			}
		}
		env = append(env, "PGHOST=127.0.0.1", "PGPORT="+strconv.Itoa(e.port), "PGUSER="+plainUser,
			"PGDATABASE="+plainUser, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10", "ADMIN_PORT="+strconv.Itoa(pg.Port))
		got[i] = strings.TrimSpace(runScript(t, dir, env, time.Minute, node, "compat.js"))
	}
	if !strings.Contains(got[0], `"errors":["FATAL 57P01 terminating connection due to administrator command"`) {
		t.Fatalf("direct: %s", got[0])
	}
	sameEverywhere(t, "node-postgres", targets, got)
}
