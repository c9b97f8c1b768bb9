package instance

import (
	"sync"
	"sync/atomic"

	"github.com/odyssey-go/odyssey/internal/console"
	"github.com/odyssey-go/odyssey/internal/frontend"
)

// DefaultVersion is the version reported until SetVersion is called.
const DefaultVersion = "dev"

// consoleState is the instance's part of the admin console: the console
// itself, the version it reports, and the shutdown request it can make.
type consoleState struct {
	once     sync.Once
	console  *console.Console
	shutdown chan struct{} // closed by RequestShutdown
	stopOnce sync.Once
	version  atomic.Pointer[string]
}

func (cs *consoleState) init(in *Instance) {
	cs.once.Do(func() {
		cs.console = console.New(in)
		cs.shutdown = make(chan struct{})
	})
}

// serveConsole is the frontend's Console: it serves an authenticated
// console client on the instance's console.
func (in *Instance) serveConsole(c frontend.ConsoleClient) error {
	in.con.init(in)
	return in.con.console.Serve(c.Conn, console.Client{ID: c.ID, DB: c.DB, User: c.User, Rule: c.Rule, Log: c.Log})
}

// SetVersion sets the version the console reports (server_version, SHOW
// VERSION). cmd/odyssey sets its build version.
func (in *Instance) SetVersion(v string) { in.con.version.Store(&v) }

// Version is the pooler's version string.
func (in *Instance) Version() string {
	if v := in.con.version.Load(); v != nil {
		return *v
	}
	return DefaultVersion
}

// RequestShutdown asks whoever runs the instance to shut it down
// gracefully (the console's SHUTDOWN). It does not shut down by itself:
// the owner (cmd/odyssey, a test) waits on ShutdownRequested and calls
// Shutdown, as it does on SIGTERM.
func (in *Instance) RequestShutdown() {
	in.con.init(in)
	in.con.stopOnce.Do(func() { close(in.con.shutdown) })
}

// ShutdownRequested is closed once RequestShutdown has been called.
func (in *Instance) ShutdownRequested() <-chan struct{} {
	in.con.init(in)
	return in.con.shutdown
}

// LoginClients counts connections still in their login phase, console
// sessions included.
func (in *Instance) LoginClients() int { return in.frontend.Logins() }
