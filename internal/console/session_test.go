package console

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/router"
)

// testConf has a console with one user per role and a remote rule that
// the tests never dial.
const testConf = `
log_format "%p %t %l [%i %s] (%c) %m\n"
listen { host "127.0.0.1" port 6432 }
storage "pg" { type "remote" host "127.0.0.1" port 5432 }
storage "local" { type "local" }
database "console" {
	user "admin" { authentication "none" storage "local" pool "session" role "admin" quantiles "0.99,0.5" }
	user "stat" { authentication "none" storage "local" pool "session" role "stat" }
	user "nobody" { authentication "none" storage "local" pool "session" role "notallow" }
}
database default {
	user default { authentication "none" storage "pg" pool "transaction" pool_size 4 }
}
`

// fakeInstance is the pooler as the console sees it.
type fakeInstance struct {
	rtr       *router.Router
	reloads   atomic.Int32
	reloadErr error
	shutdowns atomic.Int32
}

func (f *fakeInstance) Router() *router.Router { return f.rtr }
func (f *fakeInstance) Reload() error          { f.reloads.Add(1); return f.reloadErr }
func (f *fakeInstance) RequestShutdown()       { f.shutdowns.Add(1) }
func (f *fakeInstance) Version() string        { return "1.2.3-test" }
func (f *fakeInstance) LoginClients() int      { return 0 }

func loadConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "odyssey.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// consoleClient is the test's end of a console session.
type consoleClient struct {
	t    *testing.T
	fe   *pgproto3.Frontend
	conn net.Conn
	id   string
	done chan error // Serve's result
}

// sessionIDs numbers the test sessions' client ids.
var sessionIDs atomic.Int64

// serve starts a console session for user (a rule of testConf) and reads
// the greeting.
func serve(t *testing.T, inst *fakeInstance, con *Console, user string) *consoleClient {
	t.Helper()
	cfg := inst.rtr.Config()
	var rule *config.Rule
	for _, r := range cfg.Rules {
		if r.DB == "console" && r.User == user {
			rule = r
		}
	}
	if rule == nil {
		t.Fatalf("no console rule for %s", user)
	}
	ours, theirs := tcpPair(t)
	id := fmt.Sprintf("c%012x", sessionIDs.Add(1))
	c := &consoleClient{t: t, fe: pgproto3.NewFrontend(ours, ours), conn: ours, id: id, done: make(chan error, 1)}
	go func() {
		c.done <- con.Serve(theirs, Client{ID: c.id, DB: "console", User: user, Rule: rule, Log: quietLog()})
		theirs.Close()
	}()
	t.Cleanup(func() { ours.Close() })
	ours.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// tcpPair returns both ends of a loopback TCP connection: unlike
// net.Pipe it buffers, as clients rely on when they pipeline.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ours, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return ours, theirs
}

func newConsole(t *testing.T) (*fakeInstance, *Console) {
	inst := &fakeInstance{rtr: router.New(loadConfig(t, testConf), quietLog())}
	return inst, New(inst)
}

// receive reads messages up to and including ReadyForQuery.
func (c *consoleClient) receive() []pgproto3.BackendMessage {
	c.t.Helper()
	var out []pgproto3.BackendMessage
	for {
		m, err := c.fe.Receive()
		if err != nil {
			c.t.Fatalf("receive: %v", err)
		}
		out = append(out, copyMessage(m))
		if _, ok := m.(*pgproto3.ReadyForQuery); ok {
			return out
		}
	}
}

// copyMessage detaches a message from the frontend's buffer.
func copyMessage(m pgproto3.BackendMessage) pgproto3.BackendMessage {
	switch m := m.(type) {
	case *pgproto3.RowDescription:
		c := *m
		c.Fields = slices.Clone(m.Fields)
		for i := range c.Fields {
			c.Fields[i].Name = slices.Clone(m.Fields[i].Name)
		}
		return &c
	case *pgproto3.DataRow:
		c := &pgproto3.DataRow{}
		for _, v := range m.Values {
			if v == nil {
				c.Values = append(c.Values, nil)
			} else {
				c.Values = append(c.Values, slices.Clone(v))
			}
		}
		return c
	case *pgproto3.ErrorResponse:
		c := *m
		return &c
	case *pgproto3.NoticeResponse:
		c := *m
		return &c
	case *pgproto3.CommandComplete:
		return &pgproto3.CommandComplete{CommandTag: slices.Clone(m.CommandTag)}
	case *pgproto3.ParameterStatus:
		c := *m
		return &c
	case *pgproto3.ReadyForQuery:
		c := *m
		return &c
	}
	return m
}

func (c *consoleClient) query(sql string) []pgproto3.BackendMessage {
	c.t.Helper()
	c.fe.Send(&pgproto3.Query{String: sql})
	if err := c.fe.Flush(); err != nil {
		c.t.Fatal(err)
	}
	return c.receive()
}

// result is a simple query's answer, decoded.
type result struct {
	cols []string
	oids []uint32
	rows [][]string // NULL as "<null>"
	tag  string
	err  *pgproto3.ErrorResponse
}

func decode(msgs []pgproto3.BackendMessage) result {
	var r result
	for _, m := range msgs {
		switch m := m.(type) {
		case *pgproto3.RowDescription:
			for _, f := range m.Fields {
				r.cols = append(r.cols, string(f.Name))
				r.oids = append(r.oids, f.DataTypeOID)
			}
		case *pgproto3.DataRow:
			var row []string
			for _, v := range m.Values {
				if v == nil {
					row = append(row, "<null>")
				} else {
					row = append(row, string(v))
				}
			}
			r.rows = append(r.rows, row)
		case *pgproto3.CommandComplete:
			r.tag = string(m.CommandTag)
		case *pgproto3.ErrorResponse:
			r.err = m
		}
	}
	return r
}

func TestGreeting(t *testing.T) {
	inst, con := newConsole(t)
	c := serve(t, inst, con, "admin")
	msgs := c.receive()
	if _, ok := msgs[0].(*pgproto3.AuthenticationOk); !ok {
		t.Fatalf("first message %T, want AuthenticationOk", msgs[0])
	}
	params := map[string]string{}
	for _, m := range msgs[1:] {
		switch m := m.(type) {
		case *pgproto3.ParameterStatus:
			params[m.Name] = m.Value
		case *pgproto3.BackendKeyData:
			t.Fatal("the console sends no BackendKeyData: there is nothing to cancel")
		}
	}
	want := map[string]string{"server_version": "1.2.3-test", "server_encoding": "UTF8", "client_encoding": "UTF8",
		"DateStyle": "ISO", "TimeZone": "GMT", "standard_conforming_strings": "on"}
	for k, v := range want {
		if params[k] != v {
			t.Errorf("ParameterStatus %s = %q, want %q", k, params[k], v)
		}
	}
}

func TestRoles(t *testing.T) {
	tests := []struct {
		user, query string
		code        string // "" = allowed
		tag         string
	}{
		{"admin", "show pools", "", "SHOW"},
		{"admin", "pause", "", "PAUSE"},
		{"admin", "resume", "", "RESUME"},
		{"admin", "set x = 1", "", "SET"},
		{"admin", "drop servers", "", "DROP SERVERS"},
		{"admin", "reconnect", "", "RECONNECT"},
		{"stat", "show stats", "", "SHOW"},
		{"stat", "SELECT * FROM pools", "", "SHOW"},
		{"stat", "pause", "42501", ""},
		{"stat", "reload", "42501", ""},
		{"stat", "kill_client c0123456789ab", "42501", ""},
		{"stat", "set x = 1", "42501", ""},
		{"stat", "shutdown", "42501", ""},
		{"nobody", "show pools", "42501", ""},
		{"nobody", "pause", "42501", ""},
		{"stat", "show nothing", "42601", ""},
		{"nobody", "frobnicate", "42601", ""},
	}
	inst, con := newConsole(t)
	clients := map[string]*consoleClient{}
	for _, tt := range tests {
		c := clients[tt.user]
		if c == nil {
			c = serve(t, inst, con, tt.user)
			c.receive()
			clients[tt.user] = c
		}
		r := decode(c.query(tt.query))
		switch {
		case tt.code == "" && r.err != nil:
			t.Errorf("%s: %q: %s %s", tt.user, tt.query, r.err.Code, r.err.Message)
		case tt.code == "" && r.tag != tt.tag:
			t.Errorf("%s: %q: tag %q, want %q", tt.user, tt.query, r.tag, tt.tag)
		case tt.code != "" && (r.err == nil || r.err.Code != tt.code):
			t.Errorf("%s: %q: %+v, want SQLSTATE %s", tt.user, tt.query, r.err, tt.code)
		case tt.code == "42501" && !strings.Contains(r.err.Message, "Unsuitable user role to emit console command"):
			t.Errorf("%s: %q: message %q", tt.user, tt.query, r.err.Message)
		case tt.code == "42601" && !strings.Contains(r.err.Hint, "SHOW STATS") && !strings.Contains(r.err.Hint, "KILL_CLIENT"):
			t.Errorf("%s: %q: hint %q does not list the commands", tt.user, tt.query, r.err.Hint)
		}
	}
	if inst.rtr.Paused() {
		t.Error("still paused after RESUME")
	}
	if n := inst.shutdowns.Load(); n != 0 {
		t.Errorf("a stat user's SHUTDOWN requested %d shutdowns", n)
	}
}

func TestAdminCommands(t *testing.T) {
	inst, con := newConsole(t)
	c := serve(t, inst, con, "admin")
	c.receive()
	if r := decode(c.query("reload")); r.tag != "RELOAD" || inst.reloads.Load() != 1 {
		t.Errorf("RELOAD: tag %q, %d reloads", r.tag, inst.reloads.Load())
	}
	inst.reloadErr = errors.New("odyssey.conf:3:1: unknown keyword\nmore")
	if r := decode(c.query("reload")); r.err == nil || r.err.Code != "F0000" || !strings.Contains(r.err.Message, "unknown keyword") {
		t.Errorf("failed RELOAD: %+v", r.err)
	}
	if r := decode(c.query("kill_client c00000000000f")); r.err == nil || r.err.Code != "42704" {
		t.Errorf("KILL_CLIENT of nobody: %+v", r.err)
	}
	if r := decode(c.query("reconnect nosuchdb")); r.err == nil || r.err.Code != "3D000" {
		t.Errorf("RECONNECT of an unknown database: %+v", r.err)
	}
	if r := decode(c.query("shutdown")); r.tag != "SHUTDOWN" || inst.shutdowns.Load() != 1 {
		t.Errorf("SHUTDOWN: tag %q, %d requests", r.tag, inst.shutdowns.Load())
	}
	// Errors carry the client id like every message of the pooler.
	if r := decode(c.query("bogus")); r.err == nil || !strings.HasPrefix(r.err.Message, "odyssey: "+c.id+": ") {
		t.Errorf("error message %+v", r.err)
	}
	if msgs := c.query(";"); len(msgs) != 2 {
		t.Errorf("empty query: %d messages", len(msgs))
	} else if _, ok := msgs[0].(*pgproto3.EmptyQueryResponse); !ok {
		t.Errorf("empty query: %T, want EmptyQueryResponse", msgs[0])
	}
}

// The extended protocol gets one 0A000 error per batch and the session
// goes on, as drivers expect after any failed statement.
func TestExtendedProtocolRefused(t *testing.T) {
	inst, con := newConsole(t)
	c := serve(t, inst, con, "admin")
	c.receive()
	c.fe.SendParse(&pgproto3.Parse{Query: "show pools"})
	c.fe.SendDescribe(&pgproto3.Describe{ObjectType: 'S'})
	c.fe.SendBind(&pgproto3.Bind{})
	c.fe.SendExecute(&pgproto3.Execute{})
	c.fe.Send(&pgproto3.Query{String: "show pools"}) // skipped until Sync, as PostgreSQL does
	c.fe.SendSync(&pgproto3.Sync{})
	if err := c.fe.Flush(); err != nil {
		t.Fatal(err)
	}
	msgs := c.receive()
	if len(msgs) != 2 {
		t.Fatalf("extended batch: %d messages (%v), want an error and ReadyForQuery", len(msgs), msgs)
	}
	if e, ok := msgs[0].(*pgproto3.ErrorResponse); !ok || e.Code != "0A000" || e.Severity != "ERROR" {
		t.Fatalf("extended batch: %+v, want ERROR 0A000", msgs[0])
	}
	if r := decode(c.query("show version")); r.err != nil || len(r.rows) != 1 {
		t.Fatalf("simple query after the refused batch: %+v %q", r.err, r.rows)
	}
	c.fe.Send(&pgproto3.FunctionCall{Function: 1})
	c.fe.Flush()
	if r := decode(c.receive()); r.err == nil || r.err.Code != "0A000" {
		t.Fatalf("FunctionCall: %+v", r.err)
	}
}

func TestEndings(t *testing.T) {
	t.Run("terminate", func(t *testing.T) {
		inst, con := newConsole(t)
		c := serve(t, inst, con, "admin")
		c.receive()
		c.fe.Send(&pgproto3.Terminate{})
		c.fe.Flush()
		if err := <-c.done; err != nil {
			t.Fatalf("Serve after Terminate: %v", err)
		}
		if n := len(con.sessionList()); n != 0 {
			t.Fatalf("%d sessions left", n)
		}
	})
	t.Run("eof", func(t *testing.T) {
		inst, con := newConsole(t)
		c := serve(t, inst, con, "admin")
		c.receive()
		c.conn.Close()
		if err := <-c.done; err != nil {
			t.Fatalf("Serve after EOF: %v", err)
		}
	})
	t.Run("killed", func(t *testing.T) {
		inst, con := newConsole(t)
		victim := serve(t, inst, con, "stat")
		victim.receive()
		admin := serve(t, inst, con, "admin")
		admin.receive()
		if r := decode(admin.query("kill_client " + victim.id)); r.err != nil {
			t.Fatalf("KILL_CLIENT: %s", r.err.Message)
		}
		select {
		case err := <-victim.done:
			var pe *pgwire.Error
			if !errors.As(err, &pe) || pe.Severity != pgwire.SeverityFatal || !strings.Contains(pe.Message, "KILL_CLIENT") {
				t.Fatalf("killed session ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the killed session goes on")
		}
	})
	t.Run("bad message", func(t *testing.T) {
		inst, con := newConsole(t)
		c := serve(t, inst, con, "admin")
		c.receive()
		c.conn.Write([]byte{'?', 0, 0, 0, 4})
		var pe *pgwire.Error
		if err := <-c.done; !errors.As(err, &pe) || pe.Code != pgwire.CodeProtocolViolation {
			t.Fatalf("Serve after a bad message: %v", err)
		}
	})
}
