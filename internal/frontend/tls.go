package frontend

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/tlsconf"
)

// TLS to clients. A listen block's `tls` decides what an SSLRequest gets:
// disable answers 'N'; allow and prefer answer 'S' and run the handshake;
// require and the verify modes do too, and refuse a client that goes on
// in plain text (cancel requests excepted, as in Odyssey). The verify
// modes make the handshake demand a client certificate signed by
// tls_ca_file (tlsconf). Once encrypted, s.conn is the *tls.Conn and the
// relay reads and writes through it; the raw socket stays in s.raw for
// deadlines and closing.

// tlsStore returns the store for listen TLS: the instance's, or one of
// our own made on first use.
func (f *Frontend) tlsStore() *tlsconf.Store {
	if f.TLS != nil {
		return f.TLS
	}
	f.tlsOnce.Do(func() { f.ownTLS = tlsconf.NewStore() })
	return f.ownTLS
}

// answerSSLRequest answers an SSLRequest and, if TLS is on for the
// listen block, runs the handshake and switches s.conn to TLS.
func (s *session) answerSSLRequest() error {
	srv, err := s.f.tlsStore().Server(s.listen.TLS)
	if err != nil {
		// tlsconf.Store.Check runs at start and reload, so this means the
		// files went bad in between; say no rather than fail every client.
		s.log.Error("listen tls is unusable, answering SSLRequest with N", "error", err)
	}
	if srv == nil {
		_, err := s.out.Write([]byte{'N'})
		return err
	}
	// A plain-text byte sent after the SSLRequest must not be taken for
	// part of the encrypted stream (CVE-2021-23214); as PostgreSQL, refuse.
	if s.in.Buffered() > 0 {
		return pgwire.ProtocolError("received unencrypted data after SSL request")
	}
	if _, err := s.out.Write([]byte{'S'}); err != nil {
		return err
	}
	m := srv.Current()
	tc := tls.Server(s.raw, m.Config)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	s.setConn(tc)
	s.tlsConn = tc
	s.binding = m.Binding
	s.log = s.log.With("tls", tls.VersionName(tc.ConnectionState().Version))
	return nil
}

// requireTLS refuses a plain-text startup when the listen block demands
// TLS. Unix-socket clients are exempt: libpq never asks for TLS there
// (PostgreSQL does not offer it), and the socket does not leave the host.
func (s *session) requireTLS() error {
	mode, _ := tlsconf.ParseMode(s.listen.TLS.Mode)
	if s.tlsConn != nil || mode < tlsconf.Require {
		return nil
	}
	if _, unix := s.raw.(*net.UnixConn); unix {
		return nil
	}
	return pgwire.Fatal(pgwire.CodeProtocolViolation, "SSL is required")
}

// checkCert is the `cert` method: a verified client certificate whose
// common name is the user's name or one of the rule's auth_common_name
// (`default` standing for the user name; no auth_common_name at all means
// default, as PostgreSQL's cert method).
func (a *Authenticator) checkCert(s *session, rule *config.Rule, user string) error {
	cn, err := s.clientCN()
	if err != nil {
		return err
	}
	names := rule.AuthCommonName
	if len(names) == 0 {
		names = []string{"default"}
	}
	for _, n := range names {
		if n == "default" {
			n = user
		}
		if cn == n {
			return nil
		}
	}
	s.log.Info("client certificate common name does not match", "cn", cn)
	return certFailed(user)
}

// clientCN returns the common name of the client's verified certificate.
func (s *session) clientCN() (string, error) {
	if s.tlsConn == nil {
		return "", pgwire.Fatal(pgwire.CodeInvalidAuthorization, "TLS connection required")
	}
	cs := s.tlsConn.ConnectionState()
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", pgwire.Fatal(pgwire.CodeInvalidAuthorization, "connection requires a valid client certificate")
	}
	return cs.VerifiedChains[0][0].Subject.CommonName, nil
}

// certFailed is PostgreSQL's message for a certificate that does not
// match, also used for users without a rule so as not to tell them apart.
func certFailed(user string) error {
	return pgwire.Fatal(pgwire.CodeInvalidAuthorization, fmt.Sprintf("certificate authentication failed for user %q", user))
}
