package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
)

// startupConf is a trusting session pool for the startup tests.
const startupConf = baseConf + `
database default {
	user default {
		authentication "none"
		storage "pg"
		pool "session"
		pool_size 4
		pool_discard yes
		pool_timeout 5000
	}
}
`

// rawTimeout bounds every read and write of a hand-driven connection, so a
// pooler that hangs fails the test instead of stalling it.
const rawTimeout = 10 * time.Second

// Startup-phase request codes and protocol versions, built by hand.
const (
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
	proto30           = 3 << 16
	proto32           = 3<<16 | 2
)

// wireConn is a client connection driven message by message.
type wireConn struct {
	t    *testing.T
	conn net.Conn
	fe   *pgproto3.Frontend
}

func dialWire(t *testing.T, network, addr string) *wireConn {
	t.Helper()
	c, err := net.DialTimeout(network, addr, rawTimeout)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &wireConn{t: t, conn: c, fe: pgproto3.NewFrontend(c, c)}
}

// raw dials the pooler's TCP port.
func (p *pooler) raw(t *testing.T) *wireConn {
	t.Helper()
	return dialWire(t, "tcp", fmt.Sprintf("127.0.0.1:%d", p.port))
}

// write sends bytes as they are.
func (r *wireConn) write(b []byte) {
	r.t.Helper()
	r.conn.SetWriteDeadline(time.Now().Add(rawTimeout))
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// sendQuery sends a simple Query.
func (r *wireConn) sendQuery(sql string) {
	r.t.Helper()
	b, err := (&pgproto3.Query{String: sql}).Encode(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(b)
}

// readByte reads the one-byte answer to SSLRequest or GSSENCRequest. It
// must come before any receive, which could buffer past it.
func (r *wireConn) readByte() byte {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(rawTimeout))
	var b [1]byte
	if _, err := io.ReadFull(r.conn, b[:]); err != nil {
		r.t.Fatalf("reading the answer to a negotiation request: %v", err)
	}
	return b[0]
}

func (r *wireConn) receive(d time.Duration) (pgproto3.BackendMessage, error) {
	r.conn.SetReadDeadline(time.Now().Add(d))
	return r.fe.Receive()
}

// next returns the next message; anything else than a message fails.
func (r *wireConn) next() pgproto3.BackendMessage {
	r.t.Helper()
	m, err := r.receive(rawTimeout)
	if err != nil {
		r.t.Fatalf("receive: %v", err)
	}
	return m
}

// wireGreeting is what the pooler sent between the startup packet and the
// first ReadyForQuery.
type wireGreeting struct {
	negotiate *pgproto3.NegotiateProtocolVersion
	params    map[string]string
	key       pgproto3.BackendKeyData
	txStatus  byte
}

// readGreeting reads a successful login (with authentication "none") and
// checks the message order: [NegotiateProtocolVersion] AuthenticationOk
// ParameterStatus* BackendKeyData ReadyForQuery.
func (r *wireConn) readGreeting() wireGreeting {
	r.t.Helper()
	g := wireGreeting{params: map[string]string{}}
	const (
		wantAuth = iota
		wantParams
		wantReady
	)
	state := wantAuth
	for first := true; ; first = false {
		switch m := r.next().(type) {
		case *pgproto3.NegotiateProtocolVersion:
			if !first {
				r.t.Fatalf("NegotiateProtocolVersion is not the first message")
			}
			c := *m
			c.UnrecognizedOptions = slices.Clone(m.UnrecognizedOptions)
			g.negotiate = &c
		case *pgproto3.AuthenticationOk:
			if state != wantAuth {
				r.t.Fatalf("AuthenticationOk out of order")
			}
			state = wantParams
		case *pgproto3.ParameterStatus:
			if state != wantParams {
				r.t.Fatalf("ParameterStatus %s out of order", m.Name)
			}
			g.params[m.Name] = m.Value
		case *pgproto3.BackendKeyData:
			if state != wantParams {
				r.t.Fatalf("BackendKeyData out of order")
			}
			g.key = pgproto3.BackendKeyData{ProcessID: m.ProcessID, SecretKey: slices.Clone(m.SecretKey)}
			state = wantReady
		case *pgproto3.ReadyForQuery:
			if state != wantReady {
				r.t.Fatalf("ReadyForQuery before BackendKeyData")
			}
			g.txStatus = m.TxStatus
			return g
		case *pgproto3.ErrorResponse:
			r.t.Fatalf("login failed: %s %s: %s", m.Severity, m.Code, m.Message)
		case *pgproto3.NoticeResponse:
		default:
			r.t.Fatalf("unexpected message during login: %T", m)
		}
	}
}

// query runs sql with the simple protocol and returns the rows as text,
// or the error the server sent.
func (r *wireConn) query(sql string) ([][]string, *pgproto3.ErrorResponse) {
	r.t.Helper()
	r.sendQuery(sql)
	return r.readResult()
}

// readResult reads the rows of a simple query up to ReadyForQuery.
func (r *wireConn) readResult() ([][]string, *pgproto3.ErrorResponse) {
	r.t.Helper()
	var rows [][]string
	var failed *pgproto3.ErrorResponse
	for {
		switch m := r.next().(type) {
		case *pgproto3.DataRow:
			row := make([]string, len(m.Values))
			for i, v := range m.Values {
				row[i] = string(v)
			}
			rows = append(rows, row)
		case *pgproto3.ErrorResponse:
			c := *m
			failed = &c
		case *pgproto3.ReadyForQuery:
			return rows, failed
		}
	}
}

// queryOne runs sql and returns the first column of its only row.
func (r *wireConn) queryOne(sql string) string {
	r.t.Helper()
	rows, e := r.query(sql)
	if e != nil {
		r.t.Fatalf("%s: %s %s", sql, e.Code, e.Message)
	}
	if len(rows) != 1 || len(rows[0]) == 0 {
		r.t.Fatalf("%s: got rows %q", sql, rows)
	}
	return rows[0][0]
}

// readUntilClosed reads until the pooler closes the connection and returns
// the first ErrorResponse it sent (nil if none). A connection still open
// after d fails the test: the pooler hung.
func (r *wireConn) readUntilClosed(d time.Duration) *pgproto3.ErrorResponse {
	r.t.Helper()
	var first *pgproto3.ErrorResponse
	deadline := time.Now().Add(d)
	for {
		m, err := r.receive(time.Until(deadline))
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				r.t.Fatalf("connection still open after %v (first error: %v)", d, startupErrText(first))
			}
			return first // EOF, reset: closed
		}
		if e, ok := m.(*pgproto3.ErrorResponse); ok && first == nil {
			c := *e
			first = &c
		}
	}
}

func startupErrText(e *pgproto3.ErrorResponse) string {
	if e == nil {
		return "none"
	}
	return e.Severity + " " + e.Code + ": " + e.Message
}

// startupPacket builds a StartupMessage by hand (pgproto3's encoder keeps
// no order and refuses versions other than 3.0 and 3.2).
func startupPacket(version uint32, params ...string) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint32(b, version)
	for _, s := range params {
		b = append(b, s...)
		b = append(b, 0)
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

// requestPacket is an 8-byte SSLRequest or GSSENCRequest.
func requestPacket(code uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, 8)
	return binary.BigEndian.AppendUint32(b, code)
}

// TestStartupLoginTimeout: a client that does not finish its startup within
// client_login_timeout is disconnected, about that long after connecting.
func TestStartupLoginTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	conf := strings.Replace(startupConf, "client_login_timeout 5000", "client_login_timeout 400", 1) + `
database default {
	user "` + md5User + `" {
		authentication "md5"
		password "` + md5Pass + `"
		storage "pg"
		storage_password "` + md5Pass + `"
		pool "session"
	}
}
`
	p := startPooler(t, conf)
	cases := []struct {
		name   string
		send   []byte
		ssl    bool
		prompt bool
	}{
		{name: "silent"},
		{name: "stalled at the password prompt", send: startupPacket(proto30, "user", md5User, "database", plainUser), prompt: true},
		{name: "half a startup packet", send: startupPacket(proto30, "user", plainUser)[:12]},
		{name: "SSLRequest then nothing", send: requestPacket(codeSSLRequest), ssl: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := p.raw(t)
			start := time.Now()
			if tc.send != nil {
				r.write(tc.send)
			}
			if tc.ssl {
				if b := r.readByte(); b != 'N' {
					t.Fatalf("SSLRequest answered %q, want 'N'", b)
				}
			}
			if tc.prompt {
				if m, ok := r.next().(*pgproto3.AuthenticationMD5Password); !ok {
					t.Fatalf("got %T, want AuthenticationMD5Password", m)
				}
			}
			e := r.readUntilClosed(5 * timeout)
			elapsed := time.Since(start)
			if elapsed < timeout/2 {
				t.Errorf("closed after %v, client_login_timeout is %v", elapsed, timeout)
			}
			if e != nil && e.Code != "08P01" {
				t.Errorf("got %s, want 08P01 or a silent close", startupErrText(e))
			}
			t.Logf("closed after %v with %s", elapsed, startupErrText(e))
		})
	}
}

// TestStartupLoginTimeoutNotAfterLogin: the login timeout ends at login; a
// logged-in client may stay idle longer.
func TestStartupLoginTimeoutNotAfterLogin(t *testing.T) {
	p := startPooler(t, strings.Replace(startupConf, "client_login_timeout 5000", "client_login_timeout 200", 1))
	r := p.raw(t)
	r.write(startupPacket(proto30, "user", plainUser, "database", plainUser))
	r.readGreeting()
	// Idle for 3x the timeout: the connection must stay open.
	r.conn.SetReadDeadline(time.Now().Add(600 * time.Millisecond))
	var b [1]byte
	if n, err := r.conn.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle logged-in client: read %d bytes (%q), %v; want nothing", n, b[:n], err)
	}
	if got := r.queryOne("select 'still here'"); got != "still here" {
		t.Fatalf("got %q", got)
	}
}

// TestStartupNegotiationRequests: SSLRequest and GSSENCRequest are refused
// with 'N' and the StartupMessage follows on the same connection.
func TestStartupNegotiationRequests(t *testing.T) {
	p := startPooler(t, startupConf)
	cases := []struct {
		name     string
		requests []uint32
	}{
		{"SSLRequest", []uint32{codeSSLRequest}},
		{"GSSENCRequest", []uint32{codeGSSENCRequest}},
		{"GSSENCRequest then SSLRequest", []uint32{codeGSSENCRequest, codeSSLRequest}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := p.raw(t)
			for _, code := range tc.requests {
				r.write(requestPacket(code))
				if b := r.readByte(); b != 'N' {
					t.Fatalf("request %d answered %q, want 'N'", code, b)
				}
			}
			r.write(startupPacket(proto30, "user", plainUser, "database", plainUser))
			g := r.readGreeting()
			if g.txStatus != 'I' {
				t.Errorf("ReadyForQuery status %q, want 'I'", g.txStatus)
			}
			if got := r.queryOne("select 6*7"); got != "42" {
				t.Fatalf("select 6*7 = %q", got)
			}
		})
	}
	t.Run("repeated SSLRequest", func(t *testing.T) {
		r := p.raw(t)
		r.write(requestPacket(codeSSLRequest))
		if b := r.readByte(); b != 'N' {
			t.Fatalf("answered %q, want 'N'", b)
		}
		r.write(requestPacket(codeSSLRequest))
		e := r.readUntilClosed(5 * time.Second)
		if e == nil || e.Code != "08P01" {
			t.Fatalf("got %s, want 08P01", startupErrText(e))
		}
	})
}

// TestStartupSSLModes: libpq-style sslmode=prefer falls back to plain text,
// sslmode=require fails at once with a clear error.
func TestStartupSSLModes(t *testing.T) {
	p := startPooler(t, startupConf)
	connect := func(mode string) (*pgx.Conn, error) {
		dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=%s connect_timeout=10", p.port, plainUser, plainUser, mode)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return pgx.Connect(ctx, dsn)
	}
	c, err := connect("prefer")
	if err != nil {
		t.Fatalf("sslmode=prefer: %v", err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(ctxTimeout(t, 10*time.Second), "select 1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("sslmode=prefer query: %d, %v", n, err)
	}

	start := time.Now()
	c2, err := connect("require")
	if err == nil {
		c2.Close(context.Background())
		t.Fatal("sslmode=require connected to a pooler without TLS")
	}
	if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("sslmode=require hung for %v: %v", time.Since(start), err)
	}
	if !strings.Contains(strings.ToLower(err.Error()), "tls") && !strings.Contains(strings.ToLower(err.Error()), "ssl") {
		t.Errorf("sslmode=require error does not mention TLS/SSL: %v", err)
	}
	// The pooler is unharmed.
	p.connect(plainUser, plainUser, "")
}

// TestStartupProtocolVersion: newer minors and _pq_ options get
// NegotiateProtocolVersion (3.0, the options listed) and the login goes on;
// another major gets 0A000.
func TestStartupProtocolVersion(t *testing.T) {
	p := startPooler(t, startupConf)
	cases := []struct {
		name      string
		version   uint32
		options   []string
		negotiate bool
	}{
		{"3.2 with _pq_ option", proto32, []string{"_pq_.something"}, true},
		{"3.0 with two _pq_ options", proto30, []string{"_pq_.something", "_pq_.other"}, true},
		{"3.2 without options", proto32, nil, true},
		{"3.99", 3<<16 | 99, nil, true},
		{"3.0", proto30, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			params := []string{"user", plainUser}
			for _, o := range tc.options {
				params = append(params, o, "on")
			}
			params = append(params, "database", plainUser)
			r := p.raw(t)
			r.write(startupPacket(tc.version, params...))
			g := r.readGreeting()
			switch {
			case !tc.negotiate && g.negotiate != nil:
				t.Fatalf("3.0 without options got NegotiateProtocolVersion %+v", g.negotiate)
			case tc.negotiate && g.negotiate == nil:
				t.Fatal("no NegotiateProtocolVersion")
			case tc.negotiate:
				// PostgreSQL (and Odyssey) send the full version number,
				// PG_PROTOCOL(3, 0); libpq rejects anything below 3.0.
				if v := g.negotiate.NewestMinorProtocol; v&0xffff != 0 || v>>16 != 3 {
					t.Errorf("newest protocol %d.%d (%d), want 3.0 (%d)", v>>16, v&0xffff, v, proto30)
				}
				want := tc.options
				if want == nil {
					want = []string{}
				}
				if got := g.negotiate.UnrecognizedOptions; !slices.Equal(got, want) {
					t.Errorf("unrecognized options %q, want %q", got, want)
				}
			}
			if got := r.queryOne("select current_user"); got != plainUser {
				t.Fatalf("current_user %q", got)
			}
		})
	}
	t.Run("pgx max_protocol_version=3.2", func(t *testing.T) {
		c := listenConnect(t, fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable max_protocol_version=3.2", p.port, plainUser, plainUser))
		listenSelect42(t, c)
		// The negotiated key works for a cancel.
		ctx := ctxTimeout(t, 20*time.Second)
		d := direct(t)
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(ctx, "select pg_sleep(10)")
			done <- err
		}()
		waitFor(t, 10*time.Second, "pg_sleep to run", func() bool {
			var n int
			d.QueryRow(ctx, "select count(*) from pg_stat_activity where query = 'select pg_sleep(10)' and state = 'active'").Scan(&n)
			return n == 1
		})
		if err := c.PgConn().CancelRequest(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; sqlState(err) != "57014" {
			t.Fatalf("cancelled query: %v, want 57014", err)
		}
	})
	t.Run("pgx min_protocol_version=3.2", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable min_protocol_version=3.2 max_protocol_version=3.2", p.port, plainUser, plainUser))
		if err == nil {
			c.Close(ctx)
			t.Fatal("connected with min_protocol_version=3.2 to a 3.0 pooler")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hung: %v", err)
		}
	})
	for _, v := range []struct {
		name    string
		version uint32
	}{{"2.0", 2 << 16}, {"4.0", 4 << 16}, {"unknown request code 1234.5681", 1234<<16 | 5681}} {
		t.Run(v.name, func(t *testing.T) {
			r := p.raw(t)
			r.write(startupPacket(v.version, "user", plainUser, "database", plainUser))
			e := r.readUntilClosed(5 * time.Second)
			if e == nil || e.Code != "0A000" {
				t.Fatalf("protocol %s: got %s, want 0A000", v.name, startupErrText(e))
			}
			if e.Severity != "FATAL" {
				t.Errorf("severity %q, want FATAL", e.Severity)
			}
		})
	}
}

// TestStartupOptions: `-c name=value` in the startup `options` reach the
// session in session and transaction pools, also after the client changed
// servers.
func TestStartupOptions(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			conf := strings.Replace(startupConf, `pool "session"`, `pool "`+mode+`"`, 1)
			conf = strings.Replace(conf, "pool_size 4", "pool_size 1", 1)
			p := startPooler(t, conf)
			ctx := ctxTimeout(t, 30*time.Second)
			c, err := p.tryConnect(plainUser, plainUser, "", map[string]string{
				"options": "-c statement_timeout=1234 -c search_path=foo",
			})
			if err != nil {
				t.Fatal(err)
			}
			show := func(c *pgx.Conn, name string) string {
				t.Helper()
				var v string
				if err := c.QueryRow(ctx, "show "+name).Scan(&v); err != nil {
					t.Fatalf("show %s: %v", name, err)
				}
				return v
			}
			check := func() {
				t.Helper()
				if v := show(c, "statement_timeout"); v != "1234ms" {
					t.Errorf("statement_timeout = %q, want 1234ms", v)
				}
				if v := show(c, "search_path"); v != "foo" {
					t.Errorf("search_path = %q, want foo", v)
				}
			}
			check()
			if mode == "session" {
				return
			}
			// pool_size 1: another client takes the server in between; it
			// must not see our settings, and we must get them back.
			c.Close(ctx)
			other := p.connect(plainUser, plainUser, "")
			if v := show(other, "statement_timeout"); v != "0" {
				t.Errorf("other client sees statement_timeout = %q", v)
			}
			c, err = p.tryConnect(plainUser, plainUser, "", map[string]string{
				"options": "-c statement_timeout=1234 -c search_path=foo",
			})
			if err != nil {
				t.Fatal(err)
			}
			check()
			if v := show(other, "search_path"); v == "foo" {
				t.Errorf("other client sees search_path = %q", v)
			}
			check()
		})
	}
	t.Run("forms", func(t *testing.T) {
		p := startPooler(t, startupConf)
		ctx := ctxTimeout(t, 30*time.Second)
		c, err := p.tryConnect(plainUser, plainUser, "", map[string]string{
			"options": `-clock_timeout=5s --idle-in-transaction-session-timeout=7s -c application_name=my\ app`,
		})
		if err != nil {
			t.Fatal(err)
		}
		var lock, idle, app string
		if err := c.QueryRow(ctx, "select current_setting('lock_timeout'), current_setting('idle_in_transaction_session_timeout'), current_setting('application_name')").Scan(&lock, &idle, &app); err != nil {
			t.Fatal(err)
		}
		if lock != "5s" || idle != "7s" || app != "my app" {
			t.Errorf("got lock_timeout=%q idle_in_transaction_session_timeout=%q application_name=%q; want 5s, 7s, \"my app\"", lock, idle, app)
		}
	})
}

// TestStartupDatabaseDefaultsToUser: a startup packet without database
// logs in to the database named like the user.
func TestStartupDatabaseDefaultsToUser(t *testing.T) {
	p := startPooler(t, startupConf)
	r := p.raw(t)
	r.write(startupPacket(proto30, "user", plainUser))
	r.readGreeting()
	rows, e := r.query("select current_database(), current_user")
	if e != nil {
		t.Fatal(startupErrText(e))
	}
	if len(rows) != 1 || rows[0][0] != plainUser || rows[0][1] != plainUser {
		t.Fatalf("got %q, want database and user %s", rows, plainUser)
	}
}

// TestStartupMalformed: broken startup packets get 08P01 (or a close),
// never a hang, and the pooler keeps serving.
func TestStartupMalformed(t *testing.T) {
	p := startPooler(t, startupConf)
	huge := make([]byte, 20000)
	binary.BigEndian.PutUint32(huge, 20000)
	binary.BigEndian.PutUint32(huge[4:], proto30)
	unterminated := startupPacket(proto30, "user", plainUser)
	unterminated = unterminated[:len(unterminated)-1] // drop the final NUL
	binary.BigEndian.PutUint32(unterminated, uint32(len(unterminated)))
	noValue := []byte{0, 0, 0, 0}
	noValue = binary.BigEndian.AppendUint32(noValue, proto30)
	noValue = append(noValue, "user\x00"...)
	binary.BigEndian.PutUint32(noValue, uint32(len(noValue)))
	cases := []struct {
		name string
		send []byte
		code string // "" = 08P01 or a silent close
	}{
		{name: "length 3", send: []byte{0, 0, 0, 3}},
		{name: "length 0", send: []byte{0, 0, 0, 0}},
		{name: "length 20000, header only", send: huge[:8]},
		{name: "length 20000, whole", send: huge},
		{name: "negative length", send: []byte{0xff, 0xff, 0xff, 0xfc, 0, 3, 0, 0}},
		{name: "unterminated parameters", send: unterminated},
		{name: "name without value", send: noValue},
		{name: "SSLRequest with a body", send: append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 12), codeSSLRequest), 0, 0, 0, 0)},
		{name: "no user", send: startupPacket(proto30, "database", plainUser), code: "28000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := p.raw(t)
			r.conn.SetWriteDeadline(time.Now().Add(rawTimeout))
			r.conn.Write(tc.send) // may fail if the pooler already gave up
			e := r.readUntilClosed(5 * time.Second)
			want := tc.code
			if want == "" {
				if e != nil && e.Code != "08P01" {
					t.Fatalf("got %s, want 08P01 or a close", startupErrText(e))
				}
				return
			}
			if e == nil || e.Code != want {
				t.Fatalf("got %s, want %s", startupErrText(e), want)
			}
		})
	}
	p.connect(plainUser, plainUser, "")
}

// TestStartupInvalidMessageAfterLogin: a message type no client may send
// ends the session with FATAL 08P01, and the server goes back to the pool.
func TestStartupInvalidMessageAfterLogin(t *testing.T) {
	p := startPooler(t, strings.Replace(startupConf, "pool_size 4", "pool_size 1", 1))
	cases := []struct {
		name string
		msg  []byte
	}{
		{"type Y", []byte{'Y', 0, 0, 0, 4}},
		{"backend type T", []byte{'T', 0, 0, 0, 6, 0, 0}},
		{"Query with length 2", []byte{'Q', 0, 0, 0, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := p.raw(t)
			r.write(startupPacket(proto30, "user", plainUser, "database", plainUser))
			r.readGreeting()
			// Attach the only server first, so that its return is tested.
			if got := r.queryOne("select 1"); got != "1" {
				t.Fatalf("select 1 = %q", got)
			}
			r.write(tc.msg)
			e := r.readUntilClosed(5 * time.Second)
			if e == nil || e.Code != "08P01" || e.Severity != "FATAL" {
				t.Fatalf("got %s, want FATAL 08P01", startupErrText(e))
			}
			// pool_size 1: the server must be free again.
			c := p.connect(plainUser, plainUser, "")
			var n int
			if err := c.QueryRow(ctxTimeout(t, 10*time.Second), "select 2").Scan(&n); err != nil || n != 2 {
				t.Fatalf("next client: %d, %v", n, err)
			}
			c.Close(context.Background())
		})
	}
}

// TestStartupGreeting: the client sees the server's ParameterStatus set,
// with its own values for what it set, and a key of its own.
func TestStartupGreeting(t *testing.T) {
	p := startPooler(t, startupConf)
	ctx := ctxTimeout(t, 30*time.Second)
	d := direct(t)
	dps := d.PgConn()

	c, err := p.tryConnect(plainUser, plainUser, "", map[string]string{
		"application_name": "mytest",
		"TimeZone":         "Asia/Tokyo",
	})
	if err != nil {
		t.Fatal(err)
	}
	ps := c.PgConn()
	for _, name := range []string{"server_version", "client_encoding", "DateStyle", "TimeZone", "integer_datetimes", "standard_conforming_strings"} {
		if ps.ParameterStatus(name) == "" {
			t.Errorf("no ParameterStatus %s", name)
		}
	}
	for _, name := range []string{"server_version", "integer_datetimes", "standard_conforming_strings", "DateStyle", "client_encoding", "server_encoding"} {
		if got, want := ps.ParameterStatus(name), dps.ParameterStatus(name); got != want {
			t.Errorf("ParameterStatus %s = %q, PostgreSQL says %q", name, got, want)
		}
	}
	if got := ps.ParameterStatus("application_name"); got != "mytest" {
		t.Errorf("ParameterStatus application_name = %q, want mytest", got)
	}
	if got := ps.ParameterStatus("TimeZone"); got != "Asia/Tokyo" {
		t.Errorf("ParameterStatus TimeZone = %q, want Asia/Tokyo", got)
	}
	var tz, app string
	if err := c.QueryRow(ctx, "select current_setting('TimeZone'), current_setting('application_name')").Scan(&tz, &app); err != nil {
		t.Fatal(err)
	}
	if tz != "Asia/Tokyo" || app != "mytest" {
		t.Errorf("session has TimeZone=%q application_name=%q", tz, app)
	}
	if ps.PID() == 0 {
		t.Error("BackendKeyData pid is 0")
	}
	if len(ps.SecretKey()) == 0 || bytes.Equal(ps.SecretKey(), make([]byte, len(ps.SecretKey()))) {
		t.Errorf("BackendKeyData secret %x", ps.SecretKey())
	}

	// A second client on the same route gets the server's defaults, not
	// the first client's values, and a key of its own.
	c2 := p.connect(plainUser, plainUser, "")
	ps2 := c2.PgConn()
	if got, want := ps2.ParameterStatus("TimeZone"), dps.ParameterStatus("TimeZone"); got != want {
		t.Errorf("second client: ParameterStatus TimeZone = %q, want the default %q", got, want)
	}
	if got := ps2.ParameterStatus("application_name"); got != "" {
		t.Errorf("second client: ParameterStatus application_name = %q, want empty", got)
	}
	if ps2.PID() == ps.PID() && bytes.Equal(ps2.SecretKey(), ps.SecretKey()) {
		t.Errorf("two clients got the same key %d/%x", ps.PID(), ps.SecretKey())
	}

	// The same through the raw protocol, with the message order checked.
	r := p.raw(t)
	r.write(startupPacket(proto30, "user", plainUser, "database", plainUser, "application_name", "rawapp", "DateStyle", "German, DMY"))
	g := r.readGreeting()
	if g.params["application_name"] != "rawapp" || g.params["DateStyle"] != "German, DMY" {
		t.Errorf("raw greeting: application_name=%q DateStyle=%q", g.params["application_name"], g.params["DateStyle"])
	}
	if g.key.ProcessID == 0 || len(g.key.SecretKey) == 0 {
		t.Errorf("raw greeting key %+v", g.key)
	}
	if got := r.queryOne("show datestyle"); got != "German, DMY" {
		t.Errorf("show datestyle = %q", got)
	}
}

// TestStartupOptionsInGreeting: a parameter set through `options` is
// reported with its value in the greeting, as PostgreSQL does.
func TestStartupOptionsInGreeting(t *testing.T) {
	p := startPooler(t, startupConf)
	r := p.raw(t)
	r.write(startupPacket(proto30, "user", plainUser, "database", plainUser, "options", "-c timezone=Europe/Berlin -c application_name=fromopts"))
	g := r.readGreeting()
	if g.params["TimeZone"] != "Europe/Berlin" || g.params["application_name"] != "fromopts" {
		t.Errorf("greeting: TimeZone=%q application_name=%q; want Europe/Berlin, fromopts", g.params["TimeZone"], g.params["application_name"])
	}
	if got := r.queryOne("show timezone"); got != "Europe/Berlin" {
		t.Errorf("show timezone = %q", got)
	}
}

// TestStartupInvalidParameterValue: PostgreSQL refuses a login whose
// startup packet sets a parameter to an invalid value (FATAL 22023). The
// pooler learns it only when it applies the value on a server, but then the
// client must hear of it: a session that silently runs with another value
// than the one its ParameterStatus announced is wrong.
func TestStartupInvalidParameterValue(t *testing.T) {
	p := startPooler(t, startupConf)
	r := p.raw(t)
	r.write(startupPacket(proto30, "user", plainUser, "database", plainUser, "TimeZone", "Not/AZone"))
	var announced string
	for done := false; !done; {
		switch m := r.next().(type) {
		case *pgproto3.ErrorResponse:
			if m.Code != "22023" {
				t.Fatalf("login refused with %s %s: %s, want 22023", m.Severity, m.Code, m.Message)
			}
			return // refused at login, as PostgreSQL does
		case *pgproto3.ParameterStatus:
			if m.Name == "TimeZone" {
				announced = m.Value
			}
		case *pgproto3.ReadyForQuery:
			done = true
		}
	}
	rows, e := r.query("show timezone")
	if e != nil {
		if e.Code != "22023" {
			t.Errorf("first query failed with %s, want 22023", startupErrText(e))
		}
		return
	}
	t.Errorf("BUG: TimeZone=Not/AZone accepted silently: ParameterStatus TimeZone=%q, but the session has %q", announced, rows)
}

// TestStartupGreetingCanonicalValues: PostgreSQL reports parameters in
// their canonical spelling (client_encoding=utf8 is reported as UTF8); the
// greeting must say the same, or drivers that compare the value break. pgx
// refuses simple-protocol queries with arguments unless client_encoding is
// exactly "UTF8".
func TestStartupGreetingCanonicalValues(t *testing.T) {
	p := startPooler(t, startupConf)
	ctx := ctxTimeout(t, 30*time.Second)
	params := map[string]string{"client_encoding": "utf8", "DateStyle": "iso", "TimeZone": "utc"}
	c, err := p.tryConnect(plainUser, plainUser, "", params)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(pg.DSN(plainUser, plainUser, ""))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	d, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	for _, name := range []string{"client_encoding", "DateStyle", "TimeZone"} {
		if got, want := c.PgConn().ParameterStatus(name), d.PgConn().ParameterStatus(name); got != want {
			t.Errorf("%s=%q at startup: ParameterStatus %q through the pooler, %q from PostgreSQL", name, params[name], got, want)
		}
	}
	var n int
	if err := c.QueryRow(ctx, "select $1::int", pgx.QueryExecModeSimpleProtocol, 7).Scan(&n); err != nil || n != 7 {
		t.Errorf("simple protocol query with an argument: %d, %v (direct to PostgreSQL it works)", n, err)
	}
}

// TestStartupPipelined: bytes a client sends ahead of our answers are
// neither lost nor misread. The login reads through a buffer; what it read
// beyond the login starts the client's stream in the relay.
func TestStartupPipelined(t *testing.T) {
	p := startPooler(t, startupConf)
	query, err := (&pgproto3.Query{String: "select 6*7"}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	startup := startupPacket(proto30, "user", plainUser, "database", plainUser)
	t.Run("startup and query in one write", func(t *testing.T) {
		r := p.raw(t)
		r.write(append(append([]byte(nil), startup...), query...))
		r.readGreeting()
		rows, e := r.readResult()
		if e != nil || len(rows) != 1 || rows[0][0] != "42" {
			t.Fatalf("pipelined query: rows %v, error %v", rows, e)
		}
		if got := r.queryOne("select 1+1"); got != "2" {
			t.Fatalf("next query = %q", got)
		}
	})
	t.Run("SSLRequest answered N, then startup and query", func(t *testing.T) {
		r := p.raw(t)
		r.write(append(append(requestPacket(codeSSLRequest), startup...), query...))
		if b := r.readByte(); b != 'N' {
			t.Fatalf("SSLRequest answered %q, want 'N'", b)
		}
		r.readGreeting()
		rows, e := r.readResult()
		if e != nil || len(rows) != 1 || rows[0][0] != "42" {
			t.Fatalf("pipelined query: rows %v, error %v", rows, e)
		}
	})
}
