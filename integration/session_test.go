package integration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sharedConf is a transaction pool of one server: two clients take turns
// on it, so whatever one leaves on the server the other would see.
var sharedConf = strings.Replace(txConf, "pool_size 5", "pool_size 1", 1)

// setting returns current_setting(name) as the client sees it (with the
// simple protocol: DISCARD ALL drops pgx's cached statements, as it would
// directly).
func setting(t *testing.T, c *pgx.Conn, name string) string {
	t.Helper()
	var v string
	err := c.QueryRow(ctxTimeout(t, 10*time.Second), "select current_setting($1)", pgx.QueryExecModeSimpleProtocol, name).Scan(&v)
	if err != nil {
		t.Fatalf("current_setting(%s): %v", name, err)
	}
	return v
}

// wantSetting fails unless the client sees name = want.
func wantSetting(t *testing.T, c *pgx.Conn, what, name, want string) {
	t.Helper()
	if got := setting(t, c, name); got != want {
		t.Errorf("%s: %s = %q, want %q", what, name, got, want)
	}
}

// TestSessionSetFollowsClient: SET, in and out of transactions, is what
// the client's next transaction sees on the shared server, and never what
// another client sees; SET LOCAL, rolled back SETs and SETs undone by
// ROLLBACK TO SAVEPOINT do not persist. Each case also runs directly
// against PostgreSQL, and the two must agree.
func TestSessionSetFollowsClient(t *testing.T) {
	p := startPooler(t, sharedConf)
	a := p.connect(plainUser, plainUser, "")
	b := p.connect(plainUser, plainUser, "")
	d := direct(t)
	def := setting(t, b, "work_mem")

	steps := []struct {
		name string
		sql  []string // run by the client, then b runs a query on the server
		want string   // work_mem the client sees afterwards
	}{
		{"plain SET", []string{"set work_mem = '1111kB'"}, "1111kB"},
		{"SET in a committed transaction", []string{"begin", "select 1", "set work_mem = '3MB'", "commit"}, "3MB"},
		{"SET in a rolled back transaction", []string{"begin", "set work_mem = '5MB'", "rollback"}, "3MB"},
		{"SET in a failed transaction", []string{"begin", "set work_mem = '5MB'", "select 1/0", "commit"}, "3MB"},
		{"SET LOCAL", []string{"begin", "set local work_mem = '6MB'", "commit"}, "3MB"},
		{"savepoint rolled back to", []string{"begin", "set work_mem = '7MB'", "savepoint s1",
			"set work_mem = '8MB'", "rollback to savepoint s1", "commit"}, "7MB"},
		{"savepoint released", []string{"begin", "savepoint s1", "set work_mem = '9MB'", "release s1", "commit"}, "9MB"},
		{"error recovered by a savepoint", []string{"begin", "set work_mem = '10MB'", "savepoint s1",
			"select 1/0", "rollback to s1", "commit"}, "10MB"},
		{"several statements in one query", []string{"set work_mem = '11MB'; select 1"}, "11MB"},
		{"SET TO DEFAULT", []string{"set work_mem to default"}, def},
		{"SET then RESET", []string{"set work_mem = '12MB'", "reset work_mem"}, def},
	}
	ctx := ctxTimeout(t, 60*time.Second)
	for _, st := range steps {
		for _, q := range st.sql {
			a.Exec(ctx, q) // errors are part of some cases
			d.Exec(ctx, q)
		}
		wantSetting(t, b, st.name+", other client", "work_mem", def)
		wantSetting(t, a, st.name+", through the pooler", "work_mem", st.want)
		wantSetting(t, d, st.name+", directly", "work_mem", st.want)
	}
}

// TestSessionResetToStartup: RESET, RESET ALL and DISCARD ALL return to the
// values the client gave at startup, as they do directly (Odyssey #1516),
// and reported parameters are reported again.
func TestSessionResetToStartup(t *testing.T) {
	p := startPooler(t, sharedConf)
	params := map[string]string{"work_mem": "1234kB", "application_name": "startup-app"}
	a, err := p.tryConnect(plainUser, plainUser, "", params)
	if err != nil {
		t.Fatal(err)
	}
	other := p.connect(plainUser, plainUser, "")
	for _, reset := range []string{"reset work_mem", "reset all", "discard all"} {
		mustExec(t, a, "set work_mem = '2MB'; set application_name = 'changed'")
		mustExec(t, other, "set work_mem = '3MB'") // the shared server changes hands
		mustExec(t, a, reset)
		wantSetting(t, a, reset, "work_mem", "1234kB")
		if reset == "reset work_mem" {
			continue
		}
		wantSetting(t, a, reset, "application_name", "startup-app")
		if got := a.PgConn().ParameterStatus("application_name"); got != "startup-app" {
			t.Errorf("%s: ParameterStatus application_name = %q, want startup-app", reset, got)
		}
	}
	// RESET of a parameter not given at startup is the server's default.
	mustExec(t, a, "set statement_timeout = '7s'")
	mustExec(t, a, "reset statement_timeout")
	wantSetting(t, a, "RESET without a startup value", "statement_timeout", "0")
}

// TestSessionExtendedProtocolSet: SET and RESET sent as unnamed statements
// of the extended protocol (as psycopg sends everything) are tracked too.
func TestSessionExtendedProtocolSet(t *testing.T) {
	p := startPooler(t, sharedConf)
	ctx := ctxTimeout(t, 30*time.Second)
	a, err := p.tryConnect(plainUser, plainUser, "", map[string]string{"work_mem": "1234kB"})
	if err != nil {
		t.Fatal(err)
	}
	b := p.connect(plainUser, plainUser, "")
	exec := func(sql string) {
		t.Helper()
		if _, err := a.PgConn().ExecParams(ctx, sql, nil, nil, nil, nil).Close(); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("set work_mem = '2222kB'")
	mustExec(t, b, "set work_mem = '3MB'")
	wantSetting(t, a, "extended SET", "work_mem", "2222kB")
	exec("begin")
	exec("set work_mem = '4MB'")
	exec("rollback")
	wantSetting(t, a, "extended SET rolled back", "work_mem", "2222kB")
	exec("reset work_mem")
	wantSetting(t, a, "extended RESET", "work_mem", "1234kB")
	exec("deallocate all")
	if _, err := a.PgConn().ExecParams(ctx, "deallocate nosuch", nil, nil, nil, nil).Close(); sqlState(err) != "26000" {
		t.Errorf("extended DEALLOCATE of an unknown statement: %v, want 26000", err)
	}
}

// TestSessionPins: state that cannot move between servers keeps the client
// on its server until it leaves, and the server is cleaned before another
// client gets it.
func TestSessionPins(t *testing.T) {
	p := startPooler(t, strings.Replace(txConf, "pool_size 5", "pool_size 2", 1))
	ctx := ctxTimeout(t, 60*time.Second)
	cases := []struct{ name, sql, check string }{
		{"temporary table", "create temp table pinned_tmp(x int)", "select count(*) from pinned_tmp"},
		{"session advisory lock", "select pg_advisory_lock(4242)",
			"select count(*) from pg_locks where locktype = 'advisory' and objid = 4242 and pid = pg_backend_pid()"},
		{"WITH HOLD cursor", "declare pinned_cur cursor with hold for select 1", "fetch pinned_cur"},
	}
	for _, tc := range cases {
		a := p.connect(plainUser, plainUser, "")
		var pid int
		if err := a.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		mustExec(t, a, tc.sql)
		// Others come and go on the pool; a keeps its server.
		others := []*pgx.Conn{p.connect(plainUser, plainUser, ""), p.connect(plainUser, plainUser, "")}
		for i := range 6 {
			mustExec(t, others[i%2], "select 1")
			var got int
			if err := a.QueryRow(ctx, "select pg_backend_pid()").Scan(&got); err != nil || got != pid {
				t.Fatalf("%s: backend %d (%v), want %d", tc.name, got, err, pid)
			}
			if _, err := a.Exec(ctx, tc.check); err != nil {
				t.Fatalf("%s: %s: %v", tc.name, tc.check, err)
			}
		}
		for _, o := range others {
			o.Close(ctx)
		}
		a.Close(ctx)
		// The server is cleaned (not closed) before it returns to the pool.
		d := direct(t)
		waitFor(t, 10*time.Second, tc.name+" cleaned", func() bool {
			var left int
			err := d.QueryRow(ctx, `select (select count(*) from pg_locks where locktype = 'advisory' and objid = 4242)
				+ (select count(*) from pg_class where relname = 'pinned_tmp')`).Scan(&left)
			return err == nil && left == 0
		})
		var alive bool
		if err := d.QueryRow(ctx, "select exists(select 1 from pg_stat_activity where pid = $1)", pid).Scan(&alive); err != nil || !alive {
			t.Errorf("%s: the pinned server was closed (%v), want it cleaned and kept", tc.name, err)
		}
		d.Close(ctx)
	}
}

// TestSessionListen: LISTEN is refused in transaction pooling with
// pool_pin_on_listen no; with it on (the default) the client stays on its
// server and gets its notifications.
func TestSessionListen(t *testing.T) {
	ctx := ctxTimeout(t, 60*time.Second)
	p := startPooler(t, strings.Replace(sharedConf, "pool_discard no", "pool_discard no\n\t\tpool_pin_on_listen no", 1))
	a := p.connect(plainUser, plainUser, "")
	_, err := a.Exec(ctx, "listen jobs")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Hint, "pool_pin_on_listen") {
		t.Fatalf("LISTEN: %v, want 0A000 with a hint naming pool_pin_on_listen", err)
	}
	mustExec(t, a, "select 1") // the connection is fine

	pinned := startPooler(t, txConf)
	l := pinned.connect(plainUser, plainUser, "")
	mustExec(t, l, "listen jobs")
	n := pinned.connect(plainUser, plainUser, "")
	mustExec(t, n, "notify jobs, 'hello'")
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	note, err := l.WaitForNotification(wctx)
	if err != nil || note.Channel != "jobs" || note.Payload != "hello" {
		t.Fatalf("notification: %+v, %v", note, err)
	}
}

// TestSessionVirtualBegin: a bare BEGIN takes no server; the transaction
// starts on the server with the next statement.
func TestSessionVirtualBegin(t *testing.T) {
	p := startPooler(t, sharedConf)
	ctx := ctxTimeout(t, 30*time.Second)
	a := p.connect(plainUser, plainUser, "")
	b := p.connect(plainUser, plainUser, "")
	mustExec(t, a, "begin")
	if s := a.PgConn().TxStatus(); s != 'T' {
		t.Fatalf("after BEGIN: status %c, want T", s)
	}
	// The only server is free: b runs while a is "in" its transaction.
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.Exec(qctx, "select 1"); err != nil {
		t.Fatalf("other client during a virtual BEGIN: %v", err)
	}
	var xact1, xact2 int64
	a.QueryRow(ctx, "select txid_current()").Scan(&xact1)
	a.QueryRow(ctx, "select txid_current()").Scan(&xact2)
	if xact1 == 0 || xact1 != xact2 {
		t.Errorf("statements after BEGIN ran in transactions %d and %d, want one", xact1, xact2)
	}
	mustExec(t, a, "commit")
	if s := a.PgConn().TxStatus(); s != 'I' {
		t.Fatalf("after COMMIT: status %c, want I", s)
	}
	// BEGIN then COMMIT with nothing between never reaches a server.
	mustExec(t, a, "begin")
	mustExec(t, a, "commit")
	mustExec(t, a, "begin")
	mustExec(t, a, "rollback")
	// BEGIN with modes is sent as it is.
	mustExec(t, a, "begin isolation level serializable")
	if got := setting(t, a, "transaction_isolation"); got != "serializable" {
		t.Errorf("BEGIN ISOLATION LEVEL SERIALIZABLE: %s", got)
	}
	mustExec(t, a, "commit")
}

// TestSessionSQLPrepare: SQL PREPARE, EXECUTE and DEALLOCATE work across
// servers and clients, with PostgreSQL's errors.
func TestSessionSQLPrepare(t *testing.T) {
	p := startPooler(t, strings.Replace(txConf, "pool_size 5", "pool_size 2", 1))
	ctx := ctxTimeout(t, 30*time.Second)
	a := p.connect(plainUser, plainUser, "")
	b := p.connect(plainUser, plainUser, "")
	hold := p.connect(plainUser, plainUser, "")
	mustExec(t, a, "prepare twice(int) as select $1 * 2")
	// Make a use the other server: hold takes one in a transaction.
	mustExec(t, hold, "begin")
	mustExec(t, hold, "select 1")
	for range 3 {
		var got int
		if err := a.QueryRow(ctx, "execute twice(21)", pgx.QueryExecModeSimpleProtocol).Scan(&got); err != nil || got != 42 {
			t.Fatalf("EXECUTE: %d, %v", got, err)
		}
	}
	mustExec(t, hold, "commit")
	if _, err := a.Exec(ctx, "prepare twice(int) as select $1"); sqlState(err) != "42P05" {
		t.Errorf("PREPARE of an existing name: %v, want 42P05", err)
	}
	if _, err := b.Exec(ctx, "execute twice(1)"); sqlState(err) != "26000" {
		t.Errorf("EXECUTE of another client's statement: %v, want 26000", err)
	}
	mustExec(t, b, "prepare twice(int) as select $1 * 3") // same name, another text
	var got int
	if err := b.QueryRow(ctx, "execute twice(2)", pgx.QueryExecModeSimpleProtocol).Scan(&got); err != nil || got != 6 {
		t.Fatalf("b's EXECUTE: %d, %v", got, err)
	}
	mustExec(t, a, "deallocate twice")
	if _, err := a.Exec(ctx, "execute twice(1)"); sqlState(err) != "26000" {
		t.Errorf("EXECUTE after DEALLOCATE: %v, want 26000", err)
	}
	if _, err := a.Exec(ctx, "deallocate twice"); sqlState(err) != "26000" {
		t.Errorf("DEALLOCATE twice: %v, want 26000", err)
	}
	mustExec(t, b, "deallocate all")
	if _, err := b.Exec(ctx, "execute twice(1)"); sqlState(err) != "26000" {
		t.Errorf("EXECUTE after DEALLOCATE ALL: %v, want 26000", err)
	}
}

// TestSessionUnnamedStatementAcrossServers: an unnamed statement parsed in
// one transaction and bound in the next (pgx's describe-exec mode) runs
// even when the server changed, and another client's Bind of the unnamed
// statement never runs it.
func TestSessionUnnamedStatementAcrossServers(t *testing.T) {
	p := startPooler(t, sharedConf)
	ctx := ctxTimeout(t, 30*time.Second)
	a := p.connect(plainUser, plainUser, "")
	b := p.connect(plainUser, plainUser, "")
	if _, err := a.PgConn().Prepare(ctx, "", "select $1::int + 100", nil); err != nil {
		t.Fatal(err)
	}
	// b parses its own unnamed statement on the shared server.
	if _, err := b.PgConn().Prepare(ctx, "", "select 'b'", nil); err != nil {
		t.Fatal(err)
	}
	res := a.PgConn().ExecPrepared(ctx, "", [][]byte{[]byte("1")}, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "101" {
		t.Fatalf("a's unnamed statement: %v %q", res.Err, res.Rows)
	}
	// A simple query drops the unnamed statement, as in PostgreSQL.
	mustExec(t, b, "select 1")
	res = b.PgConn().ExecPrepared(ctx, "", nil, nil, nil).Read()
	if sqlState(res.Err) != "26000" {
		t.Fatalf("b's unnamed statement after a simple query: %v %q, want 26000", res.Err, res.Rows)
	}
}
