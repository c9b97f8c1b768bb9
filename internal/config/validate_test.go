package config

import (
	"strings"
	"testing"
)

func TestGlobalValidation(t *testing.T) {
	rules := `database default { user default { authentication "none" storage "pg" pool "session" } }` + "\n"
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"no listen", `log_format "x"` + "\n" + `storage "pg" { type "remote" host "h" }` + "\n" + rules,
			"test.conf: no listen block defined"},
		{"no log_format", `listen { host "*" }` + "\n" + `storage "pg" { type "remote" host "h" }` + "\n" + rules,
			`test.conf: log_format is not set (Odyssey requires it; for example "%p %t %l [%i %s] (%c) %m\\n")`},
		{"unix_socket_mode missing", preamble + rules + `unix_socket_dir "/tmp"` + "\n",
			"test.conf:5:1: unix_socket_mode must be set when unix_socket_dir is set"},
		{"listen without host", `log_format "x"` + "\n" + `listen { port 1 }` + "\n" + `storage "pg" { type "remote" host "h" }` + "\n" + rules,
			"test.conf:2:1: listen block has no host and unix_socket_dir is not set"},
		{"online restart without reuseport", preamble + rules + "bindwith_reuseport no\n",
			"test.conf:5:1: online restart needs bindwith_reuseport yes; set bindwith_reuseport yes or enable_online_restart no"},
		{"coroutine stack", preamble + rules + "coroutine_stack_size 2\n",
			`test.conf:5:22: "coroutine_stack_size" must be at least 4 (pages), found 2`},
		{"system coroutine stack", preamble + rules + "system_coroutine_stack_size 3\n",
			`test.conf:5:29: "system_coroutine_stack_size" must be at least 4 (pages), found 3`},
		{"no storage", `log_format "x"` + "\n" + `listen { host "*" }` + "\n",
			"test.conf: no storage defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			le := mustFail(t, tt.src)
			wantDiag(t, le.Diags, "test.conf", diagLine(tt.want), diagCol(tt.want), diagMsg(tt.want))
		})
	}
}

func TestUnixSocketDirSatisfiesHostRequirements(t *testing.T) {
	src := `log_format "x"
unix_socket_dir "/var/run/odyssey"
unix_socket_mode "0600"
listen { port 6432 }
storage "pg" { type "remote" port 5433 }
database default { user default { authentication "none" storage "pg" pool "session" } }
bindwith_reuseport no
enable_online_restart no
`
	cfg := mustParse(t, src)
	if len(cfg.Storages[0].Hosts) != 0 || cfg.Listen[0].Host != "" {
		t.Errorf("unexpected hosts: %+v %+v", cfg.Storages[0], cfg.Listen[0])
	}
}

func TestStorageValidation(t *testing.T) {
	rules := `database default { user default { authentication "none" storage "pg" pool "session" } }` + "\n"
	tests := []struct{ name, src, want string }{
		{"type missing", `log_format "x"` + "\nlisten { host \"*\" }\nstorage \"pg\" { host \"h\" }\n" + rules,
			`test.conf:3:1: storage "pg": type is not set (expected "remote" or "local")`},
		{"duplicate", preamble + `storage "pg" { type "local" }` + "\n" + rules,
			`test.conf:4:1: storage "pg" is already defined at test.conf:3:1`},
		{"remote without host", `log_format "x"` + "\nlisten { host \"*\" }\nstorage \"pg\" { type \"remote\" }\n" + rules,
			`test.conf:3:1: storage "pg": no host is set and unix_socket_dir is not set`},
		{"bad type", `log_format "x"` + "\nlisten { host \"*\" }\nstorage \"pg\" { type \"remot\" }\n" + rules,
			`test.conf:3:21: unknown value "remot" for "type" (did you mean "remote"?)`},
		{"bad tls", preamble + `storage "s2" { type "remote" host "h" tls "verify-full" }` + "\n" + rules,
			`test.conf:4:43: unknown value "verify-full" for "tls" (did you mean "verify_full"?)`},
		{"listen tls", `log_format "x"` + "\nlisten { host \"*\" tls \"requir\" }\nstorage \"pg\" { type \"remote\" host \"h\" }\n" + rules,
			`test.conf:2:23: unknown value "requir" for "tls" (did you mean "require"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			onlyError(t, mustFail(t, tt.src), tt.want)
		})
	}
}

func TestRuleValidation(t *testing.T) {
	tests := []struct {
		name  string
		items string // rule items; the first item is on line 6
		want  string
	}{
		{"storage missing", `authentication "none" pool "session"`,
			`test.conf:5:2: database "db" user "u": storage is not set`},
		{"storage unknown", `authentication "none" pool "session" storage "pgg"`,
			`test.conf:6:46: database "db" user "u": storage "pgg" is not defined (did you mean "pg"?)`},
		{"pool missing", `authentication "none" storage "pg"`,
			`test.conf:5:2: database "db" user "u": pool is not set (expected "session", "transaction" or "statement")`},
		{"authentication missing", `pool "session" storage "pg"`,
			`test.conf:5:2: database "db" user "u": authentication is not set`},
		{"clear_text without password", `authentication "clear_text" pool "session" storage "pg"`,
			`test.conf:6:1: database "db" user "u": authentication "clear_text" needs a password (or auth_query, auth_pam_service, auth_module, ldap_endpoint_name)`},
		{"md5 without password", `authentication "md5" pool "session" storage "pg"`,
			`test.conf:6:1: database "db" user "u": authentication "md5" needs a password or auth_query`},
		{"scram without password", `authentication "scram-sha-256" pool "session" storage "pg"`,
			`test.conf:6:1: database "db" user "u": authentication "scram-sha-256" needs a password or auth_query`},
		{"md5 with auth_module only", `authentication "md5" auth_module "m" pool "session" storage "pg"`,
			`test.conf:6:1: database "db" user "u": authentication "md5" needs a password or auth_query`},
		{"auth_query without user", `authentication "md5" auth_query "q" auth_query_db "d" pool "session" storage "pg"`,
			`test.conf:6:22: database "db" user "u": auth_query needs auth_query_user`},
		{"auth_query without db", `authentication "md5" auth_query "q" auth_query_user "d" pool "session" storage "pg"`,
			`test.conf:6:22: database "db" user "u": auth_query needs auth_query_db`},
		{"auth_query with pam", `authentication "clear_text" auth_query "q" auth_query_user "u" auth_query_db "d" auth_pam_service "p" pool "session" storage "pg"`,
			`test.conf:6:82: database "db" user "u": auth_query and auth_pam_service cannot be used together`},
		{"role on remote storage", `authentication "none" pool "session" storage "pg" role "admin"`,
			`test.conf:6:51: database "db" user "u": role can only be set for a rule whose storage is local (the console)`},
		{"pin on listen in session pool", `authentication "none" pool "session" storage "pg" pool_pin_on_listen yes`,
			`test.conf:6:51: database "db" user "u": pool_pin_on_listen cannot be used with a session pool`},
		{"smart discard without reserve", `authentication "none" pool "transaction" storage "pg" pool_reserve_prepared_statement no pool_smart_discard yes`,
			`test.conf:6:90: database "db" user "u": pool_smart_discard requires pool_reserve_prepared_statement yes`},
		{"deallocate all with reserve", `authentication "none" pool "transaction" storage "pg" pool_discard_query "DISCARD TEMP; deallocate all"`,
			`test.conf:6:55: database "db" user "u": pool_discard_query must not contain DEALLOCATE ALL while pool_reserve_prepared_statement is on`},
		{"internal rule with address", `authentication "none" pool "session" storage "pg" pool_routing "internal"`,
			`test.conf:6:51: database "db" user "u": an internal rule cannot have an address range`},
		{"unknown ldap endpoint", `authentication "clear_text" pool "session" storage "pg" ldap_endpoint_name "ldap2"`,
			`test.conf:6:76: database "db" user "u": ldap_endpoint "ldap2" is not defined (did you mean "ldap1"?)`},
		{"ldap attr without endpoint", `authentication "none" pool "session" storage "pg" ldap_storage_credentials_attr "a"`,
			`test.conf:6:51: database "db" user "u": ldap_storage_credentials_attr needs ldap_endpoint_name`},
		{"unknown shared pool", `authentication "none" pool "session" storage "pg" shared_pool "other"`,
			`test.conf:6:63: database "db" user "u": shared_pool "other" is not defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := ruleConfig(tt.items) + `ldap_endpoint "ldap1" { ldapserver "l" }` + "\n" + `shared_pool "sp" { pool_size 1 }` + "\n"
			if tt.name == "internal rule with address" {
				src = strings.Replace(src, `user "u"`, `user "u" "10.0.0.0/8"`, 1)
				tt.want = strings.Replace(tt.want, `user "u"`, `user "u" "10.0.0.0/8"`, 1)
			}
			onlyError(t, mustFail(t, src), tt.want)
		})
	}
}

func TestRulePasswordSources(t *testing.T) {
	// Odyssey accepts these as the source of a password although they are
	// not implemented here.
	for _, items := range []string{
		`authentication "clear_text" password ""`,
		`authentication "clear_text" auth_query "q" auth_query_user "u" auth_query_db "d"`,
		`authentication "clear_text" auth_pam_service "login"`,
		`authentication "clear_text" auth_module "audit"`,
		`authentication "clear_text" ldap_endpoint_name "ldap1"`,
		`authentication "clear_text" enable_mdb_iamproxy_auth yes`,
		`authentication "md5" auth_query "q" auth_query_user "u" auth_query_db "d"`,
		`authentication "scram-sha-256" password "p"`,
		`authentication "md5" password "md5d41d8cd98f00b204e9800998ecf8427e"`,
		`authentication "cert" auth_common_name default`,
		`authentication "block"`,
	} {
		mustParse(t, ruleConfig(items+` pool "session" storage "pg"`)+`ldap_endpoint "ldap1" { ldapserver "l" }`+"\n")
	}
}

func TestConsoleRole(t *testing.T) {
	src := preamble + `storage "console" { type "local" }
database "console" {
	user default { authentication "none" pool "session" storage "console" }
	user "admin" { authentication "none" pool "session" storage "console" role "admin" }
}
`
	cfg := mustParse(t, src)
	if cfg.Rules[0].Role != RoleStat || cfg.Rules[1].Role != RoleAdmin {
		t.Errorf("roles %v %v, want stat (forced) and admin", cfg.Rules[0].Role, cfg.Rules[1].Role)
	}
	if cfg.Rules[0].Storage.Type != StorageLocal {
		t.Errorf("storage not resolved")
	}
}

func TestPreparedStatementRules(t *testing.T) {
	tests := []struct {
		items                   string
		reserve, discard, smart bool
	}{
		{`pool "session"`, false, true, false},
		{`pool "session" pool_reserve_prepared_statement yes pool_smart_discard yes`, false, true, true},
		{`pool "transaction"`, true, true, true},
		{`pool "transaction" pool_discard no`, true, false, false},
		{`pool "statement" pool_reserve_prepared_statement no`, false, true, false},
		{`pool "transaction" pool_discard no pool_smart_discard yes`, true, false, true},
	}
	for _, tt := range tests {
		cfg := mustParse(t, ruleConfig(`authentication "none" storage "pg" `+tt.items))
		r := cfg.Rules[0]
		if r.PoolReservePrepared != tt.reserve || r.PoolDiscard != tt.discard || r.PoolSmartDiscard != tt.smart {
			t.Errorf("%s: reserve=%v discard=%v smart=%v, want %v %v %v", tt.items,
				r.PoolReservePrepared, r.PoolDiscard, r.PoolSmartDiscard, tt.reserve, tt.discard, tt.smart)
		}
	}
}

func TestDuplicateRules(t *testing.T) {
	src := preamble + `database "db" {
	user "u" { authentication "none" pool "session" storage "pg" }
	user "u" "10.0.0.0/8" { authentication "none" pool "session" storage "pg" }
	user "u" "10.0.0.0/8" hostssl { authentication "none" pool "session" storage "pg" }
	user "u" { authentication "none" pool "session" storage "pg" pool_routing "internal" }
	user "u" "10.1.0.0/8" { authentication "none" pool "session" storage "pg" }
	user "u" "all" default { authentication "none" pool "session" storage "pg" }
}
database default { user "u" { authentication "none" pool "session" storage "pg" } }
`
	le := mustFail(t, src)
	want := []string{
		`test.conf:9:2: database "db" user "u" "10.1.0.0/8": rule is already defined at test.conf:6:2`,
		`test.conf:10:2: database "db" user "u" "all": rule is already defined at test.conf:5:2`,
	}
	var got []string
	for _, d := range le.Errors() {
		got = append(got, d.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDuplicateNamedSections(t *testing.T) {
	src := ruleConfig(validRule) + `ldap_endpoint "l" { }
ldap_endpoint "l" { }
shared_pool "s" { }
shared_pool "s" { }
`
	le := mustFail(t, src)
	wantDiag(t, le.Diags, "test.conf", 12, 1, `ldap_endpoint "l" is already defined at test.conf:11:1`)
	wantDiag(t, le.Diags, "test.conf", 14, 1, `shared_pool "s" is already defined at test.conf:13:1`)
}

func TestExternalAuthWarns(t *testing.T) {
	cfg := mustParse(t, ruleConfig(`authentication "external" pool "session" storage "pg"`))
	if cfg.Rules[0].Authentication != AuthExternal || cfg.Rules[0].Authentication.String() != "external" {
		t.Errorf("authentication %v", cfg.Rules[0].Authentication)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Message, `authentication "external" is accepted but not implemented yet`) {
		t.Errorf("warnings %v", cfg.Warnings)
	}
}

func TestNoCascadeAfterBadValue(t *testing.T) {
	// A wrong value is one error; validation does not add "not set".
	le := mustFail(t, ruleConfig(`authentication "md6" pool "sesion" storage 5 role "x"`))
	if n := len(le.Errors()); n != 4 {
		t.Errorf("%d errors, want 4:\n%v", n, le)
	}
}

// diagLine, diagCol and diagMsg split "file:line:col: msg" (or "file: msg").
func diagLine(s string) int { _, l, _, _ := splitDiag(s); return l }
func diagCol(s string) int  { _, _, c, _ := splitDiag(s); return c }
func diagMsg(s string) string {
	_, _, _, m := splitDiag(s)
	return m
}

func splitDiag(s string) (file string, line, col int, msg string) {
	head, msg, _ := strings.Cut(s, ": ")
	parts := strings.Split(head, ":")
	file = parts[0]
	if len(parts) == 3 {
		line, col = atoi(parts[1]), atoi(parts[2])
	}
	return file, line, col, msg
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
