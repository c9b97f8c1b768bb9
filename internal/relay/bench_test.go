package relay

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/odyssey-go/odyssey/internal/backend"
	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/pool"
	"github.com/odyssey-go/odyssey/internal/stats"
)

// The relay's benchmarks: one application, one fake PostgreSQL, both over
// loopback TCP (the RawConn path the pooler takes in production), the
// relay between them, one transaction per iteration. The fakes read and
// write preallocated bytes only, so -benchmem counts the relay's own
// allocations; a transaction forwards one to five client messages and
// four or five server messages.
//
//	go test -run XXX -bench Relay -benchmem ./internal/relay

// benchHome is a route's pool without the test harness's event log.
type benchHome struct {
	pool  *pool.Pool[*Server]
	stats stats.Route
}

func (h *benchHome) Release(s *Server) bool { return h.pool.Release(s) }
func (h *benchHome) Discard(*Server)        { h.pool.Discard() }
func (h *benchHome) Remove(s *Server) bool  { return h.pool.Remove(s) }
func (h *benchHome) Stats() *stats.Route    { return &h.stats }

func (h *benchHome) Acquire(ctx context.Context, c *Client) (*Server, error) {
	s, _, err := h.pool.Acquire(ctx, testDeadline)
	return s, err
}

// benchReply is what the fake PostgreSQL answers to one request: a row
// description, one row, the command tag and ReadyForQuery.
func benchReply(extended bool) []byte {
	var b []byte
	if extended {
		b = append(b, pgwire.MsgBindComplete, 0, 0, 0, 4)
	}
	b = append(b, rowDesc()...)
	b = append(b, rows("48213")...)
	b = append(b, cmd("SELECT 1")...)
	return append(b, rfq(pgwire.TxIdle)...)
}

// fakePostgres answers every Query and every Sync with reply, until its
// connection closes. It reads frame by frame into one buffer.
func fakePostgres(conn net.Conn, reply []byte) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := io.ReadFull(conn, buf[:pgwire.HeaderLen]); err != nil {
			return
		}
		typ := buf[0]
		n := int(binary.BigEndian.Uint32(buf[1:pgwire.HeaderLen])) - 4
		if _, err := io.ReadFull(conn, buf[:n]); err != nil {
			return
		}
		switch typ {
		case pgwire.MsgQuery, pgwire.MsgSync:
			if _, err := conn.Write(reply); err != nil {
				return
			}
		case pgwire.MsgParse:
			if _, err := conn.Write(parseComplete); err != nil {
				return
			}
		}
	}
}

// readUntilReady reads replies until a whole ReadyForQuery.
func readUntilReady(conn net.Conn, buf []byte) error {
	for {
		if _, err := io.ReadFull(conn, buf[:pgwire.HeaderLen]); err != nil {
			return err
		}
		typ := buf[0]
		n := int(binary.BigEndian.Uint32(buf[1:pgwire.HeaderLen])) - 4
		if _, err := io.ReadFull(conn, buf[:n]); err != nil {
			return err
		}
		if typ == pgwire.MsgReadyForQuery {
			return nil
		}
		if typ == pgwire.MsgErrorResponse {
			return io.ErrUnexpectedEOF
		}
	}
}

// benchRelay runs one transaction per iteration: the application sends
// request and reads up to ReadyForQuery. Before the timer starts, it
// sends setup once.
func benchRelay(b *testing.B, mode config.PoolMode, tune func(*Policy), setup, request []byte, extended bool) {
	pol := &Policy{Mode: mode}
	if tune != nil {
		tune(pol)
	}
	home := &benchHome{pool: pool.New[*Server](1)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	ours, theirs := connPair(b, kindTCP)
	defer ours.Close()
	defer theirs.Close()
	bc := &backend.Conn{Conn: ours, PID: 1, Secret: []byte{1, 2, 3, 4}}
	s := NewServer("s1", bc, home, NewPolicyRef(pol), nil, log)
	go fakePostgres(theirs, benchReply(extended))
	if !home.pool.ReserveSlot() || !home.pool.Release(s) {
		b.Fatal("pool refused the server")
	}

	clientEnd, app := connPair(b, kindTCP)
	defer app.Close()
	c := NewClient(ClientConfig{ID: "c1", Conn: clientEnd, Log: log, Attacher: home,
		Policy: NewPolicyRef(pol), Stats: &home.stats})
	done := make(chan error, 1)
	go func() {
		done <- c.Run()
		clientEnd.Close()
	}()

	buf := make([]byte, 64<<10)
	if setup != nil {
		if _, err := app.Write(setup); err != nil {
			b.Fatal(err)
		}
		if err := readUntilReady(app, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := app.Write(request); err != nil {
			b.Fatal(err)
		}
		if err := readUntilReady(app, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	app.Write(terminate())
	<-done
}

// extendedRequest is Bind, Describe portal, Execute and Sync of statement
// name with one text parameter.
func extendedRequest(name string) []byte {
	var b []byte
	b, start := pgwire.BeginMessage(b, pgwire.MsgBind)
	b = append(b, 0)
	b = append(b, name...)
	b = append(b, 0, 0, 0, 0, 1, 0, 0, 0, 5)
	b = append(b, "48213"...)
	b = append(b, 0, 0)
	b = pgwire.FinishMessage(b, start)
	b = append(b, frame(pgwire.MsgDescribe, "P\x00")...)
	b = append(b, frame(pgwire.MsgExecute, "\x00\x00\x00\x00\x00")...)
	return append(b, pgwire.MsgSync, 0, 0, 0, 4)
}

func parseSync(name, sql string) []byte {
	b := appendParse(nil, name, append([]byte(sql), 0, 0, 0))
	return append(b, pgwire.MsgSync, 0, 0, 0, 4)
}

const benchSelect = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;"

func BenchmarkRelaySimpleQuery(b *testing.B) {
	for _, mode := range []config.PoolMode{config.PoolSession, config.PoolTransaction} {
		b.Run(mode.String(), func(b *testing.B) {
			benchRelay(b, mode, func(p *Policy) { p.Track = mode != config.PoolSession },
				nil, query(benchSelect), false)
		})
	}
}

// BenchmarkRelayPrepared is pgbench -M prepared through a transaction
// pool: the client's named statement is mapped to the server's.
func BenchmarkRelayPrepared(b *testing.B) {
	benchRelay(b, config.PoolTransaction, func(p *Policy) { p.Track, p.Prepared = true, true },
		parseSync("P_0", "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"),
		extendedRequest("P_0"), true)
}

// BenchmarkRelayUnnamed is pgx's exec mode: Parse of the unnamed
// statement with every request.
func BenchmarkRelayUnnamed(b *testing.B) {
	req := appendParse(nil, "", append([]byte("SELECT abalance FROM pgbench_accounts WHERE aid = $1;"), 0, 0, 0))
	req = append(req, extendedRequest("")...)
	benchRelay(b, config.PoolTransaction, func(p *Policy) { p.Track, p.Prepared = true, true },
		nil, req, true)
}
