package relay

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// translateRun translates a run of whole client messages for s, as the
// client's goroutine does, and returns what goes to the server.
func translateRun(c *Client, s *Server, run []byte) []byte {
	var w pgwire.Walker
	var frames []runFrame
	for r := 0; r < len(run); {
		p, _ := w.Next(run[r:], nil, 0)
		frames = append(frames, runFrame{off: r, n: p.N, typ: p.Type, head: true, whole: true})
		r += p.N
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, _, _ := s.translate(c, run, frames)
	return bytes.Clone(out)
}

// serverReplies feeds whole reply frames to s's expectations, as the pump
// does, and returns what the client would get.
func serverReplies(s *Server, replies ...[]byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []byte
	for _, f := range replies {
		out = s.edit(out, pgwire.Piece{N: len(f), Head: true, Type: f[0], Len: len(f), Whole: true}, f)
	}
	return out
}

// frontendTypes lists the types of the messages in b, with the statement
// names of Parse and Close.
func frontendTypes(b []byte) string {
	var out []string
	for len(b) >= pgwire.HeaderLen {
		n := 1 + int(uint32(b[1])<<24|uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4]))
		f := b[:n]
		switch f[0] {
		case pgwire.MsgParse:
			name, _, _ := parseMsg(f)
			out = append(out, "Parse "+short(name))
		case pgwire.MsgClose:
			_, name, _ := targetOf(f)
			out = append(out, "Close "+short(name))
		default:
			out = append(out, string(f[0]))
		}
		b = b[n:]
	}
	return strings.Join(out, ", ")
}

// short names our content names by their first hash digits.
func short(name string) string {
	if strings.HasPrefix(name, "odyssey_") && len(name) > 12 {
		return name[8:12]
	}
	return name
}

var (
	parseCompleteMsg = []byte{pgwire.MsgParseComplete, 0, 0, 0, 4}
	closeCompleteMsg = []byte{pgwire.MsgCloseComplete, 0, 0, 0, 4}
)

func errorMsg(code string) []byte {
	return pgwire.AppendErrorResponse(nil, &pgwire.Error{Code: code, Message: code})
}

// TestParseAlwaysReachesServer: a client's Parse is sent even when the
// server has the statement (its copy is closed first), so PostgreSQL
// analyses it when the client asks.
func TestParseAlwaysReachesServer(t *testing.T) {
	c, s := translateFixture(0)
	first := translateRun(c, s, msgs(parse("s1", "select 1"), syncMsg()))
	serverReplies(s, parseCompleteMsg, rfq('I'))
	name := short(c.stmts["s1"].server)
	if got, want := frontendTypes(first), "Parse "+name+", S"; got != want {
		t.Fatalf("first Parse: %s, want %s", got, want)
	}
	again := translateRun(c, s, msgs(parse("s2", "select 1"), syncMsg()))
	if got, want := frontendTypes(again), "Close "+name+", Parse "+name+", S"; got != want {
		t.Fatalf("same text again: %s, want %s", got, want)
	}
	if got := serverReplies(s, closeCompleteMsg, parseCompleteMsg, rfq('I')); !bytes.Equal(got, append(parseCompleteMsg, rfq('I')...)) {
		t.Fatalf("the client got %q", got)
	}
}

// TestSkippedCloseKeepsStatement: when an error earlier in the batch makes
// PostgreSQL skip the Close that replaces a statement, the server still
// has it; the next Parse of the same text must close it again (a Parse
// alone would fail with 42P05).
func TestSkippedCloseKeepsStatement(t *testing.T) {
	c, s := translateFixture(0)
	translateRun(c, s, msgs(parse("s1", "select 1"), syncMsg()))
	serverReplies(s, parseCompleteMsg, rfq('I'))
	name := short(c.stmts["s1"].server)

	out := translateRun(c, s, msgs(parse("bad", "selec"), parse("s2", "select 1"), syncMsg()))
	if got := frontendTypes(out); !strings.Contains(got, "Close "+name) {
		t.Fatalf("batch: %s", got)
	}
	serverReplies(s, errorMsg("42601"), rfq('I')) // Close and Parse skipped
	if _, ok := c.stmts["s2"]; ok {
		t.Error("s2 exists, but its Parse was skipped")
	}
	if _, ok := c.stmts["s1"]; !ok {
		t.Error("s1 was forgotten with s2")
	}
	again := translateRun(c, s, msgs(parse("s3", "select 1"), syncMsg()))
	if got, want := frontendTypes(again), "Close "+name+", Parse "+name+", S"; got != want {
		t.Fatalf("after the skipped Close: %s, want %s", got, want)
	}
}

// TestStaleCopyParsedAgain: a server's copy parsed before the client's
// own Parse (on another server) is parsed again before the client uses
// it; one parsed after is used as it is.
func TestStaleCopyParsedAgain(t *testing.T) {
	clock := new(SchemaClock)
	old, s := translateFixture(0)
	old.schema = clock
	translateRun(old, s, msgs(parse("s1", "select 1"), syncMsg()))
	serverReplies(s, parseCompleteMsg, rfq('I'))

	// A client that prepared the same text later, elsewhere, binds here.
	c := &Client{ID: "c2", policy: old.policy, log: old.log, stats: old.stats, schema: clock}
	c.stmts = map[string]*stmt{"mine": {server: old.stmts["s1"].server,
		parse: appendParse(nil, old.stmts["s1"].server, []byte("select 1\x00\x00\x00")), parsed: clock.next()}}
	s.mu.Lock()
	s.client = c
	s.mu.Unlock()
	name := short(old.stmts["s1"].server)
	out := translateRun(c, s, msgs(bind("mine"), execute(), syncMsg()))
	if got, want := frontendTypes(out), "Close "+name+", Parse "+name+", B, E, S"; got != want {
		t.Fatalf("stale copy: %s, want %s", got, want)
	}
	serverReplies(s, closeCompleteMsg, parseCompleteMsg, []byte{pgwire.MsgBindComplete, 0, 0, 0, 4},
		frame(pgwire.MsgCommandComplete, "SELECT 1\x00"), rfq('I'))
	// The older client now finds a copy newer than its Parse: used as is.
	s.mu.Lock()
	s.client = old
	s.mu.Unlock()
	if got, want := frontendTypes(translateRun(old, s, msgs(bind("s1"), execute(), syncMsg()))), "B, E, S"; got != want {
		t.Fatalf("fresh copy: %s, want %s", got, want)
	}
}

// TestSchemaChangeRenames: after a CREATE, ALTER or DROP tag the same text
// prepared again gets another server name, so clients that prepared
// before keep the statement they described.
func TestSchemaChangeRenames(t *testing.T) {
	c, s := translateFixture(0)
	c.schema, s.Schema = new(SchemaClock), new(SchemaClock)
	s.Schema = c.schema
	translateRun(c, s, msgs(parse("s1", "select * from t"), syncMsg()))
	serverReplies(s, parseCompleteMsg, rfq('I'))
	before := c.stmts["s1"].server
	translateRun(c, s, query("alter table t add column x int"))
	serverReplies(s, frame(pgwire.MsgCommandComplete, "ALTER TABLE\x00"), rfq('I'))
	translateRun(c, s, msgs(parse("s2", "select * from t"), syncMsg()))
	if after := c.stmts["s2"].server; after == before {
		t.Fatalf("same server name %s after ALTER TABLE", after)
	}
	for tag, want := range map[string]bool{"CREATE TYPE": true, "DROP TABLE": true, "ALTER ROLE": true,
		"SELECT 1": false, "COMMIT": false, "DELETE 3": false, "CREATED": false} {
		if got := schemaChange(frame(pgwire.MsgCommandComplete, tag+"\x00")); got != want {
			t.Errorf("schemaChange(%q) = %v", tag, got)
		}
	}
}

// TestLargeMessagesStream: in a transaction pool a Query or a Bind larger
// than streamAbove is forwarded in pieces once its head is seen (a Bind of
// a client's statement renamed, with its length word set for the whole
// renamed message): the client's read buffer does not grow with it.
func TestLargeMessagesStream(t *testing.T) {
	h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.Track, p.Prepared = true, true })
	_, pg := h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	big := strings.Repeat("x", 3<<20)

	q := query("select length('" + big + "')")
	go c.app.send(q)
	pg.expectBytes(q)
	pg.send(reply('I', "3145728"))
	c.app.expectBytes(reply('I', "3145728"))

	// A statement, then a Bind of it with a 3 MiB parameter.
	c.app.send(msgs(parse("s1", "select length($1::text)"), describe('S', "s1"), syncMsg()))
	name := string(pg.expect(pgwire.MsgParse)[pgwire.HeaderLen:])
	name = name[:strings.IndexByte(name, 0)]
	pg.expect(pgwire.MsgDescribe)
	pg.expect(pgwire.MsgSync)
	desc := msgs(parseCompleteMsg, frame(pgwire.MsgParameterDescription, "\x00\x01\x00\x00\x00\x19"), frame(pgwire.MsgNoData, ""), rfq('I'))
	pg.send(desc)
	c.app.expectBytes(desc)
	param := binary.BigEndian.AppendUint32(nil, uint32(len(big)))
	bindBody := func(stmt string) string {
		return "\x00" + stmt + "\x00\x00\x00\x00\x01" + string(param) + big + "\x00\x00"
	}
	go c.app.send(msgs(frame(pgwire.MsgBind, bindBody("s1")), execute(), syncMsg()))
	pg.expectBytes(msgs(frame(pgwire.MsgBind, bindBody(name)), execute(), syncMsg()))
	pg.send([]byte{pgwire.MsgBindComplete, 0, 0, 0, 4}, cmd("SELECT 1"), rfq('I'))
	c.app.expectBytes(msgs([]byte{pgwire.MsgBindComplete, 0, 0, 0, 4}, cmd("SELECT 1"), rfq('I')))

	c.app.send(terminate())
	c.wait(t)
	if c.grown != 0 {
		t.Errorf("the read buffer doubled %d times for messages streamed in pieces", c.grown)
	}
}

// TestSmallMessagesBounded: a Describe, Close or Execute longer than
// PostgreSQL allows (PQ_SMALL_MESSAGE_LIMIT) is a protocol error, not a
// reason to grow the buffer.
func TestSmallMessagesBounded(t *testing.T) {
	h := newHarness(t, config.PoolTransaction, 1, func(p *Policy) { p.Track, p.Prepared = true, true })
	h.addServer(kindPipe)
	c := h.startClient(kindPipe, nil)
	go c.app.send(frame(pgwire.MsgDescribe, "S"+strings.Repeat("x", 20000)+"\x00"))
	c.app.expectFatal(pgwire.CodeProtocolViolation)
	c.wait(t)
}
