package integration

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestConsolePauseResume: while paused, new transactions of a transaction
// pool wait and idle session clients are dropped; the console works; after
// RESUME the waiting transaction runs.
func TestConsolePauseResume(t *testing.T) {
	p := startPooler(t, consoleConf(`
database "`+otherDB+`" {
	user default {
		authentication "none"
		storage "pg"
		pool "session"
		pool_size 4
	}
}
`+appRule))
	ctx := ctxTimeout(t, 60*time.Second)
	con := p.consoleConn("admin", "adminpw")
	tx := p.connect(plainUser, plainUser, "")
	mustExec(t, tx, "select 1")
	idle := p.connect(plainUser, otherDB, "")
	mustExec(t, idle, "select 1")
	busy := p.connect(plainUser, otherDB, "")
	mustExec(t, busy, "begin")

	mustExec(t, con, "PAUSE")
	if s := show(t, con, "show is_paused"); s.rows[0][0] != "t" {
		t.Fatalf("SHOW IS_PAUSED after PAUSE: %q", s.rows)
	}
	done := make(chan error, 1)
	go func() {
		_, err := tx.Exec(ctx, "select 2")
		done <- err
	}()
	waitFor(t, 10*time.Second, "the transaction to wait in SHOW POOLS", func() bool {
		r := show(t, con, "show pools").row("database", plainUser)
		return r != nil && r["cl_waiting"] == "1"
	})
	select {
	case err := <-done:
		t.Fatalf("a transaction ran while paused: %v", err)
	default:
	}
	// The idle session client is dropped; the one in a transaction may
	// finish it first.
	_, err := idle.Exec(ctx, "select 1")
	if sqlState(err) != "57P01" || !strings.Contains(err.Error(), "paused") {
		t.Errorf("idle session client while paused: %v, want FATAL 57P01 saying why", err)
	}
	mustExec(t, busy, "select 1")
	mustExec(t, busy, "commit")
	waitFor(t, 10*time.Second, "the session client to be dropped after its transaction", func() bool {
		_, err := busy.Exec(ctx, "select 1")
		return sqlState(err) == "57P01"
	})

	mustExec(t, con, "RESUME")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the waiting transaction after RESUME: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the waiting transaction did not run after RESUME")
	}
	if s := show(t, con, "show is_paused"); s.rows[0][0] != "f" {
		t.Fatalf("SHOW IS_PAUSED after RESUME: %q", s.rows)
	}
}

// TestConsoleKillClient: the victim gets a FATAL that says why and leaves
// SHOW CLIENTS; an unknown id is an error.
func TestConsoleKillClient(t *testing.T) {
	p := startPooler(t, consoleConf(appRule))
	ctx := ctxTimeout(t, 30*time.Second)
	con := p.consoleConn("admin", "adminpw")
	victim := p.connect(plainUser, plainUser, "")
	mustExec(t, victim, "select 1")
	port := strconv.Itoa(victim.PgConn().Conn().LocalAddr().(*net.TCPAddr).Port)
	r := show(t, con, "show clients").row("port", port)
	if r == nil {
		t.Fatal("the victim is not in SHOW CLIENTS")
	}
	mustExec(t, con, "KILL_CLIENT "+r["id"])
	_, err := victim.Exec(ctx, "select 1")
	if sqlState(err) != "57P01" || !strings.Contains(err.Error(), "KILL_CLIENT") || !strings.Contains(err.Error(), r["id"]) {
		t.Fatalf("killed client got %v, want FATAL 57P01 naming KILL_CLIENT and its id", err)
	}
	waitFor(t, 10*time.Second, "the victim to leave SHOW CLIENTS", func() bool {
		return show(t, con, "show clients").row("id", r["id"]) == nil
	})
	if _, err := con.Exec(ctx, "KILL_CLIENT "+r["id"]); sqlState(err) != "42704" {
		t.Fatalf("KILL_CLIENT of a client that left: %v, want 42704", err)
	}
}

// TestConsoleDropServers: a busy server is closed when it is released (the
// client's PostgreSQL backend changes), an idle one at once; RECONNECT is
// the same for one database.
func TestConsoleDropServers(t *testing.T) {
	p := startPooler(t, consoleConf(appRule))
	ctx := ctxTimeout(t, 30*time.Second)
	con := p.consoleConn("admin", "adminpw")
	c := p.connect(plainUser, plainUser, "")
	backendPID := func() int {
		var pid int
		if err := c.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		return pid
	}
	alive := func(pid int) bool {
		var n int
		direct(t).QueryRow(ctx, "select count(*) from pg_stat_activity where pid = $1", pid).Scan(&n)
		return n == 1
	}
	mustExec(t, c, "begin")
	first := backendPID()
	mustExec(t, con, "DROP SERVERS")
	if r := show(t, con, "show servers").row("remote_pid", strconv.Itoa(first)); r == nil || r["offline"] != "t" {
		t.Fatalf("SHOW SERVERS after DROP SERVERS: %v, want the busy server offline", r)
	}
	if got := backendPID(); got != first {
		t.Fatalf("the transaction moved from backend %d to %d", first, got)
	}
	mustExec(t, c, "commit")
	waitFor(t, 10*time.Second, "the released server to be closed", func() bool { return !alive(first) })
	second := backendPID()
	if second == first {
		t.Fatal("the dropped server was reused")
	}
	// The new server is idle now: RECONNECT closes it at once.
	waitFor(t, 10*time.Second, "an idle server", func() bool {
		return show(t, con, "show pools").row("database", plainUser)["sv_idle"] == "1"
	})
	mustExec(t, con, "RECONNECT "+plainUser)
	waitFor(t, 10*time.Second, "the idle server to be closed", func() bool { return !alive(second) })
	if _, err := con.Exec(ctx, "RECONNECT nosuchdb"); sqlState(err) != "3D000" {
		t.Fatalf("RECONNECT of an unknown database: %v", err)
	}
}

// TestConsoleReload: RELOAD from the console applies the file; a broken
// file is refused with the reason and changes nothing.
func TestConsoleReload(t *testing.T) {
	p := startPooler(t, consoleConf(appRule))
	ctx := ctxTimeout(t, 30*time.Second)
	con := p.consoleConn("admin", "adminpw")
	mustExec(t, p.connect(plainUser, plainUser, ""), "select 1")
	poolSize := func() string {
		return show(t, con, "show databases").row("name", plainUser)["pool_size"]
	}
	if got := poolSize(); got != "1" {
		t.Fatalf("pool_size %s before reload", got)
	}
	p.rewrite(consoleConf(strings.Replace(appRule, "pool_size 1", "pool_size 3", 1)))
	mustExec(t, con, "RELOAD")
	if got := poolSize(); got != "3" {
		t.Fatalf("pool_size %s after RELOAD, want 3", got)
	}
	p.rewrite(consoleConf(appRule) + "pool_szie 2\n")
	_, err := con.Exec(ctx, "reload")
	if sqlState(err) != "F0000" || !strings.Contains(err.Error(), "pool_szie") {
		t.Fatalf("RELOAD of a broken file: %v", err)
	}
	if got := poolSize(); got != "3" {
		t.Fatalf("pool_size %s after a failed RELOAD, want 3", got)
	}
}

// TestConsoleShutdown: SHUTDOWN asks the process to stop (cmd/odyssey
// reacts as to SIGTERM; see its tests); the shutdown then ends the console
// session too.
func TestConsoleShutdown(t *testing.T) {
	p := startPooler(t, consoleConf(appRule))
	ctx := ctxTimeout(t, 30*time.Second)
	con := p.consoleConn("admin", "adminpw")
	select {
	case <-p.inst.ShutdownRequested():
		t.Fatal("shutdown requested before SHUTDOWN")
	default:
	}
	if tag, err := con.Exec(ctx, "SHUTDOWN"); err != nil || tag.String() != "SHUTDOWN" {
		t.Fatalf("SHUTDOWN: %q %v", tag, err)
	}
	select {
	case <-p.inst.ShutdownRequested():
	case <-ctx.Done():
		t.Fatal("SHUTDOWN did not request a shutdown")
	}
	p.inst.Shutdown(ctx)
	if _, err := con.Exec(ctx, "show version"); sqlState(err) != "57P01" {
		t.Fatalf("console session after shutdown: %v, want 57P01", err)
	}
}
