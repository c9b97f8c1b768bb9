package tlsconf

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/testcert"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
		err  bool
	}{
		{"", Disable, false},
		{"disable", Disable, false},
		{"allow", Allow, false},
		{"prefer", Prefer, false},
		{"require", Require, false},
		{"verify_ca", VerifyCA, false},
		{"VERIFY_FULL", VerifyFull, false},
		{"verify-full", Disable, true},
	} {
		got, err := ParseMode(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseProtocols(t *testing.T) {
	for _, tc := range []struct {
		in       string
		min, max uint16
		err      string
	}{
		{"", tls.VersionTLS12, tls.VersionTLS13, ""},
		{"tlsv1.2", tls.VersionTLS12, tls.VersionTLS12, ""},
		{"tlsv1.3", tls.VersionTLS13, tls.VersionTLS13, ""},
		{"tlsv1.2,tlsv1.3", tls.VersionTLS12, tls.VersionTLS13, ""},
		{"TLSv1_2:TLSv1_3", tls.VersionTLS12, tls.VersionTLS13, ""},
		{"all", tls.VersionTLS10, tls.VersionTLS13, ""},
		{"all,!tlsv1.0,!tlsv1.1", tls.VersionTLS12, tls.VersionTLS13, ""},
		{"secure", tls.VersionTLS12, tls.VersionTLS13, ""},
		{"tlsv1 tlsv1.1", tls.VersionTLS10, tls.VersionTLS11, ""},
		{"tlsv1.0,tlsv1.3", 0, 0, "gap"},
		{"sslv3", 0, 0, "unknown TLS protocol"},
		{"!tlsv1.2", 0, 0, "enables no protocol"},
	} {
		minV, maxV, err := ParseProtocols(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseProtocols(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || minV != tc.min || maxV != tc.max {
			t.Errorf("ParseProtocols(%q) = %x, %x, %v; want %x, %x", tc.in, minV, maxV, err, tc.min, tc.max)
		}
	}
}

func TestEndPointBinding(t *testing.T) {
	ca, err := testcert.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alg  x509.SignatureAlgorithm
		hash func([]byte) []byte
	}{
		{x509.ECDSAWithSHA256, func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }},
		{x509.ECDSAWithSHA384, func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }},
		{x509.ECDSAWithSHA512, func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }},
	} {
		p, err := ca.Issue(testcert.Options{CommonName: "srv", SignatureAlgorithm: tc.alg})
		if err != nil {
			t.Fatal(err)
		}
		got, err := EndPointBinding(p.Cert)
		if err != nil {
			t.Fatal(err)
		}
		if want := tc.hash(p.Cert.Raw); !bytes.Equal(got, want) {
			t.Errorf("%v: binding %x, want %x", tc.alg, got, want)
		}
	}
}

// pki writes a CA, a server pair and a client pair into a temp dir.
type pki struct {
	ca                 *testcert.CA
	caFile             string
	certFile, keyFile  string
	clientCert, cliKey string
	dir                string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := testcert.NewCA("test ca")
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.Write(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("server one")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := srv.Write(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Client("alice")
	if err != nil {
		t.Fatal(err)
	}
	clientCert, cliKey, err := cli.Write(dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	return &pki{ca: ca, caFile: caFile, certFile: certFile, keyFile: keyFile, clientCert: clientCert, cliKey: cliKey, dir: dir}
}

func TestStoreServerErrors(t *testing.T) {
	p := newPKI(t)
	st := NewStore()
	for _, tc := range []struct {
		name string
		o    config.TLSOptions
		err  string
	}{
		{"no cert", config.TLSOptions{Mode: "require"}, "tls_cert_file and tls_key_file"},
		{"missing file", config.TLSOptions{Mode: "require", CertFile: p.dir + "/nope.crt", KeyFile: p.keyFile}, "no such file"},
		{"key mismatch", config.TLSOptions{Mode: "require", CertFile: p.clientCert, KeyFile: p.keyFile}, "private key does not match"},
		{"verify without ca", config.TLSOptions{Mode: "verify_ca", CertFile: p.certFile, KeyFile: p.keyFile}, "needs tls_ca_file"},
		{"bad ca", config.TLSOptions{Mode: "verify_ca", CertFile: p.certFile, KeyFile: p.keyFile, CAFile: p.keyFile}, "no PEM certificate"},
		{"bad protocols", config.TLSOptions{Mode: "require", CertFile: p.certFile, KeyFile: p.keyFile, Protocols: "ssl3"}, "unknown TLS protocol"},
	} {
		_, err := st.Server(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
	if s, err := st.Server(config.TLSOptions{Mode: "disable", CertFile: "x"}); s != nil || err != nil {
		t.Errorf("disable: %v, %v", s, err)
	}
}

// handshake runs a TLS handshake between a server config and a client
// config over loopback TCP (buffered, so that an alert written by the side
// that fails never waits for the other) and returns the server's view of
// the connection, the client's error and the server's error.
func handshake(t *testing.T, server, client *tls.Config) (st tls.ConnectionState, cerr, serr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a, err := ln.Accept()
		if err != nil {
			serr = err
			return
		}
		defer a.Close()
		a.SetDeadline(deadline)
		sc := tls.Server(a, server)
		serr = sc.Handshake()
		st = sc.ConnectionState()
		if serr == nil {
			// TLS 1.3 servers check client certificates after the
			// client's handshake ends: make the client read our verdict.
			sc.Write([]byte{1})
		}
	}()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetDeadline(deadline)
	cc := tls.Client(b, client)
	cerr = cc.Handshake()
	if cerr == nil {
		var one [1]byte
		_, cerr = io.ReadFull(cc, one[:])
	}
	<-done
	return st, cerr, serr
}

func TestServerClientAuth(t *testing.T) {
	p := newPKI(t)
	other, err := testcert.NewCA("other ca")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.Client("alice")
	if err != nil {
		t.Fatal(err)
	}
	good, err := tls.LoadX509KeyPair(p.clientCert, p.cliKey)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := stranger.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	st := NewStore()
	for _, tc := range []struct {
		name     string
		mode     string
		ca       bool
		cert     *tls.Certificate
		ok       bool
		verified bool
	}{
		{"require, no cert", "require", false, nil, true, false},
		{"require with ca, no cert", "require", true, nil, true, false},
		{"require with ca, good cert", "require", true, &good, true, true},
		{"require with ca, foreign cert is not sent", "require", true, &bad, true, false},
		{"verify_ca, no cert", "verify_ca", true, nil, false, false},
		{"verify_ca, good cert", "verify_ca", true, &good, true, true},
		{"verify_full, foreign cert", "verify_full", true, &bad, false, false},
		{"verify_full, good cert", "verify_full", true, &good, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := config.TLSOptions{Mode: tc.mode, CertFile: p.certFile, KeyFile: p.keyFile}
			if tc.ca {
				o.CAFile = p.caFile
			}
			srv, err := st.Server(o)
			if err != nil {
				t.Fatal(err)
			}
			cc := &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost"}
			if tc.cert != nil {
				cc.Certificates = []tls.Certificate{*tc.cert}
			}
			cs, cerr, serr := handshake(t, srv.Current().Config, cc)
			if tc.ok != (cerr == nil && serr == nil) {
				t.Fatalf("client error %v, server error %v; want success %v", cerr, serr, tc.ok)
			}
			if tc.ok && (len(cs.VerifiedChains) > 0) != tc.verified {
				t.Errorf("verified chains %d, want verified %v", len(cs.VerifiedChains), tc.verified)
			}
		})
	}
}

func TestClientModes(t *testing.T) {
	p := newPKI(t)
	srvCert, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcert.NewCA("other ca")
	if err != nil {
		t.Fatal(err)
	}
	otherFile, err := other.Write(p.dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	server := &tls.Config{Certificates: []tls.Certificate{srvCert}}
	st := NewStore()
	for _, tc := range []struct {
		name string
		mode string
		ca   string
		host string
		ok   bool
	}{
		{"prefer ignores the certificate", "prefer", "", "db.example", true},
		{"require without ca ignores the certificate", "require", "", "db.example", true},
		{"require with the right ca", "require", p.caFile, "db.example", true},
		{"require with another ca", "require", otherFile, "localhost", false},
		{"verify_ca ignores the name", "verify_ca", p.caFile, "db.example", true},
		{"verify_ca with another ca", "verify_ca", otherFile, "localhost", false},
		{"verify_full right name", "verify_full", p.caFile, "localhost", true},
		{"verify_full ip", "verify_full", p.caFile, "127.0.0.1", true},
		{"verify_full wrong name", "verify_full", p.caFile, "db.example", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := st.Client(config.TLSOptions{Mode: tc.mode, CAFile: tc.ca})
			if err != nil {
				t.Fatal(err)
			}
			_, cerr, serr := handshake(t, server, c.Config(tc.host))
			if tc.ok && (cerr != nil || serr != nil) {
				t.Fatalf("client error %v, server error %v", cerr, serr)
			}
			if !tc.ok && cerr == nil {
				t.Fatal("handshake succeeded, want a verification error")
			}
		})
	}
}

func TestClientCertificate(t *testing.T) {
	p := newPKI(t)
	srvCert, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	server := &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: p.ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	st := NewStore()
	c, err := st.Client(config.TLSOptions{Mode: "verify_full", CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.cliKey})
	if err != nil {
		t.Fatal(err)
	}
	cs, cerr, serr := handshake(t, server, c.Config("localhost"))
	if cerr != nil || serr != nil {
		t.Fatalf("client error %v, server error %v", cerr, serr)
	}
	if cn := cs.PeerCertificates[0].Subject.CommonName; cn != "alice" {
		t.Errorf("server saw client CN %q", cn)
	}
	if _, err := st.Client(config.TLSOptions{Mode: "require", CertFile: p.clientCert}); err == nil {
		t.Error("a certificate without a key was accepted")
	}
}

func TestReload(t *testing.T) {
	p := newPKI(t)
	st := NewStore()
	srv, err := st.Server(config.TLSOptions{Mode: "require", CertFile: p.certFile, KeyFile: p.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	before := srv.Current()
	client := &tls.Config{RootCAs: p.ca.Pool(), ServerName: "localhost"}
	if _, cerr, serr := handshake(t, before.Config, client); cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}

	// A new certificate from a new CA in the same files.
	ca2, err := testcert.NewCA("second ca")
	if err != nil {
		t.Fatal(err)
	}
	next, err := ca2.Server("server two")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := next.Write(p.dir, "server"); err != nil {
		t.Fatal(err)
	}
	if err := st.Reload(); err != nil {
		t.Fatal(err)
	}
	after := srv.Current()
	if after == before || bytes.Equal(after.Binding, before.Binding) {
		t.Fatal("reload did not replace the material")
	}
	if _, cerr, _ := handshake(t, after.Config, client); cerr == nil {
		t.Error("old CA still accepted after reload")
	}
	client2 := &tls.Config{RootCAs: ca2.Pool(), ServerName: "localhost"}
	if _, cerr, serr := handshake(t, after.Config, client2); cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}
	// Connections set up with the old material keep working with it.
	if _, cerr, serr := handshake(t, before.Config, client); cerr != nil || serr != nil {
		t.Fatal(cerr, serr)
	}

	// A broken file keeps the current material and reports the error.
	if err := os.WriteFile(p.keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := st.Reload(); err == nil || !strings.Contains(err.Error(), "reload listen tls") {
		t.Fatalf("reload with a broken key: %v", err)
	}
	if srv.Current() != after {
		t.Error("a failed reload replaced the material")
	}
}

func TestCheck(t *testing.T) {
	p := newPKI(t)
	cfg := &config.Config{
		Listen: []*config.Listen{
			{Pos: config.Position{File: "a.conf", Line: 3}, TLS: config.TLSOptions{Mode: "require", CertFile: p.certFile, KeyFile: p.keyFile}},
			{Pos: config.Position{File: "a.conf", Line: 9}, TLS: config.TLSOptions{Mode: "require"}},
		},
		Storages: []*config.Storage{
			{Pos: config.Position{File: "a.conf", Line: 12}, Name: "pg", TLS: config.TLSOptions{Mode: "verify_full", CAFile: p.dir + "/missing.crt"}},
			{Name: "console", Type: config.StorageLocal, TLS: config.TLSOptions{Mode: "verify_full", CAFile: "x"}},
		},
	}
	err := NewStore().Check(cfg)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"a.conf:9: listen tls", `a.conf:12: storage "pg" tls`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "a.conf:3") || strings.Contains(err.Error(), "console") {
		t.Errorf("error %q blames a good block", err)
	}
}

func TestCheckForgetsOldSettings(t *testing.T) {
	p := newPKI(t)
	st := NewStore()
	old := config.TLSOptions{Mode: "require", CertFile: p.certFile, KeyFile: p.keyFile}
	cfg := &config.Config{Listen: []*config.Listen{{TLS: old}}}
	if err := st.Check(cfg); err != nil {
		t.Fatal(err)
	}
	// A new config names other files; the old ones disappear.
	other, err := p.ca.Server("other")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := other.Write(p.dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	next := &config.Config{Listen: []*config.Listen{{TLS: config.TLSOptions{Mode: "require", CertFile: certFile, KeyFile: keyFile}}}}
	// A failing check changes nothing.
	bad := &config.Config{Listen: []*config.Listen{{TLS: config.TLSOptions{Mode: "require", CertFile: "/nonexistent", KeyFile: keyFile}}}}
	if err := st.Check(bad); err == nil {
		t.Fatal("bad config passed")
	}
	if err := st.Check(next); err != nil {
		t.Fatal(err)
	}
	os.Remove(p.certFile)
	if err := st.Reload(); err != nil {
		t.Fatalf("reload still reads the old config's files: %v", err)
	}
}
