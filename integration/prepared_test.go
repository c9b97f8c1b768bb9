package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// preparedConf is a transaction pool with prepared statements (the
// default pool_reserve_prepared_statement yes) and fewer servers than
// clients.
const preparedConf = baseConf + `
database default {
	user default {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size 2
		pool_discard no
		pool_timeout 20000
	}
}
`

// TestPreparedAcrossServers: named statements prepared by many clients
// work on whatever server each transaction gets.
func TestPreparedAcrossServers(t *testing.T) {
	p := startPooler(t, preparedConf)
	ctx := ctxTimeout(t, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := p.tryConnect(plainUser, plainUser, "", nil) // pgx caches statements by default
			if err != nil {
				errs <- err
				return
			}
			for j := range 30 {
				var got int
				q := fmt.Sprintf("select $1::int + %d", j%3)
				if err := c.QueryRow(ctx, q, i).Scan(&got); err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				if got != i+j%3 {
					errs <- fmt.Errorf("client %d: got %d", i, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPreparedErrorsLikePostgres: duplicate and unknown names and Close
// are answered as PostgreSQL would, and the connection carries on.
func TestPreparedErrorsLikePostgres(t *testing.T) {
	p := startPooler(t, preparedConf)
	ctx := ctxTimeout(t, 30*time.Second)
	c := p.connect(plainUser, plainUser, "")
	pc := c.PgConn()
	if _, err := pc.Prepare(ctx, "s1", "select $1::int", nil); err != nil {
		t.Fatal(err)
	}
	_, err := pc.Prepare(ctx, "s1", "select 2", nil)
	if sqlState(err) != "42P05" || !strings.Contains(err.Error(), `prepared statement "s1" already exists`) {
		t.Fatalf("duplicate: %v", err)
	}
	res := pc.ExecPrepared(ctx, "nope", nil, nil, nil).Read()
	if sqlState(res.Err) != "26000" || !strings.Contains(res.Err.Error(), `prepared statement "nope" does not exist`) {
		t.Fatalf("unknown: %v", res.Err)
	}
	res = pc.ExecPrepared(ctx, "s1", [][]byte{[]byte("7")}, nil, nil).Read()
	if res.Err != nil || string(res.Rows[0][0]) != "7" {
		t.Fatalf("after errors: %v %v", res.Err, res.Rows)
	}
	if err := pc.Deallocate(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	res = pc.ExecPrepared(ctx, "s1", [][]byte{[]byte("7")}, nil, nil).Read()
	if sqlState(res.Err) != "26000" {
		t.Fatalf("after close: %v", res.Err)
	}
	if _, err := pc.Prepare(ctx, "s1", "select $1::int * 2", nil); err != nil {
		t.Fatalf("re-prepare after close: %v", err)
	}
	res = pc.ExecPrepared(ctx, "s1", [][]byte{[]byte("7")}, nil, nil).Read()
	if res.Err != nil || string(res.Rows[0][0]) != "14" {
		t.Fatalf("re-prepared: %v %v", res.Err, res.Rows)
	}
	// An error inside a transaction leaves it failed, as PostgreSQL would.
	mustExec(t, c, "begin")
	res = pc.ExecPrepared(ctx, "nope", nil, nil, nil).Read()
	if sqlState(res.Err) != "26000" {
		t.Fatalf("unknown in tx: %v", res.Err)
	}
	_, err = c.Exec(ctx, "select 1")
	if sqlState(err) != "25P02" {
		t.Fatalf("after an error in a transaction: %v, want 25P02", err)
	}
	mustExec(t, c, "rollback")
}

// TestPreparedPipeline: a pipeline mixing new and known statements gets
// every reply in order.
func TestPreparedPipeline(t *testing.T) {
	p := startPooler(t, preparedConf)
	ctx := ctxTimeout(t, 30*time.Second)
	c := p.connect(plainUser, plainUser, "")
	for round := range 3 {
		b := &pgx.Batch{}
		for i := range 10 {
			b.Queue(fmt.Sprintf("select $1::int + %d", i%4), round*100+i)
		}
		br := c.SendBatch(ctx, b)
		for i := range 10 {
			var got int
			if err := br.QueryRow().Scan(&got); err != nil {
				t.Fatalf("round %d item %d: %v", round, i, err)
			}
			if want := round*100 + i + i%4; got != want {
				t.Fatalf("round %d item %d: %d, want %d", round, i, got, want)
			}
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
	}
	pc := c.PgConn()
	pl := pc.StartPipeline(ctx)
	pl.SendPrepare("p1", "select $1::text", nil)
	pl.SendQueryPrepared("p1", [][]byte{[]byte("a")}, nil, nil)
	pl.SendPrepare("p1", "select 1", nil) // duplicate: fails, skips to Sync
	pl.SendQueryPrepared("p1", [][]byte{[]byte("b")}, nil, nil)
	pl.Sync()
	pl.SendQueryPrepared("p1", [][]byte{[]byte("c")}, nil, nil)
	pl.Sync()
	var seen []string
	for len(seen) < 6 {
		res, err := pl.GetResults()
		switch r := res.(type) {
		case *pgconn.StatementDescription:
			seen = append(seen, "prepared")
		case *pgconn.ResultReader:
			rr := r.Read()
			if rr.Err != nil {
				seen = append(seen, "error "+sqlState(rr.Err))
			} else {
				seen = append(seen, "row "+string(rr.Rows[0][0]))
			}
		case *pgconn.PipelineSync:
			seen = append(seen, "sync")
		case nil:
			if err != nil {
				seen = append(seen, "error "+sqlState(err))
			}
		}
	}
	pl.Close()
	want := "prepared,row a,error 42P05,sync,row c,sync"
	if got := strings.Join(seen, ","); got != want {
		t.Fatalf("pipeline replies %s, want %s", got, want)
	}
}

// TestPreparedDiscardAll: DISCARD ALL forgets the client's statements.
func TestPreparedDiscardAll(t *testing.T) {
	p := startPooler(t, preparedConf)
	ctx := ctxTimeout(t, 30*time.Second)
	c := p.connect(plainUser, plainUser, "")
	pc := c.PgConn()
	if _, err := pc.Prepare(ctx, "d1", "select 1", nil); err != nil {
		t.Fatal(err)
	}
	if err := pc.Exec(ctx, "discard all").Close(); err != nil {
		t.Fatal(err)
	}
	res := pc.ExecPrepared(ctx, "d1", nil, nil, nil).Read()
	if sqlState(res.Err) != "26000" {
		t.Fatalf("after DISCARD ALL: %v", res.Err)
	}
	if _, err := pc.Prepare(ctx, "d1", "select 1", nil); err != nil {
		t.Fatalf("prepare after DISCARD ALL: %v", err)
	}
}

// TestPreparedCachedPlanChanged: a statement whose result type changed is
// re-prepared, as with PostgreSQL directly (pgx retries once).
func TestPreparedCachedPlanChanged(t *testing.T) {
	p := startPooler(t, strings.Replace(preparedConf, "pool_size 2", "pool_size 1", 1))
	ctx := ctxTimeout(t, 30*time.Second)
	c := p.connect(plainUser, plainUser, "")
	mustExec(t, c, "drop table if exists plan_t; create table plan_t(a int)")
	mustExec(t, c, "insert into plan_t values (1)")
	var a int
	if err := c.QueryRow(ctx, "select * from plan_t").Scan(&a); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "alter table plan_t add column b int")
	var b *int
	err := c.QueryRow(ctx, "select * from plan_t").Scan(&a, &b)
	if err != nil && sqlState(err) != "0A000" {
		t.Fatal(err)
	}
	// pgx drops its cached statement after 0A000; the next try works.
	if err := c.QueryRow(ctx, "select * from plan_t").Scan(&a, &b); err != nil {
		t.Fatalf("after the plan changed: %v", err)
	}
	mustExec(t, c, "drop table plan_t")
}

// TestPgbenchPrepared: pgbench -M prepared, 256 clients over 20 servers,
// select-only and TPC-B, no failed transaction (PgBouncer 1.18 fails
// this); the pgbench line of the driver matrix (drivers_test.go).
func TestPgbenchPrepared(t *testing.T) {
	p := startPooler(t, strings.Replace(preparedConf, "pool_size 2", "pool_size 20", 1))
	env := []string{"PGHOST=127.0.0.1", fmt.Sprintf("PGPORT=%d", p.port), "PGUSER=" + plainUser, "PGDATABASE=" + plainUser, "PGSSLMODE=disable"}
	run := func(args ...string) string {
		cmd := exec.Command("pgbench", args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pgbench %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("-i", "-s", "1", "-q")
	out := run("-M", "prepared", "-c", "256", "-j", "2", "-T", "5", "-S")
	if !strings.Contains(out, "number of failed transactions: 0 ") {
		t.Fatalf("select-only:\n%s", out)
	}
	out = run("-M", "prepared", "-c", "256", "-j", "2", "-T", "5")
	if !strings.Contains(out, "number of failed transactions: 0 ") {
		t.Fatalf("tpcb:\n%s", out)
	}
}
