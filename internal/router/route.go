package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/odyssey-go/odyssey/internal/auth"
	"github.com/odyssey-go/odyssey/internal/backend"
	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/pool"
	"github.com/odyssey-go/odyssey/internal/relay"
	"github.com/odyssey-go/odyssey/internal/stats"
)

// smartDiscard is Odyssey's pool_smart_discard: DISCARD ALL minus
// DEALLOCATE ALL, so prepared statements survive the reset.
const smartDiscard = "SET SESSION AUTHORIZATION DEFAULT;RESET ALL;CLOSE ALL;UNLISTEN *;" +
	"SELECT pg_advisory_unlock_all();DISCARD PLANS;DISCARD SEQUENCES;DISCARD TEMP;"

// Route is the live object for one rule and (database, user) pair: its
// server pool and the session defaults its servers report.
type Route struct {
	router *Router
	rule   atomic.Pointer[config.Rule] // the current rule; a reload may move the route to a new one
	// DB and User are what clients asked for; BackendDB and BackendUser
	// what the servers log in as (storage_db, storage_user).
	DB, User               string
	BackendDB, BackendUser string
	policy                 *relay.PolicyRef
	pool                   *pool.Pool[*relay.Server]
	schema                 *relay.SchemaClock // the backend database's (set once by the router)
	log                    *slog.Logger

	clients int // guarded by router.mu

	mu          sync.Mutex
	greeting    []pgwire.Param      // ParameterStatus of the first login, in order
	defaults    relay.Params        // the tracked subset of greeting
	passthrough string              // the client's password, for password_passthrough
	learned     backend.Credentials // what clients proved (LearnCredentials)
	stats       stats.Route
	servers     map[*relay.Server]struct{}
	obsolete    atomic.Bool
	paramCache  map[pgwire.Param]paramCanon
}

// newRoute makes the route of rule for (db, user). The caller holds r.mu.
func newRoute(r *Router, rule *config.Rule, db, user string) *Route {
	rt := &Route{
		router:      r,
		DB:          db,
		User:        user,
		BackendDB:   db,
		BackendUser: user,
		policy:      relay.NewPolicyRef(policyFor(r.Config(), rule)),
		pool:        pool.New[*relay.Server](rule.PoolSize),
		servers:     make(map[*relay.Server]struct{}),
		paramCache:  make(map[pgwire.Param]paramCanon),
	}
	rt.rule.Store(rule)
	if rule.StorageDB != "" {
		rt.BackendDB = rule.StorageDB
	}
	rt.schema = r.schemas[rt.BackendDB] // r.mu is held by the callers
	if rt.schema == nil {
		rt.schema = new(relay.SchemaClock)
		r.schemas[rt.BackendDB] = rt.schema
	}
	if rule.StorageUser != "" {
		rt.BackendUser = rule.StorageUser
	}
	rt.log = r.log.With("route", ruleName(db, user))
	return rt
}

func policyFor(cfg *config.Config, rule *config.Rule) *relay.Policy {
	p := &relay.Policy{
		Mode:          rule.Pool,
		Rollback:      rule.PoolRollback,
		Cancel:        rule.PoolCancel,
		ResetTimeout:  time.Duration(rule.PoolResetTimeoutMs) * time.Millisecond,
		CancelTimeout: cancelTimeout(cfg.CancelTimeoutMs),
		AttachCheck:   rule.PoolAttachCheck,
		LogQuery:      cfg.LogQuery || rule.LogQuery,

		MaintainParams:    rule.MaintainParams,
		Prepared:          rule.PoolReservePrepared && rule.Pool != config.PoolSession,
		Track:             rule.Pool != config.PoolSession,
		PinOnListen:       rule.PoolPinOnListen,
		VirtualBegin:      cfg.VirtualTransaction && rule.Pool == config.PoolTransaction, // a statement pool refuses BEGIN at once
		PreparedMax:       preparedMax,
		ClientIdleTimeout: time.Duration(rule.PoolClientIdleTimeout) * time.Second,
		IdleInTxTimeout:   time.Duration(rule.PoolIdleInTxTimeout) * time.Second,
	}
	switch {
	case rule.PoolDiscardQuery != "":
		p.ResetQuery = rule.PoolDiscardQuery
	case rule.PoolSmartDiscard:
		p.ResetQuery, p.ResetClearsParams = smartDiscard, true
	case rule.PoolDiscard:
		p.ResetQuery, p.ResetClearsParams = "DISCARD ALL", true
	}
	return p
}

// preparedMax bounds the statements the pooler keeps prepared on one
// server (PgBouncer's max_prepared_statements is 200 by default): each holds
// a plan in PostgreSQL's memory.
const preparedMax = 256

// cancelTimeout bounds a cancel request: a cancel holds its server, so it
// must end even when cancel_timeout_ms is 0 ("no timeout").
func cancelTimeout(ms int) time.Duration {
	if ms <= 0 {
		return 10 * time.Second
	}
	return time.Duration(ms) * time.Millisecond
}

// Rule returns the route's current rule.
func (rt *Route) Rule() *config.Rule { return rt.rule.Load() }

// Schema returns the clock of the route's backend database, shared with
// its clients and servers (see relay.SchemaClock).
func (rt *Route) Schema() *relay.SchemaClock { return rt.schema }

// Policy returns the route's policy reference, shared with its clients and
// servers.
func (rt *Route) Policy() *relay.PolicyRef { return rt.policy }

// update moves the route to rule of cfg (a compatible reload): new pool
// size, timeouts and policy, at once.
func (rt *Route) update(cfg *config.Config, rule *config.Rule) {
	rt.rule.Store(rule)
	rt.policy.Store(policyFor(cfg, rule))
	rt.pool.SetSize(rule.PoolSize)
}

// retire closes the idle servers of a route whose rule changed or went;
// busy servers keep serving the route's remaining clients.
func (rt *Route) retire() {
	rt.obsolete.Store(true)
	for _, s := range rt.pool.TakeIdle(0, func(*relay.Server) bool { return true }) {
		rt.forget(s)
		s.Close()
	}
	if rt.Clients() == 0 {
		rt.close()
	}
}

// Obsolete reports whether a reload retired the route.
func (rt *Route) Obsolete() bool { return rt.obsolete.Load() }

// dropServers closes idle servers now and marks the others to be closed
// at their next release.
func (rt *Route) dropServers() {
	for _, s := range rt.Servers() {
		s.MarkOffline()
	}
	for _, s := range rt.pool.TakeIdle(0, func(*relay.Server) bool { return true }) {
		rt.forget(s)
		s.Close()
	}
}

// Name is "db.user" as clients see it.
func (rt *Route) Name() string { return ruleName(rt.DB, rt.User) }

// SetPassthroughPassword remembers the password a client authenticated
// with, for logging in to PostgreSQL with password_passthrough.
func (rt *Route) SetPassthroughPassword(pw string) {
	rt.mu.Lock()
	rt.passthrough = pw
	rt.mu.Unlock()
}

// Greeting returns the ParameterStatus values to send a new client and the
// tracked defaults. The first call logs in a server to learn them (and
// leaves it in the pool), as Odyssey does.
func (rt *Route) Greeting(ctx context.Context) ([]pgwire.Param, relay.Params, error) {
	rt.mu.Lock()
	g, d := rt.greeting, rt.defaults
	rt.mu.Unlock()
	if g != nil {
		return g, d, nil
	}
	s, err := rt.Acquire(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	if !rt.Release(s) {
		s.Close()
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.greeting, rt.defaults, nil
}

// Acquire implements relay.Attacher: an idle server from the pool, a new
// one when the pool has room, or a wait up to pool_timeout.
func (rt *Route) Acquire(ctx context.Context, c *relay.Client) (*relay.Server, error) {
	if gate := rt.router.pauseGate(); gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	timeout := time.Duration(rt.Rule().PoolTimeout) * time.Millisecond
	lifetime := time.Duration(rt.Rule().ServerLifetime) * time.Second
	var queuer pool.Queuer // nil, not a nil *Client, when no client asks (Greeting)
	if c != nil {
		queuer = c
	}
	// A session pool's servers are opened with their first client's
	// startup parameters, so that what the client gets back with RESET is
	// what it asked for at login; a server serves only clients that asked
	// for the same (see relay.ClientConfig.ServerStartup). The pooler's
	// own uses (no client) take servers opened with none.
	var startup []pgwire.Param
	var key string
	var match func(*relay.Server) bool
	if rt.Rule().Pool == config.PoolSession {
		if c != nil {
			startup, key = c.ServerStartup(), c.StartupKey()
		}
		match = func(s *relay.Server) bool { return s.StartupKey == key }
	}
	for {
		s, dial, waited, err := rt.pool.AcquireMatch(ctx, timeout, queuer, match)
		switch {
		case errors.Is(err, pool.ErrTimeout):
			rt.countError(stats.ErrPoolTimeout)
			return nil, pgwire.Fatal(pgwire.CodeTooManyConnections, fmt.Sprintf(
				"too many active clients for user (pool_size for user %s reached %d)", rt.Name(), rt.Rule().PoolSize))
		case errors.Is(err, pool.ErrClosed):
			return nil, pgwire.Fatal(pgwire.CodeAdminShutdown, "odyssey is shutting down")
		case err != nil:
			return nil, err
		case dial:
			s, err := rt.dial(ctx, startup, key)
			if err != nil {
				rt.pool.Discard()
				return nil, err
			}
			rt.stats.Wait(waited)
			return s, nil
		}
		if match != nil && !match(s) {
			// An idle server of other startup parameters, the pool being
			// full: replace it with one of ours, in its slot.
			rt.forget(s)
			s.Close()
			if s, err = rt.dial(ctx, startup, key); err != nil {
				rt.pool.Discard()
				return nil, err
			}
			rt.stats.Wait(waited)
			return s, nil
		}
		if lifetime > 0 && time.Since(s.Created) > lifetime || !s.Usable() {
			s.Close()
			rt.Discard(s)
			continue
		}
		rt.stats.Wait(waited)
		return s, nil
	}
}

// TryAcquire implements relay.TryAttacher for transaction and statement
// pools: a server now, if one is idle or the pool has room to dial one,
// else nil without waiting.
func (rt *Route) TryAcquire(c *relay.Client) (*relay.Server, error) {
	if rt.router.pauseGate() != nil || rt.Rule().Pool == config.PoolSession {
		return nil, nil
	}
	lifetime := time.Duration(rt.Rule().ServerLifetime) * time.Second
	for {
		s, dial, ok := rt.pool.TryAcquire()
		switch {
		case !ok:
			return nil, nil
		case dial:
			s, err := rt.dial(c, nil, "")
			if err != nil {
				rt.pool.Discard()
				return nil, err
			}
			return s, nil
		}
		if lifetime > 0 && time.Since(s.Created) > lifetime || !s.Usable() {
			s.Close()
			rt.Discard(s)
			continue
		}
		return s, nil
	}
}

// countError counts an error of the route.
func (rt *Route) countError(k stats.ErrorKind) { rt.stats.Errors.Add(k) }

// Stats returns the route's counters (relay.Home).
func (rt *Route) Stats() *stats.Route { return &rt.stats }

// Release implements relay.Home.
func (rt *Route) Release(s *relay.Server) bool {
	if rt.pool.Release(s) {
		return true
	}
	rt.forget(s)
	return false
}

// Discard implements relay.Home.
func (rt *Route) Discard(s *relay.Server) {
	rt.forget(s)
	rt.pool.Discard()
}

// Remove implements relay.Home.
func (rt *Route) Remove(s *relay.Server) bool {
	if rt.pool.Remove(s) {
		rt.forget(s)
		return true
	}
	return false
}

// forget drops a closed server from the route's registry.
func (rt *Route) forget(s *relay.Server) {
	rt.mu.Lock()
	delete(rt.servers, s)
	rt.mu.Unlock()
}

// hasServers reports whether the route has a server open or being
// dialed.
func (rt *Route) hasServers() bool {
	rt.mu.Lock()
	n := len(rt.servers)
	rt.mu.Unlock()
	return n > 0 || rt.pool.Stats().Total > 0
}

// Servers returns every open server of the route, idle or not.
func (rt *Route) Servers() []*relay.Server {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]*relay.Server, 0, len(rt.servers))
	for s := range rt.servers {
		out = append(out, s)
	}
	return out
}

// dial logs in a new server for the route, with the rule's
// backend_startup_options followed by startup (a session client's own
// parameters; key is relay.StartupKey of them). The slot is already
// reserved.
func (rt *Route) dial(ctx context.Context, startup []pgwire.Param, key string) (*relay.Server, error) {
	cfg := rt.router.Config()
	tlsClient, err := rt.router.storageTLS(rt.Rule().Storage)
	if err != nil {
		rt.log.Error("storage tls settings are unusable", "error", err)
		return nil, connectError(rt, err)
	}
	opts := backend.Options{
		TLS:           tlsClient,
		Database:      rt.BackendDB,
		Credentials:   rt.credentials(),
		StartupParams: append(startupParams(rt.Rule().BackendStartupOptions), startup...),
		Timeout:       time.Duration(cfg.BackendConnectTimeoutMs) * time.Millisecond,
		KeepAlive:     keepAlive(cfg),
	}
	var lastErr error
	for _, ep := range endpoints(cfg, rt.Rule().Storage) {
		opts.Endpoint = ep
		start := time.Now()
		conn, err := backend.Dial(ctx, opts)
		if err != nil {
			lastErr = err
			var pe *pgwire.Error
			if errors.As(err, &pe) {
				break // PostgreSQL answered: another host would answer the same
			}
			continue
		}
		rt.stats.ConnectTime.Observe(time.Since(start))
		id := NewID('s')
		defaults := rt.learnGreeting(conn.Params, key == "")
		rt.log.Debug("server connected", "server", id, "addr", ep.Address, "pid", conn.PID)
		s := relay.NewServer(id, conn, rt, rt.policy, defaults, rt.log)
		s.StartupKey = key
		s.Schema = rt.schema
		rt.mu.Lock()
		rt.servers[s] = struct{}{}
		rt.mu.Unlock()
		return s, nil
	}
	rt.log.Warn("server connect failed", "error", lastErr)
	rt.countError(stats.ErrServerConnect)
	return nil, connectError(rt, lastErr)
}

// connectError turns a dial failure into what the client is told.
// PostgreSQL's own login error is what a direct connection would get
// (3D000 for a database that does not exist, 42704 for an unknown
// parameter, 53300 when it has too many clients...), so it is forwarded
// with its SQLSTATE. An authorization failure (class 28) is about the
// pooler's connection (its credentials, TLS, address in pg_hba.conf),
// which the client cannot change: it becomes 08006 with PostgreSQL's
// message as detail, unless client_fwd_error forwards it. Only a role
// that does not exist, when the route logs in as the client's own user,
// is the client's: 28000 as PostgreSQL says it.
func connectError(rt *Route, err error) error {
	var pe *pgwire.Error
	if errors.As(err, &pe) {
		rule := rt.Rule()
		noSuchRole := pe.Code == pgwire.CodeInvalidAuthorization && rule.StorageUser == "" &&
			strings.HasPrefix(pe.Message, "role ") && strings.HasSuffix(pe.Message, " does not exist")
		if rule.ClientFwdError || !strings.HasPrefix(pe.Code, "28") || noSuchRole {
			return pe
		}
		return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeConnectionFailure,
			Message: "failed to connect to remote server for " + rt.Name(),
			Detail:  pe.Code + ": " + pe.Message}
	}
	if err == nil {
		err = errors.New("storage has no hosts")
	}
	return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeConnectionFailure,
		Message: "failed to connect to remote server for " + rt.Name(), Detail: err.Error()}
}

// learnGreeting records the first login's ParameterStatus values, if
// that login sent only the rule's startup parameters (plain), and returns
// the route's tracked defaults.
func (rt *Route) learnGreeting(params []pgwire.Param, plain bool) relay.Params {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.greeting == nil && plain {
		rt.greeting = append([]pgwire.Param(nil), params...)
		var d relay.Params
		for _, p := range params {
			if name, ok := relay.CanonicalParam(p.Name); ok {
				d.Set(name, p.Value, nil)
			}
		}
		rt.defaults = d
	}
	return rt.defaults
}

// credentials picks what to answer PostgreSQL's password request with:
// storage_password, then the client's own password with
// password_passthrough, then the rule's password when it is usable, then
// what the route's clients proved (SCRAM keys, an md5 hash; see
// LearnCredentials).
func (rt *Route) credentials() backend.Credentials {
	c := backend.Credentials{User: rt.BackendUser}
	rule := rt.Rule()
	if rule.StoragePassword != "" {
		c.Password = rule.StoragePassword
		return c
	}
	rt.mu.Lock()
	pt := rt.passthrough
	c.ClientKey, c.ServerKey, c.MD5 = rt.learned.ClientKey, rt.learned.ServerKey, rt.learned.MD5
	rt.mu.Unlock()
	if rule.PasswordPassthrough && pt != "" {
		c.Password = pt
		return c
	}
	if rule.Password != "" {
		if sec, err := auth.ParseSecret(rule.Password); err == nil {
			switch sec.Kind {
			case auth.SecretPlain:
				c.Password = sec.Plain
			case auth.SecretMD5:
				c.MD5 = sec.MD5
			}
		}
	}
	return c
}

func startupParams(kvs []config.KV) []pgwire.Param {
	out := make([]pgwire.Param, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, pgwire.Param{Name: kv.Key, Value: kv.Value})
	}
	return out
}

func keepAlive(cfg *config.Config) net.KeepAliveConfig {
	if cfg.Keepalive <= 0 {
		return net.KeepAliveConfig{Enable: false, Idle: -1}
	}
	return net.KeepAliveConfig{
		Enable:   true,
		Idle:     time.Duration(cfg.Keepalive) * time.Second,
		Interval: time.Duration(cfg.KeepaliveKeepInterval) * time.Second,
		Count:    cfg.KeepaliveProbes,
	}
}

// endpoints lists where a storage's servers are: its hosts in order, or
// the unix socket in unix_socket_dir when it names none.
func endpoints(cfg *config.Config, st *config.Storage) []backend.Endpoint {
	port := st.Port
	if port == 0 {
		port = 5432
	}
	if len(st.Hosts) == 0 {
		return []backend.Endpoint{unixEndpoint(cfg.UnixSocketDir, port)}
	}
	out := make([]backend.Endpoint, 0, len(st.Hosts))
	for _, h := range st.Hosts {
		p := h.Port
		if p == 0 {
			p = port
		}
		if filepath.IsAbs(h.Host) {
			out = append(out, unixEndpoint(h.Host, p))
			continue
		}
		out = append(out, backend.Endpoint{Network: "tcp", Address: net.JoinHostPort(h.Host, strconv.Itoa(p))})
	}
	return out
}

func unixEndpoint(dir string, port int) backend.Endpoint {
	return backend.Endpoint{Network: "unix", Address: filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port))}
}

// PoolStats returns the pool's counters.
func (rt *Route) PoolStats() pool.Stats { return rt.pool.Stats() }

// ServerCounts are how many of a route's open servers are in each state,
// in PgBouncer's words: active (attached to a client or running an
// internal query), tested (being reset), and live (every open one, idle
// included).
type ServerCounts struct{ Active, Tested, Live int }

// CountServers counts rt's open servers by state (SHOW POOLS, metrics).
func (rt *Route) CountServers() ServerCounts {
	var n ServerCounts
	for _, s := range rt.Servers() {
		switch s.State() {
		case "closed":
			continue
		case "active", "query":
			n.Active++
		case "reset":
			n.Tested++
		}
		n.Live++
	}
	return n
}

// Local reports whether rt is a console route (storage type "local",
// no servers).
func (rt *Route) Local() bool {
	st := rt.Rule().Storage
	return st != nil && st.Type == config.StorageLocal
}

// Clients returns how many clients are on the route.
func (rt *Route) Clients() int {
	rt.router.mu.Lock()
	defer rt.router.mu.Unlock()
	return rt.clients
}

// Maintain closes idle servers past pool_ttl or server_lifetime and tops
// the pool up to min_pool_size. The instance calls it every second.
func (rt *Route) Maintain(ctx context.Context, now time.Time) {
	ttl := time.Duration(rt.Rule().PoolTTL) * time.Second
	lifetime := time.Duration(rt.Rule().ServerLifetime) * time.Second
	expired := rt.pool.TakeIdle(0, func(s *relay.Server) bool {
		return (ttl > 0 && now.Sub(s.LastUsed()) >= ttl) || (lifetime > 0 && now.Sub(s.Created) >= lifetime)
	})
	for _, s := range expired {
		rt.log.Debug("closing expired server", "server", s.ID)
		rt.forget(s)
		s.Close()
	}
	for i := rt.pool.Stats().Total; i < rt.Rule().MinPoolSize && !rt.Obsolete(); i++ {
		if !rt.pool.ReserveSlot() {
			break
		}
		s, err := rt.dial(ctx, nil, "")
		if err != nil {
			rt.pool.Discard()
			break
		}
		if !rt.Release(s) {
			s.Close()
		}
	}
}

func (rt *Route) close() {
	for _, s := range rt.pool.Close() {
		rt.forget(s)
		s.Close()
	}
}

// maxParamCache bounds the per-route cache of validated parameter values.
const maxParamCache = 1024

// paramCanon is PostgreSQL's verdict on one name=value: its canonical
// spelling, or the error it gives; drop marks a parameter PostgreSQL
// takes only at connection start (log_connections...), accepted and not
// carried.
type paramCanon struct {
	value string
	err   *pgwire.Error
	drop  bool
}

// NormalizeParams checks the session parameters a client asked for the way
// PostgreSQL would at login, and returns them in PostgreSQL's spelling
// ("utf8" -> "UTF8", "iso" -> "ISO, MDY"). An invalid value gives
// PostgreSQL's own error (22023...), as a direct connection would. Each
// distinct name=value is checked once per route, with set_config() on a
// pooled server; afterwards it costs a map lookup.
func (rt *Route) NormalizeParams(ctx context.Context, params []pgwire.Param) ([]pgwire.Param, error) {
	out := make([]pgwire.Param, len(params))
	var unknown []pgwire.Param
	rt.mu.Lock()
	for i, p := range params {
		c, ok := rt.paramCache[p]
		switch {
		case !ok && p.Name == "application_name":
			// Free text, often unique per client: PostgreSQL accepts any
			// value, so checking it would only fill the cache.
			out[i] = p
		case !ok:
			unknown = append(unknown, p)
		case c.err != nil:
			rt.mu.Unlock()
			return nil, c.err
		default:
			out[i] = pgwire.Param{Name: p.Name, Value: c.value}
		}
		if ok && c.drop {
			out[i] = pgwire.Param{}
		}
	}
	rt.mu.Unlock()
	if len(unknown) == 0 {
		return dropEmpty(out), nil
	}
	canon, err := rt.checkParams(ctx, unknown)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	for i, p := range params {
		if c, ok := canon[p]; ok {
			out[i] = pgwire.Param{Name: p.Name, Value: c.value}
			if len(rt.paramCache) < maxParamCache {
				rt.paramCache[p] = c
			}
			if c.err != nil {
				rt.mu.Unlock()
				return nil, c.err
			}
			if c.drop {
				out[i] = pgwire.Param{}
			}
		}
	}
	rt.mu.Unlock()
	return dropEmpty(out), nil
}

// dropEmpty removes the parameters NormalizeParams blanked.
func dropEmpty(ps []pgwire.Param) []pgwire.Param {
	return slices.DeleteFunc(ps, func(p pgwire.Param) bool { return p.Name == "" })
}

// checkParams asks PostgreSQL about each parameter, one set_config() per
// parameter so that a bad value is attributed to its name.
func (rt *Route) checkParams(ctx context.Context, ps []pgwire.Param) (map[pgwire.Param]paramCanon, error) {
	s, err := rt.Acquire(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[pgwire.Param]paramCanon, len(ps))
	var applied []pgwire.Param
	for _, p := range ps {
		rows, qerr := s.Query(ctx, "SELECT pg_catalog.set_config("+relay.QuoteLiteral(p.Name)+", "+relay.QuoteLiteral(p.Value)+", false)")
		var pe *pgwire.Error
		switch {
		case errors.As(qerr, &pe) && pe.Code == "55P02" && strings.Contains(pe.Message, "after connection start"):
			// A setting of the backend's start: PostgreSQL takes it in a
			// startup packet, and a pooled server cannot have it.
			out[p] = paramCanon{drop: true}
		case errors.As(qerr, &pe):
			e := *pe
			e.Severity = pgwire.SeverityFatal
			out[p] = paramCanon{err: &e}
		case qerr != nil:
			s.Close()
			rt.Discard(s)
			return nil, connectError(rt, qerr)
		case len(rows) == 1 && len(rows[0]) == 1:
			out[p] = paramCanon{value: rows[0][0]}
			applied = append(applied, pgwire.Param{Name: p.Name, Value: rows[0][0]})
		default:
			out[p] = paramCanon{value: p.Value}
		}
	}
	s.Applied(applied)
	if !rt.Release(s) {
		s.Close()
	}
	return out, nil
}
