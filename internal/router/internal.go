package router

import (
	"fmt"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// AttachInternal returns the route the pooler's own queries (auth_query)
// run on: rule, an internal rule (config.Rule.AuthQueryRule), for (db,
// user). Internal routes count no clients and so are never refused by
// client_max; their pools follow the rule like any other.
func (r *Router) AttachInternal(rule *config.Rule, db, user string) (*Route, error) {
	if rule == nil || rule.Storage == nil {
		return nil, fmt.Errorf("no internal rule for %s.%s", db, user)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, pgwire.Fatal(pgwire.CodeAdminShutdown, "odyssey is shutting down")
	}
	key := routeKey{rule: rule, db: db, user: user}
	route := r.routes[key]
	if route == nil {
		route = newRoute(r, rule, db, user)
		r.routes[key] = route
	}
	return route, nil
}
