package config

import "math"

// blockID identifies a kind of block of the configuration language; each
// kind has its own set of valid keywords.
type blockID int

const (
	blockTop blockID = iota
	blockListen
	blockListenBalancing
	blockStorage
	blockWatchdog
	blockBalancing
	blockBalancingMethod
	blockDatabase
	blockUser
	blockGroup
	blockLDAPCreds
	blockLDAPEndpoint
	blockSharedPool
	blockConnDrop
	blockSoftOOM
	blockSoftOOMDrop
	blockQueryParsing
)

// blockNoun names a kind of block in warnings that must not depend on the
// name of one particular block ("in listen blocks").
var blockNoun = map[blockID]string{
	blockTop:     "at top level",
	blockListen:  "in listen blocks",
	blockStorage: "in storage blocks",
	blockUser:    "in user blocks",
}

// valueKind says what follows a keyword.
type valueKind int

const (
	kindBool      valueKind = iota // yes | no
	kindInt                        // integer within [min, max]
	kindSize                       // non-negative integer, B/KB/MB/GB suffix allowed
	kindString                     // "string"
	kindEnum                       // "string" (or bare word when bare) from values
	kindWorkers                    // integer or "auto"
	kindNameOrDef                  // "string" or default
	kindPairs                      // { "key" "value" ... }
	kindStrings                    // { "value" ... }
	kindBlock                      // { items of block }
	kindNamed                      // "name" { items of block }
	kindListen                     // listen { ... }
	kindStorage                    // storage "name" { ... }
	kindDatabase                   // database "name" | default { ... }
	kindUser                       // user "name" | default [address] [conn type] { ... }
	kindGroup                      // group "name" [address] [conn type] { ... }
	kindInclude                    // include "path"
	kindLDAP                       // ldap_endpoint "name" { ... }
)

// keyword describes one keyword of one kind of block: what value it takes
// and whether it is deprecated. Whether it does something is decided by the
// implemented table below.
type keyword struct {
	name       string
	kind       valueKind
	min, max   int64    // kindInt
	values     []string // kindEnum
	bare       bool     // kindEnum: a bare word is accepted too
	block      blockID  // kindBlock, kindNamed
	deprecated bool
}

func boolKW(name string) keyword   { return keyword{name: name, kind: kindBool} }
func stringKW(name string) keyword { return keyword{name: name, kind: kindString} }
func sizeKW(name string) keyword   { return keyword{name: name, kind: kindSize} }
func intKW(name string, lo, hi int64) keyword {
	return keyword{name: name, kind: kindInt, min: lo, max: hi}
}
func anyIntKW(name string) keyword { return intKW(name, math.MinInt32, math.MaxInt32) }
func natKW(name string) keyword    { return intKW(name, 0, math.MaxInt32) }
func posKW(name string) keyword    { return intKW(name, 1, math.MaxInt32) }
func portKW(name string) keyword   { return intKW(name, 1, 65535) }
func enumKW(name string, values ...string) keyword {
	return keyword{name: name, kind: kindEnum, values: values}
}
func blockKW(name string, kind valueKind, b blockID) keyword {
	return keyword{name: name, kind: kind, block: b}
}
func deprecated(k keyword) keyword { k.deprecated = true; return k }

// Values of the enumerated keywords, shared by the blocks that use them.
var (
	tlsModes      = []string{"disable", "allow", "prefer", "require", "verify_ca", "verify_full"}
	tsaValues     = []string{"read-write", "read-only", "prefer-standby", "any"}
	balanceMethod = []string{"roundrobin", "leastconn"}
	authMethods   = []string{"none", "block", "clear_text", "md5", "scram-sha-256", "cert", "external"}
	poolModes     = []string{"session", "transaction", "statement"}
	roles         = []string{"admin", "stat", "notallow"}
)

// connTypes are the connection-type selectors of user and group rules.
var connTypes = map[string]ConnType{
	"default":   ConnAny,
	"local":     ConnLocal,
	"host":      ConnHost,
	"hostssl":   ConnHostSSL,
	"hostnossl": ConnHostNoSSL,
}

// The keywords of every block, from Odyssey's keyword table (sources/cfg),
// its grammar and its documentation. Each list is in a stable order so that
// "did you mean" picks the same suggestion every time.
var (
	globalKeywords = []keyword{
		{name: "include", kind: kindInclude},
		blockKW("listen", kindListen, blockListen),
		blockKW("storage", kindStorage, blockStorage),
		blockKW("database", kindDatabase, blockDatabase),
		blockKW("ldap_endpoint", kindLDAP, blockLDAPEndpoint),
		blockKW("shared_pool", kindNamed, blockSharedPool),
		blockKW("conn_drop_options", kindBlock, blockConnDrop),
		blockKW("online_restart_drop_options", kindBlock, blockConnDrop),
		blockKW("soft_oom", kindBlock, blockSoftOOM),
		blockKW("query_parsing", kindBlock, blockQueryParsing),

		boolKW("daemonize"),
		boolKW("sequential_routing"),
		anyIntKW("priority"),
		stringKW("pid_file"),
		stringKW("unix_socket_dir"),
		stringKW("unix_socket_mode"),
		stringKW("locks_dir"),
		stringKW("log_file"),
		stringKW("log_format"),
		boolKW("log_to_stdout"),
		boolKW("log_syslog"),
		stringKW("log_syslog_ident"),
		stringKW("log_syslog_facility"),
		boolKW("log_debug"),
		boolKW("log_config"),
		boolKW("log_session"),
		boolKW("log_query"),
		boolKW("log_stats"),
		boolKW("log_async"),
		natKW("log_queue_depth"),
		boolKW("log_general_stats_prom"),
		boolKW("log_route_stats_prom"),
		portKW("promhttp_server_port"),
		stringKW("promhttp_server_address"), // ours: Odyssey has no such keyword
		natKW("auth_failure_delay_ms"),      // ours, after PostgreSQL's auth_delay
		natKW("stats_interval"),
		{name: "workers", kind: kindWorkers},
		posKW("resolvers"),
		sizeKW("readahead"),
		natKW("cache_coroutine"),
		natKW("cache_msg_gc_size"),
		anyIntKW("coroutine_stack_size"),
		anyIntKW("system_coroutine_stack_size"),
		boolKW("nodelay"),
		boolKW("disable_nolinger"),
		natKW("keepalive"),
		natKW("keepalive_keep_interval"),
		natKW("keepalive_probes"),
		anyIntKW("keepalive_usr_timeout"),
		natKW("client_max"),
		natKW("client_max_routing"),
		natKW("accept_rate_limit"),
		natKW("server_login_retry"),
		natKW("backend_connect_timeout_ms"),
		natKW("cancel_timeout_ms"),
		anyIntKW("cancel_queue_timeout_ms"),
		anyIntKW("cancel_max_inflight"),
		natKW("dns_cache_ttl"),
		stringKW("hba_file"),
		stringKW("availability_zone"),
		boolKW("enable_online_restart"),
		boolKW("bindwith_reuseport"),
		natKW("max_sigterms_to_die"),
		natKW("graceful_shutdown_timeout_ms"),
		boolKW("enable_host_watcher"),
		boolKW("smart_search_path_enquoting"),
		stringKW("external_auth_socket_path"),
		stringKW("cpu_affinity"),
		natKW("group_checker_interval"),
		boolKW("virtual_transaction"),
		boolKW("virtual_processing"),

		deprecated(boolKW("graceful_die_on_errors")),
		deprecated(anyIntKW("pipeline")),
		deprecated(anyIntKW("cache")),
		deprecated(anyIntKW("cache_chunk")),
		deprecated(anyIntKW("packet_read_size")),
		deprecated(anyIntKW("packet_write_queue")),
	}

	listenKeywords = []keyword{
		stringKW("host"),
		portKW("port"),
		natKW("backlog"),
		enumKW("tls", tlsModes...),
		stringKW("tls_ca_file"),
		stringKW("tls_key_file"),
		stringKW("tls_cert_file"),
		stringKW("tls_protocols"),
		natKW("client_login_timeout"),
		enumKW("target_session_attrs", tsaValues...),
		enumKW("balancing_method", balanceMethod...),
		blockKW("balancing", kindBlock, blockListenBalancing),
		natKW("catchup_timeout"),
		stringKW("storage"),
		intKW("reserved_clients", -1, math.MaxInt32),
		boolKW("auto_route_ro_on_standby"),
		deprecated(boolKW("compression")),
	}

	storageKeywords = []keyword{
		enumKW("type", "remote", "local"),
		stringKW("host"),
		portKW("port"),
		enumKW("tls", tlsModes...),
		stringKW("tls_ca_file"),
		stringKW("tls_key_file"),
		stringKW("tls_cert_file"),
		stringKW("tls_protocols"),
		natKW("server_max_routing"),
		natKW("endpoints_status_poll_interval"),
		enumKW("target_session_attrs", tsaValues...),
		blockKW("watchdog", kindBlock, blockWatchdog),
		blockKW("balancing", kindBlock, blockBalancing),
	}

	balancingKeywords = []keyword{
		blockKW("method", kindNamed, blockBalancingMethod),
		boolKW("show_notice_messages"),
	}

	balancingMethodKeywords = []keyword{
		boolKW("az_aware"),
	}

	databaseKeywords = []keyword{
		{name: "user", kind: kindUser, block: blockUser},
		{name: "group", kind: kindGroup, block: blockGroup},
	}

	// routeKeywords are valid in user rules and in the rule-like group and
	// storage watchdog blocks.
	routeKeywords = []keyword{
		enumKW("authentication", authMethods...),
		stringKW("password"),
		{name: "auth_common_name", kind: kindNameOrDef},
		stringKW("auth_query"),
		stringKW("auth_query_db"),
		stringKW("auth_query_user"),
		stringKW("auth_pam_service"),
		stringKW("auth_module"),
		boolKW("enable_mdb_iamproxy_auth"),
		stringKW("mdb_iamproxy_socket_path"),
		boolKW("password_passthrough"),
		enumKW("role", roles...),
		stringKW("storage"),
		stringKW("storage_db"),
		stringKW("storage_user"),
		stringKW("storage_password"),
		stringKW("shared_pool"),
		enumKW("pool", poolModes...),
		enumKW("pool_routing", "internal", "client_visible"),
		natKW("pool_size"),
		natKW("min_pool_size"),
		natKW("pool_timeout"),
		natKW("pool_ttl"),
		boolKW("pool_discard"),
		boolKW("pool_smart_discard"),
		stringKW("pool_discard_query"),
		boolKW("pool_ignore_discardall"),
		boolKW("pool_cancel"),
		boolKW("pool_rollback"),
		natKW("pool_reset_timeout_ms"),
		boolKW("pool_reserve_prepared_statement"),
		boolKW("pool_pin_on_listen"),
		boolKW("pool_attach_check"),
		boolKW("pool_acquire_fail_fast"),
		natKW("pool_notice_after_waiting_ms"),
		natKW("pool_client_idle_timeout"),
		natKW("pool_idle_in_transaction_timeout"),
		posKW("client_max"),
		boolKW("client_fwd_error"),
		boolKW("client_show_id"),
		boolKW("reserve_session_server_connection"),
		stringKW("quantiles"),
		boolKW("application_name_add_host"),
		boolKW("server_drop_on_cached_plan_error"),
		boolKW("server_drop_on_backend_plan_error"),
		natKW("server_lifetime"),
		boolKW("maintain_params"),
		enumKW("target_session_attrs", tsaValues...),
		natKW("catchup_timeout"),
		boolKW("auto_route_ro_on_standby"),
		boolKW("log_debug"),
		boolKW("log_query"),
		stringKW("ldap_endpoint_name"),
		stringKW("ldap_storage_credentials_attr"),
		blockKW("ldap_storage_credentials", kindNamed, blockLDAPCreds),
		blockKW("options", kindPairs, 0),
		blockKW("backend_startup_options", kindPairs, 0),
		natKW("keepalive"),
		natKW("keepalive_keep_interval"),
		natKW("keepalive_probes"),
		anyIntKW("keepalive_usr_timeout"),

		deprecated(anyIntKW("catchup_checks")),
		deprecated(anyIntKW("ldap_pool_size")),
		deprecated(anyIntKW("ldap_pool_timeout")),
		deprecated(anyIntKW("ldap_pool_ttl")),
	}

	groupOnlyKeywords = []keyword{
		stringKW("group_query"),
		stringKW("group_query_user"),
		stringKW("group_query_db"),
	}

	watchdogOnlyKeywords = []keyword{
		stringKW("watchdog_lag_query"),
		natKW("watchdog_lag_interval"),
	}

	ldapCredsKeywords = []keyword{
		stringKW("ldap_storage_username"),
		stringKW("ldap_storage_password"),
	}

	ldapEndpointKeywords = []keyword{
		stringKW("ldapserver"),
		natKW("ldapport"),
		stringKW("ldapscheme"),
		stringKW("ldapbasedn"),
		stringKW("ldapbinddn"),
		stringKW("ldapbindpasswd"),
		stringKW("ldapsearchattribute"),
		stringKW("ldapsearchfilter"),
		stringKW("ldapprefix"),
		stringKW("ldapsuffix"),
		stringKW("ldapscope"),
		stringKW("ldapurl"),
	}

	sharedPoolKeywords = []keyword{
		natKW("pool_size"),
	}

	connDropKeywords = []keyword{
		boolKW("drop_enabled"),
		posKW("rate"),
		posKW("interval_ms"),
	}

	softOOMKeywords = []keyword{
		sizeKW("limit"),
		stringKW("process"),
		natKW("check_interval_ms"),
		blockKW("drop", kindBlock, blockSoftOOMDrop),
	}

	softOOMDropKeywords = []keyword{
		stringKW("signal"),
		natKW("max_rate"),
	}

	queryParsingKeywords = []keyword{
		{name: "mode", kind: kindEnum, values: []string{"disabled", "minimal", "full"}, bare: true},
		sizeKW("mem_limit"),
		natKW("max_query_len"),
		blockKW("standby_function_list", kindStrings, 0),
	}
)

// blockKeywords holds, for each kind of block, the keyword lists valid in
// it. Route items are shared by user rules, groups and storage watchdogs.
var blockKeywords = [...][][]keyword{
	blockTop:             {globalKeywords},
	blockListen:          {listenKeywords},
	blockListenBalancing: {balancingKeywords},
	blockStorage:         {storageKeywords},
	blockWatchdog:        {routeKeywords, watchdogOnlyKeywords},
	blockBalancing:       {balancingKeywords},
	blockBalancingMethod: {balancingMethodKeywords},
	blockDatabase:        {databaseKeywords},
	blockUser:            {routeKeywords},
	blockGroup:           {routeKeywords, groupOnlyKeywords},
	blockLDAPCreds:       {ldapCredsKeywords},
	blockLDAPEndpoint:    {ldapEndpointKeywords},
	blockSharedPool:      {sharedPoolKeywords},
	blockConnDrop:        {connDropKeywords},
	blockSoftOOM:         {softOOMKeywords},
	blockSoftOOMDrop:     {softOOMDropKeywords},
	blockQueryParsing:    {queryParsingKeywords},
}

// keywordLists returns the keyword lists valid in a kind of block.
func keywordLists(b blockID) [][]keyword {
	if int(b) < len(blockKeywords) {
		return blockKeywords[b]
	}
	return nil
}

// lookupKeyword finds a keyword of block b by its lower-cased name.
func lookupKeyword(b blockID, name string) *keyword {
	for _, list := range keywordLists(b) {
		for i := range list {
			if list[i].name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// keywordNames lists the names valid in block b, for suggestions.
func keywordNames(b blockID) []string {
	var names []string
	for _, list := range keywordLists(b) {
		for _, k := range list {
			names = append(names, k.name)
		}
	}
	return names
}

// knownElsewhere reports whether name is a keyword of some block other
// than b, to tell a misplaced keyword from a misspelt one.
func knownElsewhere(b blockID, name string) bool {
	for other := range blockID(len(blockKeywords)) {
		if other != b && lookupKeyword(other, name) != nil {
			return true
		}
	}
	return false
}

// implemented is THE table of keywords that have an effect: each entry
// stores a value into the model. Every other keyword in the lists above is
// accepted, type-checked, ignored and reported once per load with a
// warning. To implement a keyword, add a field to model.go and an entry
// here; nothing else needs to change.
//
// Blocks that create model objects (listen, storage, database, user) and
// include are handled by the parser itself.
var implemented = struct {
	global  map[string]func(*Config, value) error
	listen  map[string]func(*Listen, value) error
	storage map[string]func(*Storage, value) error
	rule    map[string]func(*Rule, value) error
	ldap    map[string]func(*LDAPEndpoint, value) error
}{
	global: map[string]func(*Config, value) error{
		"daemonize":                    func(c *Config, v value) error { c.Daemonize = v.b; return nil },
		"sequential_routing":           func(c *Config, v value) error { c.SequentialRouting = v.b; return nil },
		"pid_file":                     func(c *Config, v value) error { c.PidFile = v.s; return nil },
		"unix_socket_dir":              func(c *Config, v value) error { c.UnixSocketDir = v.s; return nil },
		"unix_socket_mode":             setUnixSocketMode,
		"log_file":                     func(c *Config, v value) error { c.LogFile = v.s; return nil },
		"log_format":                   func(c *Config, v value) error { c.LogFormat = v.s; return nil },
		"log_to_stdout":                func(c *Config, v value) error { c.LogToStdout = v.b; return nil },
		"log_debug":                    func(c *Config, v value) error { c.LogDebug = v.b; return nil },
		"log_config":                   func(c *Config, v value) error { c.LogConfig = v.b; return nil },
		"log_session":                  func(c *Config, v value) error { c.LogSession = v.b; return nil },
		"log_query":                    func(c *Config, v value) error { c.LogQuery = v.b; return nil },
		"log_stats":                    func(c *Config, v value) error { c.LogStats = v.b; return nil },
		"stats_interval":               func(c *Config, v value) error { c.StatsInterval = v.int(); return nil },
		"workers":                      func(c *Config, v value) error { c.Workers = v.int(); return nil },
		"nodelay":                      func(c *Config, v value) error { c.Nodelay = v.b; return nil },
		"keepalive":                    func(c *Config, v value) error { c.Keepalive = v.int(); return nil },
		"keepalive_keep_interval":      func(c *Config, v value) error { c.KeepaliveKeepInterval = v.int(); return nil },
		"keepalive_probes":             func(c *Config, v value) error { c.KeepaliveProbes = v.int(); return nil },
		"keepalive_usr_timeout":        func(c *Config, v value) error { c.KeepaliveUsrTimeout = v.int(); return nil },
		"client_max":                   setGlobalClientMax,
		"backend_connect_timeout_ms":   func(c *Config, v value) error { c.BackendConnectTimeoutMs = v.int(); return nil },
		"cancel_timeout_ms":            func(c *Config, v value) error { c.CancelTimeoutMs = v.int(); return nil },
		"graceful_shutdown_timeout_ms": func(c *Config, v value) error { c.GracefulShutdownTimeoutMs = v.int(); return nil },
		"promhttp_server_port":         func(c *Config, v value) error { c.PromhttpServerPort = v.int(); return nil },
		"promhttp_server_address":      func(c *Config, v value) error { c.PromhttpServerAddress = v.s; return nil },
		"auth_failure_delay_ms":        func(c *Config, v value) error { c.AuthFailureDelayMs = v.int(); return nil },
		"virtual_transaction":          func(c *Config, v value) error { c.VirtualTransaction = v.b; return nil },
		"hba_file":                     func(c *Config, v value) error { c.HBAFile = v.s; return nil },
	},
	listen: map[string]func(*Listen, value) error{
		"host":                 func(l *Listen, v value) error { l.Host = v.s; return nil },
		"port":                 func(l *Listen, v value) error { l.Port = v.int(); return nil },
		"backlog":              func(l *Listen, v value) error { l.Backlog = v.int(); return nil },
		"client_login_timeout": func(l *Listen, v value) error { l.ClientLoginTimeout = v.int(); return nil },
		"tls":                  func(l *Listen, v value) error { l.TLS.Mode = v.s; return nil },
		"tls_ca_file":          func(l *Listen, v value) error { l.TLS.CAFile = v.s; return nil },
		"tls_key_file":         func(l *Listen, v value) error { l.TLS.KeyFile = v.s; return nil },
		"tls_cert_file":        func(l *Listen, v value) error { l.TLS.CertFile = v.s; return nil },
		"tls_protocols":        func(l *Listen, v value) error { l.TLS.Protocols = v.s; return nil },
	},
	storage: map[string]func(*Storage, value) error{
		"type":          setStorageType,
		"host":          setStorageHosts,
		"port":          func(s *Storage, v value) error { s.Port = v.int(); return nil },
		"tls":           func(s *Storage, v value) error { s.TLS.Mode = v.s; return nil },
		"tls_ca_file":   func(s *Storage, v value) error { s.TLS.CAFile = v.s; return nil },
		"tls_key_file":  func(s *Storage, v value) error { s.TLS.KeyFile = v.s; return nil },
		"tls_cert_file": func(s *Storage, v value) error { s.TLS.CertFile = v.s; return nil },
		"tls_protocols": func(s *Storage, v value) error { s.TLS.Protocols = v.s; return nil },
	},
	rule: map[string]func(*Rule, value) error{
		"authentication":                    setAuthentication,
		"password":                          func(r *Rule, v value) error { r.Password = v.s; return nil },
		"auth_common_name":                  setAuthCommonName,
		"password_passthrough":              func(r *Rule, v value) error { r.PasswordPassthrough = v.b; return nil },
		"role":                              setRole,
		"storage":                           func(r *Rule, v value) error { r.StorageName = v.s; return nil },
		"storage_db":                        func(r *Rule, v value) error { r.StorageDB = v.s; return nil },
		"storage_user":                      func(r *Rule, v value) error { r.StorageUser = v.s; return nil },
		"storage_password":                  func(r *Rule, v value) error { r.StoragePassword = v.s; return nil },
		"pool":                              setPoolMode,
		"pool_routing":                      func(r *Rule, v value) error { r.Internal = v.s == "internal"; return nil },
		"pool_size":                         func(r *Rule, v value) error { r.PoolSize = v.int(); return nil },
		"min_pool_size":                     func(r *Rule, v value) error { r.MinPoolSize = v.int(); return nil },
		"pool_timeout":                      func(r *Rule, v value) error { r.PoolTimeout = v.int(); return nil },
		"pool_ttl":                          func(r *Rule, v value) error { r.PoolTTL = v.int(); return nil },
		"pool_discard":                      func(r *Rule, v value) error { r.PoolDiscard = v.b; return nil },
		"pool_smart_discard":                func(r *Rule, v value) error { r.PoolSmartDiscard = v.b; return nil },
		"pool_discard_query":                func(r *Rule, v value) error { r.PoolDiscardQuery = v.s; return nil },
		"pool_cancel":                       func(r *Rule, v value) error { r.PoolCancel = v.b; return nil },
		"pool_rollback":                     func(r *Rule, v value) error { r.PoolRollback = v.b; return nil },
		"pool_reset_timeout_ms":             func(r *Rule, v value) error { r.PoolResetTimeoutMs = v.int(); return nil },
		"pool_attach_check":                 func(r *Rule, v value) error { r.PoolAttachCheck = v.b; return nil },
		"pool_reserve_prepared_statement":   func(r *Rule, v value) error { r.PoolReservePrepared = v.b; return nil },
		"pool_pin_on_listen":                func(r *Rule, v value) error { r.PoolPinOnListen = v.b; return nil },
		"pool_client_idle_timeout":          func(r *Rule, v value) error { r.PoolClientIdleTimeout = v.int(); return nil },
		"pool_idle_in_transaction_timeout":  func(r *Rule, v value) error { r.PoolIdleInTxTimeout = v.int(); return nil },
		"server_lifetime":                   func(r *Rule, v value) error { r.ServerLifetime = v.int(); return nil },
		"client_max":                        func(r *Rule, v value) error { r.ClientMax = v.int(); return nil },
		"client_fwd_error":                  func(r *Rule, v value) error { r.ClientFwdError = v.b; return nil },
		"maintain_params":                   func(r *Rule, v value) error { r.MaintainParams = v.b; return nil },
		"reserve_session_server_connection": func(r *Rule, v value) error { r.ReserveSessionServer = v.b; return nil },
		"application_name_add_host":         func(r *Rule, v value) error { r.ApplicationNameAddHost = v.b; return nil },
		"log_debug":                         func(r *Rule, v value) error { r.LogDebug = v.b; return nil },
		"log_query":                         func(r *Rule, v value) error { r.LogQuery = v.b; return nil },
		"quantiles":                         setQuantiles,
		"options":                           func(r *Rule, v value) error { r.Options = append(r.Options, v.pairs...); return nil },
		"backend_startup_options":           setBackendStartupOptions,
		"auth_query":                        func(r *Rule, v value) error { r.AuthQuery = v.s; return nil },
		"auth_query_db":                     func(r *Rule, v value) error { r.AuthQueryDB = v.s; return nil },
		"auth_query_user":                   func(r *Rule, v value) error { r.AuthQueryUser = v.s; return nil },
		"ldap_endpoint_name":                func(r *Rule, v value) error { r.LDAPEndpointName = v.s; return nil },
	},
	ldap: map[string]func(*LDAPEndpoint, value) error{
		"ldapserver":          func(l *LDAPEndpoint, v value) error { l.Server = v.s; return nil },
		"ldapport":            func(l *LDAPEndpoint, v value) error { l.Port = v.int(); return nil },
		"ldapscheme":          func(l *LDAPEndpoint, v value) error { l.Scheme = v.s; return nil },
		"ldapurl":             func(l *LDAPEndpoint, v value) error { l.URL = v.s; return nil },
		"ldapbasedn":          func(l *LDAPEndpoint, v value) error { l.BaseDN = v.s; return nil },
		"ldapbinddn":          func(l *LDAPEndpoint, v value) error { l.BindDN = v.s; return nil },
		"ldapbindpasswd":      func(l *LDAPEndpoint, v value) error { l.BindPassword = v.s; return nil },
		"ldapsearchattribute": func(l *LDAPEndpoint, v value) error { l.SearchAttribute = v.s; return nil },
		"ldapsearchfilter":    func(l *LDAPEndpoint, v value) error { l.SearchFilter = v.s; return nil },
		"ldapprefix":          func(l *LDAPEndpoint, v value) error { l.Prefix = v.s; return nil },
		"ldapsuffix":          func(l *LDAPEndpoint, v value) error { l.Suffix = v.s; return nil },
		"ldapscope":           func(l *LDAPEndpoint, v value) error { l.Scope = v.s; return nil },
	},
}

// pending lists keywords that are parsed into the model (so validation and
// later work can use them) but have no effect on the running pooler yet:
// they warn like the accepted-only ones until the feature lands.
var pending = map[blockID]map[string]bool{
	blockTop: {
		"daemonize": true, "log_config": true,
	},
	blockUser: {},
}

// pendingKeyword reports whether name in block b is parsed but not in effect.
func pendingKeyword(b blockID, name string) bool { return pending[b][name] }

// isImplemented reports whether keyword name of block b stores into the model.
func isImplemented(b blockID, name string) bool {
	var ok bool
	switch b {
	case blockTop:
		_, ok = implemented.global[name]
	case blockListen:
		_, ok = implemented.listen[name]
	case blockStorage:
		_, ok = implemented.storage[name]
	case blockUser:
		_, ok = implemented.rule[name]
	case blockLDAPEndpoint:
		_, ok = implemented.ldap[name]
	}
	return ok
}

// implementedElsewhere reports whether name does something in some block
// other than b; warnings about it in b then say which block they mean.
func implementedElsewhere(b blockID, name string) bool {
	for _, other := range []blockID{blockTop, blockListen, blockStorage, blockUser, blockLDAPEndpoint} {
		if other != b && isImplemented(other, name) {
			return true
		}
	}
	return false
}
