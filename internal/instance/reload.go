package instance

import (
	"errors"
	"fmt"

	"github.com/odyssey-go/odyssey/internal/config"
)

// Config returns the config in effect.
func (in *Instance) Config() *config.Config { return in.router.Load().Config() }

// Reload re-reads the config file (SIGHUP, console RELOAD). An invalid
// config changes nothing: every problem is logged and returned. A valid
// one takes effect in this order: TLS material is checked, routes move to
// the new rules (see router.Reload), listen blocks that appeared are bound
// and those that went are closed, the Prometheus endpoint moves if its
// address or port changed, certificates are re-read, and the process
// logger is updated.
func (in *Instance) Reload() error {
	in.cfgMu.Lock()
	defer in.cfgMu.Unlock()
	path := in.Config().Path
	cfg, err := config.Load(path)
	if err != nil {
		var le *config.LoadError
		if errors.As(err, &le) {
			for _, d := range le.Diags {
				in.log.Error("reload: config problem, keeping the running config", "problem", d.String())
			}
		} else {
			in.log.Error("reload failed, keeping the running config", "error", err)
		}
		return err
	}
	if err := in.tls.Check(cfg); err != nil {
		in.log.Error("reload: TLS files unusable, keeping the running config", "error", err)
		return err
	}
	for _, w := range cfg.Warnings {
		in.log.Warn("reload: "+w.Message, "at", w.Pos.String())
	}
	res := in.router.Load().Reload(cfg)
	if err := in.reloadListens(cfg); err != nil {
		in.log.Error("reload: listen", "error", err)
	}
	in.reloadMetrics(cfg)
	if err := in.tls.Reload(); err != nil {
		in.log.Error("reload: TLS", "error", err)
	}
	if in.OnReload != nil {
		in.OnReload(cfg)
	}
	in.log.Info("config reloaded", "path", path, "routes_kept", res.Kept, "routes_retired", res.Obsolete)
	return nil
}

// reloadListens binds listen blocks the new config added, closes those it
// removed, and gives kept blocks their new settings. Odyssey binds only at
// start; a reload here can open and close ports.
func (in *Instance) reloadListens(cfg *config.Config) error {
	in.mu.Lock()
	stopping := in.stopping
	in.mu.Unlock()
	in.lmu.Lock()
	defer in.lmu.Unlock()
	if stopping || in.serveCtx == nil {
		return nil // shutting down, or not started
	}
	old := make(map[string]*boundListen, len(in.listens))
	for _, b := range in.listens {
		old[listenKey(b.cfg.Load())] = b
	}
	var next []*boundListen
	var errs []error
	for _, l := range cfg.Listen {
		if b, ok := old[listenKey(l)]; ok {
			b.cfg.Store(l)
			next = append(next, b)
			delete(old, listenKey(l))
			continue
		}
		b, err := in.bindListen(in.serveCtx, cfg, l)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", listenKey(l), err))
			continue
		}
		next = append(next, b)
	}
	for key, b := range old {
		in.log.Info("reload: closing listen block", "listen", key)
		for _, l := range b.listeners {
			l.Close()
		}
	}
	in.listens = next
	return errors.Join(errs...)
}
