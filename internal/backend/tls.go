package backend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/tlsconf"
)

// TLS to PostgreSQL, with libpq's sslmode meanings:
//
//   - disable: plain text.
//   - allow: plain text first; if PostgreSQL refuses the login, once more
//     over TLS (for a pg_hba that demands hostssl).
//   - prefer: TLS if the server offers it ('S' to SSLRequest), else plain.
//   - require, verify_ca, verify_full: TLS or no connection; what is
//     checked about the server is decided by tlsconf.
//
// Unix sockets never use TLS, as with libpq: PostgreSQL does not offer it
// there.

// noRetry lists the SQLSTATEs after which allow does not try TLS: the
// answer would be the same (Odyssey's list: starting up, too many
// connections, no such database, wrong password).
var noRetry = map[string]bool{
	"57P03": true,
	"53300": true,
	"3D000": true,
	"28P01": true,
}

// tlsMode is the mode for this endpoint.
func (o *Options) tlsMode() tlsconf.Mode {
	if o.TLS == nil || o.Endpoint.Network == "unix" {
		return tlsconf.Disable
	}
	return o.TLS.Mode
}

// retryWithTLS reports whether a plain-text login failure under allow is
// worth a second attempt over TLS.
func retryWithTLS(err error) bool {
	var pe *pgwire.Error
	return errors.As(err, &pe) && !noRetry[pe.Code]
}

// sslRequest is the 8-byte SSLRequest packet.
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// ErrTLSRefused means PostgreSQL answered 'N' to SSLRequest while the
// storage's tls mode demands TLS.
var ErrTLSRefused = errors.New("server does not support TLS, but the storage's tls mode requires it")

// startTLS asks nc's server for TLS and runs the handshake. It returns the
// connection to use from now on: a *tls.Conn, or nc itself when the
// server refuses and the mode lets the connection go on in plain text.
func startTLS(ctx context.Context, nc net.Conn, mode tlsconf.Mode, conf *tls.Config) (net.Conn, bool, error) {
	if _, err := nc.Write(sslRequest); err != nil {
		return nil, false, fmt.Errorf("send SSLRequest: %w", err)
	}
	// One byte, unbuffered: anything after it would be a man in the
	// middle injecting plain text before the handshake (CVE-2021-23222).
	var answer [1]byte
	if _, err := nc.Read(answer[:]); err != nil {
		return nil, false, fmt.Errorf("read SSLRequest answer: %w", err)
	}
	switch answer[0] {
	case 'S':
		tc := tls.Client(nc, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, false, fmt.Errorf("TLS handshake: %w", err)
		}
		return tc, true, nil
	case 'N':
		if mode == tlsconf.Prefer || mode == tlsconf.Allow {
			return nc, false, nil
		}
		return nil, false, ErrTLSRefused
	default:
		return nil, false, pgwire.ProtocolError("unexpected answer %q to SSLRequest", answer[0])
	}
}

// channelBinding returns the tls-server-end-point data of the server's
// certificate when the connection is encrypted, for SCRAM-SHA-256-PLUS:
// binding the login to the TLS connection defeats a man in the middle
// even where the certificate is not verified (tls "require").
func (c *Conn) channelBinding() []byte {
	tc, ok := c.Conn.(*tls.Conn)
	if !ok {
		return nil
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil
	}
	b, err := tlsconf.EndPointBinding(certs[0])
	if err != nil {
		return nil
	}
	return b
}

// hostOf returns the host part of a TCP address, for SNI and verify_full.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
