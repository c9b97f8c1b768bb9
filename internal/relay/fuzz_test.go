package relay

import (
	"encoding/binary"
	"io"
	"log/slog"
	"testing"

	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/stats"
)

// FuzzTranslate feeds arbitrary client bytes, as they would arrive in a
// transaction pool with prepared statements and session tracking on, to
// the translation that rewrites them for a server. It must never panic,
// and when every message arrived whole, what it sends the server must be
// whole, well-formed frontend messages.
func FuzzTranslate(f *testing.F) {
	for _, seed := range [][]byte{
		msgs(parse("s1", "select $1::int", 23), bind("s1"), describe('S', "s1"), execute(), syncMsg()),
		msgs(parse("s1", "select 1"), parse("s1", "select 2"), syncMsg(), bind("nope"), syncMsg()),
		msgs(parse("", "set search_path = x"), bind(""), execute(), syncMsg()),
		msgs(closeMsg('S', "s1"), describe('P', ""), flush(), syncMsg()),
		msgs(query("BEGIN"), query("SET LOCAL a.b = 1; SET c.d = 2"), query("COMMIT")),
		msgs(query("PREPARE p AS SELECT 1"), query("EXECUTE p"), query("DEALLOCATE ALL")),
		msgs(query("RESET ALL"), query("DISCARD ALL"), query("LISTEN x"), query("select pg_advisory_lock(1)")),
		msgs(query("savepoint a; set x.y = 1; rollback to a; release a")),
		msgs(parse("", "DEALLOCATE s1"), bind(""), execute(), syncMsg(), query("select 1")),
		{pgwire.MsgParse, 0, 0, 0, 4},
		{pgwire.MsgBind, 0, 0, 0, 6, 0, 0},
		{pgwire.MsgDescribe, 0, 0, 0, 5},
		{pgwire.MsgQuery, 0, 0, 0, 9, 'b', 'e', 'g', 'i'},
	} {
		f.Add(seed, uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint8) {
		c, s := translateFixture(int(max % 8))
		var w pgwire.Walker
		var frames []runFrame
		allWhole := true
		r := 0
	walk:
		for {
			p, err := w.Next(data[r:], clientInspectPrepared, pgwire.MaxMessageLen)
			if err != nil || p.N == 0 {
				break
			}
			if p.Head {
				switch p.Type {
				case pgwire.MsgTerminate:
					break walk
				case pgwire.MsgQuery, pgwire.MsgFunctionCall, pgwire.MsgSync, pgwire.MsgParse,
					pgwire.MsgBind, pgwire.MsgExecute, pgwire.MsgDescribe, pgwire.MsgClose,
					pgwire.MsgFlush, pgwire.MsgCopyData, pgwire.MsgCopyDone, pgwire.MsgCopyFail,
					pgwire.MsgPassword:
				default:
					break walk // the relay ends the client here
				}
				allWhole = allWhole && p.Whole
			}
			frames = append(frames, runFrame{off: r, n: p.N, typ: p.Type, head: p.Head, whole: p.Whole, total: p.Len})
			r += p.N
		}
		if len(frames) == 0 {
			return
		}
		s.mu.Lock()
		out, _, _ := s.translate(c, data[:r], frames)
		s.mu.Unlock()
		if !allWhole || w.Continuing() {
			return
		}
		var ow pgwire.Walker
		for o := 0; o < len(out); {
			p, err := ow.Next(out[o:], nil, 0)
			if err != nil || p.N == 0 || !p.Head || !p.Whole {
				t.Fatalf("to the server: bad frame at %d of %d (%+v, %v): %q", o, len(out), p, err, out)
			}
			o += p.N
		}
	})
}

// translateFixture is a client attached to a server, with no connections:
// enough for translate, which only builds bytes and expectations.
func translateFixture(preparedMax int) (*Client, *Server) {
	pol := NewPolicyRef(&Policy{Prepared: true, PreparedMax: preparedMax, Track: true,
		VirtualBegin: true, MaintainParams: true})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := new(stats.Route)
	c := &Client{ID: "cfuzz", policy: pol, log: log, stats: st,
		params: Params{{Name: "application_name", Value: "fuzz"}}}
	c.startup = c.params.Clone()
	s := &Server{ID: "sfuzz", policy: pol, log: log, stats: st, tx: pgwire.TxIdle,
		state: stateAttached, client: c}
	c.server.Store(s)
	return c, s
}

// Frontend messages for the seeds (frame and query are relay_test.go's).

func parse(name, sql string, types ...uint32) []byte {
	t := binary.BigEndian.AppendUint16(nil, uint16(len(types)))
	for _, x := range types {
		t = binary.BigEndian.AppendUint32(t, x)
	}
	return frame(pgwire.MsgParse, name+"\x00"+sql+"\x00"+string(t))
}

func bind(stmt string) []byte {
	return frame(pgwire.MsgBind, "\x00"+stmt+"\x00\x00\x00\x00\x00\x00\x00")
}

func describe(kind byte, name string) []byte {
	return frame(pgwire.MsgDescribe, string(kind)+name+"\x00")
}

func closeMsg(kind byte, name string) []byte {
	return frame(pgwire.MsgClose, string(kind)+name+"\x00")
}

func execute() []byte { return frame(pgwire.MsgExecute, "\x00\x00\x00\x00\x00") }
func syncMsg() []byte { return frame(pgwire.MsgSync, "") }
func flush() []byte   { return frame(pgwire.MsgFlush, "") }

func msgs(ms ...[]byte) []byte {
	var b []byte
	for _, m := range ms {
		b = append(b, m...)
	}
	return b
}
