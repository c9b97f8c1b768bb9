package relay

import "github.com/odyssey-go/odyssey/internal/pgwire"

// When the pooler answers some client messages itself (prepared statements
// in transaction pooling) or sends some of its own (a Parse a server lacks,
// a Close of an evicted statement), the replies the client sees must still
// come in the order of its requests. The client's goroutine describes, for
// every message it sends or answers, what the server will reply and what to
// do with it: an expectation queue on the server, consumed by the pump as
// replies arrive. Plain traffic (session pools, or reserve off) has no
// queue and pays nothing.

// expKind is what to do with the next reply units.
type expKind uint8

const (
	expForward        expKind = iota // forward n reply units
	expHide                          // swallow n reply units (our own Parse or Close)
	expPoison                        // swallow the ErrorResponse of our poison message
	expInject                        // write data to the client (a reply we produced)
	expSync                          // a Sync: forward through ReadyForQuery
	expUntilReady                    // a Query or FunctionCall: forward through ReadyForQuery
	expHideUntilReady                // our own Query (or Parse and Sync): swallow through ReadyForQuery
)

// expect is one entry of the queue.
type expect struct {
	kind expKind
	n    int
	data []byte
	// undo is the server statement a forwarded Parse creates: if the Parse
	// fails, the server does not have it.
	undo string
	// clientName is the client's name for the statement a forwarded Parse
	// or PREPARE creates: if it fails, the client does not have it.
	clientName string
	// closes is the server statement our hidden Close drops: if the Close
	// is skipped (an error before it in the batch), the server still has
	// it.
	closes string
	// stmt is the server statement a forwarded Bind uses: a "cached plan
	// must not change result type" error retires it.
	stmt string
	// For a Query: the session changes its statements make (see
	// session.go), how many of its statements have completed, and data
	// (in data) to send just before its ReadyForQuery.
	changes []sqlChange
	done    int
	// retag are the statements (by position) whose CommandComplete must
	// read RESET: RESETs the pooler sent as SET (see session.go).
	retag []int
	// unnamed is the generation of the client's unnamed statement a Parse
	// creates (0: not an unnamed Parse).
	unnamed uint64
}

// replyUnit tells, for a server message type, whether it answers one
// extended-protocol message (or a part of Describe's answer). Other
// messages (DataRow, notices, ParameterStatus, COPY data) ride along.
var replyUnit = func() (t [256]bool) {
	for _, b := range []byte{
		pgwire.MsgParseComplete, pgwire.MsgBindComplete, pgwire.MsgCloseComplete,
		pgwire.MsgNoData, pgwire.MsgParameterDescription, pgwire.MsgRowDescription,
		pgwire.MsgCommandComplete, pgwire.MsgEmptyQueryResponse, pgwire.MsgPortalSuspended,
		pgwire.MsgErrorResponse, pgwire.MsgReadyForQuery,
	} {
		t[b] = true
	}
	return t
}()

// expectQueue is the queue, oldest first. The backing array is reused.
type expectQueue struct {
	q    []expect
	head int
}

func (e *expectQueue) empty() bool { return e.head == len(e.q) }

func (e *expectQueue) front() *expect { return &e.q[e.head] }

func (e *expectQueue) pop() {
	e.q[e.head] = expect{}
	e.head++
	if e.head == len(e.q) {
		e.q, e.head = e.q[:0], 0
	}
}

// plain reports whether x forwards replies with nothing else to do.
func (x *expect) plain() bool {
	return x.kind == expForward && x.undo == "" && x.stmt == "" && x.unnamed == 0 && x.changes == nil
}

// push appends x, merging plain forwards.
func (e *expectQueue) push(x expect) {
	if x.plain() && !e.empty() {
		if last := &e.q[len(e.q)-1]; last.plain() {
			last.n += x.n
			return
		}
	}
	if x.kind == expForward && x.n == 0 {
		return
	}
	e.q = append(e.q, x)
}

func (e *expectQueue) reset() { e.q, e.head = e.q[:0], 0 }
