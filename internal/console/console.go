// Package console is the admin console: the virtual database (a rule whose
// storage is `type "local"`) where operators run Odyssey's commands (SHOW
// STATS, SHOW POOLS, PAUSE, KILL_CLIENT...) with plain psql and get rows
// shaped like Odyssey's and PgBouncer's, so existing exporters work.
//
// Ownership: the frontend authenticates a console client and hands its
// connection to Console.Serve, which answers queries until the client
// leaves; the frontend closes the connection afterwards. The console
// reads the router and the config at each command and keeps no state of
// its own besides the set of console sessions.
package console

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/router"
)

// Instance is what the console needs from the running pooler; the
// instance implements it.
type Instance interface {
	// Router is the current router (routes, clients, pause, kill).
	Router() *router.Router
	// Reload re-reads the config file, as SIGHUP does.
	Reload() error
	// RequestShutdown asks the process to shut down gracefully, as
	// SIGTERM does; it returns at once.
	RequestShutdown()
	// Version is the pooler's version string.
	Version() string
	// LoginClients counts connections still logging in (console sessions
	// included).
	LoginClients() int
}

// Client is an authenticated console client.
type Client struct {
	ID       string // c + 12 hex digits, as in the logs
	DB, User string
	Rule     *config.Rule // the matched rule: its role decides what may run
	Log      *slog.Logger
}

// Console serves console clients of one pooler.
type Console struct {
	inst Instance

	mu       sync.Mutex
	sessions map[*session]struct{}
}

// New returns a console for inst.
func New(inst Instance) *Console {
	return &Console{inst: inst, sessions: make(map[*session]struct{})}
}

// Serve greets an authenticated client and answers its queries until it
// leaves (nil), is killed or breaks the protocol (a *pgwire.Error for the
// caller to send), or the connection fails. conn stays open: the caller
// closes it.
func (c *Console) Serve(conn net.Conn, cl Client) error {
	s := &session{con: c, conn: conn, client: cl, connected: time.Now()}
	c.mu.Lock()
	c.sessions[s] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.sessions, s)
		c.mu.Unlock()
	}()
	if _, err := conn.Write(greeting(c.inst.Version())); err != nil {
		return fmt.Errorf("console greeting: %w", err)
	}
	err := s.run()
	if r := s.killed.Load(); r != nil {
		return r // the read was woken on purpose
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil // gone without a Terminate
	}
	return err
}

// sessionList returns the console sessions, oldest first.
func (c *Console) sessionList() []*session {
	c.mu.Lock()
	out := make([]*session, 0, len(c.sessions))
	for s := range c.sessions {
		out = append(out, s)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b *session) int { return a.connected.Compare(b.connected) })
	return out
}

// kill ends the console session with this id, if there is one.
func (c *Console) kill(id string) bool {
	for _, s := range c.sessionList() {
		if s.client.ID == id {
			s.kill(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeAdminShutdown,
				Message: "terminating connection: killed by KILL_CLIENT from the odyssey console"})
			return true
		}
	}
	return false
}

// greeting is what a console client gets after authentication, as Odyssey
// sends it: no BackendKeyData (there is nothing to cancel), and fixed
// session parameters. client_encoding is "UTF8" (Odyssey says "UTF-8") and
// standard_conforming_strings is "on" because pgx refuses simple-protocol
// queries otherwise.
func greeting(version string) []byte {
	b := pgwire.AppendAuthOK(nil)
	for _, p := range [][2]string{
		{"server_version", version},
		{"server_encoding", "UTF8"},
		{"client_encoding", "UTF8"},
		{"DateStyle", "ISO"},
		{"TimeZone", "GMT"},
		{"standard_conforming_strings", "on"},
	} {
		b = pgwire.AppendParameterStatus(b, p[0], p[1])
	}
	return pgwire.AppendReadyForQuery(b, pgwire.TxIdle)
}
