// Package backend opens and logs in server connections to PostgreSQL, and
// sends cancel requests. What happens on a server connection after login
// (relaying, parameter tracking, reset) belongs to internal/relay.
//
// Ownership: Dial returns a *Conn that the caller owns and must Close.
package backend

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/odyssey-go/odyssey/internal/auth"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/tlsconf"
)

// Endpoint is where a PostgreSQL server listens.
type Endpoint struct {
	Network string // "tcp" or "unix"
	Address string // "host:port" or a socket path
	// TLS is set on Conn.Endpoint when the connection is encrypted, so
	// that Cancel reaches the server the same way.
	TLS *tls.Config
}

func (e Endpoint) String() string { return e.Address }

// Credentials are what we may use to answer PostgreSQL's authentication
// request. The first usable one wins.
type Credentials struct {
	User     string
	Password string // plain text; may be empty
	// MD5 is a stored "md5..." hash, usable for md5 authentication when no
	// plain password is known.
	MD5 string
	// ClientKey and ServerKey log in by SCRAM passthrough when no plain
	// password is known: the ClientKey recovered from a client's proof
	// and the ServerKey of the verifier it was checked against, which
	// must be PostgreSQL's own verifier for User.
	ClientKey, ServerKey []byte
}

// Options describe one server connection to open.
type Options struct {
	Endpoint    Endpoint
	Database    string
	Credentials Credentials
	// Extra startup parameters (rule's backend_startup_options).
	StartupParams []pgwire.Param
	// Timeout bounds dialing plus login (backend_connect_timeout_ms).
	Timeout time.Duration
	// KeepAlive configures TCP keepalive; zero leaves the OS default.
	KeepAlive net.KeepAliveConfig
	// TLS is the storage's tls setting; nil means plain text.
	TLS *tlsconf.Client
}

// Conn is a logged-in server connection, ready for queries.
type Conn struct {
	net.Conn
	Endpoint Endpoint
	PID      uint32
	Secret   []byte
	// Params are the ParameterStatus values reported at login, in order.
	Params []pgwire.Param
	// Notices are NoticeResponse frames PostgreSQL sent during login.
	Notices [][]byte
}

// Dial connects to PostgreSQL and logs in. A *pgwire.Error from the server
// (wrong password, unknown database...) is returned as is, so the caller can
// forward it; network errors are wrapped.
func Dial(ctx context.Context, opts Options) (*Conn, error) {
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	mode := opts.tlsMode()
	c, err := dial(ctx, opts, mode, mode != tlsconf.Disable && mode != tlsconf.Allow)
	if err != nil && mode == tlsconf.Allow && retryWithTLS(err) {
		c, err = dial(ctx, opts, mode, true)
	}
	return c, err
}

// dial connects once, over TLS when useTLS, and logs in.
func dial(ctx context.Context, opts Options, mode tlsconf.Mode, useTLS bool) (*Conn, error) {
	d := net.Dialer{KeepAliveConfig: opts.KeepAlive}
	nc, err := d.DialContext(ctx, opts.Endpoint.Network, opts.Endpoint.Address)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", opts.Endpoint, err)
	}
	c := &Conn{Conn: nc, Endpoint: opts.Endpoint}
	c.Endpoint.TLS = nil
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	if useTLS {
		conf := opts.TLS.Config(hostOf(opts.Endpoint.Address))
		conn, encrypted, terr := startTLS(ctx, nc, mode, conf)
		if terr != nil {
			err = fmt.Errorf("tls %s to %s: %w", mode, opts.Endpoint, terr)
		} else {
			c.Conn = conn
			if encrypted {
				c.Endpoint.TLS = conf
			}
		}
	}
	if err == nil {
		err = c.login(opts)
	}
	if !stop() {
		err = fmt.Errorf("login to %s: %w", opts.Endpoint, context.Cause(ctx))
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// login runs the startup exchange up to the first ReadyForQuery.
func (c *Conn) login(opts Options) error {
	params := make([]pgwire.Param, 0, 2+len(opts.StartupParams))
	params = append(params, pgwire.Param{Name: "user", Value: opts.Credentials.User})
	params = append(params, pgwire.Param{Name: "database", Value: opts.Database})
	params = append(params, opts.StartupParams...)
	if _, err := c.Write(pgwire.AppendStartup(nil, params)); err != nil {
		return fmt.Errorf("send startup to %s: %w", opts.Endpoint, err)
	}
	// Login is a few messages per connection: a bufio.Reader saves a syscall
	// per message. PostgreSQL sends nothing after ReadyForQuery until we
	// query, so nothing is left in it when login ends.
	r := bufio.NewReaderSize(c.Conn, 4096)
	var scram *auth.ClientSession
	for {
		typ, body, err := pgwire.ReadMessage(r, nil, pgwire.MaxAuthMessageLen)
		if err != nil {
			return fmt.Errorf("read login reply from %s: %w", opts.Endpoint, err)
		}
		switch typ {
		case pgwire.MsgAuthentication:
			scram, err = c.authenticate(body, opts.Credentials, scram)
			if err != nil {
				return err
			}
		case pgwire.MsgErrorResponse:
			return pgwire.ParseError(frame(typ, body))
		case pgwire.MsgParameterStatus:
			if name, value, ok := pgwire.ParseParameterStatus(frame(typ, body)); ok {
				c.setParam(name, value)
			}
		case pgwire.MsgBackendKeyData:
			if len(body) < 8 {
				return pgwire.ProtocolError("short BackendKeyData from server")
			}
			c.PID = binary.BigEndian.Uint32(body)
			c.Secret = append([]byte(nil), body[4:]...)
		case pgwire.MsgNoticeResponse:
			c.Notices = append(c.Notices, frame(typ, body))
		case pgwire.MsgNegotiateProtocol:
			// We ask for 3.0 with no options; nothing to negotiate.
		case pgwire.MsgReadyForQuery:
			if r.Buffered() != 0 {
				return pgwire.ProtocolError("server sent data after ReadyForQuery during login")
			}
			return nil
		default:
			return pgwire.ProtocolError("unexpected message %q from server during login", typ)
		}
	}
}

func frame(typ byte, body []byte) []byte {
	f := make([]byte, pgwire.HeaderLen, pgwire.HeaderLen+len(body))
	f[0] = typ
	binary.BigEndian.PutUint32(f[1:], uint32(len(body)+4))
	return append(f, body...)
}

func (c *Conn) setParam(name, value string) {
	for i := range c.Params {
		if c.Params[i].Name == name {
			c.Params[i].Value = value
			return
		}
	}
	c.Params = append(c.Params, pgwire.Param{Name: name, Value: value})
}

// Authentication request codes.
const (
	authOK           = 0
	authCleartext    = 3
	authMD5          = 5
	authSASL         = 10
	authSASLContinue = 11
	authSASLFinal    = 12
)

// ErrNoPassword is returned when PostgreSQL asks for a password we do not have.
var ErrNoPassword = errors.New("server requested a password but none is configured (set storage_password or password)")

// authenticate answers one Authentication message.
func (c *Conn) authenticate(body []byte, cred Credentials, scram *auth.ClientSession) (*auth.ClientSession, error) {
	if len(body) < 4 {
		return scram, pgwire.ProtocolError("short authentication message from server")
	}
	code := binary.BigEndian.Uint32(body)
	data := body[4:]
	switch code {
	case authOK:
		if scram != nil && !scram.Verified() {
			// A server that skips SASLFinal never proved it knows our
			// verifier: it may be an impostor.
			return scram, fmt.Errorf("server %s sent AuthenticationOk before proving its SCRAM signature", c.Endpoint)
		}
		return scram, nil
	case authCleartext:
		if cred.Password == "" {
			return scram, ErrNoPassword
		}
		return scram, c.sendPassword(cred.Password)
	case authMD5:
		if len(data) < 4 {
			return scram, pgwire.ProtocolError("short md5 salt from server")
		}
		hash := cred.MD5
		if cred.Password != "" {
			hash = auth.MD5Hash(cred.User, cred.Password)
		}
		if hash == "" {
			return scram, ErrNoPassword
		}
		return scram, c.sendPassword(auth.MD5Response(hash, [4]byte(data[:4])))
	case authSASL:
		if !hasMechanism(data, "SCRAM-SHA-256") {
			return scram, fmt.Errorf("server offers no SASL mechanism we support")
		}
		switch {
		case cred.Password != "":
			scram = auth.NewClientSession(cred.Password)
		case len(cred.ClientKey) > 0 && len(cred.ServerKey) > 0:
			scram = auth.NewClientSessionFromKeys(cred.ClientKey, cred.ServerKey)
		default:
			return scram, ErrNoPassword
		}
		if b := c.channelBinding(); b != nil && hasMechanism(data, auth.MechanismSCRAMPlus) {
			scram.UseChannelBinding(b)
		}
		return scram, c.sendSASLInitial(scram.Mechanism(), scram.ClientFirst())
	case authSASLContinue:
		if scram == nil {
			return scram, pgwire.ProtocolError("SASL continue without SASL start")
		}
		final, err := scram.ServerFirst(data)
		if err != nil {
			return scram, fmt.Errorf("SCRAM with server: %w", err)
		}
		return scram, c.sendSASL(final)
	case authSASLFinal:
		if scram == nil {
			return scram, pgwire.ProtocolError("SASL final without SASL start")
		}
		if err := scram.ServerFinal(data); err != nil {
			return scram, fmt.Errorf("SCRAM with server: %w", err)
		}
		return scram, nil
	default:
		return scram, fmt.Errorf("server requested unsupported authentication method %d", code)
	}
}

func hasMechanism(list []byte, name string) bool {
	for len(list) > 0 && list[0] != 0 {
		i := 0
		for i < len(list) && list[i] != 0 {
			i++
		}
		if string(list[:i]) == name {
			return true
		}
		if i == len(list) {
			break
		}
		list = list[i+1:]
	}
	return false
}

func (c *Conn) sendPassword(pw string) error {
	msg, start := pgwire.BeginMessage(nil, pgwire.MsgPassword)
	msg = append(msg, pw...)
	msg = append(msg, 0)
	_, err := c.Write(pgwire.FinishMessage(msg, start))
	return err
}

func (c *Conn) sendSASLInitial(mech string, data []byte) error {
	msg, start := pgwire.BeginMessage(nil, pgwire.MsgPassword)
	msg = append(msg, mech...)
	msg = append(msg, 0)
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(data)))
	msg = append(msg, data...)
	_, err := c.Write(pgwire.FinishMessage(msg, start))
	return err
}

func (c *Conn) sendSASL(data []byte) error {
	msg, start := pgwire.BeginMessage(nil, pgwire.MsgPassword)
	msg = append(msg, data...)
	_, err := c.Write(pgwire.FinishMessage(msg, start))
	return err
}

// Cancel asks PostgreSQL at ep to cancel the query running on the backend
// with this key, over a new connection, as libpq does. It waits until the
// server closes that connection (or timeout), so that the cancel has been
// delivered when Cancel returns.
func Cancel(ctx context.Context, ep Endpoint, pid uint32, secret []byte, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, ep.Network, ep.Address)
	if err != nil {
		return fmt.Errorf("connect to %s for cancel: %w", ep, err)
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	if ep.TLS != nil {
		// The server's connection was encrypted: so is its cancel, as
		// libpq does (a pg_hba with hostssl only would refuse it plain).
		conn, _, err := startTLS(ctx, nc, tlsconf.Require, ep.TLS)
		if err != nil {
			return fmt.Errorf("tls to %s for cancel: %w", ep, err)
		}
		nc = conn
	}
	if _, err := nc.Write(pgwire.AppendCancelRequest(nil, pid, secret)); err != nil {
		return fmt.Errorf("send cancel to %s: %w", ep, err)
	}
	var b [1]byte
	nc.Read(b[:]) // the server closes the connection once it has read the request
	return nil
}
