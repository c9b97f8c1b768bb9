package instance

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/metrics"
)

// metricsStopTimeout bounds how long scrapes in progress may hold up a
// shutdown or an endpoint restart.
const metricsStopTimeout = 5 * time.Second

// metricsState is the Prometheus endpoint (promhttp_server_port on
// promhttp_server_address). The registry and handler are built once and
// read the router at scrape time, so a reload that moves the endpoint
// loses no counts: the router, and with it every counter, outlives it.
type metricsState struct {
	mu      sync.Mutex
	ctx     context.Context
	handler http.Handler // nil until the endpoint is first bound
	srv     *metrics.Server
	host    string
	port    int
	started bool
	stopped bool
}

// startMetrics binds the endpoint when the config asks for one. Like a
// listen block, an endpoint that cannot be bound fails the start.
func (in *Instance) startMetrics(ctx context.Context) error {
	m := &in.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ctx, m.started = ctx, true
	return in.bindMetricsLocked(in.cfg.PromhttpServerAddress, in.cfg.PromhttpServerPort)
}

// bindMetricsLocked binds host:port, or nothing for port 0.
func (in *Instance) bindMetricsLocked(host string, port int) error {
	m := &in.metrics
	m.host, m.port = host, port
	if port == 0 {
		return nil
	}
	if m.handler == nil {
		reg := metrics.NewRegistry(metrics.Source{
			Router:  in.Router,
			Logins:  in.LoginClients,
			Version: in.Version(),
		})
		m.handler = metrics.Handler(reg, in.log)
	}
	srv, err := metrics.Listen(m.ctx, host, port, m.handler, in.log)
	if err != nil {
		return err
	}
	m.srv = srv
	in.log.Info("prometheus endpoint listening", "addr", srv.Addr().String())
	return nil
}

// reloadMetrics moves the endpoint when a reload changed its address or
// port (or turns it on or off). When the new address cannot be bound the
// old one is bound again, and the error is logged as reloads log theirs.
func (in *Instance) reloadMetrics(cfg *config.Config) {
	m := &in.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started || m.stopped || (cfg.PromhttpServerAddress == m.host && cfg.PromhttpServerPort == m.port) {
		return
	}
	oldHost, oldPort := m.host, m.port
	in.closeMetricsLocked()
	err := in.bindMetricsLocked(cfg.PromhttpServerAddress, cfg.PromhttpServerPort)
	if err == nil {
		if cfg.PromhttpServerPort == 0 {
			in.log.Info("reload: prometheus endpoint closed")
		}
		return
	}
	in.log.Error("reload: prometheus endpoint, keeping the old one", "error", err)
	if err := in.bindMetricsLocked(oldHost, oldPort); err != nil {
		in.log.Error("reload: prometheus endpoint lost", "error", err)
	}
}

// stopMetrics closes the endpoint for good (Shutdown).
func (in *Instance) stopMetrics() {
	m := &in.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopped = true
	in.closeMetricsLocked()
}

func (in *Instance) closeMetricsLocked() {
	m := &in.metrics
	if m.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), metricsStopTimeout)
	defer cancel()
	if err := m.srv.Close(ctx); err != nil {
		in.log.Warn("prometheus endpoint: close", "error", err)
	}
	m.srv = nil
}
