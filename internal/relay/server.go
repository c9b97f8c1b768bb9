package relay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/odyssey-go/odyssey/internal/backend"
	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/sockio"
	"github.com/odyssey-go/odyssey/internal/sqlmin"
	"github.com/odyssey-go/odyssey/internal/stats"
)

// errServerFatal ends a pump after PostgreSQL's FATAL error.
var errServerFatal = errors.New("server sent FATAL and is closing the connection")

// Home is where a server belongs: its route's pool. The router implements it.
type Home interface {
	// Release takes back a clean server; false means the pool does not
	// want it (closed or shrunk) and the server must be closed.
	Release(s *Server) bool
	// Discard frees the slot of a server that was owned and is now closed.
	Discard(s *Server)
	// Remove takes an idle server out of the pool; false means someone
	// else owns it right now.
	Remove(s *Server) bool
	// Stats are the route's counters.
	Stats() *stats.Route
}

// serverState says who owns a server.
type serverState int

const (
	stateIdle     serverState = iota // the pool (or an acquirer that has not attached it yet)
	stateAttached                    // a client
	stateReset                       // its pump: replies outstanding or reset running
	stateClosed                      // nobody; the connection is closed
	stateQuery                       // an acquirer running an internal query (Server.Query)
)

func (s serverState) String() string {
	return [...]string{"idle", "active", "reset", "closed", "query"}[s]
}

// serverBufSize is the pump's read buffer. 64 KiB lets a large result move
// in few syscalls; servers are few, so it is owned for life.
const serverBufSize = 64 << 10

// wholeMax bounds the frames we wait to see whole before inspecting them.
const wholeMax = 16 << 10

// serverInspect are the server frames the pump looks inside; during an
// internal query it also reads the rows.
var (
	serverInspect = pgwire.NewTypeSet(
		pgwire.MsgReadyForQuery, pgwire.MsgParameterStatus, pgwire.MsgErrorResponse,
		pgwire.MsgCopyInResponse, pgwire.MsgCopyOutResponse, pgwire.MsgCopyBothResponse,
	)
	serverInspectQuery = pgwire.NewTypeSet(
		pgwire.MsgReadyForQuery, pgwire.MsgParameterStatus, pgwire.MsgErrorResponse,
		pgwire.MsgCopyInResponse, pgwire.MsgCopyOutResponse, pgwire.MsgCopyBothResponse,
		pgwire.MsgDataRow,
	)
)

// Server is one server connection with its pump.
type Server struct {
	ID      string
	Conn    *backend.Conn
	Created time.Time
	// StartupKey identifies the client startup parameters the server was
	// opened with (relay.StartupKey; "" for none). Set once by the
	// creator before the server is shared, like Schema.
	StartupKey string
	// Schema is the clock of the server's database (see schema.go): the
	// schema changes the server's replies show are recorded on it.
	Schema   *SchemaClock
	home     Home
	policy   *PolicyRef
	defaults Params // the route's parameter defaults (immutable)
	log      *slog.Logger

	offline atomic.Bool // close at the next release instead of pooling (DROP SERVERS)
	// closedByUs says the pooler itself closed the connection (and logged
	// why): the pump's read error that follows is no news.
	closedByUs atomic.Bool

	wmu sync.Mutex // serializes writes to the server (client requests, reset, internal queries)
	out *sockio.Writer

	// Owned by the pump goroutine.
	buf    []byte
	w      int
	walker pgwire.Walker

	mu        sync.Mutex
	state     serverState
	client    *Client
	pending   int  // requests sent whose ReadyForQuery has not arrived, ours included
	hidden    int  // how many of the oldest pending requests are ours (deploy, reset)
	unsynced  bool // extended-protocol messages sent since the last Sync
	tx        byte // status of the last ReadyForQuery
	copyMode  bool // between a CopyIn/Out response and its ReadyForQuery
	resetSent bool // the reset queries of this reset are on their way
	// cancelling is set while the cancel of an abandoned query is on its
	// way: the server may not go back before PostgreSQL has the cancel,
	// or it could hit the next client's query. deadline says a read
	// deadline was set for the reset; release clears it.
	cancelling    bool
	deadline      bool
	params        Params
	paramsUnknown bool // a custom reset query ran: reset all at next attach
	// status is every parameter PostgreSQL reported with ParameterStatus,
	// as last reported, in the order first seen: what a client given this
	// server at login is greeted with.
	status   []pgwire.Param
	lastUsed time.Time
	broken   error        // a reason not to reuse this server
	query    *queryResult // the internal query running, if any
	now      time.Time    // the clock, read at most once per chunk (see process)
	closing  bool         // PostgreSQL sent FATAL: the connection is ending
	// fatal is that FATAL ErrorResponse as PostgreSQL sent it, and
	// fatalShown whether the attached client received it: the client
	// must get exactly it, once, and nothing after it (see fail).
	fatal      []byte
	fatalShown bool

	// Timing for statistics, guarded by mu.
	stats      *stats.Route
	reqStarts  []time.Time // when each outstanding client request was sent, oldest first from reqHead
	reqHead    int
	xactStart  time.Time // when the client's current transaction began (zero: none)
	attachedAt time.Time // when the current client attached (request_time in SHOW SERVERS)

	// Prepared statements (see pstmt.go), guarded by mu.
	prepared   serverStmts
	expect     expectQueue
	scratch    []byte      // the pump's assembly buffer when editing replies
	pieceShown bool        // whether the frame being streamed is shown to the client
	retagging  bool        // the CommandComplete being edited must read RESET
	txChanges  []sqlChange // session changes of the transaction in progress
	txFailed   bool        // it failed or was rolled back: drop txChanges
	// Whose unnamed statement the server holds, and which of them (see
	// unnamed.go); nil when it holds none we know of.
	unnamedOf  *Client
	unnamedGen uint64
	// discarding is set when the server failed a message of the extended
	// protocol and the Sync ending its skip has not been translated yet:
	// the server ignores what the client sends until then, so do we.
	discarding bool
	// pinnedState is set when a pinned client (see session.go) leaves: the
	// state it pinned (temporary tables, advisory locks, LISTEN) must go
	// before another client gets the server.
	pinnedState bool
}

// queryResult collects the reply to Server.Query.
type queryResult struct {
	rows [][]string
	err  error
	done chan struct{}
}

// NewServer wraps a logged-in connection and starts its pump. The server
// starts owned by the caller (state idle, outside the pool): the caller
// attaches it or hands it to the pool with Home.Release.
func NewServer(id string, conn *backend.Conn, home Home, policy *PolicyRef, defaults Params, log *slog.Logger) *Server {
	s := &Server{
		ID:       id,
		Conn:     conn,
		Created:  time.Now(),
		home:     home,
		policy:   policy,
		defaults: defaults,
		log:      log,
		buf:      make([]byte, serverBufSize),
		out:      sockio.NewWriter(conn.Conn),
		stats:    home.Stats(),
		tx:       pgwire.TxIdle,
		lastUsed: time.Now(),
		status:   slices.Clone(conn.Params),
	}
	if s.stats == nil {
		s.stats = new(stats.Route)
	}
	go s.pump()
	return s
}

// State returns the server's state for the console.
func (s *Server) State() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.String()
}

// LastUsed is when the server last went back to the pool.
func (s *Server) LastUsed() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastUsed
}

// pump reads the server for as long as the connection lives.
func (s *Server) pump() {
	s.fail(s.readLoop())
}

// readLoop reads and processes until the connection ends.
func (s *Server) readLoop() error {
	if sc, ok := s.Conn.Conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			// As Client.rawReadLoop: stay inside RawConn.Read and wait for
			// readiness after a short read, instead of reading for EAGAIN.
			var loopErr error
			err := raw.Read(func(fd uintptr) bool {
				for {
					room := len(s.buf) - s.w
					n, wait, err := sockio.ReadOnce(fd, s.buf[s.w:])
					if wait {
						return false
					}
					if err != nil {
						loopErr = err
						return true
					}
					s.w += n
					more, err := s.process()
					if err != nil {
						loopErr = err
						return true
					}
					// A short read drained the socket, so the next data
					// brings a new readiness edge: wait without reading
					// for EAGAIN. Not when a reply is still owed: if the
					// server died, its EOF came with the data we just
					// read and no new edge will follow, so read on.
					if n < room && !more {
						return false
					}
				}
			})
			if loopErr != nil {
				return loopErr
			}
			return err
		}
	}
	for {
		n, err := s.Conn.Read(s.buf[s.w:])
		if n > 0 {
			s.w += n
			if _, perr := s.process(); perr != nil {
				return perr
			}
		}
		if err != nil {
			return err
		}
	}
}

// process walks what the pump has read, updates the server's state,
// forwards the visible part to the attached client, and detaches or
// finishes a reset when the replies say so.
func (s *Server) process() (expectMore bool, err error) {
	b := s.buf[:s.w]
	r, visible := 0, 0
	fatalAt := -1 // where PostgreSQL's FATAL starts in b, if it came now
	s.mu.Lock()
	s.now = time.Time{} // read lazily by the first ReadyForQuery that needs it
	c := s.client
	inspectSet := serverInspect
	if s.query != nil {
		inspectSet = serverInspectQuery
	}
	// editing: replies must be matched with the expectation queue (see
	// expect.go); the bytes for the client are assembled in out.
	editing := !s.expect.empty()
	out := s.scratch[:0]
	for {
		p, err := s.walker.Next(b[r:], inspectSet, wholeMax)
		if err != nil {
			s.mu.Unlock()
			return false, err
		}
		if p.N == 0 {
			break
		}
		piece := b[r : r+p.N]
		if p.Head && p.Whole {
			s.inspect(piece, c)
			if p.Type == pgwire.MsgReadyForQuery && s.hidden > 0 {
				s.hidden--
				visible = r + p.N
				r += p.N
				continue
			}
		}
		fatalHere := s.closing && fatalAt < 0
		if fatalHere {
			fatalAt = r
		}
		if editing && s.hidden == 0 {
			out = s.edit(out, p, piece)
			if fatalHere {
				s.fatalShown = s.pieceShown
			}
		}
		r += p.N
	}
	if s.hidden > 0 {
		visible = r // our own replies are not finished: show nothing
	}
	if fatalAt >= 0 && !editing {
		s.fatalShown = fatalAt >= visible && s.hidden == 0
	}
	if c == nil || s.state != stateAttached {
		s.fatalShown = false
	}
	if editing {
		out = s.drainInjects(out)
		s.scratch = out
	}
	settled := s.pending == 0 && !s.unsynced && s.expect.empty()
	state := s.state
	closing := s.closing
	expectMore = s.pending > 0 || s.walker.Continuing() || r < len(b)
	send := b[visible:r]
	if editing {
		send = out
	}
	if c != nil && len(send) > 0 {
		// Take the client's write lock before letting go of ours, so that
		// a reply the client's goroutine writes itself (an answer to a
		// request with nothing outstanding) cannot overtake this one.
		c.writeMu.Lock()
	}
	s.mu.Unlock()

	if c != nil && len(send) > 0 {
		s.stats.BytesOut.Add(uint64(len(send)))
		// Bytes after r (a partial header, or a frame we wait to see
		// whole) are not forwarded yet, so only a forwarded partial body
		// leaves the client's stream in the middle of a frame.
		c.writeLocked(send, s.walker.Continuing())
	}
	s.w = copy(s.buf, b[r:])

	if settled {
		switch state {
		case stateAttached:
			s.settle(c)
		case stateReset:
			s.continueReset()
		}
	}
	if closing {
		return false, errServerFatal
	}
	return expectMore, nil
}

// edit decides, for one piece of the server's stream, what the client gets
// (see expect.go) and appends it to out. Called with s.mu held.
func (s *Server) edit(out []byte, p pgwire.Piece, piece []byte) []byte {
	if !p.Head {
		if s.pieceShown {
			out = append(out, piece...)
		}
		return out
	}
	out = s.drainInjects(out)
	show := true
	if !s.expect.empty() && replyUnit[p.Type] {
		if p.Type == pgwire.MsgReadyForQuery && s.expect.front().kind == expUntilReady {
			out = append(out, s.expect.front().data...) // due before ReadyForQuery
		}
		show = s.consumeUnit(p.Type, piece, p.Whole)
	} else if !s.expect.empty() && s.expect.front().kind == expHideUntilReady {
		show = false
	}
	s.pieceShown = show
	switch {
	case show && s.retagging:
		// A RESET sent as SET: the client sees the tag it would see
		// directly; the rest of the server's frame, if it comes in
		// pieces, is dropped.
		out = appendCommandComplete(out, "RESET")
		s.pieceShown = false
	case show:
		out = append(out, piece...)
	}
	s.retagging = false
	return s.drainInjects(out)
}

// consumeUnit matches one reply unit with the head of the queue and
// reports whether the client sees it.
func (s *Server) consumeUnit(t byte, frame []byte, whole bool) bool {
	x := s.expect.front()
	if t == pgwire.MsgErrorResponse {
		return s.consumeError(x, frame, whole)
	}
	switch x.kind {
	case expSync, expUntilReady:
		if t == pgwire.MsgCommandComplete && x.kind == expUntilReady {
			s.retagging = slices.Contains(x.retag, x.done)
			s.commandDone(x, frame, whole)
		}
		if t == pgwire.MsgReadyForQuery {
			s.expect.pop()
			s.transactionState(pgwire.ReadyStatus(frame))
		}
		return true
	case expHideUntilReady:
		if t == pgwire.MsgReadyForQuery {
			s.expect.pop()
		}
		return false
	case expForward, expHide:
		show := x.kind == expForward
		if t == pgwire.MsgCommandComplete && show {
			s.retagging = slices.Contains(x.retag, x.done)
			s.commandDone(x, frame, whole)
		}
		if x.n--; x.n <= 0 {
			s.expect.pop()
		}
		return show
	}
	return true // unexpected: never hide what we cannot explain
}

// consumeError handles an ErrorResponse: the failing message's effects are
// undone, and as PostgreSQL skips to Sync after an extended-protocol error,
// so does the queue.
func (s *Server) consumeError(x *expect, frame []byte, whole bool) bool {
	switch x.kind {
	case expUntilReady:
		s.txFailed = true
		if x.undo != "" {
			s.undo(x) // a PREPARE that failed created nothing
		}
		return true // a simple query's error; ReadyForQuery follows
	case expSync:
		return true
	case expHideUntilReady:
		// Our own PREPARE or Parse failed: the server lacks the statement,
		// and the client's statement using it will fail visibly.
		if x.undo != "" {
			s.prepared.remove(x.undo)
		}
		return false
	}
	s.txFailed = true
	show := x.kind != expPoison
	s.undo(x)
	if x.stmt != "" && whole && cachedPlanChanged(frame) {
		s.prepared.retire(x.stmt)
	}
	s.discarding = true
	var kept []string // statements whose Close was skipped: still there
	for !s.expect.empty() {
		k := s.expect.front().kind
		if k == expSync || k == expUntilReady {
			s.discarding = false // the Sync is on its way
			break
		}
		switch x := s.expect.front(); {
		case x.closes != "":
			// The server still has it, however old: parsed 0, so the
			// next use parses it again (see schema.go).
			s.prepared.add(x.closes, "", 0)
			kept = append(kept, x.closes)
		case k != expInject && slices.Contains(kept, x.undo):
			// A Parse replacing a statement whose Close was skipped: the
			// old one stays on the server; the client's is not created.
			if x.kind == expForward && s.client != nil {
				s.client.forgetStmt(x.clientName, x.undo)
			}
		case k != expInject:
			// Skipped by the server like the failed message: a Parse
			// among them (ours or the client's) created nothing.
			s.undo(x)
		}
		s.expect.pop()
	}
	return show
}

// undo forgets the statement a failed or skipped Parse would have created.
func (s *Server) undo(x *expect) {
	if x.unnamed != 0 {
		s.unnamedFailed(x.unnamed)
	}
	if x.undo == "" {
		return
	}
	s.prepared.remove(x.undo)
	if x.clientName != "" && s.client != nil {
		s.client.forgetStmt(x.clientName, x.undo)
	}
}

// commandDone counts a completed statement of a Query (or an Execute) and
// records the session changes it made in the transaction's. A savepoint
// is a mark among them: ROLLBACK TO drops the changes made after it and
// revives a failed transaction; a ROLLBACK (also the tag of a COMMIT that
// failed) drops them all. Called with s.mu held.
func (s *Server) commandDone(x *expect, frame []byte, whole bool) {
	rolledBackTo := false
	for _, ch := range x.changes {
		if ch.index != x.done {
			continue
		}
		switch ch.kind {
		case sqlmin.Release:
			if i := s.savepoint(ch.name); i >= 0 {
				// Later savepoints go too; the changes stay.
				kept := slices.DeleteFunc(s.txChanges[i:], isSavepoint)
				s.txChanges = s.txChanges[:i+len(kept)]
			}
		case sqlmin.RollbackTo:
			if i := s.savepoint(ch.name); i >= 0 {
				s.txChanges = s.txChanges[:i+1]
			}
			s.txFailed, rolledBackTo = false, true
		default:
			s.txChanges = append(s.txChanges, ch)
		}
	}
	x.done++
	if whole && schemaChange(frame) {
		s.Schema.changed()
	}
	if !rolledBackTo && whole && len(frame) > pgwire.HeaderLen+8 && string(frame[pgwire.HeaderLen:pgwire.HeaderLen+8]) == "ROLLBACK" {
		s.txFailed = true
	}
}

// savepoint returns the index of the latest mark of savepoint name in the
// transaction's changes, -1 if there is none.
func (s *Server) savepoint(name string) int {
	for i := len(s.txChanges) - 1; i >= 0; i-- {
		if ch := s.txChanges[i]; ch.kind == sqlmin.Savepoint && ch.name == name {
			return i
		}
	}
	return -1
}

func isSavepoint(ch sqlChange) bool { return ch.kind == sqlmin.Savepoint }

// transactionState ends a transaction at ReadyForQuery 'I': its session
// changes join the client's session if it committed.
func (s *Server) transactionState(tx byte) {
	if tx != pgwire.TxIdle {
		return
	}
	if !s.txFailed && len(s.txChanges) > 0 && s.client != nil {
		s.applyChanges(s.client, s.txChanges)
	}
	s.txChanges = s.txChanges[:0]
	s.txFailed = false
}

// drainInjects appends the replies we produced that are due now.
func (s *Server) drainInjects(out []byte) []byte {
	for !s.expect.empty() && s.expect.front().kind == expInject {
		out = append(out, s.expect.front().data...)
		s.expect.pop()
	}
	return out
}

// cachedPlanChanged recognises the errors of a statement a schema change
// made unusable: "cached plan must not change result type" (0A000), and
// "cache lookup failed for type" (XX000, a type it names was dropped).
// The statement must be prepared anew.
func cachedPlanChanged(frame []byte) bool {
	e := pgwire.ParseError(frame)
	switch e.Code {
	case pgwire.CodeFeatureNotSupported:
		return strings.Contains(e.Message, "cached plan must not change result type")
	case pgwire.CodeInternalError:
		return strings.Contains(e.Message, "cache lookup failed for type")
	}
	return false
}

// inspect updates state from one whole frame. Called with s.mu held.
func (s *Server) inspect(f []byte, c *Client) {
	switch f[0] {
	case pgwire.MsgReadyForQuery:
		if s.pending > 0 {
			s.pending--
		}
		s.tx = pgwire.ReadyStatus(f)
		s.copyMode = false
		if s.hidden == 0 {
			s.requestDone(c != nil && s.state == stateAttached)
		}
		if q := s.query; q != nil && s.pending == 0 {
			s.query = nil
			close(q.done)
		}
	case pgwire.MsgDataRow:
		if s.query != nil {
			s.query.rows = append(s.query.rows, parseDataRow(f))
		}
	case pgwire.MsgParameterStatus:
		name, value, ok := pgwire.ParseParameterStatus(f)
		if !ok {
			return
		}
		s.noteStatus(name, value)
		if name, ok = CanonicalParam(name); !ok {
			return
		}
		s.params.Set(name, value, s.defaults)
		if c != nil {
			c.noteParam(name, value)
		}
	case pgwire.MsgErrorResponse:
		if pgwire.IsFatal(f) && !s.closing {
			// PostgreSQL closes the connection after a FATAL; its EOF may
			// arrive with this data and bring no readiness edge of its own.
			s.closing = true
			s.fatal = bytes.Clone(f)
		}
		if s.query != nil {
			s.query.err = pgwire.ParseError(f)
			return
		}
		if s.hidden > 0 {
			e := pgwire.ParseError(f)
			s.log.Warn("server error during deploy or reset", "server", s.ID, "sqlstate", e.Code, "message", e.Message)
			// A failed deploy leaves the parameters unknown.
			s.paramsUnknown = true
		}
	case pgwire.MsgCopyInResponse, pgwire.MsgCopyOutResponse, pgwire.MsgCopyBothResponse:
		s.copyMode = true
	}
}

// requestDone accounts for the answer to the oldest outstanding client
// request; count says the client is still there to count it. Called with
// s.mu held, at a ReadyForQuery that is not ours.
func (s *Server) requestDone(count bool) {
	var start time.Time
	if s.reqHead < len(s.reqStarts) {
		start = s.reqStarts[s.reqHead]
		s.reqHead++
		if s.reqHead == len(s.reqStarts) {
			s.reqStarts, s.reqHead = s.reqStarts[:0], 0
		}
	}
	if !count || start.IsZero() {
		return
	}
	if s.now.IsZero() {
		s.now = time.Now()
	}
	s.stats.Query(s.now.Sub(start))
	if s.tx == pgwire.TxIdle && !s.xactStart.IsZero() {
		s.stats.Xact(s.now.Sub(s.xactStart))
		s.xactStart = time.Time{}
	}
}

// settle runs after a reply leaves nothing outstanding on an attached
// server: detach when the pool mode allows, and drop clients that are being
// drained (shutdown, pause) once they are between transactions.
func (s *Server) settle(c *Client) {
	s.mu.Lock()
	if s.client != c || s.state != stateAttached || s.pending != 0 || s.unsynced {
		s.mu.Unlock() // the client sent more meanwhile: keep going
		return
	}
	tx := s.tx
	if !s.policy.Load().detaches(tx) || c.pinned != "" {
		s.mu.Unlock()
		if tx == pgwire.TxIdle {
			c.betweenTransactions()
		}
		c.armIdle(tx)
		return
	}
	s.detachLocked(c)
	s.mu.Unlock()
	if tx != pgwire.TxIdle {
		// Statement pooling cannot carry a transaction to the next statement.
		c.Kill(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeFeatureNotSupported,
			Message: "transaction blocks are not allowed in statement pooling mode",
			Hint:    "Use a transaction pool for multi-statement transactions."})
	} else {
		c.betweenTransactions()
		c.armIdle(tx)
	}
	s.continueReset()
}

// detachLocked unbinds c. Called with s.mu held; the server is then owned
// by its pump until the reset finishes.
func (s *Server) detachLocked(c *Client) {
	s.reqStarts, s.reqHead, s.xactStart = s.reqStarts[:0], 0, time.Time{}
	s.txChanges, s.txFailed = s.txChanges[:0], false
	s.discarding = false
	s.pinnedState = s.pinnedState || c.pinned != ""
	c.state.Store(int32(ClientIdle))
	s.client = nil
	s.state = stateReset
	s.resetSent = false
	c.server.CompareAndSwap(s, nil)
}

// continueReset moves a detached server towards the pool: wait for
// outstanding replies, send the reset queries, then release. Runs on the
// pump, or on the client's goroutine when it leaves with nothing
// outstanding.
func (s *Server) continueReset() {
	s.mu.Lock()
	if s.state != stateReset || s.pending != 0 || s.unsynced || s.cancelling {
		s.mu.Unlock() // orphan continues once its cancel is delivered
		return
	}
	if s.resetSent || s.broken != nil {
		s.mu.Unlock()
		s.finishReset()
		return
	}
	var queries []byte
	if s.tx != pgwire.TxIdle {
		if !s.policy.Load().Rollback {
			s.broken = errors.New("left inside a transaction and pool_rollback is off")
			s.mu.Unlock()
			s.finishReset()
			return
		}
		queries = pgwire.AppendQuery(queries, "ROLLBACK")
		s.pending++
		s.hidden++
	}
	if q := s.policy.Load().ResetQuery; q != "" {
		if dropsStatements(q) {
			s.prepared.clear()
		}
		queries = pgwire.AppendQuery(queries, q)
		s.pending++
		s.hidden++
		if s.policy.Load().ResetClearsParams {
			s.params = nil
		} else {
			s.paramsUnknown = true
		}
	}
	if s.pinnedState && !strings.Contains(strings.ToUpper(s.policy.Load().ResetQuery), "DISCARD ALL") {
		// DISCARD ALL drops temporary objects, session advisory locks,
		// cursors and LISTEN registrations, and the statements.
		s.prepared.clear()
		queries = pgwire.AppendQuery(queries, "DISCARD ALL")
		s.pending++
		s.hidden++
		s.params = nil
	}
	s.pinnedState = false
	if pol := s.policy.Load(); pol.Mode == config.PoolSession && !pol.ResetClearsParams {
		// The next client's session must start from the server's startup
		// values, whatever this one set (see sessionDeploy).
		s.paramsUnknown = true
	}
	if len(queries) == 0 {
		s.mu.Unlock()
		s.finishReset()
		return
	}
	s.resetSent = true
	s.unnamedOf = nil // a Query drops the unnamed statement
	if t := s.policy.Load().ResetTimeout; t > 0 {
		s.deadline = true
		s.Conn.SetReadDeadline(time.Now().Add(t))
	}
	s.mu.Unlock()
	if err := s.write(queries); err != nil {
		s.closeConn() // the pump sees the error and cleans up
	}
}

// finishReset returns a reset server to the pool, or closes it if it is
// not clean.
func (s *Server) finishReset() {
	s.mu.Lock()
	if s.state != stateReset {
		s.mu.Unlock()
		return
	}
	if s.broken == nil && s.offline.Load() {
		s.broken = errors.New("dropped by an administrator (DROP SERVERS)")
	}
	// What goes back carries nothing of this client: no transaction, no
	// reply or cancel outstanding (and below, no read deadline).
	clean := s.broken == nil && s.tx == pgwire.TxIdle && !s.copyMode && s.pending == 0 && !s.cancelling
	if !clean {
		reason := s.broken
		if reason == nil {
			reason = fmt.Errorf("not clean after reset (status %q)", s.tx)
		}
		s.state = stateClosed
		s.mu.Unlock()
		s.log.Info("closing server", "server", s.ID, "reason", reason.Error())
		if !s.offline.Load() {
			s.stats.Errors.Add(stats.ErrSyncBroken) // not for DROP SERVERS
		}
		s.close()
		s.home.Discard(s)
		return
	}
	if s.deadline {
		s.Conn.SetReadDeadline(time.Time{})
		s.deadline = false
	}
	s.state = stateIdle
	s.lastUsed = time.Now()
	s.expect.reset()
	s.mu.Unlock()
	if !s.home.Release(s) {
		s.mu.Lock()
		s.state = stateClosed
		s.mu.Unlock()
		s.close()
	}
}

// fail handles the end of the connection (read error, EOF, protocol
// error, reset timeout) seen by the pump.
func (s *Server) fail(err error) {
	s.mu.Lock()
	prev := s.state
	c := s.client
	s.state = stateClosed
	s.client = nil
	if q := s.query; q != nil {
		s.query = nil
		q.err = fmt.Errorf("server connection lost: %w", err)
		close(q.done)
	}
	if c != nil {
		c.server.CompareAndSwap(s, nil)
	}
	fatal, shown := s.fatal, s.fatalShown
	s.mu.Unlock()
	s.Conn.Close()
	switch prev {
	case stateClosed:
		return // closed on purpose by its owner, who did the accounting
	case stateIdle:
		s.log.Info("idle server closed", "server", s.ID, "reason", errText(err))
		s.home.Remove(s) // false: an acquirer holds it and will notice
	case stateQuery:
		s.log.Warn("server connection lost during an internal query", "server", s.ID, "reason", errText(err))
		// The caller of Query owns the server and does the accounting.
	default:
		if !s.closedByUs.Load() {
			s.log.Warn("server connection lost", "server", s.ID, "state", prev.String(), "reason", errText(err))
			if c != nil {
				s.stats.Errors.Add(stats.ErrServerRead)
			}
		}
		s.home.Discard(s)
	}
	if c != nil {
		if fatal != nil {
			// PostgreSQL said why it ends the session: the client gets
			// exactly that (if it has not already) and then sees its
			// connection close, as a direct connection would.
			c.serverEnded(fatal, shown)
		} else {
			c.serverFailed(s, err)
		}
	}
}

func errText(err error) string {
	if errors.Is(err, syscall.ECONNRESET) {
		return "connection reset by server"
	}
	return err.Error()
}

// Close closes a server its caller owns (expiry, shutdown, a suspect
// server found at attach). The caller does the pool accounting.
func (s *Server) Close() {
	s.mu.Lock()
	s.state = stateClosed
	s.mu.Unlock()
	s.close()
}

// close says goodbye to PostgreSQL and closes the connection.
func (s *Server) close() {
	s.Conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	s.write(pgwire.AppendTerminate(nil))
	s.closeConn()
}

// closeConn closes the connection on a goroutine of its own. The caller
// may be the pump inside RawConn.Read (a reset that ends badly, a server
// dropped by DROP SERVERS or a shrunk pool at its release), where closing
// the descriptor waits for that very read to return: a deadlock that also
// leaked the server's pool slot. The pump's read then fails and fail()
// finds the server already closed.
func (s *Server) closeConn() {
	s.closedByUs.Store(true)
	go s.Conn.Close()
}

// Usable reports, for an idle server just taken from the pool, whether it
// can be attached: not closed, and (with pool_attach_check) nothing unread
// on its socket. Unread data on an idle server means PostgreSQL said
// something unprompted, most often a FATAL before closing.
func (s *Server) Usable() bool {
	s.mu.Lock()
	ok := s.state == stateIdle
	idleFor := time.Since(s.lastUsed)
	s.mu.Unlock()
	if !ok || !s.policy.Load().AttachCheck || idleFor < attachCheckIdle {
		return ok
	}
	return !s.peekReadable()
}

// attachCheckIdle: servers idle for less are not peeked at attach. The pump
// notices a closed server within microseconds; the peek only covers the
// moment between PostgreSQL closing and the pump running, which matters
// for servers that sat idle (an administrator's pg_terminate_backend), not
// for one released a moment ago. It saves a syscall per transaction under
// load (measured: 4% of the pooler's CPU at 256 clients).
const attachCheckIdle = 10 * time.Millisecond

// peekReadable checks without blocking whether the socket has data or EOF.
// It does not disturb the pump blocked in Read: MSG_PEEK consumes nothing.
func (s *Server) peekReadable() bool {
	sc, ok := s.Conn.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	readable := false
	raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		readable = err == nil || n > 0 || (err != syscall.EAGAIN && err != syscall.EINTR)
	})
	return readable
}

// attach binds c to an idle server the caller acquired. deploy says
// whether the caller sends a deploy query ahead of the request (one hidden
// reply). It fails if the server died since it was acquired.
func (s *Server) attach(c *Client, deploy bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateIdle {
		return false
	}
	s.state = stateAttached
	s.client = c
	s.attachedAt = time.Now()
	c.state.Store(int32(ClientActive))
	if deploy {
		s.pending++
		s.hidden++
		s.unnamedOf = nil // a Query drops the unnamed statement
	}
	c.server.Store(s)
	return true
}

// send accounts for requests the attached client is about to write and
// reports whether c is still the server's client. Requests are counted
// before they are written so the pump can never detach between the write
// and the count.
func (s *Server) send(c *Client, requests int, sync syncChange) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != c {
		return false
	}
	s.account(c, requests, sync)
	return true
}

// sendTranslated is send for a client whose messages are translated
// (prepared statements): it returns the bytes for the server, and the
// replies due to the client at once (answers to requests with nothing
// outstanding before them), in which case the client's write lock is held
// and the caller writes them with writeLocked before writing to the server.
func (s *Server) sendTranslated(c *Client, run []byte, frames []runFrame) (out, direct []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != c {
		return nil, nil, false
	}
	out, requests, sync := s.translate(c, run, frames)
	s.account(c, requests, sync)
	direct = c.direct[:0]
	for !s.expect.empty() && s.expect.front().kind == expInject {
		direct = append(direct, s.expect.front().data...)
		s.expect.pop()
	}
	c.direct = direct
	if len(direct) > 0 {
		c.writeMu.Lock() // before our lock goes: see process
	}
	return out, direct, true
}

// account records requests about to be written to the server. Called with
// s.mu held.
func (s *Server) account(c *Client, requests int, sync syncChange) {
	s.pending += requests
	if requests > 0 {
		now := time.Now()
		for range requests {
			s.reqStarts = append(s.reqStarts, now)
		}
		if s.tx == pgwire.TxIdle && s.xactStart.IsZero() {
			s.xactStart = now
		}
		c.lastRequest.Store(now.UnixNano())
	}
	switch sync {
	case syncOpened:
		s.unsynced = true
	case syncClosed:
		s.unsynced = false
	}
}

// orphan runs when the attached client leaves: the server finishes what it
// was doing (cancelled if pool_cancel), is reset and goes back, or is
// closed when it cannot be made clean.
func (s *Server) orphan(c *Client) {
	s.mu.Lock()
	if s.client != c {
		s.mu.Unlock()
		return
	}
	s.detachLocked(c)
	switch {
	case s.unsynced:
		// An unfinished extended-protocol batch: finishing it would run
		// the client's half-sent statements. Close instead.
		s.broken = errors.New("client left in the middle of an extended-protocol batch")
	case s.copyMode:
		s.broken = errors.New("client left during COPY")
	case s.pending > s.hidden && !s.policy.Load().Cancel:
		s.broken = errors.New("client left with a query running and pool_cancel is off")
	}
	broken := s.broken
	running := s.pending > s.hidden && broken == nil
	if running {
		s.cancelling = true
		if t := s.policy.Load().ResetTimeout; t > 0 {
			s.deadline = true
			s.Conn.SetReadDeadline(time.Now().Add(t + s.policy.Load().CancelTimeout))
		}
	}
	s.mu.Unlock()
	if broken != nil {
		// The pump sees the closed connection and does the accounting.
		s.log.Info("closing server", "server", s.ID, "reason", broken.Error())
		s.close()
		return
	}
	if running {
		// The server stays out of the pool until PostgreSQL has the
		// cancel (Cancel returns once it has signalled the backend):
		// then it hits the abandoned query, or an idle backend ignores
		// it, never a query sent after.
		err := backend.Cancel(context.Background(), s.Conn.Endpoint, s.Conn.PID, s.Conn.Secret, s.policy.Load().CancelTimeout)
		if err != nil {
			s.log.Warn("cancel of abandoned query failed", "server", s.ID, "error", err)
		}
		s.mu.Lock()
		s.cancelling = false
		if err != nil && s.broken == nil {
			// Nobody knows where that cancel is: do not reuse the server.
			s.broken = fmt.Errorf("cancel of an abandoned query failed: %w", err)
		}
		s.mu.Unlock()
	}
	s.continueReset() // or the pump does, once the replies are drained
}

// cancel sends PostgreSQL a cancel for the query this server runs for c.
// It holds the server's lock while doing so: the server cannot be detached
// and handed to another client while the cancel is in flight, so a late
// cancel never hits the wrong query.
func (s *Server) cancel(c *Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != c || s.pending == 0 {
		return
	}
	if err := backend.Cancel(context.Background(), s.Conn.Endpoint, s.Conn.PID, s.Conn.Secret, s.policy.Load().CancelTimeout); err != nil {
		s.log.Warn("cancel failed", "server", s.ID, "client", c.ID, "error", err)
	}
}

// paramsSnapshot returns what the server's session parameters are, and
// whether they are unknown.
func (s *Server) paramsSnapshot() (Params, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.params.Clone(), s.paramsUnknown
}

// hasParams reports whether the server's session has the client's
// parameters already, the common case, checked without copying them.
func (s *Server) hasParams(c *Client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paramsUnknown {
		return false
	}
	c.paramsMu.Lock() // after s.mu, as in applyChanges
	defer c.paramsMu.Unlock()
	return slices.Equal(s.params, c.params)
}

// noteStatus records a ParameterStatus. Called with s.mu held.
func (s *Server) noteStatus(name, value string) {
	for i := range s.status {
		if s.status[i].Name == name {
			if s.status[i].Value != value {
				s.status[i].Value = value
			}
			return
		}
	}
	s.status = append(s.status, pgwire.Param{Name: name, Value: value})
}

// PID is the process id of the server's PostgreSQL backend.
func (s *Server) PID() uint32 { return s.Conn.PID }

// sessionDeployQuery returns a session pool's server to the state of a
// fresh connection opened with its startup packet, which is the client's
// (see ClientConfig.ServerStartup): the parameters go back to their reset
// values, which are the startup ones, role and session authorization
// included (RESET ALL leaves those two).
const sessionDeployQuery = "SET SESSION AUTHORIZATION DEFAULT;RESET ROLE;RESET ALL;"

// sessionDeploy returns the query that prepares s for session client c
// ("" when none is needed), records its effect, and returns the
// parameters PostgreSQL will report for the session once it has run:
// nothing when the server's parameters are its startup ones (a new
// server, or one reset by DISCARD ALL), a reset to them when someone
// changed them since; then the client's application_name, which servers
// are not opened with (see ClientConfig.AppName).
func (s *Server) sessionDeploy(c *Client) (string, []pgwire.Param) {
	s.mu.Lock()
	defer s.mu.Unlock()
	status := slices.Clone(s.status)
	var q string
	if s.paramsUnknown {
		q = sessionDeployQuery
		s.paramsUnknown, s.params = false, nil
		status = statusAfterReset(status, s.Conn.Params)
	}
	if (c.appName != "" && q != "") || statusValue(status, "application_name") != c.appName {
		q += "SELECT pg_catalog.set_config('application_name', " + QuoteLiteral(c.appName) + ", false);"
		status = setStatus(status, "application_name", c.appName)
	}
	return q, status
}

// statusAfterReset is what PostgreSQL reports once sessionDeployQuery has
// run on a session whose reports are status: every setting back to what
// the server reported at login (its startup values), but for the values
// of the server itself, which a reset does not change.
func statusAfterReset(status, login []pgwire.Param) []pgwire.Param {
	for _, p := range login {
		switch p.Name {
		case "server_version", "server_encoding", "integer_datetimes", "in_hot_standby":
			continue
		}
		status = setStatus(status, p.Name, p.Value)
	}
	return status
}

// setStatus sets name to value in a list of reported parameters.
func setStatus(status []pgwire.Param, name, value string) []pgwire.Param {
	for i := range status {
		if status[i].Name == name {
			status[i].Value = value
			return status
		}
	}
	return append(status, pgwire.Param{Name: name, Value: value})
}

// statusValue is the value of name in a list of reported parameters.
func statusValue(status []pgwire.Param, name string) string {
	for _, p := range status {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// deployed records that the server now has the client's parameters.
func (s *Server) deployed(p Params) {
	s.mu.Lock()
	s.params = p
	s.paramsUnknown = false
	s.mu.Unlock()
}

// syncChange is how a run of client messages changes the extended-protocol
// batch state.
type syncChange int

const (
	syncSame   syncChange = iota // no extended messages, no Sync
	syncOpened                   // ends with extended messages not followed by Sync
	syncClosed                   // ends with a Sync
)

// Query runs sql with the simple protocol on an idle server the caller
// owns and returns the rows as text (NULL as ""). It is for the pooler's
// own short queries (validating session parameters); the server stays
// owned by the caller, who releases or discards it as usual. A server that
// fails or outlives ctx is closed, and the caller must Discard it.
func (s *Server) Query(ctx context.Context, sql string) ([][]string, error) {
	s.mu.Lock()
	if s.state != stateIdle {
		s.mu.Unlock()
		return nil, errors.New("server is not idle")
	}
	q := &queryResult{done: make(chan struct{})}
	s.state = stateQuery
	s.query = q
	s.unnamedOf = nil // a Query drops the unnamed statement
	s.pending++
	s.mu.Unlock()
	if err := s.write(pgwire.AppendQuery(nil, sql)); err != nil {
		s.Conn.Close()
	}
	select {
	case <-q.done:
	case <-ctx.Done():
		s.Conn.Close()
		<-q.done
	}
	s.mu.Lock()
	if s.state == stateQuery {
		s.state = stateIdle
	}
	s.mu.Unlock()
	return q.rows, q.err
}

// write writes b to the server under its write lock.
func (s *Server) write(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.out.Write(b)
	return err
}

// Applied records session parameters set on the server by Query, so the
// next deploy knows them.
func (s *Server) Applied(ps []pgwire.Param) {
	s.mu.Lock()
	for _, p := range ps {
		s.params.Set(p.Name, p.Value, s.defaults)
	}
	if len(ps) > 0 && s.policy.Load().Mode == config.PoolSession {
		s.paramsUnknown = true // a session client gets it reset (sessionDeploy)
	}
	s.mu.Unlock()
}

// Client returns the attached client, or nil.
func (s *Server) Client() *Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

// AttachedAt is when the current (or last) client attached.
func (s *Server) AttachedAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attachedAt
}

// MarkOffline makes the server close at its next release.
func (s *Server) MarkOffline() { s.offline.Store(true) }

// Offline reports whether MarkOffline was called.
func (s *Server) Offline() bool { return s.offline.Load() }

// Dead reports whether the server's connection is closed.
func (s *Server) Dead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateClosed
}

// parseDataRow decodes a whole DataRow frame into text columns.
func parseDataRow(f []byte) []string {
	b := f[pgwire.HeaderLen:]
	if len(b) < 2 {
		return nil
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	row := make([]string, 0, n)
	for i := 0; i < n && len(b) >= 4; i++ {
		l := int(int32(binary.BigEndian.Uint32(b)))
		b = b[4:]
		if l < 0 || l > len(b) {
			row = append(row, "")
			continue
		}
		row = append(row, string(b[:l]))
		b = b[l:]
	}
	return row
}

// dropsStatements reports whether a reset query deallocates prepared
// statements (DISCARD ALL, DEALLOCATE ALL): the pooler's record of what the
// server has prepared must then be cleared.
func dropsStatements(q string) bool {
	u := strings.ToUpper(q)
	return strings.Contains(u, "DISCARD ALL") || strings.Contains(u, "DEALLOCATE")
}
