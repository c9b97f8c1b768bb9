package relay

// End-to-end tests of Client and Server with a scripted fake PostgreSQL on
// one side and a test-driven application on the other, driven step by step
// from the test goroutine. Each peer has a background reader, so the relay
// never blocks writing to a peer the test has not read yet.
//
// Nothing waits by sleeping. What did not happen is checked by ordering:
//   - an unsolicited NoticeResponse sent by the fake server after a reply
//     probes "is the server still attached": an attached server forwards it
//     to the client, a detached one drops it; the pump handles it only after
//     it has processed, forwarded and settled everything before it, so once
//     the client has the notice, any detach would already have happened;
//   - with a net.Pipe server, pg.send returns only when the pump has read
//     the bytes, hence finished with everything sent before;
//   - pool events (release, discard, remove) go to a channel in order.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/odyssey-go/odyssey/internal/stats"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/internal/backend"
	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/pool"
)

const testDeadline = 10 * time.Second

// ---- connections ----

type connKind string

const (
	kindPipe connKind = "pipe" // net.Pipe: the plain Read path
	kindTCP  connKind = "tcp"  // *net.TCPConn: the RawConn path, MSG_PEEK
	kindUnix connKind = "unix" // *net.UnixConn
)

// connPair returns two connected ends: ours for the relay, theirs for the
// test.
func connPair(t testing.TB, kind connKind) (ours, theirs net.Conn) {
	t.Helper()
	if kind == kindPipe {
		return net.Pipe()
	}
	var ln net.Listener
	var err error
	if kind == kindUnix {
		ln, err = net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	theirs, err = net.Dial(ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ours, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return ours, theirs
}

// peer is the test's end of a connection: the application or the fake
// PostgreSQL. A background goroutine reads the connection into a queue, so
// the relay never blocks writing to a peer the test has not read yet; the
// test reads from the queue with a deadline. Its methods fail the test on
// error and are called from the test goroutine only.
type peer struct {
	t    testing.TB
	name string
	net.Conn
	chunks   chan []byte
	pending  []byte
	rerr     error // set before chunks is closed
	deadline time.Time
}

func newPeer(t testing.TB, name string, c net.Conn) *peer {
	p := &peer{t: t, name: name, Conn: c, chunks: make(chan []byte, 4096),
		deadline: time.Now().Add(testDeadline)}
	c.SetWriteDeadline(p.deadline)
	go func() {
		for {
			b := make([]byte, 32<<10)
			n, err := c.Read(b)
			if n > 0 {
				p.chunks <- b[:n]
			}
			if err != nil {
				p.rerr = err
				close(p.chunks)
				return
			}
		}
	}()
	t.Cleanup(func() { c.Close() })
	return p
}

// Read reads what the background reader queued.
func (p *peer) Read(b []byte) (int, error) {
	if len(p.pending) == 0 {
		timer := time.NewTimer(time.Until(p.deadline))
		defer timer.Stop()
		select {
		case chunk, ok := <-p.chunks:
			if !ok {
				return 0, p.rerr
			}
			p.pending = chunk
		case <-timer.C:
			return 0, fmt.Errorf("%s: read: %w", p.name, os.ErrDeadlineExceeded)
		}
	}
	n := copy(b, p.pending)
	p.pending = p.pending[n:]
	return n, nil
}

func (p *peer) send(frames ...[]byte) {
	p.t.Helper()
	if _, err := p.Write(bytes.Join(frames, nil)); err != nil {
		p.t.Fatalf("%s: write: %v", p.name, err)
	}
}

// next reads one whole frame.
func (p *peer) next() []byte {
	p.t.Helper()
	f, err := p.tryNext()
	if err != nil {
		p.t.Fatal(err)
	}
	return f
}

// tryNext reads one whole frame, or reports why it could not.
func (p *peer) tryNext() ([]byte, error) {
	var hdr [pgwire.HeaderLen]byte
	if _, err := io.ReadFull(p, hdr[:]); err != nil {
		return nil, fmt.Errorf("%s: read header: %w", p.name, err)
	}
	n := int(binary.BigEndian.Uint32(hdr[1:]))
	if n < 4 || n > 1<<24 {
		return nil, fmt.Errorf("%s: bad length %d for %q", p.name, n, hdr[0])
	}
	f := make([]byte, 1+n)
	copy(f, hdr[:])
	if _, err := io.ReadFull(p, f[pgwire.HeaderLen:]); err != nil {
		return nil, fmt.Errorf("%s: read body of %q: %w", p.name, hdr[0], err)
	}
	return f, nil
}

// expect reads one frame of type typ and returns it whole.
func (p *peer) expect(typ byte) []byte {
	p.t.Helper()
	f := p.next()
	if f[0] != typ {
		p.t.Fatalf("%s: got %q %q, want a %q message", p.name, f[0], f[pgwire.HeaderLen:], typ)
	}
	return f
}

// expectQuery reads a simple Query with this text.
func (p *peer) expectQuery(sql string) {
	p.t.Helper()
	f := p.expect(pgwire.MsgQuery)
	if got := string(f[pgwire.HeaderLen : len(f)-1]); got != sql {
		p.t.Fatalf("%s: query %q, want %q", p.name, got, sql)
	}
}

// expectBytes reads exactly want.
func (p *peer) expectBytes(want []byte) {
	p.t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(p, got); err != nil {
		p.t.Fatalf("%s: read: %v (got %q so far)", p.name, err, got)
	}
	if !bytes.Equal(got, want) {
		p.t.Fatalf("%s: got\n%q\nwant\n%q", p.name, got, want)
	}
}

// expectEOF checks that the other side closed with nothing more to say.
func (p *peer) expectEOF() {
	p.t.Helper()
	b, err := io.ReadAll(p)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		p.t.Fatalf("%s: waiting for EOF: %v", p.name, err)
	}
	if len(b) > 0 {
		p.t.Fatalf("%s: got %q, want EOF", p.name, b)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}

// expectFatal reads a FATAL ErrorResponse with this SQLSTATE.
func (p *peer) expectFatal(code string) *pgwire.Error {
	p.t.Helper()
	e := pgwire.ParseError(p.expect(pgwire.MsgErrorResponse))
	if e.Severity != pgwire.SeverityFatal || e.Code != code {
		p.t.Fatalf("%s: error %+v, want FATAL %s", p.name, e, code)
	}
	return e
}

// ---- frames ----

func frame(typ byte, body string) []byte {
	b, start := pgwire.BeginMessage(nil, typ)
	b = append(b, body...)
	return pgwire.FinishMessage(b, start)
}

func query(sql string) []byte { return pgwire.AppendQuery(nil, sql) }
func rfq(status byte) []byte  { return pgwire.AppendReadyForQuery(nil, status) }
func paramStatus(name, value string) []byte {
	return pgwire.AppendParameterStatus(nil, name, value)
}
func terminate() []byte { return pgwire.AppendTerminate(nil) }
func notice(msg string) []byte {
	return pgwire.AppendNoticeResponse(nil, &pgwire.Error{Severity: "NOTICE", Code: "00000", Message: msg})
}
func cmd(tag string) []byte { return frame(pgwire.MsgCommandComplete, tag+"\x00") }

func rowDesc() []byte {
	return frame(pgwire.MsgRowDescription, "\x00\x01?column?\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19\xff\xff\xff\xff\x00\x00")
}

// rows is a one-column result: RowDescription, a DataRow per value,
// CommandComplete.
func rows(values ...string) []byte {
	b := rowDesc()
	for _, v := range values {
		d := binary.BigEndian.AppendUint16(nil, 1)
		d = binary.BigEndian.AppendUint32(d, uint32(len(v)))
		b = append(b, frame(pgwire.MsgDataRow, string(d)+v)...)
	}
	return append(b, cmd(fmt.Sprintf("SELECT %d", len(values)))...)
}

// reply is a complete simple-query answer.
func reply(status byte, values ...string) []byte {
	return append(rows(values...), rfq(status)...)
}

// ---- fakes for the route ----

// fakeHome is a route's pool: a real pool.Pool plus an event log, so tests
// can wait for "release", "discard" or "remove" and check their order.
type fakeHome struct {
	pool      *pool.Pool[*Server]
	events    chan string
	released  atomic.Int32
	discarded atomic.Int32
	removed   atomic.Int32
}

func (h *fakeHome) event(e string) {
	select {
	case h.events <- e:
	default:
		panic("fakeHome: event log full")
	}
}

func (h *fakeHome) Release(s *Server) bool {
	ok := h.pool.Release(s)
	h.released.Add(1)
	h.event(fmt.Sprintf("release %s %v", s.ID, ok))
	return ok
}

func (h *fakeHome) Discard(s *Server) {
	h.pool.Discard()
	h.discarded.Add(1)
	h.event("discard " + s.ID)
}

func (h *fakeHome) Stats() *stats.Route { return nil }

func (h *fakeHome) Remove(s *Server) bool {
	ok := h.pool.Remove(s)
	h.removed.Add(1)
	h.event(fmt.Sprintf("remove %s %v", s.ID, ok))
	return ok
}

// fakeAttacher acquires from the fake home's pool the way the router does
// (closing servers that are not Usable); it never dials.
type fakeAttacher struct {
	home     *fakeHome
	acquires atomic.Int32
	// hook, when set, runs on each acquired server before it is returned,
	// and then the Usable check is skipped (to hand out dead servers).
	hook func(*Server)
}

func (a *fakeAttacher) Acquire(ctx context.Context, c *Client) (*Server, error) {
	for {
		s, dial, err := a.home.pool.Acquire(ctx, testDeadline)
		if err != nil {
			return nil, err
		}
		if dial {
			a.home.pool.Discard()
			return nil, pgwire.Fatal(pgwire.CodeConnectionFailure, "test attacher cannot dial")
		}
		a.acquires.Add(1)
		if a.hook != nil {
			a.hook(s)
			return s, nil
		}
		if !s.Usable() {
			s.Close()
			a.home.pool.Discard()
			continue
		}
		return s, nil
	}
}

// harness is one route: policy, pool of fake servers, clients.
type harness struct {
	t        testing.TB
	policy   *Policy
	defaults Params
	home     *fakeHome
	at       *fakeAttacher
	log      *slog.Logger
	nserver  int
	endpoint backend.Endpoint // where servers' cancel requests go
}

func newHarness(t testing.TB, mode config.PoolMode, size int, tune func(*Policy)) *harness {
	p := &Policy{Mode: mode}
	if tune != nil {
		tune(p)
	}
	home := &fakeHome{pool: pool.New[*Server](size), events: make(chan string, 64)}
	return &harness{
		t:      t,
		policy: p,
		home:   home,
		at:     &fakeAttacher{home: home},
		log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Nothing listens on port 1: a cancel there fails fast.
		endpoint: backend.Endpoint{Network: "tcp", Address: "127.0.0.1:1"},
	}
}

// cancelListener makes servers added from now on send their cancel
// requests to a fake PostgreSQL that reports each one and closes.
func (h *harness) cancelListener() <-chan *pgwire.Startup {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { ln.Close() })
	h.endpoint = backend.Endpoint{Network: "tcp", Address: ln.Addr().String()}
	got := make(chan *pgwire.Startup, 16)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			nc.SetDeadline(time.Now().Add(testDeadline))
			st, err := pgwire.ReadStartup(nc)
			if err != nil {
				st = nil
			}
			got <- st
			nc.Close()
		}
	}()
	return got
}

// expectCancel waits for a cancel request for pid.
func expectCancel(t *testing.T, got <-chan *pgwire.Startup, pid uint32) {
	t.Helper()
	select {
	case st := <-got:
		if st == nil || st.Kind != pgwire.KindCancel || st.CancelPID != pid || !bytes.Equal(st.CancelSecret, []byte{1, 2, 3, 4}) {
			t.Fatalf("cancel request %+v, want pid %d", st, pid)
		}
	case <-time.After(testDeadline):
		t.Fatal("no cancel request")
	}
}

// addServer logs in (pretends to) a server and puts it idle in the pool;
// the returned peer is the fake PostgreSQL behind it.
func (h *harness) addServer(kind connKind) (*Server, *peer) {
	h.t.Helper()
	ours, theirs := connPair(h.t, kind)
	h.nserver++
	id := fmt.Sprintf("s%d", h.nserver)
	bc := &backend.Conn{Conn: ours, PID: uint32(1000 + h.nserver), Secret: []byte{1, 2, 3, 4},
		Endpoint: h.endpoint}
	s := NewServer(id, bc, h.home, NewPolicyRef(h.policy), h.defaults, h.log)
	h.t.Cleanup(func() { ours.Close() })
	if !h.home.pool.ReserveSlot() {
		h.t.Fatal("pool full")
	}
	if !h.home.pool.Release(s) {
		h.t.Fatal("pool refused a new server")
	}
	return s, newPeer(h.t, "pg "+id, theirs)
}

// runningClient is a Client whose Run is running.
type runningClient struct {
	*Client
	app  *peer
	done chan error
}

// startClient starts a client with these session parameters. When Run
// returns, its connection is closed, as the frontend does.
func (h *harness) startClient(kind connKind, params Params) *runningClient {
	h.t.Helper()
	ours, theirs := connPair(h.t, kind)
	c := NewClient(ClientConfig{
		ID: "c1", Conn: ours, Log: h.log, Attacher: h.at, Policy: NewPolicyRef(h.policy),
		Defaults: h.defaults, Params: params,
	})
	if kind != kindPipe && c.raw == nil {
		h.t.Fatalf("%s client conn did not take the RawConn path", kind)
	}
	rc := &runningClient{Client: c, app: newPeer(h.t, "app", theirs), done: make(chan error, 1)}
	go func() {
		err := c.Run()
		ours.Close()
		rc.done <- err
	}()
	h.t.Cleanup(func() {
		ours.Close()
		select {
		case <-rc.done:
		case <-time.After(testDeadline):
			h.t.Error("Client.Run did not return")
		}
	})
	return rc
}

// wait returns Run's result.
func (rc *runningClient) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-rc.done:
		rc.done <- err // keep it for Cleanup
		return err
	case <-time.After(testDeadline):
		t.Fatal("Client.Run did not return")
		return nil
	}
}

// waitEvent checks that the next pool event is want.
func (h *harness) waitEvent(want string) {
	h.t.Helper()
	select {
	case got := <-h.home.events:
		if got != want {
			h.t.Fatalf("pool event %q, want %q", got, want)
		}
	case <-time.After(testDeadline):
		h.t.Fatalf("no pool event, want %q", want)
	}
}

// waitEventWithin is waitEvent with a shorter limit, for tests that
// document a known hang.
func (h *harness) waitEventWithin(want string, d time.Duration) {
	h.t.Helper()
	select {
	case got := <-h.home.events:
		if got != want {
			h.t.Fatalf("pool event %q, want %q", got, want)
		}
	case <-time.After(d):
		h.t.Fatalf("no pool event within %v, want %q (pool %+v)", d, want, h.home.pool.Stats())
	}
}

// noEvent checks that no pool event has happened so far.
func (h *harness) noEvent() {
	h.t.Helper()
	select {
	case got := <-h.home.events:
		h.t.Fatalf("unexpected pool event %q", got)
	default:
	}
}

func (h *harness) wantStats(want pool.Stats) {
	h.t.Helper()
	if got := h.home.pool.Stats(); got != want {
		h.t.Fatalf("pool stats %+v, want %+v", got, want)
	}
}

// probeAttached sends an unsolicited notice from pg and checks whether the
// client receives it (attached) or not. When not attached, the app must
// next see something else the test sends (checked by the caller).
func probeAttached(pg, app *peer) {
	pg.t.Helper()
	n := notice("probe")
	pg.send(n)
	app.expectBytes(n)
}

var clientKinds = []connKind{kindPipe, kindTCP, kindUnix}

// ---- tests ----

func TestSimpleQuery(t *testing.T) {
	for _, ck := range clientKinds {
		for _, sk := range []connKind{kindPipe, kindTCP} {
			t.Run(fmt.Sprintf("client %s server %s", ck, sk), func(t *testing.T) {
				h := newHarness(t, config.PoolSession, 1, nil)
				s, pg := h.addServer(sk)
				c := h.startClient(ck, nil)
				c.app.send(query("SELECT 1"))
				pg.expectQuery("SELECT 1")
				r := reply('I', "1")
				pg.send(r)
				c.app.expectBytes(r)
				if !c.Attached() || s.State() != "active" {
					t.Fatalf("attached %v, server %s", c.Attached(), s.State())
				}
				c.app.send(terminate())
				if err := c.wait(t); err != nil {
					t.Fatalf("Run: %v", err)
				}
				h.waitEvent("release s1 true")
				h.wantStats(pool.Stats{Size: 1, Total: 1, Idle: 1})
				if s.State() != "idle" || h.at.acquires.Load() != 1 {
					t.Fatalf("server %s, acquires %d", s.State(), h.at.acquires.Load())
				}
				c.app.expectEOF()
			})
		}
	}
}

func TestTransactionModeDetach(t *testing.T) {
	for _, ck := range []connKind{kindPipe, kindTCP} {
		t.Run(string(ck), func(t *testing.T) {
			h := newHarness(t, config.PoolTransaction, 1, nil)
			s, pg := h.addServer(kindPipe)
			c := h.startClient(ck, nil)

			c.app.send(query("BEGIN"))
			pg.expectQuery("BEGIN")
			r := append(cmd("BEGIN"), rfq('T')...)
			pg.send(r)
			c.app.expectBytes(r)
			probeAttached(pg, c.app) // 'T': still attached

			c.app.send(query("SELECT 1/0"))
			pg.expectQuery("SELECT 1/0")
			r = append(pgwire.AppendErrorResponse(nil, &pgwire.Error{Code: "22012", Message: "division by zero"}), rfq('E')...)
			pg.send(r)
			c.app.expectBytes(r)
			probeAttached(pg, c.app) // 'E': failed transaction, still attached
			h.noEvent()

			c.app.send(query("ROLLBACK"))
			pg.expectQuery("ROLLBACK")
			r = append(cmd("ROLLBACK"), rfq('I')...)
			pg.send(r)
			c.app.expectBytes(r)
			h.waitEvent("release s1 true") // 'I': back to the pool
			if c.Attached() || s.State() != "idle" {
				t.Fatalf("attached %v, server %s after ReadyForQuery 'I'", c.Attached(), s.State())
			}
			// A detached server's chatter goes nowhere.
			pg.send(notice("nobody listens"))

			// The next transaction attaches again (the same, only server).
			c.app.send(query("SELECT 2"))
			pg.expectQuery("SELECT 2")
			r = reply('I', "2")
			pg.send(r)
			c.app.expectBytes(r) // not the dropped notice
			h.waitEvent("release s1 true")
			if n := h.at.acquires.Load(); n != 2 {
				t.Fatalf("%d acquires, want 2", n)
			}
		})
	}
}

func TestSessionModeKeepsServer(t *testing.T) {
	h := newHarness(t, config.PoolSession, 1, nil)
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	for i := range 3 {
		q := fmt.Sprintf("SELECT %d", i)
		c.app.send(query(q))
		pg.expectQuery(q)
		r := reply('I', fmt.Sprint(i))
		pg.send(r)
		c.app.expectBytes(r)
		probeAttached(pg, c.app)
	}
	h.noEvent()
	if n := h.at.acquires.Load(); n != 1 {
		t.Fatalf("%d acquires in session mode, want 1", n)
	}
	c.app.Close() // leaves without Terminate
	if err := c.wait(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.waitEvent("release s1 true")
}

func TestStatementModeDetachesEachRequest(t *testing.T) {
	h := newHarness(t, config.PoolStatement, 1, func(p *Policy) { p.Rollback = true })
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	c.app.send(query("SELECT 1"))
	pg.expectQuery("SELECT 1")
	pg.send(reply('I', "1"))
	c.app.expectBytes(reply('I', "1"))
	h.waitEvent("release s1 true")

	// A transaction cannot span statements: the client is told and the
	// server rolled back.
	c.app.send(query("BEGIN"))
	pg.expectQuery("BEGIN")
	r := append(cmd("BEGIN"), rfq('T')...)
	pg.send(r)
	c.app.expectBytes(r)
	pg.expectQuery("ROLLBACK")
	c.app.expectFatal(pgwire.CodeFeatureNotSupported)
	pg.send(cmd("ROLLBACK"), rfq('I'))
	h.waitEvent("release s1 true")
	var pe *pgwire.Error
	if err := c.wait(t); !errors.As(err, &pe) || pe.Code != pgwire.CodeFeatureNotSupported {
		t.Fatalf("Run: %v", err)
	}
}

func TestPipelinedQueries(t *testing.T) {
	for _, oneWrite := range []bool{true, false} {
		t.Run(fmt.Sprintf("one write %v", oneWrite), func(t *testing.T) {
			h := newHarness(t, config.PoolTransaction, 1, nil)
			_, pg := h.addServer(kindPipe)
			c := h.startClient(kindPipe, nil)
			if oneWrite {
				c.app.send(query("SELECT 1"), query("SELECT 2"))
				pg.expectQuery("SELECT 1")
				pg.expectQuery("SELECT 2")
			} else {
				c.app.send(query("SELECT 1"))
				pg.expectQuery("SELECT 1")
				c.app.send(query("SELECT 2"))
				pg.expectQuery("SELECT 2")
			}
			r1 := reply('I', "1")
			pg.send(r1)
			c.app.expectBytes(r1)
			probeAttached(pg, c.app) // one request still outstanding: no detach
			h.noEvent()
			r2 := reply('I', "2")
			pg.send(r2)
			c.app.expectBytes(r2)
			h.waitEvent("release s1 true")
			if n := h.at.acquires.Load(); n != 1 {
				t.Fatalf("%d acquires, want 1", n)
			}
		})
	}
}

func TestExtendedBatchWithoutSync(t *testing.T) {
	parse := frame(pgwire.MsgParse, "\x00SELECT $1\x00\x00\x00")
	bind := frame(pgwire.MsgBind, "\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01x\x00\x00")
	execute := frame(pgwire.MsgExecute, "\x00\x00\x00\x00\x00")
	flush := frame(pgwire.MsgFlush, "")
	sync := frame(pgwire.MsgSync, "")
	for _, withFlush := range []bool{false, true} {
		t.Run(fmt.Sprintf("flush %v", withFlush), func(t *testing.T) {
			h := newHarness(t, config.PoolTransaction, 1, nil)
			s, pg := h.addServer(kindPipe)
			c := h.startClient(kindPipe, nil)
			batch := [][]byte{parse, bind, execute}
			if withFlush {
				batch = append(batch, flush)
			}
			c.app.send(batch...)
			for _, f := range batch {
				pg.expectBytes(f)
			}
			r := bytes.Join([][]byte{frame(pgwire.MsgParseComplete, ""), frame(pgwire.MsgBindComplete, ""),
				frame(pgwire.MsgDataRow, "\x00\x01\x00\x00\x00\x01x"), cmd("SELECT 1")}, nil)
			pg.send(r)
			c.app.expectBytes(r)
			probeAttached(pg, c.app) // nothing pending, but no Sync yet
			h.noEvent()
			if s.State() != "active" {
				t.Fatalf("server %s", s.State())
			}
			c.app.send(sync)
			pg.expectBytes(sync)
			pg.send(rfq('I'))
			c.app.expectBytes(rfq('I'))
			h.waitEvent("release s1 true")
			if n := h.at.acquires.Load(); n != 1 {
				t.Fatalf("%d acquires, want 1", n)
			}
		})
	}
}

func TestClientLeavesDuringExtendedBatchClosesServer(t *testing.T) {
	h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.Rollback = true; p.ResetQuery = "DISCARD ALL" })
	var logs syncBuffer
	h.log = slog.New(slog.NewTextHandler(&logs, nil))
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	parse := frame(pgwire.MsgParse, "\x00DELETE FROM t\x00\x00\x00")
	c.app.send(parse)
	pg.expectBytes(parse)
	c.app.send(terminate())
	if err := c.wait(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Finishing the batch would run half of the client's statements: the
	// server is closed instead (Terminate, then EOF).
	h.waitEventWithin("discard s1", 3*time.Second)
	pg.expect(pgwire.MsgTerminate)
	pg.expectEOF()
	h.wantStats(pool.Stats{Size: 1})
	// The pooler says once why it closed the server, and does not then
	// report the connection as lost.
	if got := logs.String(); strings.Count(got, "closing server") != 1 || strings.Contains(got, "connection lost") {
		t.Errorf("log:\n%s", got)
	}
}

// syncBuffer is a bytes.Buffer for logs written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClientLeavesDuringCopyIn: the server waits for COPY data that will
// never come; it cannot be made clean and must be closed, freeing its slot.
func TestClientLeavesDuringCopyIn(t *testing.T) {
	h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.Rollback = true; p.Cancel = true })
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	c.app.send(query("COPY t FROM STDIN"))
	pg.expectQuery("COPY t FROM STDIN")
	g := frame(pgwire.MsgCopyInResponse, "\x00\x00\x01\x00\x00")
	pg.send(g)
	c.app.expectBytes(g)
	c.app.send(frame(pgwire.MsgCopyData, "1\n"))
	pg.expect(pgwire.MsgCopyData)
	c.app.send(terminate())
	if err := c.wait(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.waitEventWithin("discard s1", 3*time.Second)
	pg.expect(pgwire.MsgTerminate)
	pg.expectEOF()
}

func TestDeploy(t *testing.T) {
	wantDeploy := "SELECT pg_catalog.set_config(E'TimeZone', E'Europe/Berlin', false), " +
		"pg_catalog.set_config(E'application_name', E'it''s me', false);"
	deployReply := bytes.Join([][]byte{
		rows("deploy-row"),
		paramStatus("TimeZone", "Europe/Berlin"),
		paramStatus("application_name", "it's me"),
		rfq('I'),
	}, nil)
	tests := []struct {
		name string
		send func(pg *peer, mine []byte)
	}{
		{"deploy and reply in one write", func(pg *peer, mine []byte) { pg.send(deployReply, mine) }},
		{"deploy and reply apart", func(pg *peer, mine []byte) { pg.send(deployReply); pg.send(mine) }},
		{"deploy reply split mid-frame", func(pg *peer, mine []byte) {
			all := append(append([]byte(nil), deployReply...), mine...)
			pg.send(all[:7])
			pg.send(all[7 : len(deployReply)-3]) // ends inside the hidden ReadyForQuery
			pg.send(all[len(deployReply)-3 : len(deployReply)+9])
			pg.send(all[len(deployReply)+9:])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.MaintainParams = true })
			h.defaults = Params{{Name: "TimeZone", Value: "UTC"}, {Name: "application_name", Value: ""}}
			s, pg := h.addServer(kindPipe)
			params := Params{{Name: "TimeZone", Value: "Europe/Berlin"}, {Name: "application_name", Value: "it's me"}}
			c := h.startClient(kindPipe, params)
			c.app.send(query("SELECT 1"))
			pg.expectQuery(wantDeploy)
			pg.expectQuery("SELECT 1")
			mine := reply('I', "mine")
			tt.send(pg, mine)
			// The client sees its own reply and nothing of the deploy.
			c.app.expectBytes(mine)
			got, unknown := s.paramsSnapshot()
			if unknown || !got.Equal(params) {
				t.Fatalf("server params %v (unknown %v), want %v", got, unknown, params)
			}
			if cp := c.paramsSnapshot(); !cp.Equal(params) {
				t.Fatalf("client params %v", cp)
			}
			c.app.send(terminate())
			c.wait(t)
			h.waitEvent("release s1 true")

			// A client with the same parameters needs no deploy.
			c2 := h.startClient(kindPipe, params.Clone())
			c2.app.send(query("SELECT 2"))
			pg.expectQuery("SELECT 2")
			pg.send(reply('I', "2"))
			c2.app.expectBytes(reply('I', "2"))
			c2.app.send(terminate())
			c2.wait(t)
			h.waitEvent("release s1 true")

			// A client with none gets them reset: nothing leaks.
			c3 := h.startClient(kindPipe, nil)
			c3.app.send(query("SELECT 3"))
			pg.expectQuery(`RESET "TimeZone";RESET "application_name";`)
			pg.expectQuery("SELECT 3")
			pg.send(cmd("RESET"), paramStatus("TimeZone", "UTC"), cmd("RESET"), paramStatus("application_name", ""), rfq('I'))
			pg.send(reply('I', "3"))
			c3.app.expectBytes(reply('I', "3"))
			if got, _ := s.paramsSnapshot(); len(got) != 0 {
				t.Fatalf("server params after reset deploy: %v", got)
			}
			if cp := c3.paramsSnapshot(); len(cp) != 0 {
				t.Fatalf("client params %v", cp)
			}
		})
	}
}

// TestSessionDeploy: in a session pool a server goes back to its startup
// values for the next client: nothing when a reset that clears them ran
// (DISCARD ALL), a reset of every parameter (role and session
// authorization included) otherwise.
func TestSessionDeploy(t *testing.T) {
	for _, clears := range []bool{false, true} {
		t.Run(fmt.Sprintf("reset clears parameters %v", clears), func(t *testing.T) {
			h := newHarness(t, config.PoolSession, 1, func(p *Policy) {
				p.MaintainParams = true
				if clears {
					p.ResetQuery, p.ResetClearsParams = "DISCARD ALL", true
				}
			})
			_, pg := h.addServer(kindPipe)
			c := h.startClient(kindPipe, Params{{Name: "work_mem", Value: "5MB"}})
			c.app.send(query("SET work_mem = '6MB'"))
			pg.expectQuery("SET work_mem = '6MB'") // a new server: nothing to deploy
			pg.send(cmd("SET"), rfq('I'))
			c.app.expectBytes(append(cmd("SET"), rfq('I')...))
			c.app.send(terminate())
			c.wait(t)
			if clears {
				pg.expectQuery("DISCARD ALL")
				pg.send(cmd("DISCARD ALL"), rfq('I'))
			}
			h.waitEvent("release s1 true")
			c2 := h.startClient(kindPipe, nil)
			c2.app.send(query("SELECT 2"))
			if !clears {
				pg.expectQuery(sessionDeployQuery)
			}
			pg.expectQuery("SELECT 2")
		})
	}
}

// TestDeployFailureHidden: an error in the deploy is not the client's; the
// server's parameters become unknown so the next attach resets them all.
func TestNoDeployWithoutMaintainParams(t *testing.T) {
	h := newHarness(t, config.PoolSession, 1, nil)
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindPipe, Params{{Name: "application_name", Value: "x"}})
	c.app.send(query("SELECT 1"))
	pg.expectQuery("SELECT 1")
}

func TestDeployFailureHidden(t *testing.T) {
	h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.MaintainParams = true })
	s, pg := h.addServer(kindPipe)
	params := Params{{Name: "search_path", Value: "nope"}}
	c := h.startClient(kindPipe, params)
	c.app.send(query("SELECT 1"))
	pg.expectQuery("SELECT pg_catalog.set_config(E'search_path', E'nope', false);")
	pg.expectQuery("SELECT 1")
	pg.send(pgwire.AppendErrorResponse(nil, &pgwire.Error{Code: "22023", Message: "invalid value"}), rfq('I'))
	mine := reply('I', "1")
	pg.send(mine)
	c.app.expectBytes(mine)
	if _, unknown := s.paramsSnapshot(); !unknown {
		t.Fatal("server parameters still trusted after a failed deploy")
	}
	c.app.send(terminate())
	c.wait(t)
	h.waitEvent("release s1 true")
	c2 := h.startClient(kindPipe, nil)
	c2.app.send(query("SELECT 2"))
	pg.expectQuery("RESET ALL;")
	pg.expectQuery("SELECT 2")
}

func TestParameterStatusForwarded(t *testing.T) {
	h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.MaintainParams = true })
	h.defaults = Params{{Name: "application_name", Value: ""}}
	s, pg := h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)

	c.app.send(query("SET application_name = 'x'"))
	pg.expectQuery("SET application_name = 'x'")
	r := bytes.Join([][]byte{cmd("SET"), paramStatus("application_name", "x"), rfq('I')}, nil)
	pg.send(r)
	c.app.expectBytes(r)
	want := Params{{Name: "application_name", Value: "x"}}
	if got := c.paramsSnapshot(); !got.Equal(want) {
		t.Fatalf("client params %v, want %v", got, want)
	}
	h.waitEvent("release s1 true")
	if got, _ := s.paramsSnapshot(); !got.Equal(want) {
		t.Fatalf("server params %v, want %v", got, want)
	}
	// Lower-case name, value back to the default: dropped from the set.
	// The server already has the client's parameters: no deploy.
	c.app.send(query("RESET application_name"))
	pg.expectQuery("RESET application_name")
	r = bytes.Join([][]byte{cmd("RESET"), paramStatus("APPLICATION_NAME", ""), paramStatus("server_version", "99"), rfq('I')}, nil)
	pg.send(r)
	c.app.expectBytes(r)
	if got := c.paramsSnapshot(); len(got) != 0 {
		t.Fatalf("client params %v, want none", got)
	}
	h.waitEvent("release s1 true")
}

func TestClientLeavesMidTransaction(t *testing.T) {
	for _, how := range []string{"terminate", "close"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) {
				p.Rollback = true
				p.ResetQuery = "DISCARD ALL"
				p.ResetClearsParams = true
			})
			s, pg := h.addServer(kindPipe)
			c := h.startClient(kindPipe, nil)
			c.app.send(query("BEGIN"))
			pg.expectQuery("BEGIN")
			pg.send(cmd("BEGIN"), rfq('T'))
			c.app.expectBytes(append(cmd("BEGIN"), rfq('T')...))
			if how == "terminate" {
				c.app.send(terminate())
			} else {
				c.app.Close()
			}
			// Terminate is not forwarded: the next thing the server gets
			// is our ROLLBACK, then the reset query.
			pg.expectQuery("ROLLBACK")
			pg.expectQuery("DISCARD ALL")
			if err := c.wait(t); err != nil {
				t.Fatalf("Run: %v", err)
			}
			pg.send(cmd("ROLLBACK"), rfq('I'))
			pg.send(notice("sync")) // the pump has processed the ROLLBACK reply
			h.noEvent()
			if s.State() != "reset" {
				t.Fatalf("server %s during reset", s.State())
			}
			pg.send(cmd("DISCARD ALL"), rfq('I'))
			h.waitEvent("release s1 true")
			h.wantStats(pool.Stats{Size: 1, Total: 1, Idle: 1})
		})
	}
}

func TestClientLeavesMidTransactionNoRollback(t *testing.T) {
	h := newHarness(t, config.PoolTransaction, 1, nil) // pool_rollback off
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	c.app.send(query("BEGIN"))
	pg.expectQuery("BEGIN")
	pg.send(cmd("BEGIN"), rfq('T'))
	c.app.expectBytes(append(cmd("BEGIN"), rfq('T')...))
	c.app.send(terminate())
	pg.expect(pgwire.MsgTerminate) // our goodbye, not the client's
	pg.expectEOF()
	h.waitEvent("discard s1")
	h.wantStats(pool.Stats{Size: 1})
}

func TestTerminateNotForwarded(t *testing.T) {
	for _, ck := range []connKind{kindPipe, kindTCP} {
		t.Run(string(ck), func(t *testing.T) {
			h := newHarness(t, config.PoolSession, 1, func(p *Policy) { p.ResetQuery = "DISCARD ALL" })
			_, pg := h.addServer(kindPipe)
			c := h.startClient(ck, nil)
			c.app.send(query("SELECT 1"))
			pg.expectQuery("SELECT 1")
			pg.send(reply('I', "1"))
			c.app.expectBytes(reply('I', "1"))
			c.app.send(terminate())
			pg.expectQuery("DISCARD ALL") // not 'X'
			pg.send(cmd("DISCARD ALL"), rfq('I'))
			h.waitEvent("release s1 true")
			if err := c.wait(t); err != nil {
				t.Fatalf("Run: %v", err)
			}
			c.app.expectEOF()
		})
	}
}

func TestServerDiesMidReply(t *testing.T) {
	full := reply('I', strings.Repeat("x", 100))
	row := bytes.Index(full, []byte{pgwire.MsgDataRow, 0, 0})
	tests := []struct {
		name    string
		sent    []byte // what the server sends before dying
		atFrame bool   // the stream is at a frame boundary
	}{
		{"at a frame boundary", full[:row+5+2+4+100], true},
		{"at a frame boundary, nothing sent", nil, true},
		{"mid-frame", full[:row+30], false},
		{"mid-header", full[:row+3], true}, // a partial header is never forwarded
	}
	for _, ck := range []connKind{kindPipe, kindTCP} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s %s", ck, tt.name), func(t *testing.T) {
				h := newHarness(t, config.PoolSession, 1, nil)
				_, pg := h.addServer(kindPipe)
				c := h.startClient(ck, nil)
				c.app.send(query("SELECT big"))
				pg.expectQuery("SELECT big")
				if tt.sent != nil {
					pg.send(tt.sent)
				}
				pg.Close()
				forwarded := tt.sent
				if tt.name == "mid-header" {
					forwarded = full[:row]
				}
				c.app.expectBytes(forwarded)
				if tt.atFrame {
					e := c.app.expectFatal(pgwire.CodeConnectionFailure)
					if !strings.Contains(e.Message, "s1") || !strings.Contains(e.Message, "c1") {
						t.Errorf("message %q does not name the server and client", e.Message)
					}
				}
				c.app.expectEOF()
				var pe *pgwire.Error
				if err := c.wait(t); !errors.As(err, &pe) || pe.Code != pgwire.CodeConnectionFailure {
					t.Fatalf("Run: %v", err)
				}
				h.waitEvent("discard s1")
				h.wantStats(pool.Stats{Size: 1})
			})
		}
	}
}

func TestServerMalformedLength(t *testing.T) {
	for _, bad := range [][]byte{{'D', 0, 0, 0, 2}, {'Z', 0, 0, 0, 0}, {'D', 0x7f, 0xff, 0xff, 0xff}} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			h := newHarness(t, config.PoolSession, 1, nil)
			s, pg := h.addServer(kindPipe)
			c := h.startClient(kindPipe, nil)
			c.app.send(query("SELECT 1"))
			pg.expectQuery("SELECT 1")
			head := rowDesc()
			pg.send(head)
			c.app.expectBytes(head)
			pg.send(bad)
			c.app.expectFatal(pgwire.CodeConnectionFailure)
			c.app.expectEOF()
			pg.expectEOF() // the pooler closed the server
			h.waitEvent("discard s1")
			if s.State() != "closed" {
				t.Fatalf("server %s", s.State())
			}
		})
	}
}

func TestInvalidClientMessage(t *testing.T) {
	for _, ck := range []connKind{kindPipe, kindTCP} {
		for _, attached := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s attached %v", ck, attached), func(t *testing.T) {
				h := newHarness(t, config.PoolSession, 1, nil)
				_, pg := h.addServer(kindPipe)
				c := h.startClient(ck, nil)
				if attached {
					c.app.send(query("SELECT 1"))
					pg.expectQuery("SELECT 1")
					pg.send(reply('I', "1"))
					c.app.expectBytes(reply('I', "1"))
				}
				c.app.send(frame('Z', "I")) // a backend message type
				e := c.app.expectFatal(pgwire.CodeProtocolViolation)
				if !strings.Contains(e.Message, "c1") {
					t.Errorf("message %q does not name the client", e.Message)
				}
				c.app.expectEOF()
				var pe *pgwire.Error
				if err := c.wait(t); !errors.As(err, &pe) || pe.Code != pgwire.CodeProtocolViolation {
					t.Fatalf("Run: %v", err)
				}
				if attached {
					h.waitEvent("release s1 true")
				}
				h.noEvent()
				if n := h.at.acquires.Load(); n != map[bool]int32{false: 0, true: 1}[attached] {
					t.Fatalf("%d acquires", n)
				}
			})
		}
	}
}

func TestClientBadLength(t *testing.T) {
	h := newHarness(t, config.PoolSession, 1, nil)
	h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	c.app.send([]byte{'Q', 0, 0, 0, 1})
	c.app.expectFatal(pgwire.CodeProtocolViolation)
	c.app.expectEOF()
}

func TestIdleServerUnsolicitedErrorRemoved(t *testing.T) {
	for _, sk := range []connKind{kindPipe, kindTCP} {
		t.Run(string(sk), func(t *testing.T) {
			h := newHarness(t, config.PoolSession, 2, func(p *Policy) { p.AttachCheck = true })
			s1, pg1 := h.addServer(sk)
			_, pg2 := h.addServer(sk)
			h.wantStats(pool.Stats{Size: 2, Total: 2, Idle: 2})
			pg1.send(pgwire.AppendErrorResponse(nil, &pgwire.Error{Severity: "FATAL", Code: "57P01",
				Message: "terminating connection due to administrator command"}))
			pg1.Close()
			h.waitEvent("remove s1 true")
			if s1.Usable() || s1.State() != "closed" {
				t.Fatalf("dead server usable %v, state %s", s1.Usable(), s1.State())
			}
			h.wantStats(pool.Stats{Size: 2, Total: 1, Idle: 1})
			// A client gets the live one.
			c := h.startClient(kindPipe, nil)
			c.app.send(query("SELECT 1"))
			pg2.expectQuery("SELECT 1")
		})
	}
}

// TestUsablePeek checks pool_attach_check's MSG_PEEK on a server whose
// socket has unread data: a Server built without its pump, so that nothing
// else reads the socket.
func TestUsablePeek(t *testing.T) {
	ours, theirs := connPair(t, kindTCP)
	defer ours.Close()
	defer theirs.Close()
	check := &Policy{AttachCheck: true}
	s := &Server{ID: "s1", Conn: &backend.Conn{Conn: ours}, policy: NewPolicyRef(check), state: stateIdle}
	if !s.Usable() {
		t.Fatal("quiet idle server not usable")
	}
	fatal := pgwire.AppendErrorResponse(nil, &pgwire.Error{Severity: "FATAL", Code: "57P01", Message: "bye"})
	if _, err := theirs.Write(fatal); err != nil {
		t.Fatal(err)
	}
	// Loopback delivers at once; allow the kernel a moment without
	// sleeping on a guess.
	deadline := time.Now().Add(testDeadline)
	for s.Usable() {
		if time.Now().After(deadline) {
			t.Fatal("server with unread data still usable")
		}
		ours.SetReadDeadline(time.Now().Add(time.Millisecond))
		ours.Read(nil) // waits for readability, consumes nothing
	}
	ours.SetReadDeadline(time.Time{})
	// Peeking consumed nothing.
	got := make([]byte, len(fatal))
	if _, err := io.ReadFull(ours, got); err != nil || !bytes.Equal(got, fatal) {
		t.Fatalf("after peek read %q, %v", got, err)
	}
	s.policy = NewPolicyRef(&Policy{AttachCheck: false})
	theirs.Write(fatal)
	if !s.Usable() {
		t.Fatal("without attach check, an idle server is usable")
	}
	s.state = stateClosed
	if s.Usable() {
		t.Fatal("closed server usable")
	}
	// EOF counts as readable.
	s.state, s.policy = stateIdle, NewPolicyRef(check)
	io.ReadFull(ours, got)
	theirs.Close()
	for s.Usable() {
		if time.Now().After(deadline) {
			t.Fatal("server whose peer closed still usable")
		}
		ours.SetReadDeadline(time.Now().Add(time.Millisecond))
		ours.Read(nil)
	}
	// A net.Pipe server cannot be peeked: usable as long as it is idle.
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	ps := &Server{ID: "s2", Conn: &backend.Conn{Conn: p1}, policy: NewPolicyRef(check), state: stateIdle}
	if !ps.Usable() {
		t.Fatal("pipe server not usable")
	}
}

// TestAttachRetriesDeadServer: a server that dies after the pool handed it
// out but before the client attaches it is discarded (its slot freed, no
// server lost) and the client gets another one.
func TestAttachRetriesDeadServer(t *testing.T) {
	h := newHarness(t, config.PoolSession, 2, nil)
	_, pg1 := h.addServer(kindPipe)
	_, pg2 := h.addServer(kindPipe)
	hookErr := make(chan error, 2)
	h.at.hook = func(s *Server) {
		if s.ID != "s2" { // LIFO: s2 comes out first
			hookErr <- nil
			return
		}
		pg2.Close()
		select {
		case e := <-h.home.events:
			if e != "remove s2 false" {
				hookErr <- fmt.Errorf("event %q, want remove s2 false", e)
				return
			}
		case <-time.After(testDeadline):
			hookErr <- errors.New("dead server's pump did not report")
			return
		}
		hookErr <- nil
	}
	c := h.startClient(kindPipe, nil)
	c.app.send(query("SELECT 1"))
	pg1.expectQuery("SELECT 1")
	for range 2 {
		if err := <-hookErr; err != nil {
			t.Fatal(err)
		}
	}
	h.waitEvent("discard s2")
	pg1.send(reply('I', "1"))
	c.app.expectBytes(reply('I', "1"))
	h.wantStats(pool.Stats{Size: 2, Total: 1})
}

func TestLargeFramesStream(t *testing.T) {
	for _, ck := range []connKind{kindPipe, kindTCP} {
		t.Run(string(ck), func(t *testing.T) {
			h := newHarness(t, config.PoolTransaction, 1, nil)
			_, pg := h.addServer(kindPipe)
			c := h.startClient(ck, nil)
			big := strings.Repeat("q", 100<<10) // > client buffer
			c.app.send(query("SELECT '" + big + "'"))
			pg.expectQuery("SELECT '" + big + "'")
			r := reply('I', strings.Repeat("r", 300<<10), "small", strings.Repeat("s", 70<<10)) // > pump buffer
			pg.send(r)
			c.app.expectBytes(r)
			h.waitEvent("release s1 true")
		})
	}
}

func TestKillIdleClient(t *testing.T) {
	for _, ck := range []connKind{kindPipe, kindTCP} {
		t.Run(string(ck), func(t *testing.T) {
			h := newHarness(t, config.PoolSession, 1, nil)
			h.addServer(kindPipe)
			c := h.startClient(ck, nil)
			c.Kill(&pgwire.Error{Severity: "FATAL", Code: pgwire.CodeAdminShutdown, Message: "shutting down"})
			e := c.app.expectFatal(pgwire.CodeAdminShutdown)
			if !strings.Contains(e.Message, "shutting down") {
				t.Fatalf("message %q", e.Message)
			}
			c.app.expectEOF()
			var pe *pgwire.Error
			if err := c.wait(t); !errors.As(err, &pe) || pe.Code != pgwire.CodeAdminShutdown {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

func TestCancelForwarded(t *testing.T) {
	h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.CancelTimeout = testDeadline })
	cancels := h.cancelListener()
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	c.Cancel() // nothing attached: nothing to cancel
	c.app.send(query("SELECT pg_sleep(1000)"))
	pg.expectQuery("SELECT pg_sleep(1000)")
	c.Cancel() // returns once PostgreSQL has read the request
	expectCancel(t, cancels, 1001)
	r := append(pgwire.AppendErrorResponse(nil, &pgwire.Error{Severity: "ERROR", Code: pgwire.CodeQueryCanceled,
		Message: "canceling statement due to user request"}), rfq('I')...)
	pg.send(r)
	c.app.expectBytes(r)
	h.waitEvent("release s1 true")
	c.Cancel() // detached again: nothing to cancel
	select {
	case st := <-cancels:
		t.Fatalf("unexpected cancel %+v", st)
	default:
	}
}

// TestClientLeavesWithQueryRunning: with pool_cancel the abandoned query is
// cancelled, its reply drained (the client never sees it), the server
// reset and released; without, the server is closed.
func TestClientLeavesWithQueryRunning(t *testing.T) {
	t.Run("pool_cancel on", func(t *testing.T) {
		h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) {
			p.Cancel, p.Rollback, p.ResetQuery = true, true, "DISCARD ALL"
			p.CancelTimeout = testDeadline
		})
		cancels := h.cancelListener()
		_, pg := h.addServer(kindPipe)
		c := h.startClient(kindPipe, nil)
		c.app.send(query("SELECT pg_sleep(1000)"))
		pg.expectQuery("SELECT pg_sleep(1000)")
		c.app.send(terminate())
		expectCancel(t, cancels, 1001)
		if err := c.wait(t); err != nil {
			t.Fatalf("Run: %v", err)
		}
		c.app.expectEOF()
		pg.send(pgwire.AppendErrorResponse(nil, &pgwire.Error{Severity: "ERROR", Code: pgwire.CodeQueryCanceled,
			Message: "canceling statement due to user request"}), rfq('I'))
		pg.expectQuery("DISCARD ALL")
		pg.send(cmd("DISCARD ALL"), rfq('I'))
		h.waitEvent("release s1 true")
	})
	t.Run("pool_cancel off", func(t *testing.T) {
		h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.Rollback = true })
		_, pg := h.addServer(kindPipe)
		c := h.startClient(kindPipe, nil)
		c.app.send(query("SELECT pg_sleep(1000)"))
		pg.expectQuery("SELECT pg_sleep(1000)")
		c.app.send(terminate())
		pg.expect(pgwire.MsgTerminate)
		pg.expectEOF()
		h.waitEvent("discard s1")
	})
}

func TestResetTimeout(t *testing.T) {
	h := newHarness(t, config.PoolSession, 1, func(p *Policy) {
		p.ResetQuery = "DISCARD ALL"
		p.ResetTimeout = 50 * time.Millisecond
	})
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	c.app.send(query("SELECT 1"))
	pg.expectQuery("SELECT 1")
	pg.send(reply('I', "1"))
	c.app.expectBytes(reply('I', "1"))
	c.app.send(terminate())
	pg.expectQuery("DISCARD ALL") // and never answer
	h.waitEvent("discard s1")
	pg.expectEOF()
	h.wantStats(pool.Stats{Size: 1})
}

func TestDrain(t *testing.T) {
	drainErr := &pgwire.Error{Severity: "FATAL", Code: pgwire.CodeAdminShutdown, Message: "odyssey is shutting down"}
	for _, mode := range []config.PoolMode{config.PoolSession, config.PoolTransaction} {
		t.Run(mode.String(), func(t *testing.T) {
			h := newHarness(t, mode, 1, func(p *Policy) { p.Rollback = true })
			_, pg := h.addServer(kindPipe)
			c := h.startClient(kindPipe, nil)
			c.app.send(query("BEGIN"))
			pg.expectQuery("BEGIN")
			pg.send(cmd("BEGIN"), rfq('T'))
			c.app.expectBytes(append(cmd("BEGIN"), rfq('T')...))
			c.Drain(drainErr) // inside a transaction: finish it first
			c.app.send(query("SELECT 1"))
			pg.expectQuery("SELECT 1")
			pg.send(reply('T', "1"))
			c.app.expectBytes(reply('T', "1"))
			c.app.send(query("COMMIT"))
			pg.expectQuery("COMMIT")
			pg.send(cmd("COMMIT"), rfq('I'))
			c.app.expectBytes(append(cmd("COMMIT"), rfq('I')...))
			c.app.expectFatal(pgwire.CodeAdminShutdown)
			c.app.expectEOF()
			var pe *pgwire.Error
			if err := c.wait(t); !errors.As(err, &pe) || pe.Code != pgwire.CodeAdminShutdown {
				t.Fatalf("Run: %v", err)
			}
			h.waitEvent("release s1 true")
		})
	}
	t.Run("idle client", func(t *testing.T) {
		h := newHarness(t, config.PoolTransaction, 1, nil)
		h.addServer(kindPipe)
		c := h.startClient(kindTCP, nil)
		c.Drain(drainErr)
		c.app.expectFatal(pgwire.CodeAdminShutdown)
		c.app.expectEOF()
	})
}

// TestDrainWithIdleTimeout is TestDrain with an idle timeout configured:
// the drain must still happen at the transaction boundary, not when the
// idle timeout expires.
func TestDrainWithIdleTimeout(t *testing.T) {
	drainErr := &pgwire.Error{Severity: "FATAL", Code: pgwire.CodeAdminShutdown, Message: "odyssey is shutting down"}
	for _, mode := range []config.PoolMode{config.PoolSession, config.PoolTransaction} {
		for _, ck := range []connKind{kindPipe, kindTCP} {
			t.Run(fmt.Sprintf("%s %s", mode, ck), func(t *testing.T) {
				h := newHarness(t, mode, 1, func(p *Policy) { p.ClientIdleTimeout = time.Minute })
				_, pg := h.addServer(kindPipe)
				c := h.startClient(ck, nil)
				c.app.send(query("BEGIN"))
				pg.expectQuery("BEGIN")
				pg.send(cmd("BEGIN"), rfq('T'))
				c.app.expectBytes(append(cmd("BEGIN"), rfq('T')...))
				c.Drain(drainErr)
				c.app.send(query("COMMIT"))
				pg.expectQuery("COMMIT")
				pg.send(cmd("COMMIT"), rfq('I'))
				c.app.expectBytes(append(cmd("COMMIT"), rfq('I')...))
				c.app.deadline = time.Now().Add(3 * time.Second) // well before the idle timeout
				f, err := c.app.tryNext()
				if errors.Is(err, os.ErrDeadlineExceeded) {
					// The idle timer's read deadline must not replace the
					// one that drops the drained client.
					t.Fatal("drained client not dropped at the transaction boundary when an idle timeout is set")
				}
				if err != nil {
					t.Fatal(err)
				}
				if e := pgwire.ParseError(f); f[0] != pgwire.MsgErrorResponse || e.Code != pgwire.CodeAdminShutdown {
					t.Fatalf("got %q, want FATAL 57P01", f)
				}
			})
		}
	}
}

func TestIdleTimeouts(t *testing.T) {
	const d = 50 * time.Millisecond
	for _, ck := range []connKind{kindPipe, kindTCP} {
		t.Run(fmt.Sprintf("idle before first query %s", ck), func(t *testing.T) {
			h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.ClientIdleTimeout = d })
			h.addServer(kindPipe)
			c := h.startClient(ck, nil)
			start := time.Now()
			e := c.app.expectFatal(pgwire.CodeConnectionFailure)
			if !strings.Contains(e.Message, "idle timeout") || time.Since(start) < d {
				t.Fatalf("%q after %v", e.Message, time.Since(start))
			}
			c.app.expectEOF()
		})
		t.Run(fmt.Sprintf("idle after a transaction %s", ck), func(t *testing.T) {
			h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.ClientIdleTimeout = d })
			_, pg := h.addServer(kindPipe)
			c := h.startClient(ck, nil)
			c.app.send(query("SELECT 1"))
			pg.expectQuery("SELECT 1")
			pg.send(reply('I', "1"))
			c.app.expectBytes(reply('I', "1"))
			h.waitEvent("release s1 true")
			e := c.app.expectFatal(pgwire.CodeConnectionFailure)
			if !strings.Contains(e.Message, "idle timeout") {
				t.Fatalf("%q", e.Message)
			}
		})
		t.Run(fmt.Sprintf("idle in transaction %s", ck), func(t *testing.T) {
			h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.IdleInTxTimeout = d; p.Rollback = true })
			_, pg := h.addServer(kindPipe)
			c := h.startClient(ck, nil)
			c.app.send(query("BEGIN"))
			pg.expectQuery("BEGIN")
			pg.send(cmd("BEGIN"), rfq('T'))
			c.app.expectBytes(append(cmd("BEGIN"), rfq('T')...))
			pg.expectQuery("ROLLBACK")
			e := c.app.expectFatal(pgwire.CodeConnectionFailure)
			if !strings.Contains(e.Message, "idle in transaction timeout") {
				t.Fatalf("%q", e.Message)
			}
			pg.send(cmd("ROLLBACK"), rfq('I'))
			h.waitEvent("release s1 true")
		})
	}
}

func TestCopyIn(t *testing.T) {
	h := newHarness(t, config.PoolTransaction, 1, nil)
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindTCP, nil)
	// COPY data with no COPY running does not attach a server by itself;
	// it is dropped, or forwarded with the next request when both come in
	// one read (PostgreSQL ignores it outside COPY).
	stray := frame(pgwire.MsgCopyData, "stray\n")
	c.app.send(stray)
	c.app.send(query("COPY t FROM STDIN"))
	if f := pg.next(); f[0] == pgwire.MsgCopyData {
		if !bytes.Equal(f, stray) {
			t.Fatalf("got %q", f)
		}
		pg.expectQuery("COPY t FROM STDIN")
	} else if string(f) != string(query("COPY t FROM STDIN")) {
		t.Fatalf("got %q", f)
	}
	if n := h.at.acquires.Load(); n != 1 {
		t.Fatalf("%d acquires", n)
	}
	g := frame(pgwire.MsgCopyInResponse, "\x00\x00\x01\x00\x00")
	pg.send(g)
	c.app.expectBytes(g)
	data := [][]byte{frame(pgwire.MsgCopyData, "1\n"), frame(pgwire.MsgCopyData, "2\n"), frame(pgwire.MsgCopyDone, "")}
	for _, d := range data {
		c.app.send(d)
		pg.expectBytes(d)
	}
	pg.send(cmd("COPY 2"), rfq('I'))
	c.app.expectBytes(append(cmd("COPY 2"), rfq('I')...))
	h.waitEvent("release s1 true")
}

// TestShrunkPoolClosesReturningServer: after a reload shrinks the pool,
// a server coming back is refused and closed.
func TestShrunkPoolClosesReturningServer(t *testing.T) {
	h := newHarness(t, config.PoolTransaction, 2, nil)
	_, pg1 := h.addServer(kindPipe)
	_, pg2 := h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	c.app.send(query("BEGIN"))
	pg2.expectQuery("BEGIN") // LIFO
	pg2.send(cmd("BEGIN"), rfq('T'))
	c.app.expectBytes(append(cmd("BEGIN"), rfq('T')...))
	h.home.pool.SetSize(1)
	c.app.send(query("COMMIT"))
	pg2.expectQuery("COMMIT")
	pg2.send(cmd("COMMIT"), rfq('I'))
	c.app.expectBytes(append(cmd("COMMIT"), rfq('I')...))
	h.waitEvent("release s2 false")
	pg2.expect(pgwire.MsgTerminate)
	pg2.expectEOF()
	h.wantStats(pool.Stats{Size: 1, Total: 1, Idle: 1})
	// The pump of the closed server does no more accounting.
	c.app.send(query("SELECT 1"))
	pg1.expectQuery("SELECT 1")
	h.noEvent()
}

// TestResetLeavesTransaction: a reset query that leaves the server inside
// a transaction means it is not clean: closed, slot freed.
func TestResetLeavesTransaction(t *testing.T) {
	h := newHarness(t, config.PoolSession, 1, func(p *Policy) { p.ResetQuery = "BEGIN" })
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	c.app.send(query("SELECT 1"))
	pg.expectQuery("SELECT 1")
	pg.send(reply('I', "1"))
	c.app.expectBytes(reply('I', "1"))
	c.app.send(terminate())
	pg.expectQuery("BEGIN")
	pg.send(cmd("BEGIN"), rfq('T'))
	h.waitEvent("discard s1")
	pg.expect(pgwire.MsgTerminate)
	pg.expectEOF()
}

// captureHandler records log records' messages and attributes.
type captureHandler struct {
	recs chan string
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%q", a.Key, a.Value.String())
		return true
	})
	select {
	case h.recs <- b.String():
	default:
	}
	return nil
}
func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }

func TestLogQuery(t *testing.T) {
	h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.LogQuery = true })
	recs := make(chan string, 16)
	h.log = slog.New(captureHandler{recs})
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindTCP, nil)
	// Sent a byte at a time: logged once, whole.
	q := query("SELECT 'logged'")
	for i := range q {
		c.app.send(q[i : i+1])
	}
	pg.expectBytes(q)
	pg.send(reply('I', "logged"))
	c.app.expectBytes(reply('I', "logged"))
	h.waitEvent("release s1 true")
	parse := frame(pgwire.MsgParse, "stmt1\x00SELECT $1\x00\x00\x00")
	c.app.send(parse, frame(pgwire.MsgSync, ""))
	pg.expectBytes(parse)
	pg.expect(pgwire.MsgSync)
	pg.send(frame(pgwire.MsgParseComplete, ""), rfq('I'))
	c.app.expectBytes(append(frame(pgwire.MsgParseComplete, ""), rfq('I')...))
	h.waitEvent("release s1 true")
	// A query too large to hold whole streams through (not logged).
	big := query("SELECT '" + strings.Repeat("b", 40<<10) + "'")
	c.app.send(big)
	pg.expectBytes(big)
	want := []string{`query query="SELECT 'logged'"`, `parse statement="stmt1" query="SELECT $1"`}
	for _, w := range want {
		select {
		case got := <-recs:
			if got != w {
				t.Fatalf("log %s, want %s", got, w)
			}
		default:
			t.Fatalf("missing log %s", w)
		}
	}
	select {
	case got := <-recs:
		t.Fatalf("unexpected log %s", got)
	default:
	}
}
