// Package config turns an Odyssey-format configuration file into a validated,
// immutable model. Nothing here is global: Load returns a new *Config each
// time, and a reload hands the new snapshot to whoever needs it.
//
// Durations keep Odyssey's units in their names (Ms = milliseconds, seconds
// otherwise) so that a reader can map a field to its keyword at a glance.
package config

import (
	"net/netip"
	"os"

	"github.com/odyssey-go/odyssey/internal/hba"
)

// PoolMode is the rule's `pool` keyword.
type PoolMode int

const (
	PoolSession PoolMode = iota
	PoolTransaction
	PoolStatement
)

func (m PoolMode) String() string {
	switch m {
	case PoolTransaction:
		return "transaction"
	case PoolStatement:
		return "statement"
	default:
		return "session"
	}
}

// AuthMethod is the rule's `authentication` keyword.
type AuthMethod int

const (
	AuthNone AuthMethod = iota
	AuthBlock
	AuthClearText
	AuthMD5
	AuthSCRAM
	AuthCert
	AuthExternal // cleartext password checked by an agent on external_auth_socket_path
)

func (a AuthMethod) String() string {
	switch a {
	case AuthBlock:
		return "block"
	case AuthClearText:
		return "clear_text"
	case AuthMD5:
		return "md5"
	case AuthSCRAM:
		return "scram-sha-256"
	case AuthCert:
		return "cert"
	case AuthExternal:
		return "external"
	default:
		return "none"
	}
}

// Role is the console role of a rule (`role`).
type Role int

const (
	RoleUndefined Role = iota
	RoleAdmin
	RoleStat
	RoleNotAllow
)

func (r Role) String() string {
	switch r {
	case RoleAdmin:
		return "admin"
	case RoleStat:
		return "stat"
	case RoleNotAllow:
		return "notallow"
	default:
		return "undef"
	}
}

// ConnType is the optional connection-type selector of a user rule.
type ConnType int

const (
	ConnAny       ConnType = iota // no selector, or `default`
	ConnLocal                     // unix socket
	ConnHost                      // TCP, with or without TLS
	ConnHostSSL                   // TCP with TLS
	ConnHostNoSSL                 // TCP without TLS
)

func (c ConnType) String() string {
	switch c {
	case ConnLocal:
		return "local"
	case ConnHost:
		return "host"
	case ConnHostSSL:
		return "hostssl"
	case ConnHostNoSSL:
		return "hostnossl"
	default:
		return "default"
	}
}

// Position is a place in a config file, for diagnostics.
type Position struct {
	File   string
	Line   int // 1-based
	Column int // 1-based, in bytes
}

// Diag is one problem found while loading: an error or a warning.
type Diag struct {
	Pos     Position
	Message string // e.g. `unknown keyword "pool_szie" (did you mean "pool_size"?)`
	Warning bool
}

// String renders "file:line:col: message", the form editors understand.
func (d Diag) String() string { return formatDiag(d) }

// Config is the whole validated configuration. Treat it as read-only.
type Config struct {
	Path string // file it was loaded from

	// Global settings, Odyssey defaults in comments.
	Daemonize                 bool        // no
	SequentialRouting         bool        // no
	PidFile                   string      //
	UnixSocketDir             string      //
	UnixSocketMode            os.FileMode // 0 = leave as created (umask)
	LogFile                   string      //
	LogFormat                 string      // "" = text; "json" = JSON; other strings = text (Odyssey format strings are accepted)
	LogToStdout               bool        // yes
	LogDebug                  bool        // no
	LogConfig                 bool        // no
	LogSession                bool        // yes
	LogQuery                  bool        // no
	LogStats                  bool        // yes
	StatsInterval             int         // 3 (seconds)
	Workers                   int         // 1; "auto" = (1+ncpu)/2. Sets GOMAXPROCS.
	Nodelay                   bool        // yes
	Keepalive                 int         // 15 (seconds; 0 = off)
	KeepaliveKeepInterval     int         // 5 (seconds)
	KeepaliveProbes           int         // 3
	KeepaliveUsrTimeout       int         // 0 (ms; TCP_USER_TIMEOUT)
	ClientMax                 int         // -1 = unlimited (unset)
	BackendConnectTimeoutMs   int         // 30000
	CancelTimeoutMs           int         // 1000
	GracefulShutdownTimeoutMs int         // 30000 (0 = wait forever)
	PromhttpServerPort        int         // 0 = off
	PromhttpServerAddress     string      // "" or "*" = every address; ours, Odyssey has no such keyword
	AuthFailureDelayMs        int         // a failed login is answered after this (1000; 0 = at once); ours
	VirtualTransaction        bool        // yes

	Listen   []*Listen  // in config order
	Storages []*Storage // in config order
	Rules    []*Rule    // in config order (matching order is decided by the router)

	// HBAFile is `hba_file`; HBA holds its rules, read when the config is
	// loaded (and so again on every reload). Nil HBA: no host-based check.
	HBAFile string
	HBA     *hba.Table
	// LDAPEndpoints are the `ldap_endpoint "name" { }` blocks.
	LDAPEndpoints []*LDAPEndpoint

	// Warnings holds one entry per keyword that is accepted but not
	// implemented (or deprecated), in file order.
	Warnings []Diag
}

// Storage returns the named storage or nil.
func (c *Config) Storage(name string) *Storage {
	for _, s := range c.Storages {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Listen is one `listen { }` block.
type Listen struct {
	Pos                Position
	Host               string // "" = no TCP listener (unix socket only when UnixSocketDir is set); "*" = all addresses
	Port               int    // 6432
	Backlog            int    // 128
	ClientLoginTimeout int    // 15000 (ms)
	TLS                TLSOptions
}

// TLSOptions are the tls* keywords of a listen or storage block.
type TLSOptions struct {
	Mode      string // "" or "disable" = off; allow, prefer, require, verify_ca, verify_full
	CAFile    string
	KeyFile   string
	CertFile  string
	Protocols string
}

// StorageType is `type` of a storage.
type StorageType int

const (
	StorageRemote StorageType = iota
	StorageLocal              // the admin console
)

// Storage is one `storage "name" { }` block.
type Storage struct {
	Pos  Position
	Name string
	Type StorageType
	// Hosts are the endpoints parsed from `host` (which may be a comma list,
	// "h1:5432,[h2]:5433") with `port` as the default port. Empty for a
	// remote storage means "unix socket in UnixSocketDir".
	Hosts []Endpoint
	Port  int // 5432 when unset
	TLS   TLSOptions
}

// Endpoint is one host of a storage.
type Endpoint struct {
	Host string // name, IP literal, or an absolute unix socket directory
	Port int
}

// Rule is one `database "d" { user "u" { ... } }` block (or `default`).
type Rule struct {
	Pos Position

	DB          string // "" when DBDefault
	DBDefault   bool
	User        string // "" when UserDefault
	UserDefault bool
	Address     *netip.Prefix // nil = any address
	ConnType    ConnType
	// Internal is `pool_routing "internal"`: the rule serves only Odyssey's
	// own clients (auth_query, watchdog, group checks). The router must never
	// match it for an ordinary client connection.
	Internal bool

	Authentication      AuthMethod // mandatory
	Password            string     // plain text, "md5..." hash, or "SCRAM-SHA-256$..." verifier
	AuthCommonName      []string   // `auth_common_name`; "default" means the user name
	PasswordPassthrough bool       // no
	Role                Role

	// AuthQuery fetches a user's secret (`auth_query`, with $1 or %u for
	// the user name) as AuthQueryUser on database AuthQueryDB. The query
	// runs on a server of AuthQueryRule: the internal rule matching
	// (AuthQueryDB, AuthQueryUser), or one generated from this rule's
	// storage when the config has none (as Odyssey does).
	AuthQuery     string
	AuthQueryDB   string
	AuthQueryUser string
	AuthQueryRule *Rule
	// LDAPEndpoint is the `ldap_endpoint_name` block, checking clear_text
	// passwords against a directory.
	LDAPEndpointName string
	LDAPEndpoint     *LDAPEndpoint

	StorageName     string // `storage`, mandatory
	Storage         *Storage
	StorageDB       string
	StorageUser     string
	StoragePassword string

	Pool                  PoolMode // mandatory
	PoolSize              int      // 0 = unlimited
	MinPoolSize           int      // 0
	PoolTimeout           int      // ms, 0 = wait forever
	PoolTTL               int      // seconds idle, 0 = off
	PoolDiscard           bool     // yes
	PoolSmartDiscard      bool     // no; forced on when pool_discard and PoolReservePrepared are both on
	PoolDiscardQuery      string   // custom reset query
	PoolCancel            bool     // yes
	PoolRollback          bool     // yes
	PoolResetTimeoutMs    int      // 1000
	PoolAttachCheck       bool     // yes
	PoolReservePrepared   bool     // yes (`pool_reserve_prepared_statement`); always false for session pools
	PoolPinOnListen       bool     // yes (Odyssey: no); false for session pools
	PoolClientIdleTimeout int      // seconds, 0 = off
	PoolIdleInTxTimeout   int      // seconds, 0 = off
	ServerLifetime        int      // 3600 seconds
	ClientMax             int      // -1 = unlimited
	ClientFwdError        bool     // no
	MaintainParams        bool     // yes
	// ReserveSessionServer (reserve_session_server_connection, yes): a
	// session client gets its server during login, is greeted with that
	// server's parameters and its real backend pid.
	ReserveSessionServer   bool
	ApplicationNameAddHost bool // no
	LogDebug               bool // no
	LogQuery               bool // no
	Quantiles              []float64

	Options               []KV // `options { "k" "v" }`: override client session parameters
	BackendStartupOptions []KV // `backend_startup_options { "k" "v" }`
}

// LDAPEndpoint is one `ldap_endpoint "name" { }` block. With BaseDN set a
// login searches for the user's entry (as BindDN) and binds as it
// (search+bind); otherwise it binds as Prefix + user + Suffix (simple
// bind), the two modes of PostgreSQL's and Odyssey's LDAP method.
type LDAPEndpoint struct {
	Pos             Position
	Name            string
	Server          string // ldapserver
	Port            int    // ldapport; 0 = the scheme's default
	Scheme          string // ldapscheme: "ldap" (default) or "ldaps"
	URL             string // ldapurl: overrides server, port and scheme
	BaseDN          string // ldapbasedn
	BindDN          string // ldapbinddn
	BindPassword    string // ldapbindpasswd
	SearchAttribute string // ldapsearchattribute; default uid
	SearchFilter    string // ldapsearchfilter: ANDed with the attribute match
	Prefix          string // ldapprefix
	Suffix          string // ldapsuffix
	Scope           string // ldapscope: accepted and unused, as in Odyssey
}

// KV is one key/value pair of an options block, in config order.
type KV struct{ Key, Value string }

// Name renders the rule's selector the way logs and the console print it,
// e.g. `db.user`, `default.user`, `db.default`.
func (r *Rule) Name() string {
	db, user := r.DB, r.User
	if r.DBDefault {
		db = "default"
	}
	if r.UserDefault {
		user = "default"
	}
	return db + "." + user
}
