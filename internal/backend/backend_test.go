package backend_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/internal/auth"
	"github.com/odyssey-go/odyssey/internal/backend"
	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// pgConn is the fake PostgreSQL's side of one connection, with helpers for
// a step-by-step script.
type pgConn struct {
	net.Conn
	r io.Reader
}

// startup reads the first packet.
func (c *pgConn) startup() (*pgwire.Startup, error) {
	return pgwire.ReadStartup(c.r)
}

// expect reads one message and checks its type.
func (c *pgConn) expect(typ byte) ([]byte, error) {
	t, body, err := pgwire.ReadMessage(c.r, nil, pgwire.MaxMessageLen)
	if err != nil {
		return nil, fmt.Errorf("waiting for %q: %w", typ, err)
	}
	if t != typ {
		return nil, fmt.Errorf("got message %q, want %q", t, typ)
	}
	return body, nil
}

// send writes frames in one write.
func (c *pgConn) send(frames ...[]byte) error {
	_, err := c.Write(bytes.Join(frames, nil))
	return err
}

// Frame builders for the server side.

func authReq(code uint32, data []byte) []byte {
	b, start := pgwire.BeginMessage(nil, pgwire.MsgAuthentication)
	b = binary.BigEndian.AppendUint32(b, code)
	b = append(b, data...)
	return pgwire.FinishMessage(b, start)
}

func authOK() []byte { return pgwire.AppendAuthOK(nil) }

func paramStatus(name, value string) []byte {
	return pgwire.AppendParameterStatus(nil, name, value)
}

func keyData(pid uint32, secret []byte) []byte {
	b, start := pgwire.BeginMessage(nil, pgwire.MsgBackendKeyData)
	b = binary.BigEndian.AppendUint32(b, pid)
	b = append(b, secret...)
	return pgwire.FinishMessage(b, start)
}

func rfq() []byte { return pgwire.AppendReadyForQuery(nil, 'I') }

func errorResp(sev, code, msg string) []byte {
	return pgwire.AppendErrorResponse(nil, &pgwire.Error{Severity: sev, Code: code, Message: msg})
}

func rawFrame(typ byte, body []byte) []byte {
	b, start := pgwire.BeginMessage(nil, typ)
	b = append(b, body...)
	return pgwire.FinishMessage(b, start)
}

// greeting is what PostgreSQL sends after AuthenticationOk.
func greeting(pid uint32) []byte {
	return bytes.Join([][]byte{
		paramStatus("server_version", "17.2"),
		paramStatus("TimeZone", "UTC"),
		paramStatus("client_encoding", "UTF8"),
		keyData(pid, []byte{0xde, 0xad, 0xbe, 0xef}),
		rfq(),
	}, nil)
}

// fakePG listens on a fresh address and runs script on the first
// connection. The script's error fails the test.
type fakePG struct {
	ep   backend.Endpoint
	ln   net.Listener
	done chan error
}

func startFake(t *testing.T, network string, script func(c *pgConn) error) *fakePG {
	t.Helper()
	var ln net.Listener
	var err error
	switch network {
	case "unix":
		ln, err = net.Listen("unix", filepath.Join(t.TempDir(), ".s.PGSQL.5432"))
	default:
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePG{
		ep:   backend.Endpoint{Network: ln.Addr().Network(), Address: ln.Addr().String()},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			f.done <- fmt.Errorf("accept: %w", err)
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		f.done <- script(&pgConn{Conn: nc, r: nc})
	}()
	t.Cleanup(func() { ln.Close() })
	return f
}

// wait returns the script's result.
func (f *fakePG) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("fake server script did not finish")
		return nil
	}
}

func opts(f *fakePG, cred backend.Credentials) backend.Options {
	return backend.Options{
		Endpoint:    f.ep,
		Database:    "appdb",
		Credentials: cred,
		Timeout:     5 * time.Second,
	}
}

// checkStartup checks the StartupMessage the pooler sends.
func checkStartup(c *pgConn, user, db string) error {
	s, err := c.startup()
	if err != nil {
		return err
	}
	if s.Kind != pgwire.KindStartup || s.Major != 3 || s.Minor != 0 {
		return fmt.Errorf("startup %v %d.%d", s.Kind, s.Major, s.Minor)
	}
	if v, _ := s.Param("user"); v != user {
		return fmt.Errorf("user %q, want %q", v, user)
	}
	if v, _ := s.Param("database"); v != db {
		return fmt.Errorf("database %q, want %q", v, db)
	}
	return nil
}

// passwordScript asks for a password with the given request and checks
// the answer with check before accepting.
func passwordScript(user string, req []byte, check func(pw string) error) func(c *pgConn) error {
	return func(c *pgConn) error {
		if err := checkStartup(c, user, "appdb"); err != nil {
			return err
		}
		if err := c.send(req); err != nil {
			return err
		}
		body, err := c.expect(pgwire.MsgPassword)
		if err != nil {
			return err
		}
		pw, ok := strings.CutSuffix(string(body), "\x00")
		if !ok || strings.IndexByte(pw, 0) >= 0 {
			return fmt.Errorf("password message %q is not one C string", body)
		}
		if err := check(pw); err != nil {
			c.send(errorResp("FATAL", "28P01", "password authentication failed for user \""+user+"\""))
			return err
		}
		return c.send(authOK(), greeting(1234))
	}
}

// scramScript runs the server side of SCRAM-SHA-256 with internal/auth's
// ServerSession. finalHook may tamper with the server-final-message.
func scramScript(user, password string, mechs string, finalHook func([]byte) []byte) func(c *pgConn) error {
	return func(c *pgConn) error {
		if err := checkStartup(c, user, "appdb"); err != nil {
			return err
		}
		ss := auth.NewServerSession(auth.NewVerifier(password, []byte("0123456789abcdef"), 4096), nil)
		if err := c.send(authReq(10, []byte(mechs))); err != nil {
			return err
		}
		body, err := c.expect(pgwire.MsgPassword)
		if err != nil {
			return err
		}
		mech, rest, ok := bytes.Cut(body, []byte{0})
		if !ok || len(rest) < 4 {
			return fmt.Errorf("bad SASLInitialResponse %q", body)
		}
		n := int(int32(binary.BigEndian.Uint32(rest)))
		if n != len(rest)-4 {
			return fmt.Errorf("SASLInitialResponse data length %d, have %d bytes", n, len(rest)-4)
		}
		if string(mech) != auth.MechanismSCRAM {
			return fmt.Errorf("client chose %q", mech)
		}
		first, err := ss.ClientFirst(string(mech), rest[4:])
		if err != nil {
			return fmt.Errorf("ClientFirst: %w", err)
		}
		if err := c.send(authReq(11, first)); err != nil {
			return err
		}
		body, err = c.expect(pgwire.MsgPassword)
		if err != nil {
			return err
		}
		final, err := ss.ClientFinal(body)
		if err != nil {
			c.send(errorResp("FATAL", "28P01", "password authentication failed for user \""+user+"\""))
			return fmt.Errorf("ClientFinal: %w", err)
		}
		if finalHook != nil {
			final = finalHook(final)
		}
		if err := c.send(authReq(12, final)); err != nil {
			return err
		}
		if finalHook != nil {
			// The client must refuse a bad server signature: expect it to
			// hang up without waiting for AuthenticationOk.
			if _, err := c.expect(0); err == nil {
				return errors.New("client kept talking after a bad server signature")
			}
			return nil
		}
		return c.send(authOK(), greeting(1234))
	}
}

func TestDialTrust(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			f := startFake(t, network, func(c *pgConn) error {
				s, err := c.startup()
				if err != nil {
					return err
				}
				want := []pgwire.Param{{Name: "user", Value: "alice"}, {Name: "database", Value: "appdb"}, {Name: "application_name", Value: "odyssey"}, {Name: "options", Value: "-c geqo=off"}}
				if len(s.Params) != len(want) {
					return fmt.Errorf("startup params %v, want %v", s.Params, want)
				}
				for i := range want {
					if s.Params[i] != want[i] {
						return fmt.Errorf("startup params %v, want %v", s.Params, want)
					}
				}
				notice := pgwire.AppendNoticeResponse(nil, &pgwire.Error{Severity: "NOTICE", Code: "00000", Message: "hello"})
				return c.send(authOK(),
					paramStatus("server_version", "17.2"),
					paramStatus("TimeZone", "UTC"),
					notice,
					paramStatus("server_version", "17.3"), // a repeat updates in place
					keyData(77, []byte{1, 2, 3, 4}),
					rfq())
			})
			o := opts(f, backend.Credentials{User: "alice"})
			o.StartupParams = []pgwire.Param{{Name: "application_name", Value: "odyssey"}, {Name: "options", Value: "-c geqo=off"}}
			conn, err := backend.Dial(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := f.wait(t); err != nil {
				t.Fatal(err)
			}
			if conn.PID != 77 || !bytes.Equal(conn.Secret, []byte{1, 2, 3, 4}) {
				t.Errorf("key %d %x", conn.PID, conn.Secret)
			}
			wantParams := []pgwire.Param{{Name: "server_version", Value: "17.3"}, {Name: "TimeZone", Value: "UTC"}}
			if fmt.Sprint(conn.Params) != fmt.Sprint(wantParams) {
				t.Errorf("params %v, want %v", conn.Params, wantParams)
			}
			if len(conn.Notices) != 1 || pgwire.ParseError(conn.Notices[0]).Message != "hello" {
				t.Errorf("notices %q", conn.Notices)
			}
			if conn.Endpoint != f.ep {
				t.Errorf("endpoint %v", conn.Endpoint)
			}
		})
	}
}

func TestDialPasswordMethods(t *testing.T) {
	const user, password = "bob", "s3cret"
	salt := [4]byte{0x01, 0x02, 0x03, 0xff}
	md5Want := auth.MD5Response(auth.MD5Hash(user, password), salt)
	checkMD5 := func(pw string) error {
		if pw != md5Want {
			return fmt.Errorf("md5 response %q, want %q", pw, md5Want)
		}
		if !auth.CheckMD5Response(auth.Secret{Kind: auth.SecretPlain, Plain: password}, user, salt, pw) {
			return errors.New("CheckMD5Response refuses the answer")
		}
		return nil
	}
	tests := []struct {
		name   string
		cred   backend.Credentials
		script func(c *pgConn) error
	}{
		{"cleartext", backend.Credentials{User: user, Password: password},
			passwordScript(user, authReq(3, nil), func(pw string) error {
				if pw != password {
					return fmt.Errorf("password %q", pw)
				}
				return nil
			})},
		{"md5 with password", backend.Credentials{User: user, Password: password},
			passwordScript(user, authReq(5, salt[:]), checkMD5)},
		{"md5 with stored hash only", backend.Credentials{User: user, MD5: auth.MD5Hash(user, password)},
			passwordScript(user, authReq(5, salt[:]), checkMD5)},
		{"md5: password wins over hash", backend.Credentials{User: user, Password: password, MD5: "md5" + strings.Repeat("0", 32)},
			passwordScript(user, authReq(5, salt[:]), checkMD5)},
		{"scram", backend.Credentials{User: user, Password: password},
			scramScript(user, password, "SCRAM-SHA-256\x00\x00", nil)},
		{"scram, PLUS offered first", backend.Credentials{User: user, Password: password},
			scramScript(user, password, "SCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00", nil)},
		{"scram, non-ASCII password", backend.Credentials{User: user, Password: "pässwörd"},
			scramScript(user, "pässwörd", "SCRAM-SHA-256\x00\x00", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, "tcp", tt.script)
			conn, err := backend.Dial(context.Background(), opts(f, tt.cred))
			if serr := f.wait(t); serr != nil {
				t.Fatalf("fake server: %v (Dial: %v)", serr, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if conn.PID != 1234 || !bytes.Equal(conn.Secret, []byte{0xde, 0xad, 0xbe, 0xef}) {
				t.Errorf("key %d %x", conn.PID, conn.Secret)
			}
			if len(conn.Params) != 3 {
				t.Errorf("params %v", conn.Params)
			}
		})
	}
}

func TestDialWrongPassword(t *testing.T) {
	tests := []struct {
		name   string
		script func(c *pgConn) error
	}{
		{"cleartext", passwordScript("bob", authReq(3, nil), func(string) error { return errWrong })},
		{"md5", passwordScript("bob", authReq(5, []byte{1, 2, 3, 4}), func(string) error { return errWrong })},
		{"scram", scramScript("bob", "the real password", "SCRAM-SHA-256\x00\x00", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, "tcp", tt.script)
			conn, err := backend.Dial(context.Background(), opts(f, backend.Credentials{User: "bob", Password: "guess"}))
			f.wait(t) // the script reports the wrong password as its error
			if err == nil {
				conn.Close()
				t.Fatal("Dial succeeded with a wrong password")
			}
			var pe *pgwire.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v, want *pgwire.Error", err, err)
			}
			if pe.Code != "28P01" || pe.Severity != "FATAL" || !strings.Contains(pe.Message, "password authentication failed") {
				t.Fatalf("error %+v, want the server's FATAL 28P01", pe)
			}
		})
	}
}

var errWrong = errors.New("wrong password (expected)")

func TestDialServerError(t *testing.T) {
	// A server error without authentication (unknown database) passes
	// through with its SQLSTATE, detail and hint.
	f := startFake(t, "tcp", func(c *pgConn) error {
		if _, err := c.startup(); err != nil {
			return err
		}
		return c.send(pgwire.AppendErrorResponse(nil, &pgwire.Error{Severity: "FATAL", Code: "3D000",
			Message: `database "appdb" does not exist`, Detail: "d", Hint: "h"}))
	})
	_, err := backend.Dial(context.Background(), opts(f, backend.Credentials{User: "u"}))
	if serr := f.wait(t); serr != nil {
		t.Fatal(serr)
	}
	var pe *pgwire.Error
	if !errors.As(err, &pe) || pe.Code != "3D000" || pe.Detail != "d" || pe.Hint != "h" {
		t.Fatalf("error %#v", err)
	}
	// Also after authentication (e.g. too many connections).
	f = startFake(t, "tcp", func(c *pgConn) error {
		if _, err := c.startup(); err != nil {
			return err
		}
		return c.send(authOK(), paramStatus("TimeZone", "UTC"), errorResp("FATAL", "53300", "sorry, too many clients already"))
	})
	_, err = backend.Dial(context.Background(), opts(f, backend.Credentials{User: "u"}))
	f.wait(t)
	if !errors.As(err, &pe) || pe.Code != "53300" {
		t.Fatalf("error %#v", err)
	}
}

func TestDialNoPassword(t *testing.T) {
	tests := []struct {
		name string
		req  []byte
	}{
		{"cleartext", authReq(3, nil)},
		{"md5", authReq(5, []byte{1, 2, 3, 4})},
		{"scram", authReq(10, []byte("SCRAM-SHA-256\x00\x00"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, "tcp", func(c *pgConn) error {
				if _, err := c.startup(); err != nil {
					return err
				}
				if err := c.send(tt.req); err != nil {
					return err
				}
				// The pooler hangs up without answering.
				if typ, body, err := pgwire.ReadMessage(c.r, nil, 1<<20); err == nil {
					return fmt.Errorf("pooler answered %q %q without a password", typ, body)
				}
				return nil
			})
			_, err := backend.Dial(context.Background(), opts(f, backend.Credentials{User: "u"}))
			if serr := f.wait(t); serr != nil {
				t.Fatal(serr)
			}
			if !errors.Is(err, backend.ErrNoPassword) {
				t.Fatalf("error %v, want ErrNoPassword", err)
			}
		})
	}
}

// TestDialBadServer covers servers that do not follow the protocol. None may
// make Dial succeed, hang or panic, and none is a *pgwire.Error (there is no
// server error to forward).
func TestDialBadServer(t *testing.T) {
	tests := []struct {
		name     string
		reply    [][]byte // sent after the startup packet, then the server closes
		protocol bool     // want pgwire.ErrProtocol
		eof      bool     // want io.EOF or io.ErrUnexpectedEOF
	}{
		{name: "garbage (HTTP)", reply: [][]byte{[]byte("HTTP/1.1 400 Bad Request\r\n\r\n")}, protocol: true},
		{name: "length below 4", reply: [][]byte{{'R', 0, 0, 0, 2}}, protocol: true},
		{name: "auth message over 64 KiB", reply: [][]byte{rawFrame('R', make([]byte, 70<<10))}, protocol: true},
		{name: "close before any reply", reply: nil, eof: true},
		{name: "close mid-header", reply: [][]byte{{'R', 0, 0}}, eof: true},
		{name: "close mid-body", reply: [][]byte{authOK()[:7]}, eof: true},
		{name: "close after AuthenticationOk", reply: [][]byte{authOK(), paramStatus("a", "b")}, eof: true},
		{name: "close before ReadyForQuery", reply: [][]byte{authOK(), keyData(1, []byte{1, 2, 3, 4})}, eof: true},
		{name: "unexpected message type", reply: [][]byte{authOK(), rawFrame('D', nil), rfq()}, protocol: true},
		{name: "short BackendKeyData", reply: [][]byte{authOK(), rawFrame('K', []byte{0, 0, 0, 1}), rfq()}, protocol: true},
		{name: "data after ReadyForQuery", reply: [][]byte{authOK(), rfq(), paramStatus("x", "y")}, protocol: true},
		{name: "short auth message", reply: [][]byte{rawFrame('R', []byte{0, 0})}, protocol: true},
		{name: "short md5 salt", reply: [][]byte{authReq(5, []byte{1, 2})}, protocol: true},
		{name: "SASL continue without start", reply: [][]byte{authReq(11, []byte("r=x,s=eA==,i=4096"))}, protocol: true},
		{name: "SASL final without start", reply: [][]byte{authReq(12, []byte("v=eA=="))}, protocol: true},
		{name: "unsupported auth method (GSS)", reply: [][]byte{authReq(7, nil)}},
		{name: "no supported SASL mechanism", reply: [][]byte{authReq(10, []byte("SCRAM-SHA-1\x00\x00"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, "tcp", func(c *pgConn) error {
				if _, err := c.startup(); err != nil {
					return err
				}
				return c.send(tt.reply...)
			})
			conn, err := backend.Dial(context.Background(), opts(f, backend.Credentials{User: "u", Password: "p"}))
			if serr := f.wait(t); serr != nil && !errors.Is(serr, net.ErrClosed) && !isConnReset(serr) {
				t.Fatal(serr)
			}
			if err == nil {
				conn.Close()
				t.Fatal("Dial succeeded")
			}
			var pe *pgwire.Error
			if errors.As(err, &pe) {
				t.Fatalf("error %v is a *pgwire.Error", err)
			}
			if tt.protocol && !errors.Is(err, pgwire.ErrProtocol) {
				t.Errorf("error %v, want a protocol error", err)
			}
			if tt.eof && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("error %v, want EOF", err)
			}
			if tt.eof && !strings.Contains(err.Error(), f.ep.Address) {
				t.Errorf("error %q does not name the server", err)
			}
		})
	}
}

func isConnReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

func TestDialBadServerSignature(t *testing.T) {
	f := startFake(t, "tcp", scramScript("u", "pw", "SCRAM-SHA-256\x00\x00", func(final []byte) []byte {
		// Flip a bit of the server signature: an impostor that accepted
		// any proof cannot produce the right one.
		b := []byte("v=" + strings.Repeat("A", 43) + "=")
		return b
	}))
	conn, err := backend.Dial(context.Background(), opts(f, backend.Credentials{User: "u", Password: "pw"}))
	if serr := f.wait(t); serr != nil {
		t.Fatal(serr)
	}
	if err == nil {
		conn.Close()
		t.Fatal("Dial trusted a server with a wrong SCRAM signature")
	}
	if !strings.Contains(err.Error(), "SCRAM") {
		t.Errorf("error %v", err)
	}
}

func TestDialTimeout(t *testing.T) {
	// A server that accepts and never answers.
	f := startFake(t, "tcp", func(c *pgConn) error {
		if _, err := c.startup(); err != nil {
			return err
		}
		c.expect(0) // until the pooler gives up and closes
		return nil
	})
	o := opts(f, backend.Credentials{User: "u"})
	o.Timeout = 100 * time.Millisecond
	start := time.Now()
	_, err := backend.Dial(context.Background(), o)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Dial took %v with a 100ms timeout", d)
	}
	if serr := f.wait(t); serr != nil {
		t.Fatal(serr)
	}
}

func TestDialContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := startFake(t, "tcp", func(c *pgConn) error {
		if _, err := c.startup(); err != nil {
			return err
		}
		cancel() // the client goes away while we log in
		c.expect(0)
		return nil
	})
	o := opts(f, backend.Credentials{User: "u"})
	o.Timeout = 0
	_, err := backend.Dial(ctx, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want Canceled", err)
	}
	if serr := f.wait(t); serr != nil {
		t.Fatal(serr)
	}
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = backend.Dial(context.Background(), backend.Options{
		Endpoint: backend.Endpoint{Network: "tcp", Address: addr}, Timeout: time.Second,
	})
	var pe *pgwire.Error
	if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %v", err)
	}
}

func TestCancel(t *testing.T) {
	for _, secret := range [][]byte{{0xde, 0xad, 0xbe, 0xef}, bytes.Repeat([]byte{7}, 32)} {
		t.Run(fmt.Sprintf("secret %d bytes", len(secret)), func(t *testing.T) {
			var received atomic.Bool
			f := startFake(t, "tcp", func(c *pgConn) error {
				s, err := c.startup()
				if err != nil {
					return err
				}
				if s.Kind != pgwire.KindCancel || s.CancelPID != 4242 || !bytes.Equal(s.CancelSecret, secret) {
					return fmt.Errorf("got %v pid %d secret %x", s.Kind, s.CancelPID, s.CancelSecret)
				}
				received.Store(true)
				return nil // closing the connection says "done"
			})
			if err := backend.Cancel(context.Background(), f.ep, 4242, secret, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			// Cancel waits for the server to close, so the request has
			// been read by the time it returns.
			if !received.Load() {
				t.Fatal("Cancel returned before the server read the request")
			}
			if err := f.wait(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCancelKeyFromLogin logs in, then cancels with the key the server
// gave, as the relay does.
func TestCancelKeyFromLogin(t *testing.T) {
	secret := bytes.Repeat([]byte{0xab}, 32) // protocol 3.2 style long key
	f := startFake(t, "unix", func(c *pgConn) error {
		if _, err := c.startup(); err != nil {
			return err
		}
		return c.send(authOK(), keyData(99, secret), rfq())
	})
	conn, err := backend.Dial(context.Background(), opts(f, backend.Credentials{User: "u"}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
	if conn.PID != 99 || !bytes.Equal(conn.Secret, secret) {
		t.Fatalf("key %d %x", conn.PID, conn.Secret)
	}
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "cancel.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *pgwire.Startup, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer nc.Close()
		s, _ := pgwire.ReadStartup(nc)
		got <- s
	}()
	ep := backend.Endpoint{Network: "unix", Address: ln.Addr().String()}
	if err := backend.Cancel(context.Background(), ep, conn.PID, conn.Secret, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	s := <-got
	if s == nil || s.Kind != pgwire.KindCancel || s.CancelPID != 99 || !bytes.Equal(s.CancelSecret, secret) {
		t.Fatalf("cancel request %+v", s)
	}
}

func TestCancelServerNeverCloses(t *testing.T) {
	f := startFake(t, "tcp", func(c *pgConn) error {
		if _, err := c.startup(); err != nil {
			return err
		}
		c.expect(0) // keeps the connection open until the pooler closes it
		return nil
	})
	start := time.Now()
	if err := backend.Cancel(context.Background(), f.ep, 1, []byte{1, 2, 3, 4}, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Cancel took %v with a 200ms timeout", d)
	}
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestCancelRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := backend.Cancel(context.Background(), backend.Endpoint{Network: "tcp", Address: addr}, 1, []byte{1, 2, 3, 4}, time.Second); err == nil {
		t.Fatal("Cancel to a closed port succeeded")
	}
}

func TestDialIgnoresNegotiateProtocolVersion(t *testing.T) {
	f := startFake(t, "tcp", func(c *pgConn) error {
		if _, err := c.startup(); err != nil {
			return err
		}
		// Newest minor 0, no unsupported options.
		return c.send(rawFrame('v', []byte{0, 0, 0, 0, 0, 0, 0, 0}), authOK(), greeting(5))
	})
	conn, err := backend.Dial(context.Background(), opts(f, backend.Credentials{User: "u"}))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
}

func TestDialMalformedServerFirst(t *testing.T) {
	f := startFake(t, "tcp", func(c *pgConn) error {
		if _, err := c.startup(); err != nil {
			return err
		}
		if err := c.send(authReq(10, []byte("SCRAM-SHA-256\x00\x00"))); err != nil {
			return err
		}
		if _, err := c.expect(pgwire.MsgPassword); err != nil {
			return err
		}
		// A nonce that does not start with the client's.
		return c.send(authReq(11, []byte("r=notyours,s=c2FsdA==,i=4096")))
	})
	_, err := backend.Dial(context.Background(), opts(f, backend.Credentials{User: "u", Password: "p"}))
	if serr := f.wait(t); serr != nil {
		t.Fatal(serr)
	}
	if err == nil || !strings.Contains(err.Error(), "SCRAM") {
		t.Fatalf("error %v", err)
	}
}

// TestDialRefusesAuthOkBeforeSCRAMFinal: a server that accepts our proof
// with AuthenticationOk without ever proving it knows the verifier
// (AuthenticationSASLFinal) could be an impostor. internal/auth's
// ClientSession says ServerFinal must succeed before the login is trusted.
func TestDialRefusesAuthOkBeforeSCRAMFinal(t *testing.T) {
	for _, stage := range []string{"after SASL", "after SASLContinue"} {
		t.Run(stage, func(t *testing.T) {
			f := startFake(t, "tcp", func(c *pgConn) error {
				if _, err := c.startup(); err != nil {
					return err
				}
				ss := auth.NewServerSession(auth.NewVerifier("other", []byte("salt"), 4096), nil)
				if err := c.send(authReq(10, []byte("SCRAM-SHA-256\x00\x00"))); err != nil {
					return err
				}
				body, err := c.expect(pgwire.MsgPassword)
				if err != nil {
					return err
				}
				if stage == "after SASLContinue" {
					mech, rest, _ := bytes.Cut(body, []byte{0})
					first, err := ss.ClientFirst(string(mech), rest[4:])
					if err != nil {
						return err
					}
					if err := c.send(authReq(11, first)); err != nil {
						return err
					}
					if _, err := c.expect(pgwire.MsgPassword); err != nil {
						return err
					}
				}
				// Skip SASLFinal: "you're in".
				c.send(authOK(), greeting(1))
				return nil
			})
			conn, err := backend.Dial(context.Background(), opts(f, backend.Credentials{User: "u", Password: "pw"}))
			f.wait(t)
			if err == nil {
				conn.Close()
				t.Fatal("Dial trusted AuthenticationOk before the server's SCRAM signature (AuthenticationSASLFinal)")
			}
			if !strings.Contains(err.Error(), "before proving its SCRAM signature") {
				t.Errorf("error %v, want the missing SCRAM signature named", err)
			}
		})
	}
}
