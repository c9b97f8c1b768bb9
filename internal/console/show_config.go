package console

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// none is how Odyssey shows an unset string in SHOW LISTEN and STORAGES.
const none = "(None)"

func orNone(s string) cell {
	if s == "" {
		return str(none)
	}
	return str(s)
}

func tlsMode(m string) string {
	if m == "" {
		return "disable"
	}
	return m
}

// listen is SHOW LISTEN: the listen blocks of the config in effect.
func (v *view) listen() *table {
	t := newTable(textCol("host"), int4Col("port"), textCol("tls"), textCol("tls_cert_file"),
		textCol("tls_key_file"), textCol("tls_ca_file"), textCol("tls_protocols"))
	for _, l := range v.cfg.Listen {
		t.add(orNone(l.Host), num(l.Port), str(tlsMode(l.TLS.Mode)), orNone(l.TLS.CertFile),
			orNone(l.TLS.KeyFile), orNone(l.TLS.CAFile), orNone(l.TLS.Protocols))
	}
	return t
}

// storages is SHOW STORAGES: the storage blocks of the config in effect.
func (v *view) storages() *table {
	t := newTable(textCol("type"), textCol("host"), int4Col("port"), textCol("tls"), textCol("tls_cert_file"),
		textCol("tls_key_file"), textCol("tls_ca_file"), textCol("tls_protocols"))
	for _, s := range v.cfg.Storages {
		typ := "remote"
		if s.Type == config.StorageLocal {
			typ = "local"
		}
		t.add(str(typ), str(storageHost(s)), num(storagePort(s)), str(tlsMode(s.TLS.Mode)), orNone(s.TLS.CertFile),
			orNone(s.TLS.KeyFile), orNone(s.TLS.CAFile), orNone(s.TLS.Protocols))
	}
	return t
}

// rules is SHOW RULES: the rules of the config in effect, then the rules a
// reload replaced that still serve clients (obsolete).
func (v *view) rules() *table {
	t := newTable(textCol("database"), textCol("user"), textCol("address"), textCol("connection_type"),
		boolCol("obsolete"))
	add := func(r *config.Rule, obsolete bool) {
		db, user, addr := r.DB, r.User, ""
		if r.DBDefault {
			db = "default"
		}
		if r.UserDefault {
			user = "default"
		}
		if r.Address != nil {
			addr = r.Address.String()
		}
		t.add(str(db), str(user), str(addr), str(r.ConnType.String()), flag(obsolete))
	}
	current := make(map[*config.Rule]bool, len(v.cfg.Rules))
	for _, r := range v.cfg.Rules {
		current[r] = true
		add(r, false)
	}
	for _, rt := range v.routes() {
		if r := rt.Rule(); !current[r] {
			current[r] = true
			add(r, true)
		}
	}
	return t
}

// setting is one row of SHOW CONFIG.
type setting struct {
	key string
	get func(*config.Config) string
	// reload says whether RELOAD (SIGHUP) applies a change; otherwise it
	// takes a restart.
	reload bool
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func itoa(n int) string { return strconv.Itoa(n) }

// settings are the global settings SHOW CONFIG lists, by key.
var settings = []setting{
	{"auth_failure_delay_ms", func(c *config.Config) string { return itoa(c.AuthFailureDelayMs) }, true},
	{"backend_connect_timeout_ms", func(c *config.Config) string { return itoa(c.BackendConnectTimeoutMs) }, true},
	{"cancel_timeout_ms", func(c *config.Config) string { return itoa(c.CancelTimeoutMs) }, true},
	{"client_max", func(c *config.Config) string { return itoa(c.ClientMax) }, true},
	{"daemonize", func(c *config.Config) string { return yesNo(c.Daemonize) }, false},
	{"graceful_shutdown_timeout_ms", func(c *config.Config) string { return itoa(c.GracefulShutdownTimeoutMs) }, true},
	{"hba_file", func(c *config.Config) string { return c.HBAFile }, true},
	{"keepalive", func(c *config.Config) string { return itoa(c.Keepalive) }, false},
	{"keepalive_keep_interval", func(c *config.Config) string { return itoa(c.KeepaliveKeepInterval) }, false},
	{"keepalive_probes", func(c *config.Config) string { return itoa(c.KeepaliveProbes) }, false},
	{"keepalive_usr_timeout", func(c *config.Config) string { return itoa(c.KeepaliveUsrTimeout) }, false},
	{"log_debug", func(c *config.Config) string { return yesNo(c.LogDebug) }, true},
	{"log_file", func(c *config.Config) string { return c.LogFile }, true},
	{"log_format", func(c *config.Config) string { return c.LogFormat }, true},
	{"log_query", func(c *config.Config) string { return yesNo(c.LogQuery) }, true},
	{"log_session", func(c *config.Config) string { return yesNo(c.LogSession) }, true},
	{"log_stats", func(c *config.Config) string { return yesNo(c.LogStats) }, true},
	{"log_to_stdout", func(c *config.Config) string { return yesNo(c.LogToStdout) }, true},
	{"nodelay", func(c *config.Config) string { return yesNo(c.Nodelay) }, false},
	{"pid_file", func(c *config.Config) string { return c.PidFile }, false},
	{"sequential_routing", func(c *config.Config) string { return yesNo(c.SequentialRouting) }, true},
	{"stats_interval", func(c *config.Config) string { return itoa(c.StatsInterval) }, true},
	{"unix_socket_dir", func(c *config.Config) string { return c.UnixSocketDir }, false},
	{"unix_socket_mode", func(c *config.Config) string {
		if c.UnixSocketMode == 0 {
			return ""
		}
		return fmt.Sprintf("%04o", uint32(c.UnixSocketMode))
	}, false},
	{"workers", func(c *config.Config) string { return itoa(c.Workers) }, true},
}

// config is SHOW CONFIG [key], in PgBouncer's shape: the value in effect,
// the default, and whether RELOAD can change it.
func (v *view) config(key string) (*table, error) {
	t := newTable(textCol("key"), textCol("value"), textCol("default"), textCol("changeable"))
	def := config.Default()
	for _, s := range settings {
		if key == "" || key == s.key {
			t.add(str(s.key), str(s.get(v.cfg)), str(s.get(def)), str(yesNo(s.reload)))
		}
	}
	if key != "" && len(t.rows) == 0 {
		return nil, &pgwire.Error{Code: codeUndefinedObject, Message: fmt.Sprintf("unknown configuration parameter %q", key)}
	}
	return t, nil
}

// users is SHOW USERS in PgBouncer's shape: every user a rule names, then
// every other user with a route (clients of default rules), with the pool
// mode they get ("" when their rules disagree).
func (v *view) users() *table {
	t := newTable(textCol("name"), textCol("pool_mode"))
	var order []string
	mode := map[string]string{}
	note := func(user, m string) {
		prev, seen := mode[user]
		switch {
		case !seen:
			order = append(order, user)
			mode[user] = m
		case prev != m:
			mode[user] = ""
		}
	}
	for _, r := range v.cfg.Rules {
		if !r.UserDefault && !r.Internal {
			note(r.User, r.Pool.String())
		}
	}
	named := slices.Clone(order)
	for _, rt := range v.routes() {
		if !slices.Contains(named, rt.User) {
			note(rt.User, rt.Rule().Pool.String())
		}
	}
	for _, u := range order {
		t.add(str(u), str(mode[u]))
	}
	return t
}
