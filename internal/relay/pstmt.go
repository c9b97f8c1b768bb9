package relay

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// Protocol-level prepared statements in transaction and statement pools
// (pool_reserve_prepared_statement). A client's named statement lives in
// the client's own map and is prepared on whatever server the client gets,
// under a name derived from its content (and what decides its analysis,
// see schema.go), so servers share statements among all clients that
// prepare the same text:
//
//   - Parse "s1" is sent under the content name (replacing the server's
//     older copy, if it has one);
//   - Bind and Describe of "s1" use the content name, after a Parse the
//     client never sees when this server lacks it (or has a copy older
//     than the client's Parse);
//   - Close of "s1" is answered locally: the server keeps the statement for
//     other clients;
//   - a duplicate name (42P05) or an unknown one (26000) is answered with
//     PostgreSQL's error, and the server is made to fail at the same point
//     (a poison Bind) so that its transaction state stays the client's.
//
// Each server keeps at most Policy.PreparedMax statements and closes the
// least recently used one to make room.

// stmt is one of a client's named prepared statements.
type stmt struct {
	server string // the content name it has on servers
	parse  []byte // a Parse message creating it under that name
	sql    string // or, for SQL PREPARE, the PREPARE statement creating it
	query  string // its text, for the console
	parsed uint64 // when the client prepared it (SchemaClock.next)
}

// parseMsg splits a whole Parse frame: name, and the rest (query, types).
func parseMsg(f []byte) (name string, rest []byte, ok bool) {
	body := f[pgwire.HeaderLen:]
	i := bytes.IndexByte(body, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(body[:i]), body[i+1:], true
}

// appendParse appends a Parse frame named name with rest as its body tail.
func appendParse(dst []byte, name string, rest []byte) []byte {
	dst, start := pgwire.BeginMessage(dst, pgwire.MsgParse)
	dst = append(dst, name...)
	dst = append(dst, 0)
	dst = append(dst, rest...)
	return pgwire.FinishMessage(dst, start)
}

// bindStmt returns the statement name of a whole Bind frame and the offsets
// of that name in the frame. The name is a view of f (see view): it is
// looked up, never kept.
func bindStmt(f []byte) (name string, from, to int, ok bool) {
	body := f[pgwire.HeaderLen:]
	i := bytes.IndexByte(body, 0) // end of portal name
	if i < 0 {
		return "", 0, 0, false
	}
	j := bytes.IndexByte(body[i+1:], 0)
	if j < 0 {
		return "", 0, 0, false
	}
	from = pgwire.HeaderLen + i + 1
	to = from + j
	return view(f[from:to]), from, to, true
}

// appendRenamed appends frame f with the bytes f[from:to] replaced by name.
func appendRenamed(dst, f []byte, from, to int, name string) []byte {
	dst, start := pgwire.BeginMessage(dst, f[0])
	dst = append(dst, f[pgwire.HeaderLen:from]...)
	dst = append(dst, name...)
	dst = append(dst, f[to:]...)
	return pgwire.FinishMessage(dst, start)
}

// appendRenamedHead is appendRenamed for the head piece f of a message of
// total bytes that comes in pieces: the length word is the whole renamed
// message's, and the rest of it follows as it is.
func appendRenamedHead(dst, f []byte, from, to int, name string, total int) []byte {
	n := total - 1 - (to - from) + len(name) // the new length word
	dst = append(dst, f[0], byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	dst = append(dst, f[pgwire.HeaderLen:from]...)
	dst = append(dst, name...)
	return append(dst, f[to:]...)
}

// targetOf splits a whole Describe or Close frame: 'S' or 'P', and the name.
func targetOf(f []byte) (kind byte, name string, ok bool) {
	body := f[pgwire.HeaderLen:]
	if len(body) < 2 || body[len(body)-1] != 0 {
		return 0, "", false
	}
	return body[0], string(body[1 : len(body)-1]), true
}

func appendTarget(dst []byte, typ, kind byte, name string) []byte {
	dst, start := pgwire.BeginMessage(dst, typ)
	dst = append(dst, kind)
	dst = append(dst, name...)
	dst = append(dst, 0)
	return pgwire.FinishMessage(dst, start)
}

var (
	parseComplete = []byte{pgwire.MsgParseComplete, 0, 0, 0, 4}
	closeComplete = []byte{pgwire.MsgCloseComplete, 0, 0, 0, 4}
)

// poisonBind fails on any server: the statement cannot exist (names we
// create start with odyssey_ and a hex hash).
var poisonBind = func() []byte {
	b, start := pgwire.BeginMessage(nil, pgwire.MsgBind)
	b = append(b, 0)                                    // unnamed portal
	b = append(b, "odyssey_no_such_statement_00000"...) // statement
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, 0) // parameter formats
	b = binary.BigEndian.AppendUint16(b, 0) // parameters
	b = binary.BigEndian.AppendUint16(b, 0) // result formats
	return pgwire.FinishMessage(b, start)
}()

// runFrame is one message (or a piece of one) in a run of client bytes.
type runFrame struct {
	off, n int
	typ    byte
	head   bool // starts with the header
	whole  bool
	total  int // the whole message's length, when head
}

// translation is the state of one run being translated.
type translation struct {
	c        *Client
	s        *Server
	out      []byte // to the server
	requests int
	sync     syncChange
	dropping bool // inside a frame not forwarded (skipped to Sync, or answered here)
	total    int  // the length of the message being translated
	headOut  bool // its head went to the server (as it is, or renamed)
}

// translate rewrites the client's run for server s and queues the
// expectations. Called with s.mu held, s attached to c.
func (s *Server) translate(c *Client, run []byte, frames []runFrame) (out []byte, requests int, sync syncChange) {
	// A message streamed in pieces (see streamAbove) goes on in this run
	// as it began in the last one: forwarded, or dropped.
	t := translation{c: c, s: s, out: c.scratch[:0], dropping: c.dropRest}
	t.beginDeferred()
	for _, fr := range frames {
		b := run[fr.off : fr.off+fr.n]
		if !fr.head {
			if !t.dropping {
				t.out = append(t.out, b...)
			}
			continue
		}
		t.dropping = false
		if (c.skipUntilSync || s.discarding) && fr.typ != pgwire.MsgSync {
			t.dropping = true
			continue
		}
		t.total, t.headOut = fr.total, false
		t.message(fr.typ, b, fr.whole)
		if !fr.whole && !t.headOut {
			// The head of a streamed message went nowhere (answered or
			// refused here): so does the rest of it.
			t.dropping = true
		}
	}
	c.dropRest = t.dropping
	c.scratch = t.out
	return t.out, t.requests, t.sync
}

// message translates one client message.
func (t *translation) message(typ byte, f []byte, whole bool) {
	c, s := t.c, t.s
	q := &s.expect
	switch typ {
	case pgwire.MsgParse:
		t.sync = syncOpened
		name, rest, ok := parseMsg(f)
		if ok && name == "" {
			t.parseUnnamed(f, rest, whole)
			return
		}
		if !ok || !whole || !c.policy.Load().Prepared {
			t.pass(f, expect{kind: expForward, n: 1})
			return
		}
		if _, dup := c.stmts[name]; dup {
			t.fail(pgwire.Error{Code: "42P05", Message: fmt.Sprintf("prepared statement %q already exists", name)})
			return
		}
		sname := c.statementName("odyssey_", rest)
		st := &stmt{server: sname, parse: appendParse(nil, sname, rest), query: queryText(rest)}
		if c.stmts == nil {
			c.stmts = make(map[string]*stmt)
		}
		c.stmts[name] = st
		// Parsed now, as PostgreSQL would (see schema.go), even when the
		// server has a copy.
		t.replaceOrEvict(sname)
		st.parsed = c.schema.next()
		t.out = append(t.out, st.parse...)
		s.prepared.add(sname, st.query, st.parsed)
		q.push(expect{kind: expForward, n: 1, undo: sname, clientName: name})
	case pgwire.MsgBind:
		t.sync = syncOpened
		name, from, to, ok := bindStmt(f)
		if ok && t.bindEffect(f, name, from) {
			return
		}
		if ok && name == "" && !t.unnamedReady() {
			return
		}
		if !ok || name == "" || !c.policy.Load().Prepared {
			t.pass(f, expect{kind: expForward, n: 1})
			return
		}
		st := t.lookup(name)
		if st == nil {
			return
		}
		if whole {
			t.out = appendRenamed(t.out, f, from, to, st.server)
		} else {
			t.out = appendRenamedHead(t.out, f, from, to, st.server, t.total)
			t.headOut = true
		}
		q.push(expect{kind: expForward, n: 1, stmt: st.server})
	case pgwire.MsgDescribe, pgwire.MsgClose:
		t.sync = syncOpened
		kind, name, ok := targetOf(f)
		units := 1
		if typ == pgwire.MsgDescribe && kind == 'S' {
			units = 2 // ParameterDescription, then RowDescription or NoData
		}
		if ok && typ == pgwire.MsgDescribe && t.describeLocal(kind, name) {
			return
		}
		if ok && kind == 'S' && name == "" && typ == pgwire.MsgDescribe && !t.unnamedReady() {
			return
		}
		if !ok || kind != 'S' || name == "" || !c.policy.Load().Prepared {
			t.pass(f, expect{kind: expForward, n: units})
			return
		}
		if typ == pgwire.MsgClose {
			// Closing a statement that does not exist is not an error.
			delete(c.stmts, name)
			q.push(expect{kind: expInject, data: closeComplete})
			return
		}
		st := t.lookup(name)
		if st == nil {
			return
		}
		t.out = appendTarget(t.out, typ, 'S', st.server)
		q.push(expect{kind: expForward, n: units})
	case pgwire.MsgExecute:
		t.sync = syncOpened
		t.execute(f)
	case pgwire.MsgFlush:
		t.sync = syncOpened
		t.out = append(t.out, f...)
	case pgwire.MsgSync:
		t.sync = syncClosed
		t.requests++
		c.skipUntilSync, s.discarding = false, false
		t.pass(f, expect{kind: expSync})
	case pgwire.MsgQuery:
		t.queryDropsUnnamed()
		if !whole {
			t.requests++
			t.pass(f, expect{kind: expUntilReady})
			return
		}
		t.query(f)
	case pgwire.MsgFunctionCall:
		t.requests++
		t.pass(f, expect{kind: expUntilReady})
	default: // COPY data, password messages
		t.headOut = true
		t.out = append(t.out, f...)
	}
}

// pass forwards frame bytes f (a whole frame or its head piece) as they are.
func (t *translation) pass(f []byte, x expect) {
	t.headOut = true
	t.out = append(t.out, f...)
	t.s.expect.push(x)
}

// lookup finds the client's statement name, making sure the server has it
// (a hidden Parse first when it has not); nil after failing with 26000.
func (t *translation) lookup(name string) *stmt {
	st := t.c.stmts[name]
	if st == nil {
		t.fail(pgwire.Error{Code: "26000", Message: fmt.Sprintf("prepared statement %q does not exist", name)})
		return nil
	}
	if !t.s.prepared.fresh(st.server, st.parsed) {
		t.replaceOrEvict(st.server)
		if st.parse == nil {
			// A statement prepared with SQL PREPARE, used with the
			// protocol: parse its text, types left to the server.
			st.parse = appendParse(nil, st.server, append([]byte(st.query), 0, 0, 0))
		}
		t.out = append(t.out, st.parse...)
		t.s.prepared.add(st.server, st.query, t.c.schema.next())
		t.s.expect.push(expect{kind: expHide, n: 1, undo: st.server})
	}
	return st
}

// replaceOrEvict makes room for statement name, about to be parsed on the
// server: a copy the server has under that name is closed (hidden), else
// the least recently used statements go if the server is full.
func (t *translation) replaceOrEvict(name string) {
	s := t.s
	if !s.prepared.has(name) {
		t.evict()
		return
	}
	s.prepared.remove(name)
	t.out = appendTarget(t.out, pgwire.MsgClose, 'S', name)
	s.expect.push(expect{kind: expHide, n: 1, closes: name})
}

// evict closes the least recently used statements while the server is
// full, and any statement retired since the last run.
func (t *translation) evict() {
	s := t.s
	for _, name := range s.prepared.takeClosing() {
		t.out = appendTarget(t.out, pgwire.MsgClose, 'S', name)
		s.expect.push(expect{kind: expHide, n: 1, closes: name})
	}
	for s.prepared.full(t.c.policy.Load().PreparedMax) {
		name := s.prepared.oldest()
		s.prepared.remove(name)
		t.out = appendTarget(t.out, pgwire.MsgClose, 'S', name)
		s.expect.push(expect{kind: expHide, n: 1, closes: name})
	}
}

// fail answers the current message with e, as PostgreSQL would, and makes
// the server fail at the same point so its transaction state matches; the
// client's messages up to Sync are then skipped, as PostgreSQL does.
func (t *translation) fail(e pgwire.Error) {
	e.Severity = pgwire.SeverityError
	t.s.expect.push(expect{kind: expInject, data: pgwire.AppendErrorResponse(nil, &e)})
	t.out = append(t.out, poisonBind...)
	t.s.expect.push(expect{kind: expPoison, n: 1})
	t.c.skipUntilSync = true
	t.sync = syncOpened
}

// queryText returns the query of a Parse body tail (query NUL types...).
func queryText(rest []byte) string {
	if i := bytes.IndexByte(rest, 0); i >= 0 {
		return string(rest[:i])
	}
	return ""
}

// prepareOnly reports whether a run holds only whole named Parse messages,
// Flush and Sync: what a client sends to prepare statements.
func prepareOnly(run []byte, frames []runFrame) bool {
	if len(frames) == 0 {
		return false
	}
	for _, fr := range frames {
		switch {
		case !fr.head || !fr.whole:
			return false
		case fr.typ == pgwire.MsgSync || fr.typ == pgwire.MsgFlush:
		case fr.typ == pgwire.MsgParse:
			// The unnamed statement lives on the server only.
			if name, _, ok := parseMsg(run[fr.off : fr.off+fr.n]); !ok || name == "" {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// prepareLocally answers a prepare-only run with no server attached: each
// statement is recorded (it is prepared on a server at its first Bind or
// Describe) and gets ParseComplete; Sync gets ReadyForQuery, idle. An error
// in the statement's text therefore shows at its first use, not here. It
// returns the replies.
func (c *Client) prepareLocally(run []byte, frames []runFrame) []byte {
	var out []byte
	for _, fr := range frames {
		f := run[fr.off : fr.off+fr.n]
		switch fr.typ {
		case pgwire.MsgSync:
			c.skipUntilSync = false
			status := pgwire.TxIdle
			if c.deferredBegin {
				status = pgwire.TxActive
			}
			out = pgwire.AppendReadyForQuery(out, status)
		case pgwire.MsgParse:
			if c.skipUntilSync {
				continue
			}
			name, rest, ok := parseMsg(f)
			if !ok || name == "" {
				continue // prepareOnly lets through named Parse only
			}
			if _, dup := c.stmts[name]; dup {
				e := pgwire.Error{Severity: pgwire.SeverityError, Code: "42P05",
					Message: fmt.Sprintf("prepared statement %q already exists", name)}
				out = pgwire.AppendErrorResponse(out, &e)
				c.skipUntilSync = true
				continue
			}
			sname := c.statementName("odyssey_", rest)
			if c.stmts == nil {
				c.stmts = make(map[string]*stmt)
			}
			c.stmts[name] = &stmt{server: sname, parse: appendParse(nil, sname, rest), query: queryText(rest),
				parsed: c.schema.next()}
			out = append(out, parseComplete...)
		}
	}
	return out
}
