// Package frontend runs one client connection's life: startup
// negotiation, cancel requests, routing, authentication, the greeting, then
// the relay's main loop, and cleanup.
//
// Ownership: Serve owns the connection it is given and closes it.
package frontend

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/logging"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/relay"
	"github.com/odyssey-go/odyssey/internal/router"
	"github.com/odyssey-go/odyssey/internal/stats"
	"github.com/odyssey-go/odyssey/internal/tlsconf"
)

// Frontend serves client connections against the current router.
type Frontend struct {
	// Router returns the router of the current config snapshot.
	Router func() *router.Router
	Log    *slog.Logger
	// Auth holds per-process authentication state (mock salts, derived
	// verifiers).
	Auth *Authenticator
	// OnClient, when set, is called with each client entering its main
	// phase and again (with active false) when it leaves; the instance uses
	// it to reach clients at shutdown.
	OnClient func(c *router.Client, active bool)
	// Sleeper, when set, holds long-idle clients without a goroutine.
	Sleeper *relay.Sleeper
	// Console serves clients of rules whose storage is local (the admin
	// console) once they are authenticated; nil refuses them (0A000).
	Console ConsoleFunc
	// TLS holds the listen blocks' certificates (see tls.go); the instance
	// shares it with the routers and reloads it. Nil: a private store is
	// made on first use.
	TLS *tlsconf.Store

	tlsOnce sync.Once
	ownTLS  *tlsconf.Store

	mu       sync.Mutex
	logins   map[*session]struct{} // connections still logging in
	stopping bool
}

// Shutdown ends every connection still in its login phase (with FATAL
// 57P01) and refuses logins from now on. Clients in their main phase are
// the instance's to drain.
func (f *Frontend) Shutdown() {
	f.mu.Lock()
	f.stopping = true
	for s := range f.logins {
		s.stopped.Store(true)
		s.raw.SetDeadline(time.Unix(1, 0))
		s.cancel() // a login waiting for a server
	}
	f.mu.Unlock()
}

// track adds or removes a session from the login set; false means the
// pooler is shutting down and the session must end.
func (f *Frontend) track(s *session, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !add {
		delete(f.logins, s)
		return true
	}
	if f.stopping {
		return false
	}
	if f.logins == nil {
		f.logins = make(map[*session]struct{})
	}
	f.logins[s] = struct{}{}
	return true
}

// session is one connection during login.
type session struct {
	f *Frontend
	// conn is what the client's protocol goes through: raw, or a TLS
	// connection over it after an SSLRequest. raw is the accepted socket,
	// for deadlines from other goroutines (Shutdown) and for closing.
	conn    net.Conn
	raw     net.Conn
	in      *bufio.Reader // reads conn during the login (see loginio.go)
	out     io.Writer     // writes conn
	tlsConn *tls.Conn     // nil without TLS
	// binding is the tls-server-end-point data of the certificate this
	// connection was served, for SCRAM-SHA-256-PLUS.
	binding []byte

	id     string
	log    *slog.Logger
	listen *config.Listen
	start  time.Time
	db     string // the database the client asked for
	// stopped is set by Shutdown before it wakes the login with a deadline.
	stopped atomic.Bool
	// cancel ends the login's context (Shutdown).
	cancel context.CancelFunc
}

// Serve runs the connection to its end and closes it.
func (f *Frontend) Serve(ctx context.Context, conn net.Conn, listen *config.Listen) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &session{f: f, raw: conn, id: router.NewID('c'), listen: listen, start: time.Now(), cancel: cancel}
	s.setConn(conn)
	s.log = f.Log.With("client", s.id, "addr", conn.RemoteAddr().String())
	if !f.track(s, true) {
		s.reportError(shutdownError)
		conn.Close()
		return
	}
	// The login runs on a goroutine of its own: TLS handshakes and
	// authentication grow a stack to several KB, and an idle client's
	// goroutine would keep that stack for its whole life. This goroutine
	// only waits, so the one that lives on stays small (measured: 10,000
	// idle clients took 41 MB of stacks before, see bench idle scenario).
	var mp *mainPhase
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		mp, err = s.run(ctx)
	}()
	<-done
	if mp != nil {
		mp.start() // mp.end closes the connection, now or after a sleep
		return
	}
	f.track(s, false)
	s.releaseLogin()
	if s.stopped.Load() {
		err = shutdownError
	}
	if err != nil {
		s.reportError(err)
	}
	conn.Close()
}

// shutdownError ends logins cut short by a shutdown.
var shutdownError = &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeAdminShutdown,
	Message: "terminating connection due to odyssey shutdown"}

// reportError sends a client-facing error (if it is one) and logs.
func (s *session) reportError(err error) {
	var pe *pgwire.Error
	if errors.As(err, &pe) {
		s.log.Info("client rejected", "sqlstate", pe.Code, "reason", pe.Message)
		s.sendError(pe)
		return
	}
	if errors.Is(err, pgwire.ErrStartupLength) {
		s.log.Info("client protocol error", "error", err)
		return // closed without a word, as PostgreSQL does
	}
	if errors.Is(err, pgwire.ErrProtocol) {
		s.log.Info("client protocol error", "error", err)
		s.sendError(pgwire.Fatal(pgwire.CodeProtocolViolation, err.Error()))
		return
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		s.log.Debug("client closed during login")
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s.log.Info("client login timed out")
		s.sendError(pgwire.Fatal(pgwire.CodeProtocolViolation, "client login timeout"))
		return
	}
	s.log.Info("client connection error", "error", err)
}

// sendError writes a FATAL error, prefixed with our client id.
func (s *session) sendError(pe *pgwire.Error) {
	e := *pe
	if e.Severity == "" {
		e.Severity = pgwire.SeverityFatal
	}
	if !e.FromServer {
		e.Message = "odyssey: " + s.id + ": " + e.Message
	}
	s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	s.out.Write(pgwire.AppendErrorResponse(nil, &e))
}

func (s *session) run(ctx context.Context) (*mainPhase, error) {
	timeout := time.Duration(s.listen.ClientLoginTimeout) * time.Millisecond
	if timeout > 0 {
		s.conn.SetDeadline(time.Now().Add(timeout))
	}
	st, err := s.startup()
	if err != nil || st == nil {
		return nil, err // nil st: a cancel request, already handled
	}
	return s.login(ctx, st)
}

// startup reads the first packets: SSL negotiation (see tls.go), GSSENC
// negotiation (refused), a cancel request, or the startup message.
func (s *session) startup() (*pgwire.Startup, error) {
	var sawSSL, sawGSS bool
	for {
		st, err := pgwire.ReadStartup(s.in)
		if err != nil {
			return nil, err
		}
		switch st.Kind {
		case pgwire.KindSSLRequest:
			if sawSSL {
				return nil, pgwire.ProtocolError("duplicate SSLRequest")
			}
			sawSSL = true
			if err := s.answerSSLRequest(); err != nil {
				return nil, err
			}
		case pgwire.KindGSSENCRequest:
			if sawGSS {
				return nil, pgwire.ProtocolError("duplicate GSSENCRequest")
			}
			sawGSS = true
			if _, err := s.out.Write([]byte{'N'}); err != nil {
				return nil, err
			}
		case pgwire.KindCancel:
			s.f.Router().Cancel(st.CancelPID, st.CancelSecret)
			return nil, nil
		default:
			if err := s.requireTLS(); err != nil {
				return nil, err
			}
			if st.Major != 3 {
				return nil, pgwire.Fatal(pgwire.CodeFeatureNotSupported, fmt.Sprintf(
					"unsupported frontend protocol %d.%d: server supports 3.0", st.Major, st.Minor))
			}
			if st.Minor > 0 || len(st.ProtocolOptions) > 0 {
				if err := s.negotiate(st); err != nil {
					return nil, err
				}
			}
			return st, nil
		}
	}
}

// negotiate answers a newer protocol minor or _pq_ options: we speak 3.0
// and know no options.
func (s *session) negotiate(st *pgwire.Startup) error {
	msg, start := pgwire.BeginMessage(nil, pgwire.MsgNegotiateProtocol)
	msg = appendUint32(msg, 3<<16) // newest minor we support: 3.0
	msg = appendUint32(msg, uint32(len(st.ProtocolOptions)))
	for _, o := range st.ProtocolOptions {
		msg = append(msg, o...)
		msg = append(msg, 0)
	}
	_, err := s.out.Write(pgwire.FinishMessage(msg, start))
	return err
}

func appendUint32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// connInfo describes the connection for rule matching.
func (s *session) connInfo() router.ConnInfo {
	ci := router.ConnInfo{TLS: s.tlsConn != nil}
	if ta, ok := s.raw.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			ci.Addr = a.Unmap()
		}
	}
	return ci
}

// login routes and authenticates the client, greets it, and runs the relay.
func (s *session) login(ctx context.Context, st *pgwire.Startup) (*mainPhase, error) {
	user, _ := st.Param("user")
	if user == "" {
		return nil, &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeInvalidAuthorization,
			Message: "no PostgreSQL user name specified in startup packet"}
	}
	db, _ := st.Param("database")
	if db == "" {
		db = user
	}
	if _, ok := st.Param("replication"); ok {
		return nil, pgwire.Fatal(pgwire.CodeFeatureNotSupported, "replication connections are not supported by this pooler yet")
	}
	s.db = db
	s.log = s.log.With("db", db, "user", user)
	rtr := s.f.Router()
	if err := s.checkHBA(rtr.Config(), db, user); err != nil {
		return nil, err
	}
	ci := s.connInfo()
	rule := rtr.Match(db, user, ci)
	if rule == nil {
		if like := rtr.DatabaseRule(db, ci); like != nil {
			// A user without a rule: fail exactly as a wrong password
			// would, so that user names cannot be probed.
			_, err := s.f.Auth.guard(ctx, s, func() (string, error) {
				return "", s.f.Auth.fake(s, like.Authentication, user)
			})
			return nil, err
		}
		rtr.CountError(stats.ErrRouteNotFound)
		return nil, pgwire.Fatal(pgwire.CodeInvalidCatalogName, fmt.Sprintf("route for '%s.%s' is not found", db, user))
	}
	if rule.LogDebug {
		s.log = logging.WithDebug(s.log)
	}
	if rule.Storage != nil && rule.Storage.Type == config.StorageLocal {
		return nil, s.serveConsole(ctx, rtr, rule, db, user) // see console.go
	}
	route, err := rtr.Attach(rule, db, user)
	if err != nil {
		return nil, err
	}
	mp, err := s.join(ctx, st, rtr, rule, route, user)
	if err != nil {
		rtr.Detach(route)
		return nil, err
	}
	return mp, nil
}

// join authenticates a routed client, greets it and registers it. On
// success the returned main phase owns the route attachment and the
// registration; on error the caller detaches.
func (s *session) join(ctx context.Context, st *pgwire.Startup, rtr *router.Router, rule *config.Rule, route *router.Route, user string) (*mainPhase, error) {
	password, err := s.f.Auth.authenticate(ctx, s, rule, route, user)
	if err != nil {
		return nil, err
	}
	if rule.PasswordPassthrough && password != "" {
		route.SetPassthroughPassword(password)
	}
	startup := clientStartup(st, rule, s.conn.RemoteAddr())
	if rule.Pool == config.PoolSession && rule.ReserveSessionServer {
		return s.joinReserved(ctx, rtr, rule, route, startup)
	}
	greeting, defaults, err := route.Greeting(ctx)
	if err != nil {
		return nil, err
	}
	params, err := route.NormalizeParams(ctx, startup.params)
	if err != nil {
		return nil, err
	}
	var p relay.Params
	for _, kv := range params {
		p.Set(kv.Name, kv.Value, defaults)
	}
	c := relay.NewClient(relay.ClientConfig{
		ID: s.id, Conn: s.conn, Pending: s.takeLeftover(), Log: s.log, Attacher: route,
		Policy: route.Policy(), Defaults: defaults, Params: p, Stats: route.Stats(),
		Sleeper: s.f.Sleeper, ServerStartup: startup.server, AppName: startup.appName, Schema: route.Schema(),
	})
	rc := rtr.Register(c, route)
	if err := s.greet(greeting, params, rc.Key); err != nil {
		rtr.Unregister(rc)
		return nil, err
	}
	return &mainPhase{s: s, rtr: rtr, route: route, rc: rc}, nil
}

// joinReserved is join for a session client that gets its server during
// login (reserve_session_server_connection): the server is opened with
// the client's startup parameters (or is an idle one opened with the
// same), so PostgreSQL itself checks them and reports the session's
// parameters; the client is greeted with exactly those, and with the
// server's real process id in its BackendKeyData. The wait for a server
// is bounded by pool_timeout and by client_login_timeout.
func (s *session) joinReserved(ctx context.Context, rtr *router.Router, rule *config.Rule, route *router.Route, startup startupSet) (*mainPhase, error) {
	var p relay.Params
	for _, kv := range startup.params {
		p.Set(kv.Name, kv.Value, nil)
	}
	c := relay.NewClient(relay.ClientConfig{
		ID: s.id, Conn: s.conn, Pending: s.takeLeftover(), Log: s.log, Attacher: route,
		Policy: route.Policy(), Params: p, Stats: route.Stats(), Sleeper: s.f.Sleeper,
		ServerStartup: startup.server, AppName: startup.appName, Schema: route.Schema(),
	})
	if timeout := time.Duration(s.listen.ClientLoginTimeout) * time.Millisecond; timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, s.start.Add(timeout))
		defer cancel()
	}
	srv, status, err := c.Reserve(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, pgwire.Fatal(pgwire.CodeTooManyConnections, fmt.Sprintf(
			"no server became free for %s.%s within client_login_timeout (pool_size %d)", route.DB, route.User, rule.PoolSize))
	}
	if err != nil {
		return nil, err
	}
	rc := rtr.RegisterPID(c, route, srv.PID())
	if err := s.greet(status, nil, rc.Key); err != nil {
		rtr.Unregister(rc)
		c.ReleaseReserved(srv)
		return nil, err
	}
	c.Adopt(srv)
	return &mainPhase{s: s, rtr: rtr, route: route, rc: rc}, nil
}

// mainPhase is a logged-in client: it owns the route attachment and the
// registration until run returns.
type mainPhase struct {
	announced bool // OnClient(active) was called
	s         *session
	rtr       *router.Router
	route     *router.Route
	rc        *router.Client
}

// start runs the client's main phase. It returns when the client has
// ended, or when it went to sleep (relay.Sleeper); then end runs later on
// the goroutine that wakes it. end owns the cleanup either way.
func (m *mainPhase) start() {
	s, rtr := m.s, m.rtr
	s.f.track(s, false)
	if s.stopped.Load() {
		m.rc.Abandon() // a server reserved at login goes back
		m.end(shutdownError)
		return
	}
	s.conn.SetDeadline(time.Time{})
	if s.f.OnClient != nil {
		s.f.OnClient(m.rc, true)
		m.announced = true
	}
	if s.f.logSession(rtr) {
		s.log.Info("client logged in", "login_ms", time.Since(s.start).Milliseconds())
	}
	m.rc.Serve(m.end)
}

// end cleans up after the client: logs, unregisters, detaches from the
// route and closes the connection.
func (m *mainPhase) end(err error) {
	s, rtr := m.s, m.rtr
	if err == shutdownError {
		s.reportError(err)
	} else if s.f.logSession(rtr) {
		if err != nil {
			s.log.Info("client disconnected", "reason", err.Error())
		} else {
			s.log.Info("client disconnected")
		}
	}
	if m.announced {
		s.f.OnClient(m.rc, false)
	}
	rtr.Unregister(m.rc)
	rtr.Detach(m.route)
	s.raw.Close()
}

func (f *Frontend) logSession(r *router.Router) bool { return r.Config().LogSession }

// greet sends AuthenticationOk, the session parameters, our key and
// ReadyForQuery in one write.
func (s *session) greet(greeting []pgwire.Param, params []pgwire.Param, key uint64) error {
	// A usual greeting (PostgreSQL's 14 parameters) is under 1 KB: one
	// allocation instead of a growing buffer's eight.
	b := pgwire.AppendAuthOK(make([]byte, 0, 1024))
	sent := make(map[string]bool, len(greeting))
	for _, g := range greeting {
		v := g.Value
		if name, ok := relay.CanonicalParam(g.Name); ok {
			if cv, ok := findParam(params, name); ok {
				v = cv
			}
		}
		sent[g.Name] = true
		b = pgwire.AppendParameterStatus(b, g.Name, v)
	}
	// Reported parameters the server did not list but the client set.
	for _, p := range params {
		if !sent[p.Name] && reported[p.Name] {
			b = pgwire.AppendParameterStatus(b, p.Name, p.Value)
		}
	}
	b = pgwire.AppendBackendKeyData(b, uint32(key>>32), uint32(key))
	b = pgwire.AppendReadyForQuery(b, pgwire.TxIdle)
	_, err := s.out.Write(b)
	return err
}

// reported are the parameters PostgreSQL reports with ParameterStatus.
var reported = map[string]bool{
	"application_name": true, "client_encoding": true, "DateStyle": true,
	"IntervalStyle": true, "TimeZone": true, "standard_conforming_strings": true,
	"search_path": true, "default_transaction_read_only": true,
}

func findParam(ps []pgwire.Param, name string) (string, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}
