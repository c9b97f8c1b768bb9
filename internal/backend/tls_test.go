package backend_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/internal/auth"
	"github.com/odyssey-go/odyssey/internal/backend"
	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/testcert"
	"github.com/odyssey-go/odyssey/internal/tlsconf"
)

// tlsFixture is a CA and a server certificate for 127.0.0.1/localhost.
type tlsFixture struct {
	ca     *testcert.CA
	caFile string
	server *tls.Config
}

func newTLSFixture(t *testing.T) *tlsFixture {
	t.Helper()
	ca, err := testcert.NewCA("pg ca")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.Write(t.TempDir(), "ca")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("pg")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pair.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return &tlsFixture{ca: ca, caFile: caFile, server: &tls.Config{Certificates: []tls.Certificate{cert}}}
}

func (f *tlsFixture) client(t *testing.T, mode string) *tlsconf.Client {
	t.Helper()
	c, err := tlsconf.NewStore().Client(config.TLSOptions{Mode: mode, CAFile: f.caFile})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sslAnswer reads the SSLRequest, answers with answer and, for 'S', runs
// the server handshake; it returns the connection to go on with.
func sslAnswer(c *pgConn, answer byte, conf *tls.Config) (*pgConn, error) {
	s, err := c.startup()
	if err != nil {
		return nil, err
	}
	if s.Kind != pgwire.KindSSLRequest {
		return nil, fmt.Errorf("first packet %v, want SSLRequest", s.Kind)
	}
	if _, err := c.Write([]byte{answer}); err != nil {
		return nil, err
	}
	if answer != 'S' {
		return c, nil
	}
	tc := tls.Server(c.Conn, conf)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("server handshake: %w", err)
	}
	return &pgConn{Conn: tc, r: tc}, nil
}

// trustLogin reads the startup packet and greets.
func trustLogin(c *pgConn) error {
	if err := checkStartup(c, "u", "appdb"); err != nil {
		return err
	}
	return c.send(authOK(), greeting(77))
}

func TestDialTLS(t *testing.T) {
	fx := newTLSFixture(t)
	t.Run("prefer, server offers TLS", func(t *testing.T) {
		f := startFake(t, "tcp", func(c *pgConn) error {
			tc, err := sslAnswer(c, 'S', fx.server)
			if err != nil {
				return err
			}
			return trustLogin(tc)
		})
		o := opts(f, backend.Credentials{User: "u"})
		o.TLS = fx.client(t, "prefer")
		conn, err := backend.Dial(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := f.wait(t); err != nil {
			t.Fatal(err)
		}
		if _, ok := conn.Conn.(*tls.Conn); !ok || conn.Endpoint.TLS == nil {
			t.Fatalf("connection %T, endpoint TLS %v", conn.Conn, conn.Endpoint.TLS)
		}
	})
	t.Run("prefer, server refuses", func(t *testing.T) {
		f := startFake(t, "tcp", func(c *pgConn) error {
			pc, err := sslAnswer(c, 'N', nil)
			if err != nil {
				return err
			}
			return trustLogin(pc)
		})
		o := opts(f, backend.Credentials{User: "u"})
		o.TLS = fx.client(t, "prefer")
		conn, err := backend.Dial(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := f.wait(t); err != nil {
			t.Fatal(err)
		}
		if conn.Endpoint.TLS != nil {
			t.Fatal("plain connection marked as TLS")
		}
	})
	t.Run("require, server refuses", func(t *testing.T) {
		f := startFake(t, "tcp", func(c *pgConn) error {
			_, err := sslAnswer(c, 'N', nil)
			return err
		})
		o := opts(f, backend.Credentials{User: "u"})
		o.TLS = fx.client(t, "require")
		_, err := backend.Dial(context.Background(), o)
		if !errors.Is(err, backend.ErrTLSRefused) {
			t.Fatalf("error %v", err)
		}
		f.wait(t)
	})
	t.Run("verify_full, wrong host name", func(t *testing.T) {
		other, err := fx.ca.Issue(testcert.Options{CommonName: "db", DNSNames: []string{"db.internal"}})
		if err != nil {
			t.Fatal(err)
		}
		cert, err := other.TLSCertificate()
		if err != nil {
			t.Fatal(err)
		}
		f := startFake(t, "tcp", func(c *pgConn) error {
			sslAnswer(c, 'S', &tls.Config{Certificates: []tls.Certificate{cert}})
			return nil
		})
		o := opts(f, backend.Credentials{User: "u"})
		o.TLS = fx.client(t, "verify_full")
		_, err = backend.Dial(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "cannot validate certificate for 127.0.0.1") {
			t.Fatalf("error %v", err)
		}
		f.wait(t)
		// verify_ca trusts the same certificate: the CA signed it.
		f = startFake(t, "tcp", func(c *pgConn) error {
			tc, err := sslAnswer(c, 'S', &tls.Config{Certificates: []tls.Certificate{cert}})
			if err != nil {
				return err
			}
			return trustLogin(tc)
		})
		o = opts(f, backend.Credentials{User: "u"})
		o.TLS = fx.client(t, "verify_ca")
		conn, err := backend.Dial(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if err := f.wait(t); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unix socket skips TLS", func(t *testing.T) {
		f := startFake(t, "unix", trustLogin)
		o := opts(f, backend.Credentials{User: "u"})
		o.TLS = fx.client(t, "verify_full")
		conn, err := backend.Dial(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if err := f.wait(t); err != nil {
			t.Fatal(err)
		}
	})
}

// multiFake runs scripts[i] on the i-th connection.
func multiFake(t *testing.T, scripts ...func(c *pgConn) error) (backend.Endpoint, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan error, len(scripts))
	go func() {
		for _, script := range scripts {
			nc, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			done <- script(&pgConn{Conn: nc, r: nc})
			nc.Close()
		}
	}()
	return backend.Endpoint{Network: "tcp", Address: ln.Addr().String()}, done
}

func TestDialAllowRetriesWithTLS(t *testing.T) {
	fx := newTLSFixture(t)
	noSSL := func(c *pgConn) error {
		if err := checkStartup(c, "u", "appdb"); err != nil {
			return err
		}
		return c.send(errorResp("FATAL", "28000", `no pg_hba.conf entry for host "127.0.0.1", user "u", database "appdb", no encryption`))
	}
	withSSL := func(c *pgConn) error {
		tc, err := sslAnswer(c, 'S', fx.server)
		if err != nil {
			return err
		}
		return trustLogin(tc)
	}
	ep, done := multiFake(t, noSSL, withSSL)
	o := backend.Options{Endpoint: ep, Database: "appdb", Credentials: backend.Credentials{User: "u"}, Timeout: 5 * time.Second}
	o.TLS = fx.client(t, "allow")
	conn, err := backend.Dial(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if conn.Endpoint.TLS == nil {
		t.Fatal("retry was not encrypted")
	}

	// A wrong password is not retried.
	wrong := func(c *pgConn) error {
		if err := checkStartup(c, "u", "appdb"); err != nil {
			return err
		}
		return c.send(errorResp("FATAL", "28P01", `password authentication failed for user "u"`))
	}
	ep, done = multiFake(t, wrong, withSSL)
	o.Endpoint = ep
	_, err = backend.Dial(context.Background(), o)
	var pe *pgwire.Error
	if !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("error %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("a second connection was made: %v", err)
	default:
	}
}

func TestCancelOverTLS(t *testing.T) {
	fx := newTLSFixture(t)
	got := make(chan *pgwire.Startup, 1)
	f := startFake(t, "tcp", func(c *pgConn) error {
		tc, err := sslAnswer(c, 'S', fx.server)
		if err != nil {
			return err
		}
		s, err := tc.startup()
		got <- s
		return err
	})
	ep := f.ep
	ep.TLS = fx.client(t, "verify_full").Config("127.0.0.1")
	if err := backend.Cancel(context.Background(), ep, 7, []byte{1, 2, 3, 4}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.Kind != pgwire.KindCancel || s.CancelPID != 7 {
		t.Fatalf("cancel %+v", s)
	}
}

func TestDialSCRAMPassthroughKeys(t *testing.T) {
	// The server knows only a verifier; the pooler only the keys a
	// client's proof revealed.
	verifier := auth.NewVerifier("s3cret", []byte("0123456789abcdef"), 4096)
	clientKey := scramClientKey(t, verifier, "s3cret")
	for _, tc := range []struct {
		name string
		key  []byte
		ok   bool
	}{
		{"right key", clientKey, true},
		{"wrong key", bytes.Repeat([]byte{1}, 32), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, "tcp", scramScript("u", "s3cret", "SCRAM-SHA-256\x00\x00", nil))
			cred := backend.Credentials{User: "u", ClientKey: tc.key, ServerKey: verifier.ServerKey}
			conn, err := backend.Dial(context.Background(), opts(f, cred))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				conn.Close()
				if err := f.wait(t); err != nil {
					t.Fatal(err)
				}
				return
			}
			var pe *pgwire.Error
			if !errors.As(err, &pe) || pe.Code != "28P01" {
				t.Fatalf("error %v", err)
			}
			f.wait(t)
		})
	}
}

// scramClientKey runs a client exchange against v to recover the
// ClientKey the way the frontend does.
func scramClientKey(t *testing.T, v *auth.Verifier, password string) []byte {
	t.Helper()
	cs := auth.NewClientSession(password)
	ss := auth.NewServerSession(v, nil)
	first, err := ss.ClientFirst(auth.MechanismSCRAM, cs.ClientFirst())
	if err != nil {
		t.Fatal(err)
	}
	final, err := cs.ServerFirst(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.ClientFinal(final); err != nil {
		t.Fatal(err)
	}
	return ss.ClientKey()
}

// TestDialSCRAMChannelBinding: over TLS the pooler picks
// SCRAM-SHA-256-PLUS and binds to the certificate it was served, with a
// password or with passthrough keys.
func TestDialSCRAMChannelBinding(t *testing.T) {
	fx := newTLSFixture(t)
	binding, err := tlsconf.EndPointBinding(fx.server.Certificates[0].Leaf)
	if err != nil || binding == nil {
		t.Fatalf("binding %x, %v", binding, err)
	}
	verifier := auth.NewVerifier("s3cret", []byte("0123456789abcdef"), 4096)
	for _, tc := range []struct {
		name string
		cred backend.Credentials
	}{
		{"password", backend.Credentials{User: "u", Password: "s3cret"}},
		{"passthrough keys", backend.Credentials{User: "u", ClientKey: verifier.PasswordClientKey("s3cret"), ServerKey: verifier.ServerKey}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, "tcp", func(c *pgConn) error {
				tc, err := sslAnswer(c, 'S', fx.server)
				if err != nil {
					return err
				}
				if err := checkStartup(tc, "u", "appdb"); err != nil {
					return err
				}
				ss := auth.NewServerSession(verifier, binding)
				if err := tc.send(authReq(10, []byte("SCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00"))); err != nil {
					return err
				}
				body, err := tc.expect(pgwire.MsgPassword)
				if err != nil {
					return err
				}
				mech, rest, _ := bytes.Cut(body, []byte{0})
				if string(mech) != auth.MechanismSCRAMPlus || len(rest) < 4 {
					return fmt.Errorf("client chose %q", mech)
				}
				first, err := ss.ClientFirst(string(mech), rest[4:])
				if err != nil {
					return err
				}
				if err := tc.send(authReq(11, first)); err != nil {
					return err
				}
				if body, err = tc.expect(pgwire.MsgPassword); err != nil {
					return err
				}
				final, err := ss.ClientFinal(body)
				if err != nil {
					return fmt.Errorf("ClientFinal: %w", err)
				}
				return tc.send(authReq(12, final), authOK(), greeting(5))
			})
			o := opts(f, tc.cred)
			o.TLS = fx.client(t, "verify_full")
			conn, err := backend.Dial(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			conn.Close()
			if err := f.wait(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}
