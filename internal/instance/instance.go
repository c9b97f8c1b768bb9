// Package instance runs the pooler process: it builds the router from a
// config snapshot, binds the listeners, runs the periodic tasks, and shuts
// everything down in order.
package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/frontend"
	"github.com/odyssey-go/odyssey/internal/listener"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/relay"
	"github.com/odyssey-go/odyssey/internal/router"
	"github.com/odyssey-go/odyssey/internal/stats"
	"github.com/odyssey-go/odyssey/internal/tlsconf"
)

// Instance is one running pooler.
type Instance struct {
	log      *slog.Logger
	cfg      *config.Config
	router   atomic.Pointer[router.Router]
	frontend *frontend.Frontend
	// tls holds every certificate and key of the config, shared by the
	// frontend (listen) and the routers (storages); Reload re-reads them.
	tls *tlsconf.Store

	serveCtx context.Context // handed to connections; outlives a graceful shutdown
	tcp      listener.TCPOptions

	lmu     sync.Mutex     // guards listens (Start, Reload, Shutdown)
	listens []*boundListen // one per listen block
	conns   sync.WaitGroup // one per accepted connection
	live    sync.WaitGroup // one per client in its main phase (a sleeping client outlives its accept goroutine)

	// OnReload, when set, applies the parts of a new config the instance
	// does not own (the process logger). It runs after the new config is
	// in effect.
	OnReload func(*config.Config)

	metrics metricsState // the Prometheus endpoint (see metrics.go)

	con consoleState // the admin console (see console.go)

	sleeper    *relay.Sleeper // nil if unavailable
	releasedAt int            // clients asleep at the last releaseMemory (cron only)

	mu       sync.Mutex
	cfgMu    sync.Mutex // serializes reloads
	clients  map[*router.Client]struct{}
	stopping bool
}

// boundListen is one listen block and its sockets. Its config is swapped
// by a reload that keeps the block (same host and port), so new
// connections see the new client_login_timeout and TLS settings.
type boundListen struct {
	cfg       atomic.Pointer[config.Listen]
	listeners []*listener.Listener
}

// key identifies a listen block across reloads.
func listenKey(l *config.Listen) string { return fmt.Sprintf("%s:%d", l.Host, l.Port) }

// New prepares an instance for cfg; Start binds and serves.
func New(cfg *config.Config, log *slog.Logger) *Instance {
	in := &Instance{log: log, cfg: cfg, clients: make(map[*router.Client]struct{}), tls: tlsconf.NewStore()}
	rtr := router.New(cfg, log)
	rtr.SetTLS(in.tls)
	in.router.Store(rtr)
	sleeper, err := relay.NewSleeper(log)
	if err != nil {
		log.Warn("idle clients will keep their goroutines", "error", err)
	}
	in.sleeper = sleeper
	in.frontend = &frontend.Frontend{
		Sleeper:  sleeper,
		Router:   in.router.Load,
		Log:      log,
		Auth:     frontend.NewAuthenticator(),
		OnClient: in.trackClient,
		TLS:      in.tls,
	}
	in.frontend.Console = in.serveConsole
	return in
}

// Start binds every listen block and starts serving. On error nothing is
// left bound.
func (in *Instance) Start(ctx context.Context) error {
	if err := in.tls.Check(in.cfg); err != nil {
		return err
	}
	in.serveCtx = ctx
	in.tcp = tcpOptions(in.cfg)
	in.lmu.Lock()
	defer in.lmu.Unlock()
	for _, l := range in.cfg.Listen {
		b, err := in.bindListen(ctx, in.cfg, l)
		if err != nil {
			in.closeListenersLocked()
			return err
		}
		in.listens = append(in.listens, b)
	}
	if len(in.listens) == 0 {
		return errors.New("no listen address: set host in a listen block, or unix_socket_dir")
	}
	if err := in.startMetrics(ctx); err != nil {
		in.closeListenersLocked()
		return err
	}
	go in.cron(ctx)
	return nil
}

func tcpOptions(cfg *config.Config) listener.TCPOptions {
	tcp := listener.TCPOptions{
		NoDelay:     cfg.Nodelay,
		UserTimeout: time.Duration(cfg.KeepaliveUsrTimeout) * time.Millisecond,
	}
	if cfg.Keepalive > 0 {
		tcp.KeepAlive = net.KeepAliveConfig{
			Enable:   true,
			Idle:     time.Duration(cfg.Keepalive) * time.Second,
			Interval: time.Duration(cfg.KeepaliveKeepInterval) * time.Second,
			Count:    cfg.KeepaliveProbes,
		}
	}
	return tcp
}

// bindListen binds one listen block and starts accepting on it.
func (in *Instance) bindListen(ctx context.Context, cfg *config.Config, l *config.Listen) (*boundListen, error) {
	lns, err := in.bind(ctx, cfg, l)
	if err != nil {
		return nil, err
	}
	b := &boundListen{}
	b.cfg.Store(l)
	handler := func(conn net.Conn) { in.frontend.Serve(in.serveCtx, conn, b.cfg.Load()) }
	for _, ln := range lns {
		in.log.Info("listening", "addr", ln.Addr().String())
		b.listeners = append(b.listeners, listener.Serve(ln, handler, in.tcp, &in.conns, in.log))
	}
	return b, nil
}

// bind opens the sockets of one listen block: TCP when it has a host, the
// unix socket in unix_socket_dir when it has none (as Odyssey does).
func (in *Instance) bind(ctx context.Context, cfg *config.Config, l *config.Listen) ([]net.Listener, error) {
	if l.Host != "" {
		return listener.ListenTCP(ctx, l.Host, l.Port, l.Backlog)
	}
	if cfg.UnixSocketDir == "" {
		return nil, fmt.Errorf("%s:%d: listen block without host needs unix_socket_dir", l.Pos.File, l.Pos.Line)
	}
	ln, err := listener.ListenUnix(ctx, cfg.UnixSocketDir, l.Port, l.Backlog, cfg.UnixSocketMode)
	if err != nil {
		return nil, err
	}
	return []net.Listener{ln}, nil
}

// Addrs returns the bound addresses (for tests and the startup banner).
func (in *Instance) Addrs() []net.Addr {
	in.lmu.Lock()
	defer in.lmu.Unlock()
	var out []net.Addr
	for _, b := range in.listens {
		for _, l := range b.listeners {
			out = append(out, l.Addr())
		}
	}
	return out
}

// TLS returns the store holding the certificates and keys of the listen
// and storage blocks. Reload re-reads them; RELOAD and SIGHUP call it.
func (in *Instance) TLS() *tlsconf.Store { return in.tls }

// Router returns the current router.
func (in *Instance) Router() *router.Router { return in.router.Load() }

func (in *Instance) closeListeners() {
	in.lmu.Lock()
	defer in.lmu.Unlock()
	in.closeListenersLocked()
}

func (in *Instance) closeListenersLocked() {
	for _, b := range in.listens {
		for _, l := range b.listeners {
			l.Close()
		}
	}
	in.listens = nil
}

// trackClient keeps the set of clients in their main phase, so shutdown
// can reach them.
func (in *Instance) trackClient(c *router.Client, active bool) {
	in.mu.Lock()
	stopping := in.stopping
	if active {
		in.clients[c] = struct{}{}
		in.live.Add(1)
	} else {
		delete(in.clients, c)
		in.live.Done()
	}
	in.mu.Unlock()
	if active && stopping {
		c.Drain(shutdownError())
	}
}

func shutdownError() *pgwire.Error {
	return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeAdminShutdown,
		Message: "terminating connection due to odyssey shutdown"}
}

// cron runs the periodic tasks once a second: expiry of idle servers,
// min_pool_size, and every stats_interval the averages (and the stats log
// line with log_stats).
func (in *Instance) cron(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastStats time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rtr := in.router.Load()
			for _, rt := range rtr.Routes() {
				rt.Maintain(ctx, now)
			}
			rtr.DropUnused()
			in.hibernate(now)
			cfg := rtr.Config()
			interval := time.Duration(max(cfg.StatsInterval, 1)) * time.Second
			if now.Sub(lastStats) >= interval {
				lastStats = now
				in.tickStats(rtr, cfg.LogStats)
			}
		}
	}
}

// hibernateAfter is how long a client must be idle before it sleeps
// without a goroutine (relay.Sleeper).
const hibernateAfter = time.Second

// Sleeping is how many clients sleep without a goroutine.
func (in *Instance) Sleeping() int {
	if in.sleeper == nil {
		return 0
	}
	return in.sleeper.Asleep()
}

// hibernate puts clients idle for hibernateAfter to sleep.
func (in *Instance) hibernate(now time.Time) {
	if in.sleeper == nil {
		return
	}
	in.mu.Lock()
	clients := make([]*router.Client, 0, len(in.clients))
	for c := range in.clients {
		clients = append(clients, c)
	}
	in.mu.Unlock()
	for _, c := range clients {
		c.Hibernate(now, hibernateAfter)
	}
	in.releaseMemory()
}

// releaseBurst is how many more clients must sleep than at the last
// release before releaseMemory returns memory to the system.
const releaseBurst = 1000

// releaseMemory returns freed memory to the system once a burst of clients
// has gone to sleep. Their goroutine stacks and buffers are free then, but
// the runtime's scavenger gives them back slowly: after 10,000 logins the
// pooler held 82 MB of RSS for 22 MB of live heap; a forced release brings
// it to the live size. It costs one garbage collection (milliseconds for
// such heaps), at most once per burst.
func (in *Instance) releaseMemory() {
	asleep := in.sleeper.Asleep()
	if asleep < in.releasedAt {
		in.releasedAt = asleep
	}
	if asleep-in.releasedAt < releaseBurst {
		return
	}
	in.releasedAt = asleep
	debug.FreeOSMemory()
}

// tickStats closes a stats interval on every route and logs the averages
// in Odyssey's shape when asked to (log_stats), for the routes that had
// clients or traffic in the interval: an idle route's line says nothing.
func (in *Instance) tickStats(rtr *router.Router, logStats bool) {
	for _, rt := range rtr.Routes() {
		avg := rt.Stats().Tick()
		if !logStats || rt.Clients() == 0 && avg == (stats.Averages{}) {
			continue
		}
		ps := rt.PoolStats()
		in.log.Info("stats", "route", rt.Name(), "clients", rt.Clients(),
			"active_servers", ps.Total-ps.Idle, "idle_servers", ps.Idle,
			"xact_per_sec", int(avg.XactsPerSec), "xact_avg_us", int(avg.XactTimeUs),
			"query_per_sec", int(avg.QueriesPerSec), "query_avg_us", int(avg.QueryTimeUs),
			"in_bytes_per_sec", int(avg.BytesInPerSec), "out_bytes_per_sec", int(avg.BytesOutPerSec),
			"wait_avg_us", int(avg.WaitTimeUs))
	}
}

// Shutdown stops accepting, lets clients finish their transactions for up
// to graceful_shutdown_timeout_ms (0 = as long as it takes, bounded by
// ctx), then disconnects the rest and closes every server.
func (in *Instance) Shutdown(ctx context.Context) {
	in.log.Info("shutting down")
	in.closeListeners()
	in.frontend.Shutdown()
	in.mu.Lock()
	in.stopping = true
	clients := make([]*router.Client, 0, len(in.clients))
	for c := range in.clients {
		clients = append(clients, c)
	}
	in.mu.Unlock()
	for _, c := range clients {
		c.Drain(shutdownError())
	}
	if ms := in.Config().GracefulShutdownTimeoutMs; ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	if !in.waitConns(ctx) {
		in.log.Warn("graceful shutdown timed out, disconnecting the remaining clients")
		in.mu.Lock()
		for c := range in.clients {
			c.Kill(shutdownError())
		}
		in.mu.Unlock()
		wait, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		in.waitConns(wait)
		cancel()
	}
	in.router.Load().Close()
	if in.sleeper != nil {
		in.sleeper.Close()
	}
	in.stopMetrics()
	in.log.Info("shutdown complete")
}

// waitConns waits for every connection handler to return, or ctx.
func (in *Instance) waitConns(ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		in.conns.Wait()
		in.live.Wait() // clients that slept outlive their accept goroutine
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
