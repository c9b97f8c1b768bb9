// Package router matches clients to rules, owns the routes (one server pool
// per rule and backend database/user), enforces client limits, and finds the
// client a cancel request is for.
//
// A Router is built from one config snapshot. Routes are created on first
// use and live until shutdown.
package router

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/relay"
	"github.com/odyssey-go/odyssey/internal/stats"
	"github.com/odyssey-go/odyssey/internal/tlsconf"
)

// Router is the registry of routes and clients.
//
// Routes of rules that name their database and user are as many as the
// config has. A rule with a default database or user makes a route for
// whatever a client asks, so such a route goes as soon as it has no
// clients and no servers (a failed login leaves nothing behind; a route
// whose idle servers expired goes at the next maintenance): its totals
// stay in SHOW STATS and SHOW ERRORS if it had any traffic.
type Router struct {
	log *slog.Logger

	// snap is the config snapshot clients are routed by; a reload swaps it.
	snap atomic.Pointer[snapshot]
	// pause is non-nil while paused; Resume closes the channel.
	pause atomic.Pointer[chan struct{}]

	// tls holds the storages' TLS material (see tls.go).
	tls atomic.Pointer[tlsconf.Store]

	mu       sync.Mutex
	routes   map[routeKey]*Route
	obsolete map[*Route]struct{}           // routes of rules a reload changed, kept until their clients leave
	clients  map[uint64]*Client            // by cancel key
	total    int                           // clients routed, for the global client_max
	schemas  map[string]*relay.SchemaClock // by backend database, for prepared statements
	closed   bool
	errors   stats.Errors // errors that belong to no route (or to routes gone without traffic)
	// retired are the totals of routes that went away after some traffic,
	// by database (SHOW STATS keeps them).
	retired map[string]*stats.Route
}

// CountError counts an error that belongs to no route (no rule matched).
func (r *Router) CountError(k stats.ErrorKind) { r.errors.Add(k) }

// Errors returns the error counts of the router and all its routes.
func (r *Router) Errors() []stats.ErrorCount {
	sum := r.errors.Counts()
	for _, rt := range r.Routes() {
		rt.stats.Errors.AddTo(sum)
	}
	r.mu.Lock()
	for _, st := range r.retired {
		st.Errors.AddTo(sum)
	}
	r.mu.Unlock()
	return sum
}

// Retired returns, by database, the totals of routes that went away after
// some traffic (SHOW STATS). The caller must not modify them.
func (r *Router) Retired() map[string]*stats.Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]*stats.Route, len(r.retired))
	for db, st := range r.retired {
		out[db] = st
	}
	return out
}

// retireStatsLocked keeps the totals of rt, which goes away: its traffic
// by database when it had any, its errors in any case. Called with r.mu
// held.
func (r *Router) retireStatsLocked(rt *Route) {
	if !rt.stats.Busy() {
		rt.stats.Errors.Fold(&r.errors)
		return
	}
	st := r.retired[rt.DB]
	if st == nil {
		if r.retired == nil {
			r.retired = make(map[string]*stats.Route)
		}
		st = new(stats.Route)
		r.retired[rt.DB] = st
	}
	rt.stats.Fold(st)
}

// dropUnusedLocked removes rt if it is a route of a default rule with no
// clients and no servers, and reports whether it did; the caller closes
// it after letting go of r.mu.
func (r *Router) dropUnusedLocked(rt *Route) bool {
	rule := rt.Rule()
	if rt.clients > 0 || rule.Internal || !(rule.DBDefault || rule.UserDefault) || rt.hasServers() {
		return false
	}
	key := routeKey{rule: rule, db: rt.DB, user: rt.User}
	if r.routes[key] != rt {
		return false
	}
	delete(r.routes, key)
	r.retireStatsLocked(rt)
	return true
}

// DropUnused removes the routes of default rules that have no clients and
// no servers left (their idle servers expired). The instance calls it
// every second.
func (r *Router) DropUnused() {
	r.mu.Lock()
	var gone []*Route
	for _, rt := range r.routes {
		if r.dropUnusedLocked(rt) {
			gone = append(gone, rt)
		}
	}
	r.mu.Unlock()
	for _, rt := range gone {
		rt.close()
	}
}

type routeKey struct {
	rule     *config.Rule
	db, user string
}

// snapshot is one config with its rules in matching order.
type snapshot struct {
	cfg   *config.Config
	rules []*config.Rule        // client rules, in matching order
	all   map[*config.Rule]bool // every rule of cfg
}

func newSnapshot(cfg *config.Config) *snapshot {
	all := make(map[*config.Rule]bool, len(cfg.Rules))
	for _, r := range cfg.Rules {
		all[r] = true
	}
	return &snapshot{cfg: cfg, rules: clientRules(cfg.Rules, cfg.SequentialRouting), all: all}
}

// New builds a router for cfg.
func New(cfg *config.Config, log *slog.Logger) *Router {
	r := &Router{
		log:      log,
		routes:   make(map[routeKey]*Route),
		obsolete: make(map[*Route]struct{}),
		clients:  make(map[uint64]*Client),
		schemas:  make(map[string]*relay.SchemaClock),
	}
	r.snap.Store(newSnapshot(cfg))
	return r
}

// Config returns the current config snapshot.
func (r *Router) Config() *config.Config { return r.snap.Load().cfg }

// clientRules returns the rules clients may match (not pool_routing
// "internal", which only the pooler itself uses), ordered for first-match:
// config order with sequential_routing, else most specific first as
// Odyssey does (named database, then named user, then address range, then
// connection type), ties kept in config order.
func clientRules(rules []*config.Rule, sequential bool) []*config.Rule {
	out := slices.DeleteFunc(slices.Clone(rules), func(r *config.Rule) bool { return r.Internal })
	if sequential {
		return out
	}
	slices.SortStableFunc(out, func(a, b *config.Rule) int {
		return specificity(b) - specificity(a)
	})
	return out
}

func specificity(r *config.Rule) int {
	n := 0
	if !r.DBDefault {
		n += 1000
	}
	if !r.UserDefault {
		n += 100
	}
	if r.Address != nil {
		n += 10
	}
	if r.ConnType != config.ConnAny {
		n++
	}
	return n
}

// ConnInfo is what routing looks at besides the startup packet.
type ConnInfo struct {
	Addr netip.Addr // zero for unix sockets
	TLS  bool
}

// Match returns the first rule for (db, user) from this connection, or nil.
func (r *Router) Match(db, user string, ci ConnInfo) *config.Rule {
	for _, rule := range r.snap.Load().rules {
		if matches(rule, db, user, ci) {
			return rule
		}
	}
	return nil
}

// DatabaseRule returns the first rule (in matching order) that could serve
// db for some user from this connection, or nil. A client for such a
// database whose user has no rule is put through that rule's
// authentication method and fails as if its password were wrong, so user
// names cannot be probed.
func (r *Router) DatabaseRule(db string, ci ConnInfo) *config.Rule {
	for _, rule := range r.snap.Load().rules {
		if (rule.DBDefault || rule.DB == db) && addrMatches(rule, ci) {
			return rule
		}
	}
	return nil
}

func matches(rule *config.Rule, db, user string, ci ConnInfo) bool {
	if !rule.DBDefault && rule.DB != db {
		return false
	}
	if !rule.UserDefault && rule.User != user {
		return false
	}
	return addrMatches(rule, ci)
}

func addrMatches(rule *config.Rule, ci ConnInfo) bool {
	local := !ci.Addr.IsValid()
	if rule.Address != nil && (local || !rule.Address.Contains(ci.Addr.Unmap())) {
		return false
	}
	switch rule.ConnType {
	case config.ConnLocal:
		return local
	case config.ConnHost:
		return !local
	case config.ConnHostSSL:
		return !local && ci.TLS
	case config.ConnHostNoSSL:
		return !local && !ci.TLS
	}
	return true
}

// Attach registers a client on the route of rule for (db, user), creating
// the route on first use, and enforces client_max (global and per rule).
// The caller must call Detach when the client leaves.
func (r *Router) Attach(rule *config.Rule, db, user string) (*Route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, pgwire.Fatal(pgwire.CodeAdminShutdown, "odyssey is shutting down")
	}
	snap := r.snap.Load()
	if max := snap.cfg.ClientMax; max >= 0 && r.total >= max {
		r.errors.Add(stats.ErrClientLimit)
		return nil, pgwire.Fatal(pgwire.CodeTooManyConnections,
			fmt.Sprintf("too many tcp connections (global client_max %d)", max))
	}
	if !snap.all[rule] {
		// A reload came between Match and Attach: use the same rule of
		// the new config, if it still has one.
		if rule = sameRule(snap.cfg, rule); rule == nil {
			return nil, pgwire.Fatal(pgwire.CodeInvalidCatalogName,
				fmt.Sprintf("route for '%s.%s' is not found", db, user))
		}
	}
	key := routeKey{rule: rule, db: db, user: user}
	route := r.routes[key]
	if route == nil {
		route = newRoute(r, rule, db, user)
		r.routes[key] = route
	}
	if max := rule.ClientMax; max >= 0 && route.clients >= max {
		route.countError(stats.ErrRouteClientLimit)
		return nil, pgwire.Fatal(pgwire.CodeTooManyConnections,
			fmt.Sprintf("too many client tcp connections (client_max for user %s.%s reached %d)", db, user, max))
	}
	route.clients++
	r.total++
	return route, nil
}

// Detach undoes Attach. The last client of an obsolete route closes it,
// and so does the last client of a route of a default rule that has no
// servers (a failed login, a database that does not exist).
func (r *Router) Detach(route *Route) {
	r.mu.Lock()
	route.clients--
	r.total--
	last := route.clients == 0
	_, old := r.obsolete[route]
	if last && old {
		delete(r.obsolete, route)
		r.retireStatsLocked(route)
	}
	drop := last && !old && r.dropUnusedLocked(route)
	r.mu.Unlock()
	if last && old || drop {
		route.close()
	}
}

// Client is a registered client in its main phase.
type Client struct {
	*relay.Client
	Route *Route
	Key   uint64 // our BackendKeyData: process id << 32 | secret
}

// ClientCounts are a route's main-phase clients by what they are doing.
type ClientCounts struct{ Active, Waiting int }

// RouteClients are the client counts of each route (SHOW POOLS, metrics).
type RouteClients map[*Route]ClientCounts

// CountClients counts clients by route and state.
func CountClients(clients []*Client) RouteClients {
	out := make(RouteClients)
	for _, c := range clients {
		n := out[c.Route]
		switch c.State() {
		case relay.ClientActive:
			n.Active++
		case relay.ClientWaiting:
			n.Waiting++
		}
		out[c.Route] = n
	}
	return out
}

// Of returns rt's counts. A console route has no pool: its sessions are
// its active clients.
func (m RouteClients) Of(rt *Route) ClientCounts {
	if rt.Local() {
		return ClientCounts{Active: rt.Clients()}
	}
	return m[rt]
}

// madePID turns random bits into a process id of the pooler's own: a
// positive int4, as drivers expect (pgx sends them back as int4 in
// pg_terminate_backend(unnest($1::int[]))), and at least 2^22, Linux's
// highest possible pid_max, so it never names a real backend.
func madePID(random uint64) uint32 {
	const lowest = 1 << 22
	return lowest + uint32(random%(1<<31-lowest))
}

// PID is the process id half of the client's BackendKeyData.
func (c *Client) PID() uint32 { return uint32(c.Key >> 32) }

// Register makes c reachable by cancel requests and returns its key, a
// crypto-random pair so that nobody can cancel another client's query by
// guessing.
func (r *Router) Register(c *relay.Client, route *Route) *Client {
	return r.register(c, route, 0)
}

// RegisterPID is Register for a client that has a server of its own for
// its whole session (session pools): the process id of its key is that
// server's real one, as a direct connection's would be, so that
// pg_terminate_backend and pg_cancel_backend of it reach the client's
// session; the secret is still ours and random, and a cancel request
// still comes through the pooler.
func (r *Router) RegisterPID(c *relay.Client, route *Route, pid uint32) *Client {
	return r.register(c, route, pid)
}

func (r *Router) register(c *relay.Client, route *Route, pid uint32) *Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var b [8]byte
		rand.Read(b[:])
		key := binary.BigEndian.Uint64(b[:])
		if pid == 0 {
			key = uint64(madePID(key>>32))<<32 | key&0xffffffff
		} else {
			key = uint64(pid)<<32 | key&0xffffffff
		}
		if _, taken := r.clients[key]; taken || key == 0 {
			continue
		}
		rc := &Client{Client: c, Route: route, Key: key}
		r.clients[key] = rc
		return rc
	}
}

// Unregister removes a client registered with Register.
func (r *Router) Unregister(c *Client) {
	r.mu.Lock()
	delete(r.clients, c.Key)
	r.mu.Unlock()
}

// Cancel forwards a cancel request carrying one of our keys to the server
// attached to that client now. Anything else is ignored, as PostgreSQL does.
func (r *Router) Cancel(pid uint32, secret []byte) {
	if len(secret) != 4 {
		return
	}
	key := uint64(pid)<<32 | uint64(binary.BigEndian.Uint32(secret))
	r.mu.Lock()
	c := r.clients[key]
	r.mu.Unlock()
	if c != nil {
		c.Route.stats.Cancels.Add(1)
		c.Cancel()
	}
}

// Clients returns the registered clients.
func (r *Router) Clients() []*Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Client, 0, len(r.clients))
	for _, c := range r.clients {
		out = append(out, c)
	}
	return out
}

// Routes returns the live routes, obsolete ones (still serving their last
// clients after a reload) included.
func (r *Router) Routes() []*Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Route, 0, len(r.routes)+len(r.obsolete))
	for _, rt := range r.routes {
		out = append(out, rt)
	}
	for rt := range r.obsolete {
		out = append(out, rt)
	}
	return out
}

// Close refuses new clients and closes every pool: idle servers are closed
// now, busy ones when they come back.
func (r *Router) Close() {
	routes := r.Routes()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	for _, rt := range routes {
		rt.close()
	}
}

// NewID returns an id of prefix + 12 random hex digits ("c..." clients,
// "s..." servers), as Odyssey prints them.
func NewID(prefix byte) string {
	var b [6]byte
	rand.Read(b[:])
	return string(prefix) + hex.EncodeToString(b[:])
}

// ruleName is "db.user" for messages.
func ruleName(db, user string) string {
	return strings.Join([]string{db, user}, ".")
}
