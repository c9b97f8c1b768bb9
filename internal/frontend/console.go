package frontend

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/router"
)

// ConsoleClient is an authenticated client of the admin console, handed to
// Frontend.Console. Conn stays the frontend's: it is closed after Console
// returns.
type ConsoleClient struct {
	ID       string
	Conn     net.Conn
	DB, User string
	Rule     *config.Rule
	Log      *slog.Logger
}

// ConsoleFunc serves a console client until it leaves. A *pgwire.Error it
// returns is sent to the client as a FATAL error.
type ConsoleFunc func(ConsoleClient) error

// serveConsole runs the login of a client whose rule's storage is local
// (the admin console): the route and its client limits, authentication by
// the rule's method, then Frontend.Console. The session stays in the
// login set for its whole life, so that Shutdown ends it like any
// connection that is not relaying.
func (s *session) serveConsole(ctx context.Context, rtr *router.Router, rule *config.Rule, db, user string) error {
	if s.f.Console == nil {
		return pgwire.Fatal(pgwire.CodeFeatureNotSupported, "the admin console is not available")
	}
	route, err := rtr.Attach(rule, db, user)
	if err != nil {
		return err
	}
	defer rtr.Detach(route)
	if _, err := s.f.Auth.authenticate(ctx, s, rule, route, user); err != nil {
		return err
	}
	// Clear the login timeout first, then look for a shutdown: one that
	// comes later moves the deadline to the past again.
	s.conn.SetDeadline(time.Time{})
	if s.stopped.Load() {
		return shutdownError
	}
	if s.f.logSession(rtr) {
		s.log.Info("console client logged in", "login_ms", time.Since(s.start).Milliseconds())
	}
	err = s.f.Console(ConsoleClient{ID: s.id, Conn: withLeftover(s.conn, s.takeLeftover()), DB: db, User: user, Rule: rule, Log: s.log})
	if s.f.logSession(rtr) {
		s.log.Info("console client disconnected")
	}
	return err
}

// Logins returns how many connections are in their login phase, console
// sessions included (SHOW LISTS).
func (f *Frontend) Logins() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.logins)
}
