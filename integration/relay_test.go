package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

const sessionConf = baseConf + `
database default {
	user default {
		authentication "none"
		storage "pg"
		pool "session"
		pool_size 4
		pool_discard yes
	}
}
`

// poolModes runs f against a session pool and a transaction pool.
func poolModes(t *testing.T, f func(t *testing.T, p *pooler)) {
	for _, conf := range []struct{ name, text string }{{"session", sessionConf}, {"transaction", txConf}} {
		t.Run(conf.name, func(t *testing.T) { f(t, startPooler(t, conf.text)) })
	}
}

// TestCancel: a CancelRequest with our key cancels pg_sleep on the server
// the client is attached to.
func TestCancel(t *testing.T) {
	poolModes(t, func(t *testing.T, p *pooler) {
		c := p.connect(plainUser, plainUser, "")
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Exec(ctx, "select pg_sleep(20)")
		if err == nil {
			t.Fatal("pg_sleep(20) was not cancelled")
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("cancel took %v", time.Since(start))
		}
		// pgx closes the connection after a context cancel; the server must
		// be clean for the next client.
		c2 := p.connect(plainUser, plainUser, "")
		var one int
		if err := c2.QueryRow(ctxTimeout(t, 10*time.Second), "select 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCancelKeepsConnection: a cancel sent with pgconn's CancelRequest
// ends the query with 57014 and the connection stays usable.
func TestCancelKeepsConnection(t *testing.T) {
	poolModes(t, func(t *testing.T, p *pooler) {
		c := p.connect(plainUser, plainUser, "")
		ctx := ctxTimeout(t, 20*time.Second)
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(ctx, "select pg_sleep(20)")
			done <- err
		}()
		waitFor(t, 10*time.Second, "pg_sleep to run", func() bool {
			var n int
			direct(t).QueryRow(ctx, "select count(*) from pg_stat_activity where query = 'select pg_sleep(20)' and state = 'active'").Scan(&n)
			return n == 1
		})
		if err := c.PgConn().CancelRequest(ctx); err != nil {
			t.Fatal(err)
		}
		err := <-done
		if sqlState(err) != "57014" {
			t.Fatalf("got %v, want 57014", err)
		}
		var one int
		if err := c.QueryRow(ctx, "select 1").Scan(&one); err != nil {
			t.Fatalf("connection unusable after cancel: %v", err)
		}
	})
}

// TestCancelAfterDetachDoesNothing: in a transaction pool, a cancel for a
// client with no server attached must not hit whoever has the server now.
func TestCancelAfterDetachDoesNothing(t *testing.T) {
	p := startPooler(t, strings.Replace(txConf, "pool_size 5", "pool_size 1", 1))
	ctx := ctxTimeout(t, 20*time.Second)
	idle := p.connect(plainUser, plainUser, "")
	mustExec(t, idle, "select 1") // used the server, then detached
	busy := p.connect(plainUser, plainUser, "")
	done := make(chan error, 1)
	go func() {
		_, err := busy.Exec(ctx, "select pg_sleep(0.5)")
		done <- err
	}()
	waitFor(t, 10*time.Second, "pg_sleep to run", func() bool {
		var n int
		direct(t).QueryRow(ctx, "select count(*) from pg_stat_activity where query = 'select pg_sleep(0.5)' and state = 'active'").Scan(&n)
		return n == 1
	})
	if err := idle.PgConn().CancelRequest(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("a cancel for a detached client cancelled another client's query: %v", err)
	}
}

// TestCopyRoundTrip moves 100 MB in with COPY FROM STDIN and back out
// with COPY TO STDOUT.
func TestCopyRoundTrip(t *testing.T) {
	poolModes(t, func(t *testing.T, p *pooler) {
		ctx := ctxTimeout(t, 120*time.Second)
		c := p.connect(plainUser, plainUser, "")
		table := "copy_" + strings.ReplaceAll(t.Name(), "/", "_")
		mustExec(t, c, "drop table if exists "+table+"; create table "+table+"(id int, payload text)")
		const rows = 100_000
		payload := strings.Repeat("x", 1000)
		src := &copySource{rows: rows, payload: payload}
		tag, err := c.PgConn().CopyFrom(ctx, src, "copy "+table+" from stdin")
		if err != nil {
			t.Fatal(err)
		}
		if tag.RowsAffected() != rows {
			t.Fatalf("copied %d rows, want %d", tag.RowsAffected(), rows)
		}
		var out countingWriter
		tag, err = c.PgConn().CopyTo(ctx, &out, "copy "+table+" to stdout")
		if err != nil {
			t.Fatal(err)
		}
		if tag.RowsAffected() != rows || out.n != src.total {
			t.Fatalf("copied out %d rows, %d bytes; want %d rows, %d bytes", tag.RowsAffected(), out.n, rows, src.total)
		}
		mustExec(t, c, "drop table "+table)
	})
}

// copySource generates COPY text rows without holding them all.
type copySource struct {
	rows, next int
	payload    string
	buf        bytes.Buffer
	total      int64
}

func (s *copySource) Read(p []byte) (int, error) {
	for s.buf.Len() < len(p) && s.next < s.rows {
		n, _ := fmt.Fprintf(&s.buf, "%d\t%s\n", s.next, s.payload)
		s.total += int64(n)
		s.next++
	}
	if s.buf.Len() == 0 {
		return 0, io.EOF
	}
	return s.buf.Read(p)
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// TestCopyFailAndError: a COPY the client aborts and a COPY that errors
// leave the connection usable.
func TestCopyFailAndError(t *testing.T) {
	poolModes(t, func(t *testing.T, p *pooler) {
		ctx := ctxTimeout(t, 30*time.Second)
		c := p.connect(plainUser, plainUser, "")
		table := "copyfail_" + strings.ReplaceAll(t.Name(), "/", "_")
		mustExec(t, c, "drop table if exists "+table+"; create table "+table+"(id int)")
		_, err := c.PgConn().CopyFrom(ctx, strings.NewReader("1\nnot a number\n"), "copy "+table+" from stdin")
		if sqlState(err) != "22P02" {
			t.Fatalf("bad row: got %v, want 22P02", err)
		}
		_, err = c.PgConn().CopyFrom(ctx, &failingReader{}, "copy "+table+" from stdin")
		if err == nil {
			t.Fatal("aborted COPY succeeded")
		}
		var n int
		if err := c.QueryRow(ctx, "select count(*) from "+table).Scan(&n); err != nil || n != 0 {
			t.Fatalf("after failed copies: %d rows, %v", n, err)
		}
	})
}

type failingReader struct{ sent bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		return copy(p, "1\n2\n"), nil
	}
	return 0, errors.New("client gave up")
}

// TestLargeResult streams a 40 MB value.
func TestLargeResult(t *testing.T) {
	poolModes(t, func(t *testing.T, p *pooler) {
		c := p.connect(plainUser, plainUser, "")
		var n int
		if err := c.QueryRow(ctxTimeout(t, 60*time.Second), "select length(repeat('x', 40000000))").Scan(&n); err != nil {
			t.Fatal(err)
		}
		var s string
		if err := c.QueryRow(ctxTimeout(t, 60*time.Second), "select repeat('x', 40000000)").Scan(&s); err != nil {
			t.Fatal(err)
		}
		if len(s) != 40000000 {
			t.Fatalf("got %d bytes", len(s))
		}
	})
}

// TestPipeline sends an extended-protocol pipeline: many queries, one Sync
// each, before reading any reply; plus a batch where one query fails.
func TestPipeline(t *testing.T) {
	poolModes(t, func(t *testing.T, p *pooler) {
		ctx := ctxTimeout(t, 30*time.Second)
		c := p.connect(plainUser, plainUser, "")
		pc := c.PgConn()
		pl := pc.StartPipeline(ctx)
		for i := range 50 {
			pl.SendQueryParams("select $1::int + 1", [][]byte{[]byte(fmt.Sprint(i))}, nil, nil, nil)
			if i%10 == 9 {
				if err := pl.Sync(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := pl.Flush(); err != nil {
			t.Fatal(err)
		}
		got := 0
		for got < 50 {
			res, err := pl.GetResults()
			if err != nil {
				t.Fatal(err)
			}
			switch r := res.(type) {
			case *pgconn.ResultReader:
				rows := r.Read()
				if rows.Err != nil {
					t.Fatal(rows.Err)
				}
				if want := fmt.Sprint(got + 1); string(rows.Rows[0][0]) != want {
					t.Fatalf("result %d = %s, want %s", got, rows.Rows[0][0], want)
				}
				got++
			case *pgconn.PipelineSync:
			}
		}
		if err := pl.Close(); err != nil {
			t.Fatal(err)
		}

		// A batch with an error in the middle: later queries of the same
		// Sync are skipped, the next batch works.
		b := &pgx.Batch{}
		b.Queue("select 1")
		b.Queue("select 1/0")
		b.Queue("select 3")
		err := c.SendBatch(ctx, b).Close()
		if sqlState(err) != "22012" {
			t.Fatalf("batch error: got %v, want 22012", err)
		}
		var three int
		if err := c.QueryRow(ctx, "select 3").Scan(&three); err != nil || three != 3 {
			t.Fatalf("after failed batch: %d %v", three, err)
		}
	})
}

// TestFunctionCall sends the FunctionCall message (fastpath) by hand.
func TestFunctionCall(t *testing.T) {
	poolModes(t, func(t *testing.T, p *pooler) {
		ctx := ctxTimeout(t, 30*time.Second)
		var oid uint32
		if err := direct(t).QueryRow(ctx, "select 'int4pl'::regproc::oid").Scan(&oid); err != nil {
			t.Fatal(err)
		}
		c := p.connect(plainUser, plainUser, "")
		pc := c.PgConn()
		fe := pc.Frontend()
		fe.Send(&pgproto3.FunctionCall{
			Function:         oid,
			ArgFormatCodes:   []uint16{1},
			Arguments:        [][]byte{{0, 0, 0, 2}, {0, 0, 0, 40}},
			ResultFormatCode: 1,
		})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		var result []byte
		for {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			if r, ok := msg.(*pgproto3.FunctionCallResponse); ok {
				result = append([]byte(nil), r.Result...)
			}
			if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
				break
			}
		}
		if !bytes.Equal(result, []byte{0, 0, 0, 42}) {
			t.Fatalf("int4pl(2, 40) = %v", result)
		}
		var one int
		if err := c.QueryRow(ctx, "select 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	})
}

// TestListenNotify: LISTEN in session mode gets notifications sent by
// another connection while the listener is idle.
func TestListenNotify(t *testing.T) {
	p := startPooler(t, sessionConf)
	ctx := ctxTimeout(t, 30*time.Second)
	l := p.connect(plainUser, plainUser, "")
	mustExec(t, l, "listen chan_a")
	n := p.connect(plainUser, plainUser, "")
	mustExec(t, n, "notify chan_a, 'hello'")
	got, err := l.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Channel != "chan_a" || got.Payload != "hello" {
		t.Fatalf("got %+v", got)
	}
}

// TestAsyncMessages: notices are forwarded, and ParameterStatus from a SET
// reaches the client.
func TestAsyncMessages(t *testing.T) {
	poolModes(t, func(t *testing.T, p *pooler) {
		ctx := ctxTimeout(t, 30*time.Second)
		var notices []string
		cfg, _ := pgx.ParseConfig(p.dsn(plainUser, plainUser, ""))
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Message) }
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		mustExec(t, c, "do $$ begin raise notice 'hello from plpgsql'; end $$")
		if len(notices) != 1 || notices[0] != "hello from plpgsql" {
			t.Fatalf("notices %q", notices)
		}
		mustExec(t, c, "set application_name = 'renamed'")
		if got := c.PgConn().ParameterStatus("application_name"); got != "renamed" {
			t.Fatalf("ParameterStatus application_name = %q", got)
		}
	})
}

// TestErrorsPassThrough: PostgreSQL's errors reach the client unchanged
// and the connection stays usable.
func TestErrorsPassThrough(t *testing.T) {
	poolModes(t, func(t *testing.T, p *pooler) {
		ctx := ctxTimeout(t, 30*time.Second)
		c := p.connect(plainUser, plainUser, "")
		_, err := c.Exec(ctx, "select 1/0")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "22012" || pe.Message != "division by zero" || pe.Severity != "ERROR" {
			t.Fatalf("got %#v", err)
		}
		_, err = c.Exec(ctx, "select * from no_such_table")
		if !errors.As(err, &pe) || pe.Code != "42P01" || pe.Position == 0 {
			t.Fatalf("got %#v", err)
		}
		mustExec(t, c, "select 1")
	})
}

// TestPsqlAndPgbench drives the pooler with the real command-line clients.
func TestPsqlAndPgbench(t *testing.T) {
	p := startPooler(t, strings.Replace(txConf, "pool_size 5", "pool_size 4", 1))
	env := []string{"PGHOST=127.0.0.1", fmt.Sprintf("PGPORT=%d", p.port), "PGUSER=" + plainUser, "PGDATABASE=" + plainUser, "PGSSLMODE=disable"}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(cmd.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	if out := run("psql", "-XAtc", "select 40 + 2"); strings.TrimSpace(out) != "42" {
		t.Fatalf("psql: %q", out)
	}
	script := "begin;\ncreate temp table t(x int) on commit drop;\n\\copy t from stdin\n1\n2\n3\n\\.\nselect sum(x) from t;\ncommit;\n"
	cmd := exec.Command("psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-f", "-")
	cmd.Env = append(cmd.Environ(), env...)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "6" {
		t.Fatalf("psql script: %v: %q", err, out)
	}
	var out string
	run("pgbench", "-i", "-s", "1", "-q")
	out = run("pgbench", "-c", "20", "-j", "2", "-t", "50", "-M", "extended")
	if !strings.Contains(out, "number of failed transactions: 0") {
		t.Fatalf("pgbench failures:\n%s", out)
	}
	out = run("pgbench", "-S", "-c", "20", "-j", "2", "-t", "100", "-C")
	if !strings.Contains(out, "number of failed transactions: 0") {
		t.Fatalf("pgbench -C failures:\n%s", out)
	}
}

// TestLargeMessagesThroughTransactionPool: queries and parameters of tens
// of megabytes, four clients at once, through a transaction pool (which
// forwards them in pieces, see relay.streamAbove), arrive whole; pgx's
// prepared statement with a large parameter too.
func TestLargeMessagesThroughTransactionPool(t *testing.T) {
	p := startPooler(t, txConf)
	const size = 20 << 20
	big := strings.Repeat("x", size)
	errs := make(chan error, 8)
	for i := range 4 {
		go func() {
			c, err := p.tryConnect(plainUser, plainUser, "", nil)
			if err != nil {
				errs <- err
				return
			}
			ctx := ctxTimeout(t, 60*time.Second)
			var n int
			if i%2 == 0 {
				err = c.QueryRow(ctx, "select length('"+big+"')", pgx.QueryExecModeSimpleProtocol).Scan(&n)
			} else {
				err = c.QueryRow(ctx, "select length($1::text)", big).Scan(&n)
			}
			if err == nil && n != size {
				err = fmt.Errorf("client %d: length %d, want %d", i, n, size)
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
