package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// backendsOf lists PostgreSQL pids of user's client backends whose query
// matches like (a LIKE pattern), seen from a direct connection.
func backendsOf(t *testing.T, user, like string) []int {
	t.Helper()
	ctx := ctxTimeout(t, 10*time.Second)
	rows, err := direct(t).Query(ctx,
		"select pid from pg_stat_activity where usename = $1 and backend_type = 'client backend' and query like $2 and pid <> pg_backend_pid()",
		user, like)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		rows.Scan(&pid)
		pids = append(pids, pid)
	}
	return pids
}

// TestClientLeavesMidQuery: a client that disconnects while pg_sleep runs
// gets its query cancelled; the server is reused, clean.
func TestClientLeavesMidQuery(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			p := startPooler(t, baseConf+rule(`authentication "none"
				pool "`+mode+`"
				pool_size 1
				pool_discard yes
				pool_timeout 10000`))
			ctx := ctxTimeout(t, 30*time.Second)
			c := p.connect(plainUser, plainUser, "")
			var pid int
			c.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid)
			go c.Exec(ctx, "select pg_sleep(30) /* abandoned */")
			waitFor(t, 10*time.Second, "pg_sleep to start", func() bool {
				return len(backendsOf(t, plainUser, "%abandoned%")) == 1
			})
			c.PgConn().Conn().Close() // vanish without a goodbye
			waitFor(t, 10*time.Second, "the abandoned query to be cancelled", func() bool {
				var state string
				direct(t).QueryRow(ctx, "select coalesce(state, '') from pg_stat_activity where pid = $1", pid).Scan(&state)
				return state == "idle"
			})
			c2 := p.connect(plainUser, plainUser, "")
			var pid2 int
			if err := c2.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid2); err != nil {
				t.Fatal(err)
			}
			if pid2 != pid {
				t.Errorf("server not reused after cancel: %d then %d", pid, pid2)
			}
		})
	}
}

// TestClientLeavesWithoutCancel: with pool_cancel no, a server left
// mid-query is closed rather than reused, and its slot is freed.
func TestClientLeavesWithoutCancel(t *testing.T) {
	p := startPooler(t, baseConf+rule(`authentication "none"
		pool "transaction"
		pool_size 1
		pool_discard no
		pool_cancel no
		pool_timeout 10000`))
	ctx := ctxTimeout(t, 30*time.Second)
	c := p.connect(plainUser, plainUser, "")
	go c.Exec(ctx, "select pg_sleep(3) /* nocancel */")
	var victim []int
	waitFor(t, 10*time.Second, "pg_sleep to start", func() bool {
		victim = backendsOf(t, plainUser, "%nocancel%")
		return len(victim) == 1
	})
	c.PgConn().Conn().Close()
	c2 := p.connect(plainUser, plainUser, "")
	var pid int
	if err := c2.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if pid == victim[0] {
		t.Fatal("server left mid-query was reused")
	}
}

// TestBackendTerminatedWhileIdle: a pooled server killed by an
// administrator is replaced transparently.
func TestBackendTerminatedWhileIdle(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			p := startPooler(t, baseConf+rule(`authentication "none"
				pool "`+mode+`"
				pool_size 1
				pool_discard no`))
			ctx := ctxTimeout(t, 30*time.Second)
			c := p.connect(plainUser, plainUser, "")
			var pid int
			c.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid)
			if mode == "session" {
				c.Close(ctx) // back to the pool
			}
			var ok bool
			if err := direct(t).QueryRow(ctx, "select pg_terminate_backend($1, 10000)", pid).Scan(&ok); err != nil || !ok {
				t.Fatalf("terminate: %v", err)
			}
			c2 := p.connect(plainUser, plainUser, "")
			var pid2 int
			if err := c2.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid2); err != nil {
				t.Fatalf("query after idle server was terminated: %v", err)
			}
			if pid2 == pid {
				t.Fatal("dead server reused")
			}
		})
	}
}

// TestBackendTerminatedWhileBusy: a server killed mid-query gives the
// client an error, not a hang, and the pool recovers.
func TestBackendTerminatedWhileBusy(t *testing.T) {
	poolModes(t, func(t *testing.T, p *pooler) {
		ctx := ctxTimeout(t, 30*time.Second)
		c := p.connect(plainUser, plainUser, "")
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(ctx, "select pg_sleep(30) /* victim */")
			done <- err
		}()
		var pids []int
		waitFor(t, 10*time.Second, "pg_sleep to start", func() bool {
			pids = backendsOf(t, plainUser, "%victim%")
			return len(pids) == 1
		})
		mustExec(t, direct(t), fmt.Sprintf("select pg_terminate_backend(%d)", pids[0]))
		select {
		case err := <-done:
			if code := sqlState(err); code != "57P01" && code != "08006" {
				t.Fatalf("got %v, want 57P01 or 08006", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("client hangs after its server died")
		}
		c2 := p.connect(plainUser, plainUser, "")
		mustExec(t, c2, "select 1")
	})
}

// TestServerDisappears: the server's socket closes without any message
// (like a crash or network failure): the client gets 08006.
func TestServerDisappears(t *testing.T) {
	p := startPooler(t, sessionConf)
	ctx := ctxTimeout(t, 30*time.Second)
	c := p.connect(plainUser, plainUser, "")
	mustExec(t, c, "select 1") // attach
	// pg_terminate_backend sends a FATAL first, and SIGKILL would restart
	// the whole shared cluster; cut the server socket inside the pooler.
	for _, rt := range p.inst.Router().Routes() {
		for _, s := range rt.Servers() {
			s.Conn.Close()
		}
	}
	_, err := c.Exec(ctx, "select 1")
	if sqlState(err) != "08006" && !strings.Contains(fmt.Sprint(err), "closed") {
		t.Fatalf("got %v, want 08006", err)
	}
}

// TestResetQueries: pool_discard yes resets session state between
// clients in session mode; pool_discard_query runs the custom query. The
// settings never leak, even with no reset query: the next client's server
// is returned to its startup values (RESET ALL); other state (a temporary
// table here) is what pool_discard no keeps.
func TestResetQueries(t *testing.T) {
	cases := []struct {
		name, items string
		leaks       bool // the temporary table
	}{
		{"discard", `pool_discard yes`, false},
		{"smart", `pool_discard yes
			pool_smart_discard yes
			pool_reserve_prepared_statement yes`, false},
		{"custom", `pool_discard_query "RESET ALL"`, true},
		{"none", `pool_discard no`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startPooler(t, baseConf+rule(`authentication "none"
				pool "session"
				pool_size 1
				`+tc.items))
			ctx := ctxTimeout(t, 30*time.Second)
			c := p.connect(plainUser, plainUser, "")
			mustExec(t, c, "set work_mem = '7MB'")
			mustExec(t, c, "create temp table reset_leak(i int)")
			c.Close(ctx)
			c2 := p.connect(plainUser, plainUser, "")
			var wm string
			var tables int
			c2.QueryRow(ctx, "show work_mem").Scan(&wm)
			c2.QueryRow(ctx, "select count(*) from pg_tables where tablename = 'reset_leak'").Scan(&tables)
			if wm == "7MB" {
				t.Errorf("work_mem = %s after reset %s", wm, tc.name)
			}
			if leaked := tables == 1; leaked != tc.leaks {
				t.Errorf("temporary table left: %v after reset %s, want %v", leaked, tc.name, tc.leaks)
			}
		})
	}
}

// TestPoolTTLAndMinPoolSize: idle servers past pool_ttl are closed, and
// min_pool_size keeps servers open with no clients.
func TestPoolTTLAndMinPoolSize(t *testing.T) {
	p := startPooler(t, baseConf+`
database "`+otherDB+`" {
	user default {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size 5
		pool_ttl 1
		pool_discard no
	}
}
database "`+plainUser+`" {
	user default {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size 5
		min_pool_size 3
		pool_discard no
	}
}
`)
	ctx := ctxTimeout(t, 30*time.Second)
	c := p.connect(plainUser, otherDB, "")
	mustExec(t, c, "select 1")
	countDB := func(db string) int {
		var n int
		direct(t).QueryRow(ctx, "select count(*) from pg_stat_activity where datname = $1 and usename = $2", db, plainUser).Scan(&n)
		return n
	}
	if countDB(otherDB) != 1 {
		t.Fatal("expected one server for otherdb")
	}
	waitFor(t, 10*time.Second, "pool_ttl to close the idle server", func() bool { return countDB(otherDB) == 0 })
	// min_pool_size applies once the route exists.
	c2 := p.connect(plainUser, plainUser, "")
	mustExec(t, c2, "select 1")
	waitFor(t, 10*time.Second, "min_pool_size servers", func() bool { return countDB(plainUser) >= 3 })
}

// TestServerLifetime: a server older than server_lifetime is not reused.
func TestServerLifetime(t *testing.T) {
	p := startPooler(t, baseConf+rule(`authentication "none"
		pool "transaction"
		pool_size 1
		server_lifetime 1
		pool_discard no`))
	ctx := ctxTimeout(t, 30*time.Second)
	c := p.connect(plainUser, plainUser, "")
	var pid int
	c.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid)
	waitFor(t, 10*time.Second, "the server to expire", func() bool {
		var pid2 int
		c.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid2)
		return pid2 != pid
	})
}

// TestParamsFollowClient: in a transaction pool with one server, clients
// with different session parameters each see their own, every time.
func TestParamsFollowClient(t *testing.T) {
	p := startPooler(t, strings.Replace(txConf, "pool_size 5", "pool_size 1", 1))
	ctx := ctxTimeout(t, 30*time.Second)
	tokyo, err := p.tryConnect(plainUser, plainUser, "", map[string]string{"TimeZone": "Asia/Tokyo", "application_name": "tokyo", "search_path": `"$user", public`})
	if err != nil {
		t.Fatal(err)
	}
	plain := p.connect(plainUser, plainUser, "")
	var defTZ string
	direct(t).QueryRow(ctx, "show timezone").Scan(&defTZ)
	for i := range 3 {
		var tz, app, sp string
		if err := tokyo.QueryRow(ctx, "select current_setting('TimeZone'), current_setting('application_name'), current_setting('search_path')").Scan(&tz, &app, &sp); err != nil {
			t.Fatal(err)
		}
		if tz != "Asia/Tokyo" || app != "tokyo" || sp != `"$user", public` {
			t.Fatalf("round %d: tokyo client sees %q %q %q", i, tz, app, sp)
		}
		if err := plain.QueryRow(ctx, "select current_setting('TimeZone'), current_setting('application_name')").Scan(&tz, &app); err != nil {
			t.Fatal(err)
		}
		if tz != defTZ || app != "" {
			t.Fatalf("round %d: plain client sees %q %q, want %q and empty", i, tz, app, defTZ)
		}
	}
	// A SET during the client's traffic is remembered for its next server.
	mustExec(t, plain, "set statement_timeout = '5s'") // not reported: stays on this server only
	mustExec(t, plain, "set datestyle = 'German'")     // reported: carried
	var ds string
	tokyo.QueryRow(ctx, "show datestyle").Scan(&ds)
	if strings.HasPrefix(ds, "German") {
		t.Fatalf("tokyo client sees the other client's DateStyle %q", ds)
	}
	plain.QueryRow(ctx, "show datestyle").Scan(&ds)
	if !strings.HasPrefix(ds, "German") {
		t.Fatalf("plain client lost its DateStyle: %q", ds)
	}
	if got := plain.PgConn().ParameterStatus("DateStyle"); !strings.HasPrefix(got, "German") {
		t.Fatalf("ParameterStatus DateStyle = %q", got)
	}
}

// abandonConf is examples/transaction.conf's reset policy on a pool of one
// server: what a client leaves behind is what the next one gets.
const abandonConf = `authentication "none"
	pool "transaction"
	pool_size 1
	pool_discard no
	pool_rollback yes
	pool_cancel yes
	pool_timeout 20000`

// TestAbandonedQueryLeavesNoDeadline: the read deadline armed to cancel
// and drain an abandoned query goes with it; the next client's query runs
// for as long as it takes (it used to be killed 2 s in by that deadline:
// pool_reset_timeout_ms plus cancel_timeout_ms).
func TestAbandonedQueryLeavesNoDeadline(t *testing.T) {
	p := startPooler(t, baseConf+rule(abandonConf))
	ctx := ctxTimeout(t, 30*time.Second)
	a := p.connect(plainUser, plainUser, "")
	go a.Exec(ctx, "select pg_sleep(8) /* abandoned deadline */")
	waitFor(t, 10*time.Second, "pg_sleep to start", func() bool {
		return len(backendsOf(t, plainUser, "%abandoned deadline%")) == 1
	})
	a.PgConn().Conn().Close() // kill -9 of the client
	b := p.connect(plainUser, plainUser, "")
	if _, err := b.Exec(ctx, "select pg_sleep(3)"); err != nil {
		t.Fatalf("the next client's query: %v", err)
	}
}

// TestAbandonedQueryCancelHitsOnlyIt: the cancel sent for an abandoned
// query never reaches the next client's query, even when the abandoned
// query has finished by the time the cancel arrives: the server goes back
// only once PostgreSQL has the cancel.
func TestAbandonedQueryCancelHitsOnlyIt(t *testing.T) {
	p := startPooler(t, baseConf+rule(abandonConf))
	ctx := ctxTimeout(t, 120*time.Second)
	for try := range 15 {
		// Results from a little more than the socket buffers hold, so
		// that the client leaves around the time the query ends.
		a := p.connect(plainUser, plainUser, "")
		rows, err := a.Query(ctx, fmt.Sprintf("select repeat('x', 1000) from generate_series(1, %d)", 4000+try*2000))
		if err != nil {
			t.Fatal(err)
		}
		rows.Next() // one row, then vanish
		done := make(chan error, 1)
		go func() {
			b, err := p.tryConnect(plainUser, plainUser, "", nil)
			if err == nil {
				_, err = b.Exec(ctx, "select pg_sleep(0.3)")
				b.Close(ctx)
			}
			done <- err
		}()
		waitFor(t, 10*time.Second, "the next client to wait for the server", func() bool {
			return p.inst.Router().Routes()[0].PoolStats().Waiting == 1
		})
		a.PgConn().Conn().Close()
		if err := <-done; err != nil {
			t.Fatalf("try %d: the next client's query: %v", try, err)
		}
	}
}
