package config

import (
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, ruleConfig(validRule))

	wantCfg := newConfig("test.conf")
	wantCfg.LogFormat = `%p %t %l [%i %s] (%c) %m\n`
	got := *cfg
	got.Listen, got.Storages, got.Rules, got.Warnings = nil, nil, nil, nil
	if !reflect.DeepEqual(&got, wantCfg) {
		t.Errorf("globals:\n got %+v\nwant %+v", got, *wantCfg)
	}
	if cfg.Workers != 1 || cfg.StatsInterval != 3 || cfg.Keepalive != 15 || cfg.ClientMax != -1 ||
		!cfg.LogToStdout || !cfg.LogSession || !cfg.LogStats || !cfg.Nodelay || !cfg.VirtualTransaction ||
		cfg.BackendConnectTimeoutMs != 30000 || cfg.CancelTimeoutMs != 1000 || cfg.GracefulShutdownTimeoutMs != 30000 ||
		cfg.KeepaliveKeepInterval != 5 || cfg.KeepaliveProbes != 3 {
		t.Errorf("global defaults differ from Odyssey's: %+v", got)
	}

	l := cfg.Listen[0]
	if l.Port != 6432 || l.Backlog != 128 || l.ClientLoginTimeout != 15000 || l.Host != "*" {
		t.Errorf("listen defaults: %+v", l)
	}
	if l.Pos != (Position{File: "test.conf", Line: 2, Column: 1}) {
		t.Errorf("listen position %v", l.Pos)
	}

	s := cfg.Storages[0]
	if s.Port != 5432 || s.Type != StorageRemote || !reflect.DeepEqual(s.Hosts, []Endpoint{{Host: "localhost", Port: 5432}}) {
		t.Errorf("storage defaults: %+v", s)
	}

	r := cfg.Rules[0]
	want := &Rule{
		Pos:                  Position{File: "test.conf", Line: 5, Column: 2},
		DB:                   "db",
		User:                 "u",
		StorageName:          "pg",
		Storage:              s,
		Pool:                 PoolTransaction,
		PoolDiscard:          true,
		PoolSmartDiscard:     true, // pool_discard with the prepared statement reserve on
		PoolCancel:           true,
		PoolRollback:         true,
		PoolResetTimeoutMs:   1000,
		PoolAttachCheck:      true,
		PoolReservePrepared:  true,
		PoolPinOnListen:      true,
		ServerLifetime:       3600,
		ClientMax:            -1,
		MaintainParams:       true,
		ReserveSessionServer: true,
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("rule:\n got %+v\nwant %+v", *r, *want)
	}
	if len(cfg.Warnings) != 0 && !warnsPending(cfg.Warnings) {
		t.Errorf("unexpected warnings: %v", cfg.Warnings)
	}
}

// warnsPending reports whether every warning is about a keyword listed in
// pending (parsed, not in effect yet).
func warnsPending(ws []Diag) bool {
	for _, w := range ws {
		found := false
		for _, names := range pending {
			for name := range names {
				if strings.HasPrefix(w.Message, `"`+name+`"`) {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestGlobalKeywords(t *testing.T) {
	tests := []struct {
		item  string
		check func(*Config) bool
	}{
		{"daemonize yes", func(c *Config) bool { return c.Daemonize }},
		{"sequential_routing yes", func(c *Config) bool { return c.SequentialRouting }},
		{`pid_file "/run/o.pid"`, func(c *Config) bool { return c.PidFile == "/run/o.pid" }},
		{`log_file "/var/log/o.log"`, func(c *Config) bool { return c.LogFile == "/var/log/o.log" }},
		{"log_to_stdout no", func(c *Config) bool { return !c.LogToStdout }},
		{"log_debug yes", func(c *Config) bool { return c.LogDebug }},
		{"log_config yes", func(c *Config) bool { return c.LogConfig }},
		{"log_session no", func(c *Config) bool { return !c.LogSession }},
		{"log_query yes", func(c *Config) bool { return c.LogQuery }},
		{"log_stats no", func(c *Config) bool { return !c.LogStats }},
		{"stats_interval 60", func(c *Config) bool { return c.StatsInterval == 60 }},
		{"workers 4", func(c *Config) bool { return c.Workers == 4 }},
		{`workers "auto"`, func(c *Config) bool { return c.Workers == (1+runtime.NumCPU())/2 }},
		{"nodelay no", func(c *Config) bool { return !c.Nodelay }},
		{"keepalive 0", func(c *Config) bool { return c.Keepalive == 0 }},
		{"keepalive_keep_interval 75", func(c *Config) bool { return c.KeepaliveKeepInterval == 75 }},
		{"keepalive_probes 9", func(c *Config) bool { return c.KeepaliveProbes == 9 }},
		{"keepalive_usr_timeout -1", func(c *Config) bool { return c.KeepaliveUsrTimeout == -1 }},
		{"client_max 100", func(c *Config) bool { return c.ClientMax == 100 }},
		{"client_max 0", func(c *Config) bool { return c.ClientMax == -1 }},
		{"backend_connect_timeout_ms 2000", func(c *Config) bool { return c.BackendConnectTimeoutMs == 2000 }},
		{"cancel_timeout_ms 50", func(c *Config) bool { return c.CancelTimeoutMs == 50 }},
		{"graceful_shutdown_timeout_ms 0", func(c *Config) bool { return c.GracefulShutdownTimeoutMs == 0 }},
		{"promhttp_server_port 7777", func(c *Config) bool { return c.PromhttpServerPort == 7777 }},
		{"virtual_transaction no", func(c *Config) bool { return !c.VirtualTransaction }},
		{`log_format "json"`, func(c *Config) bool { return c.LogFormat == "json" }},
		{"unix_socket_dir \"/tmp\"\nunix_socket_mode \"0644\"", func(c *Config) bool {
			return c.UnixSocketDir == "/tmp" && c.UnixSocketMode == os.FileMode(0o644)
		}},
		{"DAEMONIZE YES", func(c *Config) bool { return c.Daemonize }}, // keywords ignore case
	}
	for _, tt := range tests {
		cfg := mustParse(t, ruleConfig(validRule)+tt.item+"\n")
		if !tt.check(cfg) {
			t.Errorf("%q not applied", tt.item)
		}
		if len(cfg.Warnings) != 0 && !warnsPending(cfg.Warnings) {
			t.Errorf("%q: implemented keyword warned: %v", tt.item, cfg.Warnings)
		}
	}
}

func TestListenAndStorageKeywords(t *testing.T) {
	src := `log_format "x"
listen {
	host "127.0.0.1"
	port 7432
	backlog 16
	client_login_timeout 2000
	tls "verify_full"
	tls_ca_file "ca.pem"
	tls_key_file "k.pem"
	tls_cert_file "c.pem"
	tls_protocols "tlsv1.3"
}
storage "pg" {
	type "remote"
	host "h1,h2:6000"
	port 6543
	tls "prefer"
	tls_ca_file "sca"
	tls_key_file "skey"
	tls_cert_file "scert"
	tls_protocols "tlsv1.2"
}
storage "console" { type "local" }
database "db" { user "u" { authentication "none" storage "pg" pool "session" } }
`
	cfg := mustParse(t, src)
	l := cfg.Listen[0]
	wantL := &Listen{
		Pos: Position{File: "test.conf", Line: 2, Column: 1}, Host: "127.0.0.1", Port: 7432, Backlog: 16,
		ClientLoginTimeout: 2000,
		TLS:                TLSOptions{Mode: "verify_full", CAFile: "ca.pem", KeyFile: "k.pem", CertFile: "c.pem", Protocols: "tlsv1.3"},
	}
	if !reflect.DeepEqual(l, wantL) {
		t.Errorf("listen:\n got %+v\nwant %+v", *l, *wantL)
	}
	s := cfg.Storage("pg")
	wantS := &Storage{
		Pos: Position{File: "test.conf", Line: 13, Column: 1}, Name: "pg", Type: StorageRemote,
		Hosts: []Endpoint{{"h1", 6543}, {"h2", 6000}}, Port: 6543,
		TLS: TLSOptions{Mode: "prefer", CAFile: "sca", KeyFile: "skey", CertFile: "scert", Protocols: "tlsv1.2"},
	}
	if !reflect.DeepEqual(s, wantS) {
		t.Errorf("storage:\n got %+v\nwant %+v", *s, *wantS)
	}
	if c := cfg.Storage("console"); c == nil || c.Type != StorageLocal {
		t.Errorf("console storage: %+v", c)
	}
}

func TestRuleKeywords(t *testing.T) {
	cfg := mustParse(t, ruleConfig(`
		authentication "scram-sha-256"
		password "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"
		auth_common_name default
		auth_common_name "client.example"
		password_passthrough yes
		storage "pg"
		storage_db "real_db"
		storage_user "real_user"
		storage_password "secret"
		pool "transaction"
		pool_size 10
		min_pool_size 2
		pool_timeout 4000
		pool_ttl 60
		pool_discard no
		pool_smart_discard yes
		pool_discard_query "RESET ALL"
		pool_cancel no
		pool_rollback no
		pool_reset_timeout_ms 500
		pool_attach_check no
		pool_reserve_prepared_statement yes
		pool_pin_on_listen yes
		pool_client_idle_timeout 30
		pool_idle_in_transaction_timeout 40
		server_lifetime 1901
		client_max 107
		client_fwd_error yes
		maintain_params no
		reserve_session_server_connection no
		application_name_add_host yes
		log_debug yes
		log_query yes
		quantiles "0.99, 0.95,0.5"
		options { "search_path" "app" "statement_timeout" "5s" }
		backend_startup_options { "options" "-c jit=off" }
		options { "work_mem" "64MB" }`))
	r := cfg.Rules[0]
	want := &Rule{
		Pos: r.Pos, DB: "db", User: "u",
		Authentication:         AuthSCRAM,
		Password:               "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy",
		AuthCommonName:         []string{"default", "client.example"},
		PasswordPassthrough:    true,
		StorageName:            "pg",
		Storage:                cfg.Storages[0],
		StorageDB:              "real_db",
		StorageUser:            "real_user",
		StoragePassword:        "secret",
		Pool:                   PoolTransaction,
		PoolSize:               10,
		MinPoolSize:            2,
		PoolTimeout:            4000,
		PoolTTL:                60,
		PoolSmartDiscard:       true,
		PoolDiscardQuery:       "RESET ALL",
		PoolResetTimeoutMs:     500,
		PoolReservePrepared:    true,
		PoolPinOnListen:        true,
		PoolClientIdleTimeout:  30,
		PoolIdleInTxTimeout:    40,
		ServerLifetime:         1901,
		ClientMax:              107,
		ClientFwdError:         true,
		ApplicationNameAddHost: true,
		LogDebug:               true,
		LogQuery:               true,
		Quantiles:              []float64{0.99, 0.95, 0.5},
		Options:                []KV{{"search_path", "app"}, {"statement_timeout", "5s"}, {"work_mem", "64MB"}},
		BackendStartupOptions:  []KV{{"options", "-c jit=off"}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("rule:\n got %+v\nwant %+v", *r, *want)
	}
	if len(cfg.Warnings) != 0 && !warnsPending(cfg.Warnings) {
		t.Errorf("unexpected warnings: %v", cfg.Warnings)
	}
}

func TestEnumKeywords(t *testing.T) {
	for _, tt := range []struct {
		item  string
		check func(*Rule) bool
	}{
		{`authentication "block"`, func(r *Rule) bool { return r.Authentication == AuthBlock }},
		{`authentication "clear_text" password "x"`, func(r *Rule) bool { return r.Authentication == AuthClearText }},
		{`authentication "md5" password "md5d41d8cd98f00b204e9800998ecf8427e"`, func(r *Rule) bool { return r.Authentication == AuthMD5 }},
		{`authentication "cert"`, func(r *Rule) bool { return r.Authentication == AuthCert }},
		{`authentication "none" pool "session"`, func(r *Rule) bool { return r.Pool == PoolSession && !r.PoolReservePrepared }},
		{`authentication "none" pool "statement"`, func(r *Rule) bool { return r.Pool == PoolStatement }},
		{`authentication "none" pool_routing "internal"`, func(r *Rule) bool { return r.Internal }},
		{`authentication "none" pool_routing "client_visible"`, func(r *Rule) bool { return !r.Internal }},
	} {
		items := "\t\tstorage \"pg\"\n\t\tpool \"transaction\"\n\t\t" + tt.item
		cfg := mustParse(t, ruleConfig(items))
		if !tt.check(cfg.Rules[0]) {
			t.Errorf("%s: not applied: %+v", tt.item, *cfg.Rules[0])
		}
	}
}

func TestValueErrors(t *testing.T) {
	tests := []struct {
		item string // written on line 6, column 3
		col  int
		want string
	}{
		{"pool_size many", 13, `expected a number for "pool_size", found "many"`},
		{`pool_size "10"`, 13, `expected a number for "pool_size", found string "10"`},
		{"pool_size 1k", 13, `expected a number for "pool_size", found number 1k`},
		{"pool_size -1", 13, `"pool_size" must not be negative, found -1`},
		{"client_max 0", 14, `"client_max" must be at least 1, found 0`},
		{"client_max 3000000000", 14, `"client_max" must be between 1 and 2147483647, found 3000000000`},
		{"pool_discard 1", 16, `expected yes or no for "pool_discard", found number 1`},
		{"pool_discard true", 16, `expected yes or no for "pool_discard", found "true"`},
		{"password secret", 12, `expected a string for "password", found "secret"`},
		{"password", 2, `expected a string for "password", found "}"`},
		{`pool "sesion"`, 8, `unknown value "sesion" for "pool" (did you mean "session"?)`},
		{`authentication "md6"`, 18, `unknown value "md6" for "authentication" (did you mean "md5"?)`},
		{`role "root"`, 8, `unknown value "root" for "role" (expected one of "admin", "stat", "notallow")`},
		{`pool "Session"`, 8, `unknown value "Session" for "pool" (did you mean "session"?)`},
		{`quantiles "0.5,2"`, 13, `invalid quantile "2" in "0.5,2": expected numbers between 0 and 1`},
		{`options { "a" }`, 3, `"options" needs pairs of strings; "a" has no value`},
		{`options { a "b" }`, 13, `expected a string in "options", found "a"`},
		{`standby_function_list { "f" }`, 3, `keyword "standby_function_list" is not allowed`},
	}
	for _, tt := range tests {
		le := mustFail(t, ruleConfig(validRule+"\n\t\t"+tt.item))
		line := 9
		if tt.item == "password" {
			line = 10 // the closing brace of the rule
		}
		wantDiag(t, le.Diags, "test.conf", line, tt.col, tt.want)
		if len(le.Errors()) != 1 {
			t.Errorf("%q: want exactly one error, got:\n%v", tt.item, le)
		}
	}
}

func TestGlobalValueErrors(t *testing.T) {
	tests := []struct{ item, want string }{
		{"workers 0", `test.conf:11:9: "workers" must be at least 1, found 0`},
		{`workers "many"`, `test.conf:11:9: invalid value "many" for "workers" (expected a number or "auto")`},
		{`workers yes`, `test.conf:11:9: expected a number or "auto" for "workers", found "yes"`},
		{`unix_socket_mode "rw-r--r--"` + "\nunix_socket_dir \"/tmp\"",
			`test.conf:11:18: invalid unix_socket_mode "rw-r--r--": expected octal permission bits such as "0644"`},
		{`unix_socket_mode "01777"` + "\nunix_socket_dir \"/tmp\"",
			`test.conf:11:18: invalid unix_socket_mode "01777": expected octal permission bits such as "0644"`},
		{"promhttp_server_port 0", `test.conf:11:22: "promhttp_server_port" must be at least 1, found 0`},
		{"resolvers 0", `test.conf:11:11: "resolvers" must be at least 1, found 0`},
		{"query_parsing { mem_limit -1MB }", `test.conf:11:27: "mem_limit" must not be negative, found -1MB`},
		{"query_parsing { mode partial }", `test.conf:11:22: unknown value "partial" for "mode" (expected one of "disabled", "minimal", "full")`},
	}
	for _, tt := range tests {
		le := mustFail(t, ruleConfig(validRule)+tt.item+"\n")
		onlyError(t, le, tt.want)
	}
}

func TestAcceptedKeywordsWarnOncePerLoad(t *testing.T) {
	src := ruleConfig(validRule+`
		auth_query "SELECT usename, passwd FROM pg_shadow WHERE usename = $1"
		auth_query_user "u"
		auth_query_db "db"
		catchup_checks 3`) + `database "db2" {
	user "x" {
		authentication "none"
		storage "pg"
		pool "session"
		catchup_checks 10
		auth_query_db "x"
		auth_query "SELECT usename, passwd FROM pg_shadow WHERE usename = '%u'"
		auth_query_user "y"
	}
}
listen { host "::" storage "pg" compression yes }
cache 10
pipeline 2
resolvers 4
`
	cfg := mustParse(t, src)
	var got []string
	for _, w := range cfg.Warnings {
		if !w.Warning {
			t.Errorf("warning not flagged as such: %v", w)
		}
		got = append(got, w.String())
	}
	want := []string{
		`test.conf:12:3: warning: "catchup_checks" is deprecated and ignored`,
		`test.conf:26:20: warning: "storage" in listen blocks is accepted but not implemented yet; it has no effect`,
		`test.conf:26:33: warning: "compression" is deprecated and ignored`,
		`test.conf:27:1: warning: "cache" is deprecated and ignored`,
		`test.conf:28:1: warning: "pipeline" is deprecated and ignored`,
		`test.conf:29:1: warning: "resolvers" is accepted but not implemented yet; it has no effect`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAcceptedBlocks(t *testing.T) {
	src := ruleConfig(validRule+`
		shared_pool "sp"
		ldap_endpoint_name "ldap1"
		ldap_storage_credentials_attr "memberof"
		ldap_storage_credentials "group_ro" {
			ldap_storage_username "ro"
			ldap_storage_password "pw"
		}
		target_session_attrs "read-write"
		keepalive 10
		server_drop_on_cached_plan_error no`) + `
ldap_endpoint "ldap1" {
	ldapscheme "ldap"
	ldapserver "192.168.233.16"
	ldapport 389
	ldapbasedn "dc=example,dc=org"
	ldapbinddn "cn=admin,dc=example,dc=org"
	ldapbindpasswd "admin"
	ldapsearchattribute "gecos"
	ldapsearchfilter "(memberOf=cn=localhost)"
	ldapprefix "cn="
	ldapsuffix ",dc=example"
	ldapscope "sub"
}
shared_pool "sp" { pool_size 20 }
online_restart_drop_options { drop_enabled yes rate 2 interval_ms 500 }
conn_drop_options { drop_enabled no }
soft_oom {
	limit 750MB
	process "postgres"
	check_interval_ms 1000
	drop { signal "SIGTERM" max_rate 5 }
}
query_parsing {
	mode minimal
	mem_limit 1MB
	max_query_len 10000
	standby_function_list { "f1" "f2" }
}
storage "replicas" {
	type "remote"
	host "r1,r2"
	server_max_routing 4
	endpoints_status_poll_interval 1000
	balancing {
		method "leastconn" { az_aware no }
		show_notice_messages yes
	}
	watchdog {
		authentication "none"
		storage "replicas"
		pool "transaction"
		pool_routing "internal"
		watchdog_lag_query "SELECT 1"
		watchdog_lag_interval 10
	}
}
database "groups" {
	group "g1" "checker" host {
		authentication "md5"
		password "p"
		storage "pg"
		pool "session"
		group_query "SELECT 1"
		group_query_user "checker"
		group_query_db "postgres"
	}
}
listen {
	host "*"
	port 6433
	target_session_attrs "read-only"
	balancing_method "roundrobin"
	balancing { method "roundrobin" {} }
	catchup_timeout 10
	reserved_clients 2
}
`
	cfg := mustParse(t, src)
	warned := map[string]bool{}
	for _, w := range cfg.Warnings {
		name := strings.SplitN(w.Message, `"`, 3)[1]
		if warned[name] {
			t.Errorf("%q warned twice", name)
		}
		warned[name] = true
	}
	for _, name := range []string{
		"shared_pool", "ldap_storage_credentials_attr", "ldap_storage_credentials",
		"target_session_attrs", "keepalive", "server_drop_on_cached_plan_error",
		"online_restart_drop_options", "conn_drop_options", "soft_oom", "query_parsing",
		"server_max_routing", "endpoints_status_poll_interval", "balancing", "watchdog", "group",
		"balancing_method", "catchup_timeout", "reserved_clients",
	} {
		if !warned[name] {
			t.Errorf("no warning for %q", name)
		}
	}
	// Keywords inside ignored blocks do not warn on their own.
	for _, name := range []string{"ldapserver", "limit", "mode", "watchdog_lag_query", "group_query", "method"} {
		if warned[name] {
			t.Errorf("keyword %q inside an ignored block warned", name)
		}
	}
	if len(cfg.Listen) != 2 || len(cfg.Rules) != 1 || len(cfg.Storages) != 2 {
		t.Errorf("group or watchdog created objects: %d listens, %d rules, %d storages",
			len(cfg.Listen), len(cfg.Rules), len(cfg.Storages))
	}
	for _, w := range cfg.Warnings {
		if strings.HasPrefix(w.Message, `"keepalive"`) && w.Message != `"keepalive" in user blocks is accepted but not implemented yet; it has no effect` {
			t.Errorf("keepalive in a rule should name the block: %q", w.Message)
		}
	}
}

func TestUnknownKeywords(t *testing.T) {
	src := `log_format "x"
listen { host "*" }
storage "pg" { type "remote" host "h" }
database "db" {
	user "u" {
		authentication "none"
		pool "session"
		storage "pg"
		pool_szie 10 { nested "block" }
		frobnicate yes
	}
	host "x"
}
listn {
	host "*"
}
Workers 2
storage_db "x"
`
	le := mustFail(t, src)
	want := []string{
		`test.conf:9:3: unknown keyword "pool_szie" in database "db" user "u" block (did you mean "pool_size"?)`,
		`test.conf:10:3: unknown keyword "frobnicate" in database "db" user "u" block`,
		`test.conf:12:2: keyword "host" is not allowed in database "db" block`,
		`test.conf:14:1: unknown keyword "listn" at top level (did you mean "listen"?)`,
		`test.conf:18:1: keyword "storage_db" is not allowed at top level`,
	}
	var got []string
	for _, d := range le.Errors() {
		got = append(got, d.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The misspelt listen block was skipped as a whole; "Workers 2" applied.
	for _, w := range le.Diags {
		if strings.Contains(w.Message, `"host"`) && w.Pos.Line == 15 {
			t.Errorf("contents of the unknown block were parsed: %v", w)
		}
	}
}

func TestSyntaxErrorsAreAllReported(t *testing.T) {
	src := `log_format "x"
listen { host "*" }
}
storage "pg" { type "remote" host "h" }
database "db" {
	user "u" {
		authentication "none" pool "session" storage "pg"
		pool_size "x"
	}
	user "v" {
		authentication "none" pool "session" storage "pg"
		pool_ttl x
	}
}
storage { type "remote" }
database "other" {
	user "w" {
`
	le := mustFail(t, src)
	wantDiag(t, le.Diags, "test.conf", 3, 1, `unexpected "}" at top level`)
	wantDiag(t, le.Diags, "test.conf", 8, 13, `expected a number for "pool_size"`)
	wantDiag(t, le.Diags, "test.conf", 12, 12, `expected a number for "pool_ttl", found "x"`)
	wantDiag(t, le.Diags, "test.conf", 15, 9, `expected a name string after "storage", found "{"`)
	wantDiag(t, le.Diags, "test.conf", 18, 1, `unexpected end of file: missing "}" for the database "other" user "w" block opened at test.conf:17:2`)
	wantDiag(t, le.Diags, "test.conf", 18, 1, `missing "}" for the database "other" block opened at test.conf:16:1`)
}

func TestFreeFormLayout(t *testing.T) {
	// Odyssey's grammar ignores line breaks: blocks may open on the next
	// line and several items may share one.
	src := "log_format \"x\" listen\n{\nhost \"*\" port 1 }\nstorage \"pg\"\n{ type \"remote\" host \"h\" }\n" +
		"database\n\"db\"\n{ user default\n{ authentication \"none\" storage \"pg\" pool \"session\" } }"
	cfg := mustParse(t, src)
	if cfg.Listen[0].Port != 1 || !cfg.Rules[0].UserDefault {
		t.Errorf("unexpected result: %+v %+v", cfg.Listen[0], cfg.Rules[0])
	}
}

func TestRuleSelectors(t *testing.T) {
	p := func(s string) *netip.Prefix { x := netip.MustParsePrefix(s); return &x }
	tests := []struct {
		sel  string
		addr *netip.Prefix
		conn ConnType
	}{
		{``, nil, ConnAny},
		{`"all"`, nil, ConnAny},
		{`default`, nil, ConnAny},
		{`"10.0.0.0/8"`, p("10.0.0.0/8"), ConnAny},
		{`"10.1.2.3/8"`, p("10.0.0.0/8"), ConnAny}, // host bits are masked off
		{`"192.168.1.5"`, p("192.168.1.5/32"), ConnAny},
		{`"::1"`, p("::1/128"), ConnAny},
		{`"0000:0000:0000:0000:0000:0000:0000:0001/64"`, p("::/64"), ConnAny},
		{`hostssl`, nil, ConnHostSSL},
		{`"10.0.0.0/8" hostssl`, p("10.0.0.0/8"), ConnHostSSL},
		{`hostnossl "10.0.0.0/8"`, p("10.0.0.0/8"), ConnHostNoSSL},
		{`local`, nil, ConnLocal},
		{`HOST`, nil, ConnHost},
		{`"all" default`, nil, ConnAny},
	}
	for _, tt := range tests {
		src := preamble + "database default { user \"u\" " + tt.sel + " { " + validRule + " } }\n"
		cfg := mustParse(t, src)
		r := cfg.Rules[0]
		if !reflect.DeepEqual(r.Address, tt.addr) || r.ConnType != tt.conn {
			t.Errorf("%s: address %v conn %v, want %v %v", tt.sel, r.Address, r.ConnType, tt.addr, tt.conn)
		}
		if !r.DBDefault || r.DB != "" || r.User != "u" {
			t.Errorf("%s: rule names %+v", tt.sel, r)
		}
	}
}

func TestRuleSelectorErrors(t *testing.T) {
	tests := []struct{ sel, want string }{
		{`"db.example.com"`, `test.conf:4:29: address "db.example.com" is a host name; host-name address ranges are not supported, use an IP address, a CIDR range or "all"`},
		{`"10.0.0.0/33"`, `test.conf:4:29: invalid address range "10.0.0.0/33": expected an IP address, a CIDR range or "all"`},
		{`"10.0.0.0/8" "::1"`, `test.conf:4:42: address range given twice (string "::1")`},
		{`local host`, `test.conf:4:35: connection type given twice ("host")`},
		{`"a b"`, `test.conf:4:29: invalid address "a b": expected an IP address, a CIDR range or "all"`},
	}
	for _, tt := range tests {
		src := preamble + "database default { user \"u\" " + tt.sel + " { " + validRule + " } }\n"
		onlyError(t, mustFail(t, src), tt.want)
	}
}

func TestRulePositionAndName(t *testing.T) {
	cfg := mustParse(t, preamble+"database \"d\" {\n  user default {"+validRule+"}\n}\ndatabase default { user \"x\" {"+validRule+"} }\n")
	if got := cfg.Rules[0].Pos; got != (Position{File: "test.conf", Line: 5, Column: 3}) {
		t.Errorf("rule position %v, want the user keyword at 5:3", got)
	}
	if cfg.Rules[0].Name() != "d.default" || cfg.Rules[1].Name() != "default.x" {
		t.Errorf("names %q %q", cfg.Rules[0].Name(), cfg.Rules[1].Name())
	}
}

func TestTooManyErrors(t *testing.T) {
	src := strings.Repeat("bogus_keyword 1\n", 500)
	le := mustFail(t, src)
	if n := len(le.Errors()); n != maxErrors+1 {
		t.Errorf("%d errors, want %d plus the give-up note", n, maxErrors)
	}
	if last := le.Diags[len(le.Diags)-1]; !strings.Contains(last.Message, "too many errors") {
		t.Errorf("last diagnostic %v", last)
	}
}
