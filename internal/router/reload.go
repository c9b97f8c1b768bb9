package router

import (
	"slices"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// ReloadResult says what a reload did to the routes.
type ReloadResult struct {
	Kept     int // routes moved to the new rules (sizes and timeouts updated)
	Obsolete int // routes whose rule changed or went: serving their clients until they leave
}

// Reload routes new clients by cfg from now on. A route whose rule is
// still there with the same backend and pool mode moves to the new rule at
// once: its pool size, timeouts and policy change for every client. Other
// routes become obsolete: their clients keep the old rule until they leave,
// their idle servers are closed now, and the route closes with its last
// client. Readers see the old config or the new one, never a mix.
func (r *Router) Reload(cfg *config.Config) ReloadResult {
	snap := newSnapshot(cfg)
	var res ReloadResult
	var retire []*Route
	r.mu.Lock()
	old := r.routes
	r.routes = make(map[routeKey]*Route, len(old))
	for key, rt := range old {
		nr := sameRule(cfg, key.rule)
		if nr != nil && compatible(key.rule, nr) {
			rt.update(cfg, nr)
			key.rule = nr
			r.routes[key] = rt
			res.Kept++
			continue
		}
		res.Obsolete++
		retire = append(retire, rt)
		if rt.clients > 0 {
			r.obsolete[rt] = struct{}{}
		} else {
			r.retireStatsLocked(rt)
		}
	}
	r.snap.Store(snap)
	r.mu.Unlock()
	for _, rt := range retire {
		rt.retire()
	}
	return res
}

// sameRule finds in cfg the rule with the same selector as rule (database,
// user, address, connection type, internal or not).
func sameRule(cfg *config.Config, rule *config.Rule) *config.Rule {
	for _, nr := range cfg.Rules {
		if nr.DB == rule.DB && nr.DBDefault == rule.DBDefault &&
			nr.User == rule.User && nr.UserDefault == rule.UserDefault &&
			nr.ConnType == rule.ConnType && nr.Internal == rule.Internal &&
			samePrefix(nr, rule) {
			return nr
		}
	}
	return nil
}

func samePrefix(a, b *config.Rule) bool {
	if a.Address == nil || b.Address == nil {
		return a.Address == b.Address
	}
	return *a.Address == *b.Address
}

// compatible reports whether a route's servers and clients can carry on
// under the new rule: the same PostgreSQL, the same login, the same pool
// mode. Sizes, timeouts, reset and logging settings may differ.
func compatible(a, b *config.Rule) bool {
	return a.Pool == b.Pool &&
		a.StorageDB == b.StorageDB && a.StorageUser == b.StorageUser &&
		a.StoragePassword == b.StoragePassword && a.PasswordPassthrough == b.PasswordPassthrough &&
		a.Password == b.Password && a.Authentication == b.Authentication &&
		slices.Equal(a.BackendStartupOptions, b.BackendStartupOptions) &&
		sameStorage(a.Storage, b.Storage)
}

func sameStorage(a, b *config.Storage) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name && a.Type == b.Type && a.Port == b.Port &&
		slices.Equal(a.Hosts, b.Hosts) && a.TLS == b.TLS
}

// Pause makes new transactions wait until Resume (transaction and statement
// pools), and drops session clients once they are idle outside a
// transaction. The console is not affected.
func (r *Router) Pause() {
	gate := make(chan struct{})
	r.pause.CompareAndSwap(nil, &gate)
	for _, c := range r.Clients() {
		if c.Route.Rule().Pool == config.PoolSession {
			c.Drain(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeAdminShutdown,
				Message: "terminating connection: odyssey is paused by an administrator"})
		}
	}
}

// Resume ends a Pause: waiting transactions go on.
func (r *Router) Resume() {
	if gate := r.pause.Swap(nil); gate != nil {
		close(*gate)
	}
}

// Paused reports whether the router is paused.
func (r *Router) Paused() bool { return r.pause.Load() != nil }

// pauseGate returns the channel to wait on while paused, or nil. One
// atomic load: it is on every attach.
func (r *Router) pauseGate() <-chan struct{} {
	if gate := r.pause.Load(); gate != nil {
		return *gate
	}
	return nil
}

// KillClient ends the client with this id (FATAL with the reason) and
// reports whether there was one.
func (r *Router) KillClient(id string) bool {
	for _, c := range r.Clients() {
		if c.ID == id {
			c.Kill(&pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeAdminShutdown,
				Message: "terminating connection: killed by KILL_CLIENT from the odyssey console"})
			return true
		}
	}
	return false
}

// DropServers closes every idle server now and every busy one when it is
// next released (console DROP SERVERS, RECONNECT).
func (r *Router) DropServers() {
	for _, rt := range r.Routes() {
		rt.dropServers()
	}
}
