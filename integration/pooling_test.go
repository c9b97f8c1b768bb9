package integration

import (
	"context"

	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const txConf = baseConf + `
database default {
	user default {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size 5
		pool_discard no
		pool_timeout 20000
	}
}
`

// TestTransactionPoolManyClients runs 200 clients over pool_size 5: every
// result is right and PostgreSQL never sees more than 5 connections.
func TestTransactionPoolManyClients(t *testing.T) {
	p := startPooler(t, txConf)
	const clients = 200
	ctx := ctxTimeout(t, 60*time.Second)

	stop := make(chan struct{})
	maxSeen := 0
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if n, err := pg.Connections(ctx, plainUser); err == nil && n > maxSeen {
				maxSeen = n
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.tryConnect(plainUser, plainUser, "", nil)
			if err != nil {
				errs <- err
				return
			}
			for j := range 5 {
				var got int
				if err := c.QueryRow(ctx, "select $1::int * 2", i*10+j).Scan(&got); err != nil {
					errs <- err
					return
				}
				if got != (i*10+j)*2 {
					errs <- fmt.Errorf("client %d: got %d want %d", i, got, (i*10+j)*2)
					return
				}
				tx, err := c.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				var pid1, pid2 int
				tx.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid1)
				tx.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid2)
				if err := tx.Commit(ctx); err != nil {
					errs <- err
					return
				}
				if pid1 != pid2 || pid1 == 0 {
					errs <- fmt.Errorf("transaction moved between servers: %d then %d", pid1, pid2)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	watch.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if maxSeen > 5 {
		t.Errorf("PostgreSQL saw %d connections of %s, pool_size is 5", maxSeen, plainUser)
	}
	if n := serverConns(t, plainUser); n > 5 {
		t.Errorf("%d server connections after the run, pool_size is 5", n)
	}
}

// TestAbandonedTransaction: a client that leaves inside a transaction
// leaves nothing behind; the next client on the same server sees no trace.
func TestAbandonedTransaction(t *testing.T) {
	p := startPooler(t, strings.Replace(txConf, "pool_size 5", "pool_size 1", 1))
	ctx := ctxTimeout(t, 30*time.Second)
	setup := p.connect(plainUser, plainUser, "")
	mustExec(t, setup, "drop table if exists abandoned; create table abandoned(id int)")

	c1 := p.connect(plainUser, plainUser, "")
	mustExec(t, c1, "begin")
	mustExec(t, c1, "insert into abandoned values (1)")
	mustExec(t, c1, "set local statement_timeout = 1234")
	var pid1 int
	c1.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid1)
	c1.Close(ctx) // leaves mid-transaction

	c2 := p.connect(plainUser, plainUser, "")
	var pid2, n int
	var status string
	if err := c2.QueryRow(ctx, "select pg_backend_pid(), (select count(*) from abandoned), current_setting('statement_timeout')").Scan(&pid2, &n, &status); err != nil {
		t.Fatal(err)
	}
	if pid2 != pid1 {
		t.Fatalf("pool_size 1 but a new server was used (%d then %d)", pid1, pid2)
	}
	if n != 0 || status != "0" {
		t.Fatalf("abandoned transaction visible: %d rows, statement_timeout %s", n, status)
	}
	// The abandoned transaction's lock is gone too.
	mustExec(t, c2, "begin; lock table abandoned in access exclusive mode nowait; commit")
}

// TestPoolTimeout: with the only server busy, a second client waits
// pool_timeout and gets 53300 naming the route and the size.
func TestPoolTimeout(t *testing.T) {
	conf := strings.Replace(txConf, "pool_timeout 20000", "pool_timeout 200", 1)
	conf = strings.Replace(conf, "pool_size 5", "pool_size 1", 1)
	p := startPooler(t, conf)
	ctx := ctxTimeout(t, 30*time.Second)
	busy := p.connect(plainUser, plainUser, "")
	mustExec(t, busy, "begin") // holds the only server
	mustExec(t, busy, "select 1")

	c := p.connect(plainUser, plainUser, "")
	start := time.Now()
	_, err := c.Exec(ctx, "select 1")
	if got := sqlState(err); got != "53300" {
		t.Fatalf("got %v (%s), want 53300", err, got)
	}
	if !strings.Contains(err.Error(), "app.app") || !strings.Contains(err.Error(), "reached 1") {
		t.Errorf("message does not name the route and size: %v", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Errorf("failed after %v, before pool_timeout", waited)
	}
	mustExec(t, busy, "commit")
}

// TestPoolHandOff: a waiting client gets the server the moment it is freed.
func TestPoolHandOff(t *testing.T) {
	p := startPooler(t, strings.Replace(txConf, "pool_size 5", "pool_size 1", 1))
	ctx := ctxTimeout(t, 30*time.Second)
	a := p.connect(plainUser, plainUser, "")
	b := p.connect(plainUser, plainUser, "")
	mustExec(t, a, "begin")
	mustExec(t, a, "select 1") // BEGIN alone takes no server (virtual_transaction)
	done := make(chan error, 1)
	go func() {
		_, err := b.Exec(ctx, "select 1")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("second client ran while the only server was in a transaction: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	mustExec(t, a, "commit")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestDetachPoints checks when each pool mode gives the server back.
func TestDetachPoints(t *testing.T) {
	for _, mode := range []string{"session", "transaction", "statement"} {
		t.Run(mode, func(t *testing.T) {
			conf := baseConf + rule(`authentication "none"
				pool "`+mode+`"
				pool_size 2
				pool_discard no`)
			p := startPooler(t, conf)
			ctx := ctxTimeout(t, 30*time.Second)
			a := p.connect(plainUser, plainUser, "")
			b := p.connect(plainUser, plainUser, "")
			pid := func(c *pgx.Conn) int {
				var n int
				if err := c.QueryRow(ctx, "select pg_backend_pid()").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			a1 := pid(a)
			b1 := pid(b)
			a2 := pid(a)
			switch mode {
			case "session":
				if a1 != a2 || a1 == b1 {
					t.Errorf("session: a=%d,%d b=%d; want a pinned and b separate", a1, a2, b1)
				}
			default:
				// Detached after each statement: the LIFO pool hands the
				// most recently used server (b's) to a.
				if a2 != b1 {
					t.Errorf("%s: a=%d then %d, b=%d; want a to reuse b's server", mode, a1, a2, b1)
				}
			}
		})
	}
}

// TestStatementModeRejectsTransactions: a multi-statement transaction in a
// statement pool ends the client with a clear error.
func TestStatementModeRejectsTransactions(t *testing.T) {
	p := startPooler(t, baseConf+rule(`authentication "none"
		pool "statement"
		pool_size 1
		pool_discard no`))
	ctx := ctxTimeout(t, 30*time.Second)
	c := p.connect(plainUser, plainUser, "")
	_, err := c.Exec(ctx, "begin")
	if err == nil {
		_, err = c.Exec(ctx, "select 1")
	}
	if err == nil || !strings.Contains(err.Error(), "statement pooling") {
		t.Fatalf("got %v, want an error about statement pooling", err)
	}
	// The server was rolled back and is usable.
	c2 := p.connect(plainUser, plainUser, "")
	var status string
	if err := c2.QueryRow(ctx, "select 'ok'").Scan(&status); err != nil || status != "ok" {
		t.Fatalf("next client: %v", err)
	}
}

func mustExec(t *testing.T, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
