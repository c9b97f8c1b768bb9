package relay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/sockio"
	"github.com/odyssey-go/odyssey/internal/stats"
)

// Attacher finds a server for a client; a route implements it. Acquire
// returns a server in the idle state that the caller now owns (the pool
// accounting is done), or an error to report to the client (a
// *pgwire.Error carries its SQLSTATE).
type Attacher interface {
	Acquire(ctx context.Context, c *Client) (*Server, error)
}

// TryAttacher is an Attacher that can also give a server without waiting
// (nil when none is free now).
type TryAttacher interface {
	TryAcquire(c *Client) (*Server, error)
}

// clientBufSize is the read buffer a client borrows while it has data.
const clientBufSize = 32 << 10

// bufPool holds read buffers of idle clients. A client waiting for its next
// request holds none (see Client.read).
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, clientBufSize)
	return &b
}}

// Client inspect sets: Terminate always (it is not forwarded), Query when
// queries are logged.
var (
	clientInspect      = pgwire.NewTypeSet(pgwire.MsgTerminate)
	clientInspectQuery = pgwire.NewTypeSet(pgwire.MsgTerminate, pgwire.MsgQuery, pgwire.MsgParse)
	// In transaction and statement pools the messages naming statements
	// and portals are read whole (see trackLimit for the large ones).
	clientInspectPrepared = pgwire.NewTypeSet(pgwire.MsgTerminate, pgwire.MsgQuery,
		pgwire.MsgParse, pgwire.MsgBind, pgwire.MsgDescribe, pgwire.MsgClose, pgwire.MsgExecute)
)

// errTerminate ends Run when the client says goodbye.
var errTerminate = errors.New("client terminated")

// ClientConfig is what NewClient needs.
type ClientConfig struct {
	ID   string
	Conn net.Conn // owned by the caller, who closes it after Run returns
	// Pending are bytes the client sent that were read during its login,
	// relayed before anything read from Conn.
	Pending  []byte
	Log      *slog.Logger
	Attacher Attacher
	Policy   *PolicyRef
	Defaults Params // the route's parameter defaults
	Params   Params // parameters the client set at startup (non-default only)
	Stats    *stats.Route
	// Sleeper, when set, lets the client sleep without a goroutine when
	// long idle (only through Serve).
	Sleeper *Sleeper
	// ServerStartup is what a session pool's server for this client is
	// opened with (startup parameters less user and database): the
	// client's own, so that its server's reset values are the client's.
	// Servers are shared only by clients with the same set (StartupKey).
	ServerStartup []pgwire.Param
	// AppName is the application_name the relay gives the client's session
	// server after login: ServerStartup leaves it out, so that clients
	// that differ only in it share servers.
	AppName string
	// Schema orders prepared statements and schema changes for the
	// client's database (see schema.go); shared with the route's servers.
	Schema *SchemaClock
}

// Client is one client connection in its main phase (after login).
type Client struct {
	ID       string
	conn     net.Conn
	log      *slog.Logger
	attacher Attacher
	policy   *PolicyRef
	defaults Params
	doneMu   sync.Mutex // guards done and ended (see done.go)
	done     chan struct{}
	ended    bool

	// Read side, owned by Run's goroutine.
	raw     syscall.RawConn
	rawRead func(fd uintptr) bool // c.rawReadLoop bound once, so reads do not allocate
	loopErr error                 // why rawReadLoop ended the loop
	watch   bool                  // idle timeouts are on (fixed at creation)
	bufp    *[]byte
	buf     []byte
	grown   int // times the buffer doubled (tests)
	w       int
	walker  pgwire.Walker

	// server is the attached server, nil when detached. Written under the
	// server's lock; read without it as a hint.
	server atomic.Pointer[Server]

	paramsMu sync.Mutex
	params   Params

	// Writes to the client: by the attached server's pump, or by Run's
	// goroutine when nothing is attached. writeMu orders them.
	writeMu  sync.Mutex
	out      *sockio.Writer
	outMid   bool // the last write ended inside a frame
	writeErr error

	reason atomic.Pointer[pgwire.Error] // why Run was woken: kill, shutdown, server failure
	// lastWords is PostgreSQL's own FATAL for the client, written as it is
	// when the reason is the server ending the session (see serverEnded);
	// empty when the client already has it.
	lastWords []byte
	draining  atomic.Pointer[pgwire.Error] // leave at the next transaction boundary with this error

	// Prepared statements (see pstmt.go): the client's named statements,
	// and whether messages are skipped to the next Sync after an error we
	// produced. Accessed under the lock of the attached server.
	stmts         map[string]*stmt
	skipUntilSync bool
	dropRest      bool   // the rest of a streamed message is not forwarded (see translate)
	startup       Params // the parameters the client logged in with (RESET returns to them)
	pinned        string // why the client keeps its server (see session.go), "" if it does not
	deferredBegin bool   // a bare BEGIN was answered and not sent yet
	// The client's unnamed statement: its last unnamed Parse (empty when
	// it has none) and a generation counting them (see unnamed.go).
	unnamed    []byte
	unnamedGen uint64
	// Session effects of the unnamed statement and of the portal bound
	// from it, portalName (see unnamed.go); nil for ordinary statements.
	unnamedEffect *sessionEffect
	portalEffect  *sessionEffect
	portalName    string
	scratch       []byte // the translated run for the server
	direct        []byte // replies to write ourselves (see sendTranslated)
	frames        []runFrame

	// Sleeping (see Sleeper). sleepFD is guarded by the sleeper's lock.
	sleeper  *Sleeper
	sleepFD  int32
	asleep   atomic.Bool
	sleepReq atomic.Bool // Hibernate asked; the goroutine decides
	onEnd    func(error)
	started  bool
	pending  []byte // ClientConfig.Pending, until run takes it

	// For the console: what the client does now and when it last asked.
	stats       *stats.Route
	state       atomic.Int32 // a ClientState
	lastRequest atomic.Int64 // unix nanoseconds
	waitSince   atomic.Int64 // unix nanoseconds when it joined a pool's queue; 0 when not queued
	Connected   time.Time

	schema        *SchemaClock   // ClientConfig.Schema
	serverStartup []pgwire.Param // ClientConfig.ServerStartup
	startupKey    string         // serverStartup as a key (see StartupKey)
	appName       string         // ClientConfig.AppName
	reserveDeploy string         // the query Adopt sends the reserved server
}

// StartupKey identifies the startup parameters a session server for the
// client must have been opened with ("" for none).
func (c *Client) StartupKey() string { return c.startupKey }

// ServerStartup returns the startup parameters to open a session server
// for the client with. The caller must not modify them.
func (c *Client) ServerStartup() []pgwire.Param { return c.serverStartup }

// StartupKey returns the key of a set of startup parameters (see
// Client.StartupKey): equal keys, equal sets.
func StartupKey(params []pgwire.Param) string {
	if len(params) == 0 {
		return ""
	}
	var b strings.Builder
	for _, p := range params {
		b.WriteString(p.Name)
		b.WriteByte(0)
		b.WriteString(p.Value)
		b.WriteByte(0)
	}
	return b.String()
}

// ClientState is what a client is doing, for the console.
type ClientState int32

const (
	ClientIdle    ClientState = iota // between requests, no server (or session pool, idle)
	ClientWaiting                    // waiting for a server
	ClientActive                     // has a server
)

func (s ClientState) String() string {
	return [...]string{"idle", "waiting", "active"}[s]
}

// State returns what the client does now.
func (c *Client) State() ClientState { return ClientState(c.state.Load()) }

// Queued records that the client joined its pool's queue of waiters at
// since (pool.Queuer).
func (c *Client) Queued(since time.Time) { c.waitSince.Store(since.UnixNano()) }

// WaitingSince is when the client started waiting for a server, zero when
// it is not waiting.
func (c *Client) WaitingSince() time.Time {
	if n := c.waitSince.Load(); n != 0 && c.State() == ClientWaiting {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// LastRequest is when the client last sent a request (zero: never).
func (c *Client) LastRequest() time.Time {
	if n := c.lastRequest.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// forgetStmt drops the client's statement name if it is still the one
// named server on servers (its Parse failed or was skipped). Called with
// the attached server's lock held.
func (c *Client) forgetStmt(name, server string) {
	if st, ok := c.stmts[name]; ok && st.server == server {
		delete(c.stmts, name)
	}
}

// RemoteAddr is the client's address.
func (c *Client) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// LocalAddr is our address of the client's connection.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// Server returns the attached server, or nil.
func (c *Client) Server() *Server { return c.server.Load() }

// NewClient prepares a client for Run.
func NewClient(cfg ClientConfig) *Client {
	c := &Client{
		ID:        cfg.ID,
		conn:      cfg.Conn,
		log:       cfg.Log,
		attacher:  cfg.Attacher,
		policy:    cfg.Policy,
		defaults:  cfg.Defaults,
		params:    cfg.Params,
		out:       sockio.NewWriter(cfg.Conn),
		stats:     cfg.Stats,
		Connected: time.Now(),
		sleeper:   cfg.Sleeper,
		pending:   cfg.Pending,
		sleepFD:   -1,
		watch:     cfg.Policy.Load().watchesIdle(),
		startup:   cfg.Params.Clone(),

		schema:        cfg.Schema,
		serverStartup: cfg.ServerStartup,
		startupKey:    StartupKey(cfg.ServerStartup),
		appName:       cfg.AppName,
	}
	if c.stats == nil {
		c.stats = new(stats.Route)
	}
	if sc, ok := cfg.Conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.rawRead = c.rawReadLoop
		}
	}
	return c
}

// Run relays until the client leaves, is killed, or its server fails; it
// leaves nothing behind (an attached server is cancelled, drained, reset and
// returned, or closed) and sends the client a final error when there is
// one. It returns why the client left (nil for a normal goodbye). The caller
// closes the connection.
func (c *Client) Run() error {
	_, err := c.run()
	return err
}

// Serve is Run for a client that may sleep (ClientConfig.Sleeper): it
// returns when the client has ended, after calling onEnd with what Run
// would return, or when it went to sleep. A sleeping client is resumed on a
// new goroutine by the Sleeper, and that goroutine calls onEnd at the end.
// onEnd owns the connection's cleanup.
func (c *Client) Serve(onEnd func(error)) {
	c.onEnd = onEnd
	c.serve()
}

func (c *Client) serve() {
	if asleep, err := c.run(); !asleep {
		c.onEnd(err)
	}
}

// resume carries on a client the Sleeper woke.
func (c *Client) resume() { c.serve() }

// run relays until the client ends (asleep false) or goes to sleep.
func (c *Client) run() (asleep bool, err error) {
	if !c.started {
		c.started = true
		if c.watch {
			c.armIdle(pgwire.TxIdle)
		}
	}
	for {
		err := c.readLoop()
		if c.reason.Load() == nil && errors.Is(err, os.ErrDeadlineExceeded) {
			if c.sleepReq.Swap(false) {
				if c.trySleep() {
					return true, nil // another goroutine may own c already
				}
				continue
			}
			if c.watch && c.idleExpired() {
				continue // a deadline armed for a moment that has passed
			}
		}
		c.end()
		c.releaseBuf()
		return false, c.finish(err)
	}
}

// Hibernate asks a client idle for at least idle to go to sleep (see
// Sleeper). The instance calls it for every client once a second; it is a
// few loads for a client that is busy or sleeps already.
func (c *Client) Hibernate(now time.Time, idle time.Duration) {
	if c.sleeper == nil || c.raw == nil || c.watch || c.asleep.Load() || c.sleepReq.Load() {
		return
	}
	last := c.Connected
	if lr := c.lastRequest.Load(); lr != 0 {
		last = time.Unix(0, lr)
	}
	if now.Sub(last) < idle || !c.idleAttachment() {
		return
	}
	c.sleepReq.Store(true)
	c.conn.SetReadDeadline(time.Unix(1, 0))
}

// trySleep runs on the client's goroutine when Hibernate woke it; it
// reports whether the client is now asleep (the goroutine must end).
func (c *Client) trySleep() bool {
	c.setReadDeadline(time.Time{})
	if c.w != 0 || c.reason.Load() != nil || !c.idleAttachment() {
		return false
	}
	fd := int32(-1)
	c.raw.Control(func(f uintptr) { fd = int32(f) })
	if fd < 0 {
		return false
	}
	c.releaseBuf()
	// From here the Sleeper may resume c on another goroutine at once.
	return c.sleeper.sleep(c, fd)
}

// idleAttachment reports whether the client may sleep as far as its server
// goes: it has none, or (session pools) its server has nothing outstanding.
func (c *Client) idleAttachment() bool {
	s := c.server.Load()
	if s == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client != c || (s.pending == 0 && !s.unsynced)
}

// readLoop reads and forwards until an error ends it (EOF, a deadline, a
// protocol error, Terminate).
func (c *Client) readLoop() error {
	for len(c.pending) > 0 {
		// A few bytes at most (a login's read buffer): they fit the
		// empty read buffer of a client starting.
		c.takeBuf()
		n := copy(c.buf[c.w:], c.pending)
		c.pending = c.pending[n:]
		if err := c.consume(n); err != nil {
			return err
		}
	}
	if c.raw == nil {
		for {
			c.takeBuf()
			n, err := c.conn.Read(c.buf[c.w:])
			if n > 0 {
				if ferr := c.consume(n); ferr != nil {
					return ferr
				}
			}
			if err != nil {
				return err
			}
		}
	}
	c.loopErr = nil
	if err := c.raw.Read(c.rawRead); err != nil {
		return err
	}
	return c.loopErr
}

// consume forwards n bytes just read into the buffer.
func (c *Client) consume(n int) error {
	if c.watch {
		c.setReadDeadline(time.Time{}) // active again
	}
	c.w += n
	return c.forward()
}

// armIdle starts the idle timer for a client that just became idle with
// its server in transaction state tx (called by the pump, or when the
// client detaches).
func (c *Client) armIdle(tx byte) {
	if d := c.policy.Load().idleTimeout(tx); d > 0 {
		c.setReadDeadline(time.Now().Add(d))
	}
}

// setReadDeadline changes the read deadline without losing a Kill: Kill
// stores its reason before moving the deadline to the past, so checking
// the reason after our change catches a Kill that ran in between.
func (c *Client) setReadDeadline(t time.Time) {
	c.conn.SetReadDeadline(t)
	if c.reason.Load() != nil {
		c.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// idleExpired handles a read deadline with no kill reason: if the client
// really is idle, it records why it is dropped and returns false; if it
// is waiting for a reply (the deadline was armed just before it sent
// more), it clears the deadline and returns true to keep reading.
func (c *Client) idleExpired() bool {
	tx, busy := byte(pgwire.TxIdle), false
	if s := c.server.Load(); s != nil {
		s.mu.Lock()
		if s.client == c {
			tx = s.tx
			busy = s.pending > 0 || s.unsynced
		}
		s.mu.Unlock()
	}
	if busy {
		c.setReadDeadline(time.Time{})
		return true
	}
	msg := "Connection was dropped by Odyssey due to idle timeout"
	if tx != pgwire.TxIdle {
		msg = "Connection was dropped by Odyssey due to idle in transaction timeout"
	}
	c.reason.CompareAndSwap(nil, &pgwire.Error{Severity: pgwire.SeverityFatal,
		Code: pgwire.CodeConnectionFailure, Message: msg})
	return false
}

// forward walks the buffered client bytes and sends the complete runs to
// the server, attaching one if needed.
func (c *Client) forward() error {
	pol := c.policy.Load()
	inspect, limit := clientInspect, wholeMax
	switch {
	case pol.Track:
		inspect, limit = clientInspectPrepared, pgwire.MaxMessageLen
	case pol.LogQuery:
		inspect = clientInspectQuery
	}
	frames := c.frames[:0]
	b := c.buf[:c.w]
	r, requests := 0, 0
	sync := syncSame
	terminate := false
walk:
	for {
		lim := limit
		if pol.Track && !c.walker.Continuing() && len(b)-r >= pgwire.HeaderLen {
			var wait bool
			var err error
			if lim, wait, err = trackLimit(b[r:]); err != nil {
				return err
			} else if wait {
				break // the head of a large message, short of the names in it
			}
		}
		p, err := c.walker.Next(b[r:], inspect, lim)
		if err != nil {
			return err
		}
		if p.N == 0 {
			break
		}
		if p.Head {
			switch p.Type {
			case pgwire.MsgQuery:
				requests++
				if p.Whole && c.policy.Load().LogQuery {
					c.logQuery(b[r : r+p.N])
				}
			case pgwire.MsgFunctionCall:
				requests++
			case pgwire.MsgSync:
				requests++
				sync = syncClosed
			case pgwire.MsgParse:
				sync = syncOpened
				if p.Whole && c.policy.Load().LogQuery {
					c.logParse(b[r : r+p.N])
				}
			case pgwire.MsgBind, pgwire.MsgExecute,
				pgwire.MsgDescribe, pgwire.MsgClose, pgwire.MsgFlush:
				sync = syncOpened
			case pgwire.MsgCopyData, pgwire.MsgCopyDone, pgwire.MsgCopyFail, pgwire.MsgPassword:
			case pgwire.MsgTerminate:
				terminate = true
				break walk
			default:
				return pgwire.ProtocolError("invalid frontend message type %d", p.Type)
			}
		}
		if pol.Track {
			frames = append(frames, runFrame{off: r, n: p.N, typ: p.Type, head: p.Head, whole: p.Whole, total: p.Len})
		}
		r += p.N
	}
	c.frames = frames
	if r > 0 {
		var err error
		if pol.Track {
			err = c.sendPrepared(b[:r], frames)
		} else {
			err = c.send(b[:r], requests, sync)
		}
		if err != nil {
			return err
		}
	}
	if terminate {
		c.w = 0
		return errTerminate
	}
	c.w = copy(c.buf, b[r:])
	if c.w == len(c.buf) {
		c.growBuf() // one message we must see whole is larger than the buffer
	}
	return nil
}

// In transaction and statement pools the messages naming statements and
// portals are read whole to be translated (see pstmt.go), but a Query or
// a Bind larger than streamAbove (a huge literal, a large parameter) is
// forwarded in pieces once its head, with the names in it, has been seen:
// a client's read buffer grows to about streamAbove at most, whatever the
// message's size (four clients sending 60 MB queries took 600 MB when the
// buffer grew to hold each whole). Such a Query is not classified for its
// session effects (a SET in it is not carried), and its text is not
// logged. A Parse is always read whole: its name on servers is a hash of
// all of it.
const (
	streamAbove = 1 << 20
	// streamHead is how much of a streamed message is seen before it is
	// forwarded: its portal and statement names (63 bytes each at most).
	streamHead = 512
)

// trackLimit returns the walker's whole-frame limit for the message that
// starts b (at least a header), and wait when the message will be
// streamed but b does not yet hold its head. The messages that are small
// by nature (Describe, Close, Execute) may not be longer than PostgreSQL
// lets them be (PQ_SMALL_MESSAGE_LIMIT): a protocol error.
func trackLimit(b []byte) (limit int, wait bool, err error) {
	length := int(binary.BigEndian.Uint32(b[1:pgwire.HeaderLen]))
	switch b[0] {
	case pgwire.MsgQuery, pgwire.MsgBind:
		return streamAbove, length+1 > streamAbove && len(b) < streamHead, nil
	case pgwire.MsgDescribe, pgwire.MsgClose, pgwire.MsgExecute:
		if length > smallMessageLimit {
			return 0, false, pgwire.ProtocolError("invalid message length %d for message type %q", length, b[0])
		}
	}
	return pgwire.MaxMessageLen, false, nil
}

// smallMessageLimit is PostgreSQL's PQ_SMALL_MESSAGE_LIMIT.
const smallMessageLimit = 10000

// growBuf doubles the read buffer, keeping its contents. The large buffer
// is dropped, not pooled, when the client goes idle.
func (c *Client) growBuf() {
	c.grown++
	nb := make([]byte, 2*len(c.buf))
	copy(nb, c.buf[:c.w])
	if c.bufp != nil && cap(c.buf) == clientBufSize {
		bufPool.Put(c.bufp)
	}
	c.buf, c.bufp = nb, nil
}

// sendPrepared is send for clients whose messages are translated
// (prepared statements, see pstmt.go).
func (c *Client) sendPrepared(run []byte, frames []runFrame) error {
	c.stats.BytesIn.Add(uint64(len(run)))
	for attempt := 0; ; attempt++ {
		s := c.server.Load()
		var deploy []byte
		if s == nil && c.virtualTransaction(run, frames) {
			return nil
		}
		if s == nil && c.policy.Load().Prepared && prepareOnly(run, frames) {
			// A client that prepares synchronously (libpq's PQprepare)
			// must not wait for a server held by another of its own
			// connections inside a transaction. So the statements go to
			// a server only if one is free now (where PostgreSQL reports
			// their errors, as it would directly); else they are
			// answered at once and prepared at their first use.
			var err error
			if s, deploy, err = c.tryAttach(); err != nil {
				return err
			}
			if s == nil {
				c.writeMu.Lock()
				c.writeReplyLocked(c.prepareLocally(run, frames))
				return nil
			}
		}
		if s == nil {
			if e := c.draining.Load(); e != nil {
				return e
			}
			var err error
			if s, deploy, err = c.attach(); err != nil {
				return err
			}
		}
		out, direct, ok := s.sendTranslated(c, run, frames)
		if !ok {
			if attempt == 3 {
				return pgwire.Fatal(pgwire.CodeConnectionFailure, "server detached while sending")
			}
			continue // detached meanwhile: attach again
		}
		if len(direct) > 0 {
			c.writeReplyLocked(direct)
		}
		if len(out) == 0 && deploy == nil {
			s.settleLocal(c) // answered without the server: it may be done
			return nil
		}
		return c.writeServer(s, deploy, out)
	}
}

func (c *Client) logQuery(frame []byte) {
	q := frame[pgwire.HeaderLen:]
	if n := len(q); n > 0 && q[n-1] == 0 {
		q = q[:n-1]
	}
	c.log.Info("query", "query", string(q))
}

// logParse logs the statement name and text of a Parse message.
func (c *Client) logParse(frame []byte) {
	body := frame[pgwire.HeaderLen:]
	name, rest, ok := bytes.Cut(body, []byte{0})
	if !ok {
		return
	}
	q, _, _ := bytes.Cut(rest, []byte{0})
	c.log.Info("parse", "statement", string(name), "query", string(q))
}

// send writes a run of client messages to the attached server, attaching
// one first when the client has none and the run needs one.
func (c *Client) send(run []byte, requests int, sync syncChange) error {
	c.stats.BytesIn.Add(uint64(len(run)))
	if s := c.server.Load(); s != nil && s.send(c, requests, sync) {
		return c.writeServer(s, nil, run)
	}
	if requests == 0 && sync != syncOpened {
		// Only COPY data with no COPY running: PostgreSQL ignores it too.
		return nil
	}
	if e := c.draining.Load(); e != nil {
		return e
	}
	s, deploy, err := c.attach()
	if err != nil {
		return err
	}
	s.send(c, requests, sync)
	return c.writeServer(s, deploy, run)
}

// attach acquires a server, binds it to c and returns the deploy query
// (nil when the server already has the client's parameters).
func (c *Client) attach() (*Server, []byte, error) {
	for attempt := 0; ; attempt++ {
		c.state.Store(int32(ClientWaiting))
		s, err := c.attacher.Acquire(c, c)
		if c.waitSince.Load() != 0 {
			c.waitSince.Store(0)
		}
		if err != nil {
			c.state.Store(int32(ClientIdle))
			if r := c.reason.Load(); r != nil {
				return nil, nil, r
			}
			return nil, nil, err
		}
		if deploy, ok := c.bind(s); ok {
			return s, deploy, nil
		}
		// It died between the pool and us: we own its slot.
		s.home.Discard(s)
		if attempt == 3 {
			return nil, nil, pgwire.Fatal(pgwire.CodeConnectionFailure, "servers keep failing at attach")
		}
	}
}

// Reserve acquires the client's session server during its login, before
// it is greeted (reserve_session_server_connection), and returns the
// parameters PostgreSQL will report for the session once the server is
// prepared for the client (sessionDeploy): what the client is greeted
// with. The caller owns the server until Adopt, or gives it back with
// ReleaseReserved if the login fails.
func (c *Client) Reserve(ctx context.Context) (*Server, []pgwire.Param, error) {
	s, err := c.attacher.Acquire(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	q, status := s.sessionDeploy(c)
	c.reserveDeploy = q
	return s, status, nil
}

// Adopt attaches the server Reserve returned, once the client has been
// greeted, and sends it the query preparing it: its reply is hidden, and
// the login does not wait for it (a request the client sends meanwhile
// queues behind it). A server that died since ends the client with 08006,
// as if its backend had died a moment after login.
func (c *Client) Adopt(s *Server) {
	q := c.reserveDeploy
	c.reserveDeploy = ""
	if !s.attach(c, q != "") {
		s.home.Discard(s)
		c.serverFailed(s, errors.New("closed during login"))
		return
	}
	if q != "" {
		c.writeServer(s, nil, pgwire.AppendQuery(nil, q))
	}
}

// Abandon gives back the server of a client whose main loop will never run
// (the pooler shut down between its greeting and its first request): the
// server is reset and returned, or closed, as when a client leaves.
func (c *Client) Abandon() {
	c.end()
	if s := c.server.Load(); s != nil {
		s.orphan(c)
	}
}

// ReleaseReserved gives back a server Reserve returned when the login
// fails before Adopt. The query preparing it was not sent, so whoever
// gets it next has its settings reset.
func (c *Client) ReleaseReserved(s *Server) {
	if c.reserveDeploy != "" {
		s.mu.Lock()
		s.paramsUnknown = true
		s.mu.Unlock()
		c.reserveDeploy = ""
	}
	if !s.home.Release(s) {
		s.Close()
	}
}

// tryAttach is attach without waiting: nil when no server is free now.
func (c *Client) tryAttach() (*Server, []byte, error) {
	ta, ok := c.attacher.(TryAttacher)
	if !ok || c.draining.Load() != nil {
		return nil, nil, nil
	}
	for attempt := 0; attempt < 3; attempt++ {
		s, err := ta.TryAcquire(c)
		if err != nil || s == nil {
			return nil, nil, err
		}
		if deploy, ok := c.bind(s); ok {
			return s, deploy, nil
		}
		s.home.Discard(s) // it died between the pool and us
	}
	return nil, nil, nil
}

// bind attaches s, just acquired, to c and returns the deploy query to
// send ahead of the client's request (nil for none); false if s died
// since it was acquired (the caller owns its slot).
func (c *Client) bind(s *Server) ([]byte, bool) {
	var deploy []byte
	if q := c.deployFor(s); q != "" {
		deploy = pgwire.AppendQuery(nil, q)
	}
	return deploy, s.attach(c, deploy != nil)
}

// deployFor returns the query that gives s the client's session
// parameters ("" when it has them already, or maintain_params is off) and
// records that s will have them.
func (c *Client) deployFor(s *Server) string {
	if c.policy.Load().Mode == config.PoolSession {
		q, _ := s.sessionDeploy(c)
		return q
	}
	if !c.policy.Load().MaintainParams || s.hasParams(c) {
		return ""
	}
	want := c.paramsSnapshot()
	have, unknown := s.paramsSnapshot()
	q := deployQuery(have, want)
	if unknown {
		q = "RESET ALL;" + deployQuery(nil, want)
	}
	if q != "" {
		s.deployed(want)
	}
	return q
}

// writeServer writes (deploy +) run to s. A failed write closes the server;
// its pump then reports the failure to us.
func (c *Client) writeServer(s *Server, deploy, run []byte) error {
	s.wmu.Lock()
	var err error
	if deploy != nil {
		_, err = s.out.Write(deploy)
	}
	if err == nil {
		_, err = s.out.Write(run)
	}
	s.wmu.Unlock()
	if err != nil {
		s.Conn.Close()
	}
	return nil
}

// rawReadLoop is the whole read loop of a plain socket, run inside
// RawConn.Read so that the poller's readiness flag survives between reads.
// After a read that did not fill the buffer the socket is drained, so
// rawRead waits for the next readiness edge instead of reading again just
// to be told EAGAIN: one syscall saved per request. (Leaving RawConn.Read
// between reads would reset the flag and make that wait unsafe.) When it
// waits with nothing buffered, it gives the read buffer back: an idle
// client costs no buffer.
func (c *Client) rawReadLoop(fd uintptr) bool {
	for {
		c.takeBuf()
		room := len(c.buf) - c.w
		n, wait, err := sockio.ReadOnce(fd, c.buf[c.w:])
		if wait {
			if c.w == 0 {
				c.releaseBuf()
			}
			return false
		}
		if err != nil {
			c.loopErr = err
			return true
		}
		if err := c.consume(n); err != nil {
			c.loopErr = err
			return true
		}
		// Drained, and at a message boundary: wait for the next edge. A
		// client that closes right after a complete request is noticed
		// when the reply cannot be written (writeLocked kills it);
		// mid-message, read on so that an EOF that came with the data is
		// not missed.
		if n < room && c.w == 0 && !c.walker.Continuing() {
			c.releaseBuf()
			return false
		}
	}
}

func (c *Client) takeBuf() {
	if c.buf == nil {
		c.bufp = bufPool.Get().(*[]byte)
		c.buf = *c.bufp
	}
}

func (c *Client) releaseBuf() {
	if c.buf != nil {
		if c.bufp != nil {
			bufPool.Put(c.bufp)
		}
		c.buf, c.bufp = nil, nil
	}
}

// writeReplyLocked writes replies the pooler produced in the server's
// place, counted as bytes sent like the server's own. The caller holds
// writeMu; it unlocks.
func (c *Client) writeReplyLocked(b []byte) {
	c.stats.BytesOut.Add(uint64(len(b)))
	c.writeLocked(b, false)
}

// writeLocked writes replies to the client (the pump's, and the pooler's
// own) for a caller holding writeMu; it unlocks. mid says the bytes end
// inside a frame.
func (c *Client) writeLocked(b []byte, mid bool) {
	failed := false
	if c.writeErr == nil {
		if _, err := c.out.Write(b); err != nil {
			c.writeErr = err
			failed = true
		}
		c.outMid = mid
	}
	c.writeMu.Unlock()
	if failed {
		// The client is gone; its goroutine may be waiting for a request
		// that will never come.
		c.stats.Errors.Add(stats.ErrClientWrite)
		c.Kill(&pgwire.Error{})
	}
}

// WriteOwn writes bytes the pooler itself produced (errors, notices),
// unless the stream is inside a server's frame, where they would corrupt
// it. Only for when no server can be writing (detached, or after orphan).
func (c *Client) writeOwn(b []byte) {
	c.writeMu.Lock()
	if c.writeErr == nil && !c.outMid {
		c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.out.Write(b); err != nil {
			c.writeErr = err
		}
	}
	c.writeMu.Unlock()
}

// finish cleans up after the main loop ends and reports why.
func (c *Client) finish(err error) error {
	if r := c.reason.Load(); r != nil {
		err = r // we woke the read on purpose
	}
	if s := c.server.Load(); s != nil {
		s.orphan(c)
	}
	switch {
	case errors.Is(err, errTerminate), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return nil
	}
	var pe *pgwire.Error
	switch {
	case errors.As(err, &pe):
	case errors.Is(err, pgwire.ErrProtocol):
		c.stats.Errors.Add(stats.ErrClientRead)
		pe = &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeProtocolViolation, Message: err.Error()}
	default:
		c.stats.Errors.Add(stats.ErrClientRead)
		return err // network error: nobody to tell
	}
	if pe.Message == "" {
		return nil // closed without a word (the client was already gone)
	}
	if pe.Severity == serverEndedSeverity {
		if len(c.lastWords) > 0 {
			c.writeOwn(c.lastWords)
		}
		return pe
	}
	e := *pe
	e.Severity = pgwire.SeverityFatal
	if !e.FromServer {
		e.Message = "odyssey: " + c.ID + ": " + e.Message
	}
	c.writeOwn(pgwire.AppendErrorResponse(nil, &e))
	return pe
}

// Kill wakes Run and makes it end with e (FATAL). An empty e.Message
// closes the connection without a message.
func (c *Client) Kill(e *pgwire.Error) {
	c.reason.CompareAndSwap(nil, e)
	c.end()
	c.conn.SetReadDeadline(time.Unix(1, 0))
	if c.sleeper != nil {
		c.sleeper.wake(c)
	}
}

// Drain asks the client to leave at its next transaction boundary with e
// (graceful shutdown, pause of a session pool): at once if it has no
// server or its server is idle outside a transaction.
func (c *Client) Drain(e *pgwire.Error) {
	c.draining.Store(e)
	s := c.server.Load()
	if s == nil {
		c.Kill(e)
		return
	}
	s.mu.Lock()
	idle := s.client != c || (s.pending == 0 && !s.unsynced && s.tx == pgwire.TxIdle)
	s.mu.Unlock()
	if idle {
		c.Kill(e)
	}
}

// betweenTransactions is called by the pump when the client's server
// reports it idle outside a transaction with nothing outstanding.
func (c *Client) betweenTransactions() {
	if e := c.draining.Load(); e != nil {
		c.Kill(e)
	}
}

// serverFailed is called by the pump of c's server when the connection is
// lost; the pump no longer writes to c.
func (c *Client) serverFailed(s *Server, err error) {
	c.Kill(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeConnectionFailure,
		Message: "remote server read/write error " + s.ID,
		Detail:  errText(err)})
}

// serverEndedSeverity marks a kill reason that is PostgreSQL's own FATAL
// (serverEnded): finish writes c.lastWords, not an error of ours.
const serverEndedSeverity = "FATAL (server)"

// serverEnded is called by the pump of c's server when PostgreSQL ended
// the session with a FATAL error (frame), which the client has received
// already when shown. The client then gets nothing more from us: only its
// connection closes, as when PostgreSQL itself closes it.
func (c *Client) serverEnded(frame []byte, shown bool) {
	e := pgwire.ParseError(frame)
	reason := &pgwire.Error{Severity: serverEndedSeverity, Code: e.Code, Message: "server ended the session: " + e.Message}
	if !shown {
		c.lastWords = frame // before Kill publishes the reason
	}
	c.Kill(reason)
}

// Cancel forwards a client's cancel request to the server running its query.
func (c *Client) Cancel() {
	if s := c.server.Load(); s != nil {
		s.cancel(c)
	}
}

// Attached reports whether the client has a server now.
func (c *Client) Attached() bool { return c.server.Load() != nil }

// noteParam records a ParameterStatus seen while attached (pump, under the
// server's lock).
func (c *Client) noteParam(name, value string) {
	c.paramsMu.Lock()
	c.params.Set(name, value, c.defaults)
	c.paramsMu.Unlock()
}

func (c *Client) paramsSnapshot() Params {
	c.paramsMu.Lock()
	defer c.paramsMu.Unlock()
	return c.params.Clone()
}
