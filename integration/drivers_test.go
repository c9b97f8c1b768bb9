package integration

// The driver matrix (issue 6): real client drivers against a transaction
// pool with fewer servers than clients, on the real PostgreSQL of the
// package. Each driver uses prepared statements its own way:
//
//   - pgx v5 in each query exec mode, with batches, pipelines and
//     transactions, and statement caches small enough to evict (Close);
//   - lib/pq through database/sql, one Stmt shared by 50 goroutines
//     (Odyssey's prep_stmts test) and statements inside transactions;
//   - node-postgres named queries (testdata/drivers/node);
//   - psycopg 3 with prepare_threshold=0 and pipeline mode
//     (testdata/drivers/python).
//
// pgbench -M prepared with 256 clients is TestPgbenchPrepared.
// TestDriverWireSequences reduces what failed in drivers to raw message
// sequences, checked against PostgreSQL itself first. With
// ODYSSEY_DRIVER_TRACE=file, the driver tests log every message between
// the drivers and the pooler to file (see traceDrivers).
//
// Node.js, npm and Debian's python3-psycopg are required: the tests fail,
// not skip, without them (make test installs them when it runs as root,
// see scripts/test-deps.sh).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	_ "github.com/lib/pq"
)

// driverUser is the role the driver tests connect as: a role of their own,
// so that counting its backends counts the pooler's servers.
const driverUser = "drivers"

var driverRole struct {
	once sync.Once
	err  error
}

// driverConf is a transaction pool of poolSize servers, Odyssey's defaults
// otherwise, plus the extra rule items.
func driverConf(poolSize int, extra ...string) string {
	return baseConf + rule(fmt.Sprintf(`		authentication "none"
		pool "transaction"
		pool_size %d
		pool_timeout 30000
		%s`, poolSize, strings.Join(extra, "\n\t\t")))
}

// startDriverPooler starts a transaction pool of poolSize servers (and the
// extra rule items) for driverUser, once the servers of an earlier test
// have gone.
func startDriverPooler(t *testing.T, poolSize int, extra ...string) *pooler {
	t.Helper()
	driverRoleReady(t)
	p := startPooler(t, driverConf(poolSize, extra...))
	traceDrivers(t, p)
	return p
}

// driverRoleReady creates driverUser once, and waits until no server of
// an earlier test is left.
func driverRoleReady(t *testing.T) {
	t.Helper()
	driverRole.once.Do(func() {
		driverRole.err = pg.Exec(ctxTimeout(t, 10*time.Second), "CREATE ROLE "+driverUser+" LOGIN SUPERUSER")
	})
	if driverRole.err != nil {
		t.Fatalf("create role %s: %v", driverUser, driverRole.err)
	}
	waitFor(t, 15*time.Second, "the servers of earlier tests to close", func() bool {
		return serverConns(t, driverUser) == 0
	})
}

// checkServers fails the test unless the pooler opened between 1 and
// poolSize servers (they stay in the pool once opened).
func checkServers(t *testing.T, poolSize int) {
	t.Helper()
	if n := serverConns(t, driverUser); n < 1 || n > poolSize {
		t.Errorf("%d servers of %s, want 1 to pool_size %d", n, driverUser, poolSize)
	}
}

// collect gathers the errors of concurrent workers and reports at most a
// few of them.
type collect struct {
	mu   sync.Mutex
	errs []error
}

func (c *collect) add(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

func (c *collect) report(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, err := range c.errs {
		if i == 5 {
			t.Errorf("... and %d more errors", len(c.errs)-i)
			break
		}
		t.Error(err)
	}
}

// TestDriverPgx: pgx v5 in every query exec mode, 12 clients over 3
// servers, each client running typed queries, more statements than its
// statement cache holds, batches (one failing midway), pgconn pipelines
// with Flush, and transactions committed and rolled back; with Odyssey's
// default pool_discard and with examples/transaction.conf's.
func TestDriverPgx(t *testing.T) {
	for _, discard := range []string{"pool_discard yes", "pool_discard no"} {
		t.Run(discard, func(t *testing.T) { testPgx(t, discard) })
	}
}

func testPgx(t *testing.T, conf string) {
	const (
		poolSize = 3
		clients  = 12
		rounds   = 8
	)
	p := startDriverPooler(t, poolSize, conf)
	setup := p.connect(driverUser, plainUser, "")
	mustExec(t, setup, "drop table if exists drv_pgx; create table drv_pgx(mode text, client int, seq int, v text, primary key (mode, client, seq))")
	modes := []struct {
		name string
		mode pgx.QueryExecMode
	}{
		{"cache_statement", pgx.QueryExecModeCacheStatement},
		{"cache_describe", pgx.QueryExecModeCacheDescribe},
		{"describe_exec", pgx.QueryExecModeDescribeExec},
		{"exec", pgx.QueryExecModeExec},
		{"simple_protocol", pgx.QueryExecModeSimpleProtocol},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := ctxTimeout(t, 90*time.Second)
			cfg, err := pgx.ParseConfig(p.dsn(driverUser, plainUser, ""))
			if err != nil {
				t.Fatal(err)
			}
			cfg.DefaultQueryExecMode = m.mode
			// Smaller than the statements a round uses: pgx evicts and
			// closes statements all along.
			cfg.StatementCacheCapacity = 8
			cfg.DescriptionCacheCapacity = 8
			var errs collect
			var wg sync.WaitGroup
			for id := range clients {
				wg.Go(func() {
					c, err := pgx.ConnectConfig(ctx, cfg)
					if err != nil {
						errs.add(fmt.Errorf("client %d: connect: %w", id, err))
						return
					}
					defer c.Close(context.Background())
					w := &pgxWorker{c: c, mode: m.name, id: id}
					for r := range rounds {
						if err := w.round(ctx, r); err != nil {
							errs.add(fmt.Errorf("client %d round %d: %w", id, r, err))
							return
						}
					}
				})
			}
			wg.Wait()
			errs.report(t)
			if t.Failed() {
				return
			}
			// What the transactions committed, and nothing they rolled back.
			rows, err := setup.Query(ctx, "select client, seq, v from drv_pgx where mode = $1 order by client, seq", m.name)
			if err != nil {
				t.Fatal(err)
			}
			type row struct {
				Client, Seq int
				V           string
			}
			got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
			if err != nil {
				t.Fatal(err)
			}
			var want []row
			for id := range clients {
				for r := range rounds {
					want = append(want, row{id, r, fmt.Sprintf("%s/%d/%d+", m.name, id, r)})
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("table drv_pgx for %s:\n got %v\nwant %v", m.name, got, want)
			}
			checkServers(t, poolSize)
		})
	}
}

// pgxWorker is one pgx client of TestDriverPgx.
type pgxWorker struct {
	c    *pgx.Conn
	mode string
	id   int
}

func (w *pgxWorker) round(ctx context.Context, r int) error {
	for _, step := range []struct {
		name string
		f    func(context.Context, int) error
	}{
		{"typed query", w.typed},
		{"statements", w.statements},
		{"batch", w.batch},
		{"failing batch", w.failingBatch},
		{"pipeline", w.pipeline},
		{"transaction", w.transaction},
		{"rollback", w.rollback},
	} {
		if err := step.f(ctx, r); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	return nil
}

// typed sends parameters of several types and checks what comes back.
func (w *pgxWorker) typed(ctx context.Context, r int) error {
	var (
		n    int32
		big  int64
		s    string
		b    bool
		f    float64
		bin  []byte
		arr  []int32
		ts   time.Time
		null *int32
		num  string
	)
	when := time.Date(2024, 2, 29, 12, 30, 45, 123456000, time.UTC).Add(time.Duration(r) * time.Hour)
	err := w.c.QueryRow(ctx, `select $1::int4 + 1, $2::int8 * 2, $3::text || '!', not $4::bool, $5::float8 / 2,
		$6::bytea, $7::int4[], $8::timestamptz + interval '1 day', $9::int4, ($10::numeric * 2)::text`,
		int32(w.id*1000+r), int64(1)<<40+int64(r), fmt.Sprintf("c%d é", w.id), r%2 == 0, 2.5,
		[]byte{0, byte(w.id), 0xff}, []int32{1, int32(w.id), int32(r)}, when, nil, "12345.6789",
	).Scan(&n, &big, &s, &b, &f, &bin, &arr, &ts, &null, &num)
	if err != nil {
		return err
	}
	got := fmt.Sprint(n, big, s, b, f, bin, arr, ts.UTC(), null, num)
	want := fmt.Sprint(int32(w.id*1000+r+1), (int64(1)<<40+int64(r))*2, fmt.Sprintf("c%d é!", w.id), r%2 != 0, 1.25,
		[]byte{0, byte(w.id), 0xff}, []int32{1, int32(w.id), int32(r)}, when.Add(24*time.Hour), (*int32)(nil), "24691.3578")
	if got != want {
		return fmt.Errorf("got %s, want %s", got, want)
	}
	return nil
}

// statements runs more distinct statements than the statement cache
// holds, in an order that differs between clients.
func (w *pgxWorker) statements(ctx context.Context, r int) error {
	for k := range 10 {
		k := (k + w.id) % 10
		var got int
		if err := w.c.QueryRow(ctx, fmt.Sprintf("select $1::int4 * %d", k), r).Scan(&got); err != nil {
			return fmt.Errorf("statement %d: %w", k, err)
		}
		if got != r*k {
			return fmt.Errorf("statement %d: got %d, want %d", k, got, r*k)
		}
	}
	return nil
}

// batch sends a pgx.Batch: a row count, text, a set and a sum.
func (w *pgxWorker) batch(ctx context.Context, r int) error {
	b := &pgx.Batch{}
	b.Queue("select count(*) from drv_pgx where mode = $1 and client = $2", w.mode, w.id)
	b.Queue("select $1::text || $2::text", "batch", strconv.Itoa(w.id))
	b.Queue("select generate_series(1, $1::int4)", r+1)
	b.Queue("select $1::int4 + $2::int4", w.id, r)
	br := w.c.SendBatch(ctx, b)
	defer br.Close()
	var count int64
	if err := br.QueryRow().Scan(&count); err != nil {
		return err
	}
	if count != int64(r) {
		return fmt.Errorf("count: got %d, want %d", count, r)
	}
	var s string
	if err := br.QueryRow().Scan(&s); err != nil {
		return err
	}
	if want := "batch" + strconv.Itoa(w.id); s != want {
		return fmt.Errorf("text: got %q, want %q", s, want)
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	series, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return err
	}
	if len(series) != r+1 || series[r] != int32(r+1) {
		return fmt.Errorf("series: got %v, want 1..%d", series, r+1)
	}
	var sum int
	if err := br.QueryRow().Scan(&sum); err != nil {
		return err
	}
	if sum != w.id+r {
		return fmt.Errorf("sum: got %d, want %d", sum, w.id+r)
	}
	return br.Close()
}

// failingBatch sends a batch whose second query fails: the first result
// arrives, the rest fail, and the connection carries on.
func (w *pgxWorker) failingBatch(ctx context.Context, r int) error {
	b := &pgx.Batch{}
	b.Queue("select $1::int4 + 100", r)
	b.Queue("select 1 / $1::int4", 0)
	b.Queue("select $1::int4 + 200", r)
	br := w.c.SendBatch(ctx, b)
	var got int
	if err := br.QueryRow().Scan(&got); err != nil || got != r+100 {
		br.Close()
		return fmt.Errorf("first: %d, %v", got, err)
	}
	err := br.QueryRow().Scan(&got)
	if sqlState(err) != "22012" {
		br.Close()
		return fmt.Errorf("second: %v, want 22012", err)
	}
	br.Close() // the third is skipped (extended protocol) or rolled back (simple)
	if err := w.c.QueryRow(ctx, "select $1::int4 + 300", r).Scan(&got); err != nil || got != r+300 {
		return fmt.Errorf("after the batch: %d, %v", got, err)
	}
	return nil
}

// pipeline uses pgconn's pipeline: a named statement (the same name for
// every client, a different text), unnamed queries, a Flush in the middle
// of the pipeline, a Close, and two Syncs.
func (w *pgxWorker) pipeline(ctx context.Context, r int) error {
	pl := w.c.PgConn().StartPipeline(ctx)
	defer pl.Close()
	add := strconv.Itoa(w.id)
	pl.SendPrepare("drv_pl", "select $1::int4 * $2::int4 + "+add, nil)
	pl.SendQueryPrepared("drv_pl", [][]byte{[]byte("3"), []byte(strconv.Itoa(r))}, nil, nil)
	pl.SendQueryParams("select $1::text || 'x'", [][]byte{[]byte(add)}, nil, nil, nil)
	pl.SendFlushRequest()
	if err := pl.Flush(); err != nil {
		return err
	}
	want := []string{"prepared", "row " + strconv.Itoa(3*r+w.id), "row " + add + "x"}
	if err := pipelineExpect(pl, want); err != nil {
		return fmt.Errorf("before the flush: %w", err)
	}
	pl.SendQueryPrepared("drv_pl", [][]byte{[]byte("5"), []byte(strconv.Itoa(r))}, nil, nil)
	pl.SendDeallocate("drv_pl")
	if err := pl.Sync(); err != nil {
		return err
	}
	pl.SendQueryParams("select count(*) from pg_prepared_statements where name = 'drv_pl'", nil, nil, nil, nil)
	if err := pl.Sync(); err != nil {
		return err
	}
	// No server knows the name: the pooler renames statements, and Close
	// closed it for the client.
	want = []string{"row " + strconv.Itoa(5*r+w.id), "closed", "sync", "row 0", "sync"}
	if err := pipelineExpect(pl, want); err != nil {
		return fmt.Errorf("after the flush: %w", err)
	}
	return pl.Close()
}

// pipelineExpect reads len(want) results of pl and compares them with
// want: "prepared", "row <first column>", "closed", "sync", "error <code>".
func pipelineExpect(pl *pgconn.Pipeline, want []string) error {
	var got []string
	for len(got) < len(want) {
		res, err := pl.GetResults()
		if err != nil {
			got = append(got, "error "+sqlState(err))
			if sqlState(err) == "" {
				return fmt.Errorf("after %v: %w", got, err)
			}
			continue
		}
		switch res := res.(type) {
		case *pgconn.StatementDescription:
			got = append(got, "prepared")
		case *pgconn.ResultReader:
			rr := res.Read()
			switch {
			case rr.Err != nil:
				got = append(got, "error "+sqlState(rr.Err))
			case len(rr.Rows) == 1:
				got = append(got, "row "+string(rr.Rows[0][0]))
			default:
				got = append(got, fmt.Sprintf("%d rows", len(rr.Rows)))
			}
		case *pgconn.CloseComplete:
			got = append(got, "closed")
		case *pgconn.PipelineSync:
			got = append(got, "sync")
		case nil:
			return fmt.Errorf("pipeline ended after %v, want %v", got, want)
		default:
			got = append(got, fmt.Sprintf("%T", res))
		}
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("got %v, want %v", got, want)
	}
	return nil
}

// transaction commits a transaction of several statements, one of them
// reading what an earlier one wrote.
func (w *pgxWorker) transaction(ctx context.Context, r int) error {
	tx, err := w.c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	key := fmt.Sprintf("%s/%d/%d", w.mode, w.id, r)
	if _, err := tx.Exec(ctx, "insert into drv_pgx(mode, client, seq, v) values ($1, $2, $3, $4)", w.mode, w.id, r, key); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "update drv_pgx set v = v || '+' where mode = $1 and client = $2 and seq = $3", w.mode, w.id, r); err != nil {
		return err
	}
	var v string
	var pid1, pid2 uint32
	if err := tx.QueryRow(ctx, "select v, pg_backend_pid() from drv_pgx where mode = $1 and client = $2 and seq = $3", w.mode, w.id, r).Scan(&v, &pid1); err != nil {
		return err
	}
	if v != key+"+" {
		return fmt.Errorf("read %q inside the transaction, want %q", v, key+"+")
	}
	if err := tx.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid2); err != nil {
		return err
	}
	if pid1 != pid2 {
		return fmt.Errorf("the transaction moved from server %d to %d", pid1, pid2)
	}
	return tx.Commit(ctx)
}

// rollback writes in a transaction that fails, then rolls it back.
func (w *pgxWorker) rollback(ctx context.Context, r int) error {
	tx, err := w.c.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "insert into drv_pgx(mode, client, seq, v) values ($1, $2, $3, 'rolled back')", w.mode, w.id, -1-r); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "insert into drv_pgx(mode, client, seq, v) values ($1, $2, $3, 'duplicate')", w.mode, w.id, -1-r)
	if sqlState(err) != "23505" {
		return fmt.Errorf("duplicate key: %v, want 23505", err)
	}
	var one int
	if err := tx.QueryRow(ctx, "select 1").Scan(&one); sqlState(err) != "25P02" {
		return fmt.Errorf("in a failed transaction: %v, want 25P02", err)
	}
	return tx.Rollback(ctx)
}

// TestDriverLibPQ: lib/pq through database/sql, 20 connections over 4
// servers: one prepared statement shared by 50 goroutines (Odyssey's
// prep_stmts test), typed statements, and statements prepared inside
// transactions.
func TestDriverLibPQ(t *testing.T) {
	const (
		poolSize   = 4
		goroutines = 50
		rounds     = 20
	)
	p := startDriverPooler(t, poolSize)
	ctx := ctxTimeout(t, 90*time.Second)
	db, err := sql.Open("postgres", p.dsn(driverUser, plainUser, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	if _, err := db.ExecContext(ctx, "drop table if exists drv_pq; create table drv_pq(g int, k int, v text, primary key (g, k))"); err != nil {
		t.Fatal(err)
	}
	inc, err := db.PrepareContext(ctx, "select $1::int + 1")
	if err != nil {
		t.Fatal(err)
	}
	defer inc.Close()
	typed, err := db.PrepareContext(ctx, "select $1::text || $2::text, not $3::bool, $4::float8 / 2, $5::bytea, $6::int8 * 2, $7::int")
	if err != nil {
		t.Fatal(err)
	}
	defer typed.Close()
	var errs collect
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				i := g*1000 + r
				var n int
				if err := inc.QueryRowContext(ctx, i).Scan(&n); err != nil || n != i+1 {
					errs.add(fmt.Errorf("goroutine %d round %d: %d, %v (want %d)", g, r, n, err, i+1))
					return
				}
				var (
					s   string
					b   bool
					f   float64
					bin []byte
					big int64
					nul sql.NullInt64
				)
				err := typed.QueryRowContext(ctx, "g", strconv.Itoa(g), r%2 == 0, 2.5, []byte{0, byte(g), 0xff}, int64(1)<<40+int64(r), nil).
					Scan(&s, &b, &f, &bin, &big, &nul)
				got := fmt.Sprint(s, b, f, bin, big, nul.Valid, err)
				want := fmt.Sprint("g"+strconv.Itoa(g), r%2 != 0, 1.25, []byte{0, byte(g), 0xff}, (int64(1)<<40+int64(r))*2, false, nil)
				if got != want {
					errs.add(fmt.Errorf("goroutine %d round %d: typed: got %s, want %s", g, r, got, want))
					return
				}
				if r%5 == 4 {
					if err := libpqTransaction(ctx, db, inc, g, r); err != nil {
						errs.add(fmt.Errorf("goroutine %d round %d: transaction: %w", g, r, err))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	errs.report(t)
	if t.Failed() {
		return
	}
	var rows, sum int
	if err := db.QueryRowContext(ctx, "select count(*), coalesce(sum(k), 0) from drv_pq").Scan(&rows, &sum); err != nil {
		t.Fatal(err)
	}
	// Per goroutine, 4 transactions of 3 rows with k = r, r+1, r+2.
	wantRows, wantSum := 0, 0
	for r := 4; r < rounds; r += 5 {
		wantRows += 3 * goroutines
		wantSum += (3*r + 3) * goroutines
	}
	if rows != wantRows || sum != wantSum {
		t.Errorf("drv_pq: %d rows summing to %d, want %d and %d", rows, sum, wantRows, wantSum)
	}
	checkServers(t, poolSize)
}

// libpqTransaction prepares an insert inside a transaction, uses the
// shared statement there too, reads its own writes and commits; then a
// second transaction fails and is rolled back.
func libpqTransaction(ctx context.Context, db *sql.DB, inc *sql.Stmt, g, r int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, "insert into drv_pq(g, k, v) values ($1, $2, $3)")
	if err != nil {
		return err
	}
	for k := r; k < r+3; k++ {
		if _, err := ins.ExecContext(ctx, g, k, fmt.Sprintf("%d/%d", g, k)); err != nil {
			return err
		}
	}
	var n int
	if err := tx.StmtContext(ctx, inc).QueryRowContext(ctx, 41).Scan(&n); err != nil || n != 42 {
		return fmt.Errorf("shared statement in the transaction: %d, %v", n, err)
	}
	if err := tx.QueryRowContext(ctx, "select count(*) from drv_pq where g = $1 and k >= $2", g, r).Scan(&n); err != nil || n != 3 {
		return fmt.Errorf("own writes: %d, %v", n, err)
	}
	if err := ins.Close(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}

	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "insert into drv_pq(g, k, v) values ($1, $2, 'rolled back')", g, -r); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "insert into drv_pq(g, k, v) values ($1, $2, 'duplicate')", g, r); sqlStateOf(err) != "23505" {
		return fmt.Errorf("duplicate key: %v, want 23505", err)
	}
	return tx.Rollback()
}

// sqlStateOf returns the SQLSTATE of a lib/pq or pgx error, or "".
func sqlStateOf(err error) string {
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) {
		return coded.SQLState()
	}
	return sqlState(err)
}

// driverEnv is the environment of a driver script: the process's, without
// libpq's variables, then the pooler's address in libpq's variables.
func driverEnv(p *pooler) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, "PGHOST=127.0.0.1", "PGPORT="+strconv.Itoa(p.port), "PGUSER="+driverUser,
		"PGDATABASE="+plainUser, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
}

// runScript runs a driver script in dir and returns its output; a failure
// or a timeout fails the test with the output.
func runScript(t *testing.T, dir string, env []string, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctxTimeout(t, timeout), name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// requireCommand returns the path of a command the driver matrix needs,
// failing (not skipping) the test when it is missing.
func requireCommand(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by the driver matrix and is not on PATH: %s", name, install)
	}
	return path
}

// TestDriverNode: node-postgres named queries, 20 concurrent workers over
// a pg.Pool of 10 connections over 3 servers (testdata/drivers/node).
func TestDriverNode(t *testing.T) {
	node, dir := nodePostgres(t)
	const poolSize = 3
	p := startDriverPooler(t, poolSize)
	out := runScript(t, dir, driverEnv(p), 2*time.Minute, node, "test.js")
	t.Log(strings.TrimSpace(out))
	checkServers(t, poolSize)
}

// nodePostgres returns node and the directory of the node-postgres
// scripts (testdata/drivers/node), with node-postgres installed in it.
func nodePostgres(t *testing.T) (node, dir string) {
	t.Helper()
	const install = "install Node.js 20 and npm (Debian: apt-get install nodejs npm)"
	node = requireCommand(t, "node", install)
	npm := requireCommand(t, "npm", install)
	dir, err := filepath.Abs(filepath.Join("testdata", "drivers", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if !nodeModulesCurrent(t, dir) {
		// package-lock.json pins every package; node_modules is not in git.
		runScript(t, dir, os.Environ(), 5*time.Minute, npm, "ci", "--no-audit", "--no-fund")
	}
	return node, dir
}

// nodeModulesCurrent reports whether dir/node_modules holds the pg that
// package.json pins.
func nodeModulesCurrent(t *testing.T, dir string) bool {
	t.Helper()
	var pinned struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err == nil {
		err = json.Unmarshal(data, &pinned)
	}
	if err != nil {
		t.Fatal(err)
	}
	var installed struct {
		Version string `json:"version"`
	}
	data, err = os.ReadFile(filepath.Join(dir, "node_modules", "pg", "package.json"))
	if err != nil || json.Unmarshal(data, &installed) != nil {
		return false
	}
	return installed.Version == pinned.Dependencies["pg"]
}

// python is Debian's Python, for which python3-psycopg installs psycopg
// (the PATH may lead to another Python).
const python = "/usr/bin/python3"

// TestDriverPsycopg: psycopg 3 with prepare_threshold=0 (every query
// prepared) and a statement cache smaller than the queries it runs, from 8
// threads over 3 servers, with transactions and pipeline mode
// (testdata/drivers/python).
func TestDriverPsycopg(t *testing.T) {
	cmd := exec.Command(python, "-c", "import psycopg")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psycopg 3 is needed by the driver matrix and %s cannot import it (%v: %s): "+
			"install it with apt-get install python3-psycopg (make test does when it runs as root)",
			python, err, bytes.TrimSpace(out))
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "drivers", "python"))
	if err != nil {
		t.Fatal(err)
	}
	const poolSize = 3
	p := startDriverPooler(t, poolSize)
	out := runScript(t, dir, driverEnv(p), 2*time.Minute, python, "test_psycopg.py")
	t.Log(strings.TrimSpace(out))
	checkServers(t, poolSize)
}

// TestDriverWireSequences: the message sequences behind the drivers'
// troubles, sent as raw messages by two clients, first straight to
// PostgreSQL (so that what is expected is what PostgreSQL answers), then
// through a transaction pool of one server.
func TestDriverWireSequences(t *testing.T) {
	for _, seq := range wireSequences {
		t.Run(seq.name, func(t *testing.T) {
			t.Run("postgres", func(t *testing.T) {
				driverRoleReady(t)
				seq.run(t, func(name string) *rawClient { return dialRaw(t, pg.Port, name) })
			})
			for _, extra := range seq.confs {
				t.Run(strings.Join(append([]string{"pooler"}, extra...), " "), func(t *testing.T) {
					p := startDriverPooler(t, 1, extra...)
					seq.run(t, func(name string) *rawClient { return dialRaw(t, p.port, name) })
				})
			}
		})
	}
}

// wireSequences are the sequences of TestDriverWireSequences.
var wireSequences = []struct {
	name  string
	confs [][]string // rule items for the pooler, one run each
	run   func(t *testing.T, dial func(name string) *rawClient)
}{{
	// pgx's QueryExecModeDescribeExec prepares the unnamed statement in
	// one transaction (Parse, Describe, Sync) and binds it in the next.
	name:  "unnamed statement in the next transaction",
	confs: [][]string{{"pool_discard no"}, {"pool_discard yes"}},
	run: func(t *testing.T, dial func(string) *rawClient) {
		a, b := dial("A"), dial("B")
		a.expect("ParseComplete ParameterDescription RowDescription Z:I",
			&pgproto3.Parse{Query: "select $1::int + 1"}, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{})
		b.expect("ParseComplete ParameterDescription RowDescription Z:I",
			&pgproto3.Parse{Query: "select $1::int * 100"}, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{})
		a.expect("BindComplete D:6 C:SELECT 1 Z:I",
			&pgproto3.Bind{Parameters: [][]byte{[]byte("5")}}, &pgproto3.Execute{}, &pgproto3.Sync{})
	},
}, {
	// psycopg 3 with libpq before 17 sends DEALLOCATE name when its
	// statement cache is full, as an unnamed extended-protocol statement
	// (PQsendQueryParams).
	name:  "DEALLOCATE name in the extended protocol",
	confs: [][]string{nil},
	run: func(t *testing.T, dial func(string) *rawClient) {
		a := dial("A")
		a.expect("ParseComplete BindComplete D:1 C:SELECT 1 Z:I",
			&pgproto3.Parse{Name: "p1", Query: "select 1"}, &pgproto3.Bind{PreparedStatement: "p1"}, &pgproto3.Execute{}, &pgproto3.Sync{})
		a.expect("ParseComplete BindComplete NoData C:DEALLOCATE Z:I", extendedQuery("DEALLOCATE p1")...)
		a.expect(`E:26000 prepared statement "p1" does not exist Z:I`,
			&pgproto3.Bind{PreparedStatement: "p1"}, &pgproto3.Execute{}, &pgproto3.Sync{})
	},
}, {
	// ... and DEALLOCATE ALL after every rollback.
	name:  "DEALLOCATE ALL in the extended protocol",
	confs: [][]string{nil},
	run: func(t *testing.T, dial func(string) *rawClient) {
		a, b := dial("A"), dial("B")
		a.expect("ParseComplete BindComplete D:1 C:SELECT 1 Z:I",
			&pgproto3.Parse{Name: "p1", Query: "select 1"}, &pgproto3.Bind{PreparedStatement: "p1"}, &pgproto3.Execute{}, &pgproto3.Sync{})
		b.expect("ParseComplete BindComplete D:7 C:SELECT 1 Z:I",
			&pgproto3.Parse{Name: "s", Query: "select 7"}, &pgproto3.Bind{PreparedStatement: "s"}, &pgproto3.Execute{}, &pgproto3.Sync{})
		a.expect("ParseComplete BindComplete NoData C:DEALLOCATE ALL Z:I", extendedQuery("DEALLOCATE ALL")...)
		// A's DEALLOCATE ALL is A's own: B's statement still works.
		b.expect("BindComplete D:7 C:SELECT 1 Z:I",
			&pgproto3.Bind{PreparedStatement: "s"}, &pgproto3.Execute{}, &pgproto3.Sync{})
		a.expect(`E:26000 prepared statement "p1" does not exist Z:I`,
			&pgproto3.Bind{PreparedStatement: "p1"}, &pgproto3.Execute{}, &pgproto3.Sync{})
	},
}, {
	// A pgx batch or a psycopg pipeline can still be sending when the
	// error of one of its statements arrives: PostgreSQL skips what
	// follows up to Sync, whatever it is, and answers nothing for it.
	name:  "messages after an error already received",
	confs: [][]string{nil},
	run: func(t *testing.T, dial func(string) *rawClient) {
		a := dial("A")
		errorReceived(t, a)
		a.expect("ParseComplete Z:I", &pgproto3.Parse{Name: "q", Query: "select 1 / $1::int"}, &pgproto3.Sync{})
		a.expect("CloseComplete Z:I", &pgproto3.Close{ObjectType: 'S', Name: "q"}, &pgproto3.Sync{})
		a.expect("BindComplete D:1 C:SELECT 1 Z:I",
			&pgproto3.Bind{PreparedStatement: "a", Parameters: [][]byte{[]byte("1")}}, &pgproto3.Execute{}, &pgproto3.Sync{})
		a.expect(`E:26000 prepared statement "c" does not exist Z:I`,
			&pgproto3.Bind{PreparedStatement: "c"}, &pgproto3.Execute{}, &pgproto3.Sync{})
	},
}, {
	name:  "the server after messages after an error",
	confs: [][]string{nil},
	run: func(t *testing.T, dial func(string) *rawClient) {
		a, b := dial("A"), dial("B")
		errorReceived(t, a)
		// A is idle: the only server is free for B.
		b.expect("RowDescription D:2 C:SELECT 1 Z:I", &pgproto3.Query{String: "select 2"})
		// The Parse PostgreSQL skipped for A created nothing there.
		b.expect("ParseComplete BindComplete D:200 C:SELECT 1 Z:I",
			&pgproto3.Parse{Name: "x", Query: "select 200"}, &pgproto3.Bind{PreparedStatement: "x"}, &pgproto3.Execute{}, &pgproto3.Sync{})
	},
}}

// errorReceived has a receive the error of its Bind before it sends the
// rest of the pipeline, a Parse, Bind and Execute PostgreSQL skips.
func errorReceived(t *testing.T, a *rawClient) {
	t.Helper()
	a.expect("ParseComplete Z:I", &pgproto3.Parse{Name: "a", Query: "select 1 / $1::int"}, &pgproto3.Sync{})
	a.send(&pgproto3.Bind{PreparedStatement: "a", Parameters: [][]byte{[]byte("0")}}, &pgproto3.Execute{}, &pgproto3.Flush{})
	if got := a.receive(); got != "E:22012 division by zero" {
		t.Fatalf("client A: got %s, want E:22012 division by zero", got)
	}
	a.expect("Z:I", &pgproto3.Parse{Name: "c", Query: "select 200"}, &pgproto3.Bind{PreparedStatement: "c"},
		&pgproto3.Execute{}, &pgproto3.Sync{})
}

// extendedQuery is a statement sent as libpq's PQsendQueryParams sends it.
func extendedQuery(sql string) []pgproto3.FrontendMessage {
	return []pgproto3.FrontendMessage{&pgproto3.Parse{Query: sql}, &pgproto3.Bind{},
		&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{}}
}

// rawClient speaks the protocol message by message to the pooler.
type rawClient struct {
	t    *testing.T
	name string
	conn net.Conn
	fe   *pgproto3.Frontend
}

// replyTimeout bounds the wait for each reply: a server held by another
// client shows as a timeout.
const replyTimeout = 5 * time.Second

// dialRaw connects to port and logs in as driverUser; name is for
// messages.
func dialRaw(t *testing.T, port int, name string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), replyTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	w := &rawClient{t: t, name: name, conn: conn, fe: pgproto3.NewFrontend(conn, conn)}
	w.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": driverUser, "database": plainUser}})
	if got := w.untilReady(); got != "AuthenticationOk Z:I" {
		t.Fatalf("client %s: login: %s", w.name, got)
	}
	return w
}

func (w *rawClient) send(msgs ...pgproto3.FrontendMessage) {
	w.t.Helper()
	if err := sendAll(w.fe, msgs...); err != nil {
		w.t.Fatalf("client %s: %v", w.name, err)
	}
}

// receive returns the next message, summarised: its type, or for DataRow
// "D:" and the first column, CommandComplete "C:" and the tag, an error
// "E:" with code and message, ReadyForQuery "Z:" and the status.
// ParameterStatus, BackendKeyData and notices are skipped.
func (w *rawClient) receive() string {
	w.t.Helper()
	for {
		w.conn.SetReadDeadline(time.Now().Add(replyTimeout))
		m, err := w.fe.Receive()
		if err != nil {
			w.t.Fatalf("client %s: no reply: %v", w.name, err)
		}
		switch m := m.(type) {
		case *pgproto3.ParameterStatus, *pgproto3.BackendKeyData, *pgproto3.NoticeResponse:
		case *pgproto3.DataRow:
			return "D:" + string(m.Values[0])
		case *pgproto3.CommandComplete:
			return "C:" + string(m.CommandTag)
		case *pgproto3.ErrorResponse:
			return "E:" + m.Code + " " + m.Message
		case *pgproto3.ReadyForQuery:
			return "Z:" + string(m.TxStatus)
		default:
			return strings.TrimPrefix(fmt.Sprintf("%T", m), "*pgproto3.")
		}
	}
}

// untilReady returns the messages up to ReadyForQuery.
func (w *rawClient) untilReady() string {
	w.t.Helper()
	var got []string
	for {
		m := w.receive()
		got = append(got, m)
		if strings.HasPrefix(m, "Z:") {
			return strings.Join(got, " ")
		}
	}
}

// expect sends msgs and checks the replies up to ReadyForQuery.
func (w *rawClient) expect(want string, msgs ...pgproto3.FrontendMessage) {
	w.t.Helper()
	w.send(msgs...)
	if got := w.untilReady(); got != want {
		w.t.Fatalf("client %s sent %s:\n got %s\nwant %s", w.name, describeMsgs(msgs), got, want)
	}
}

func describeMsgs(msgs []pgproto3.FrontendMessage) string {
	var s []string
	for _, m := range msgs {
		s = append(s, traceMessage(m))
	}
	return strings.Join(s, ", ")
}

// Wire traces: with ODYSSEY_DRIVER_TRACE=file, the driver tests connect
// through a proxy that appends every message between the drivers and the
// pooler to file, one a line: milliseconds since the test started, the
// connection, the direction (C> from the client, <S to it) and the message
// as JSON. What a bug report about a driver needs.

// traceDrivers makes the clients of p connect through a tracing proxy
// when ODYSSEY_DRIVER_TRACE is set.
func traceDrivers(t *testing.T, p *pooler) {
	path := os.Getenv("ODYSSEY_DRIVER_TRACE")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &wireTrace{w: f, start: time.Now(), conns: map[net.Conn]bool{}}
	fmt.Fprintf(f, "== %s %s\n", t.Name(), tr.start.Format(time.RFC3339))
	target := "127.0.0.1:" + strconv.Itoa(p.port)
	tr.wg.Go(func() {
		for id := 1; ; id++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			if !tr.track(c, s) {
				return
			}
			tr.wg.Go(func() { tr.relay(id, c, s) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		tr.closeAll()
		tr.wg.Wait()
		f.Close()
	})
	p.port = ln.Addr().(*net.TCPAddr).Port // clients connect through the proxy
}

// wireTrace is the state of one tracing proxy.
type wireTrace struct {
	start  time.Time
	wg     sync.WaitGroup
	mu     sync.Mutex
	w      io.Writer
	conns  map[net.Conn]bool
	closed bool
}

func (tr *wireTrace) track(conns ...net.Conn) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		tr.conns[c] = true
	}
	return true
}

func (tr *wireTrace) closeAll() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.closed = true
	for c := range tr.conns {
		c.Close()
	}
}

func (tr *wireTrace) log(id int, dir, msg string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	fmt.Fprintf(tr.w, "%9.3f c%d %s %s\n", time.Since(tr.start).Seconds()*1000, id, dir, msg)
}

// relay copies one connection both ways, logging each message.
func (tr *wireTrace) relay(id int, client, server net.Conn) {
	defer client.Close()
	defer server.Close()
	// The startup packet has no type byte; after an SSLRequest or a
	// GSSENCRequest the bytes are not traced.
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(client, hdr); err != nil {
		return
	}
	n := int(binary.BigEndian.Uint32(hdr))
	if n < 8 || n > 10000 {
		return
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(client, body); err != nil {
		return
	}
	if _, err := server.Write(append(hdr, body...)); err != nil {
		return
	}
	switch code := binary.BigEndian.Uint32(body); code {
	case 80877103, 80877104: // SSLRequest, GSSENCRequest
		tr.log(id, "C>", "encryption request: not traced")
		go io.Copy(server, client)
		io.Copy(client, server)
		return
	}
	tr.log(id, "C>", "StartupMessage")
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.frames(id, "<S", server, client, pgproto3.NewFrontend(nil, nil))
		client.Close()
	}()
	tr.frames(id, "C>", client, server, nil)
	server.Close()
	<-done
}

// frames copies typed messages from r to w, logging them decoded as a
// frontend (fe set: server messages) or a backend (client messages) would.
func (tr *wireTrace) frames(id int, dir string, r io.Reader, w io.Writer, fe *pgproto3.Frontend) {
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			tr.log(id, dir, "closed")
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[1:]))
		if n < 4 {
			tr.log(id, dir, fmt.Sprintf("bad length %d", n))
			return
		}
		frame := make([]byte, 5+n-4)
		copy(frame, hdr)
		if _, err := io.ReadFull(r, frame[5:]); err != nil {
			tr.log(id, dir, "closed inside a message")
			return
		}
		tr.log(id, dir, decodeFrame(frame, fe != nil))
		if _, err := w.Write(frame); err != nil {
			return
		}
	}
}

// decodeFrame returns a whole message as JSON (pgproto3's encoding).
func decodeFrame(frame []byte, fromServer bool) string {
	var m interface{ Decode([]byte) error }
	typ, body := frame[0], frame[5:]
	if fromServer {
		switch typ {
		case '1':
			m = &pgproto3.ParseComplete{}
		case '2':
			m = &pgproto3.BindComplete{}
		case '3':
			m = &pgproto3.CloseComplete{}
		case 't':
			m = &pgproto3.ParameterDescription{}
		case 'T':
			m = &pgproto3.RowDescription{}
		case 'n':
			m = &pgproto3.NoData{}
		case 'D':
			m = &pgproto3.DataRow{}
		case 'C':
			m = &pgproto3.CommandComplete{}
		case 'E':
			m = &pgproto3.ErrorResponse{}
		case 'N':
			m = &pgproto3.NoticeResponse{}
		case 'Z':
			m = &pgproto3.ReadyForQuery{}
		case 's':
			m = &pgproto3.PortalSuspended{}
		case 'I':
			m = &pgproto3.EmptyQueryResponse{}
		case 'S':
			m = &pgproto3.ParameterStatus{}
		case 'K':
			m = &pgproto3.BackendKeyData{}
		case 'R':
			return "Authentication"
		}
	} else {
		switch typ {
		case 'P':
			m = &pgproto3.Parse{}
		case 'B':
			m = &pgproto3.Bind{}
		case 'D':
			m = &pgproto3.Describe{}
		case 'E':
			m = &pgproto3.Execute{}
		case 'C':
			m = &pgproto3.Close{}
		case 'S':
			m = &pgproto3.Sync{}
		case 'H':
			m = &pgproto3.Flush{}
		case 'Q':
			m = &pgproto3.Query{}
		case 'X':
			m = &pgproto3.Terminate{}
		}
	}
	if m == nil {
		return fmt.Sprintf("%q, %d bytes", typ, len(body))
	}
	if err := m.Decode(body); err != nil {
		return fmt.Sprintf("%q, %d bytes: %v", typ, len(body), err)
	}
	return traceMessage(m)
}

// traceMessage returns a message as JSON.
func traceMessage(m any) string {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprintf("%T", m)
	}
	return string(b)
}
