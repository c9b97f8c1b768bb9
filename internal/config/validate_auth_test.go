package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/odyssey-go/odyssey/internal/hba"
)

func TestHBAFile(t *testing.T) {
	dir := t.TempDir()
	hbaPath := filepath.Join(dir, "hba.conf")
	if err := os.WriteFile(hbaPath, []byte("host all all 10.0.0.0/8 allow\nlocal all all deny\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "odyssey.conf")
	src := "hba_file \"hba.conf\"\n" + ruleConfig(validRule)
	if err := os.WriteFile(confPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(confPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	if cfg.HBA == nil || len(cfg.HBA.Rules) != 2 {
		t.Fatalf("HBA %+v", cfg.HBA)
	}
	if ok, _ := cfg.HBA.Allowed(hba.Conn{Addr: netip.MustParseAddr("10.1.1.1"), Database: "d", User: "u"}); !ok {
		t.Error("rule 1 not in effect")
	}

	// Errors point into the HBA file.
	if err := os.WriteFile(hbaPath, []byte("host all all 10.0.0.0/8 allow\nhost all all 1.2.3.4/32 md5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(confPath)
	if err == nil || !strings.Contains(err.Error(), hbaPath+":2:1: hba_file: unsupported method \"md5\"") {
		t.Errorf("error %v", err)
	}

	le := mustFail(t, "hba_file \"/nonexistent/hba.conf\"\n"+ruleConfig(validRule))
	wantDiag(t, le.Diags, "test.conf", 1, 10, "cannot read hba_file", "no such file")
}

func TestTLSValidation(t *testing.T) {
	for _, tc := range []struct {
		name, listen, storage, want string
	}{
		{"listen without cert", `tls "require"`, "", `tls "require" needs tls_cert_file and tls_key_file`},
		{"listen verify without ca", `tls "verify_ca" tls_cert_file "c" tls_key_file "k"`, "", `tls "verify_ca" needs tls_ca_file`},
		{"storage cert without key", "", `tls "verify_full" tls_cert_file "c"`, `a client certificate needs both`},
	} {
		src := `log_format "x"` + "\nlisten { host \"*\" " + tc.listen + " }\nstorage \"pg\" { type \"remote\" host \"h\" " + tc.storage + " }\n" +
			"database \"db\" {\n\tuser \"u\" {\n" + validRule + "\n\t}\n}\n"
		le := mustFail(t, src)
		if !strings.Contains(le.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, le)
		}
	}
	cfg := mustParse(t, `log_format "x"`+"\nlisten { host \"*\" tls \"allow\" tls_cert_file \"c\" tls_key_file \"k\" }\n"+
		"storage \"pg\" { type \"remote\" host \"h\" tls \"verify_full\" tls_ca_file \"ca\" }\n"+
		"database \"db\" {\n\tuser \"u\" {\n"+validRule+"\n\t}\n}\n")
	if len(cfg.Warnings) != 0 {
		t.Errorf("TLS keywords still warn: %v", cfg.Warnings)
	}
}

func TestLDAPEndpoint(t *testing.T) {
	src := ruleConfig(`		authentication "clear_text"
		ldap_endpoint_name "corp"
		storage "pg"
		pool "session"`) + `
ldap_endpoint "corp" {
	ldapserver "ldap.example"
	ldapport 3890
	ldapscheme "ldaps"
	ldapbasedn "dc=example,dc=org"
	ldapbinddn "cn=reader,dc=example,dc=org"
	ldapbindpasswd "pw"
	ldapsearchattribute "cn"
	ldapsearchfilter "(objectClass=person)"
}
`
	cfg := mustParse(t, src)
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	l := cfg.Rules[0].LDAPEndpoint
	want := LDAPEndpoint{Pos: l.Pos, Name: "corp", Server: "ldap.example", Port: 3890, Scheme: "ldaps",
		BaseDN: "dc=example,dc=org", BindDN: "cn=reader,dc=example,dc=org", BindPassword: "pw",
		SearchAttribute: "cn", SearchFilter: "(objectClass=person)"}
	if l == nil || *l != want || len(cfg.LDAPEndpoints) != 1 || cfg.LDAPEndpoints[0] != l {
		t.Fatalf("endpoint %+v", l)
	}

	le := mustFail(t, ruleConfig(validRule)+"ldap_endpoint \"x\" { ldapscheme \"ftp\" }\n")
	wantDiag(t, le.Diags, "test.conf", 11, 1, "ldapserver (or ldapurl) is not set")
	wantDiag(t, le.Diags, "test.conf", 11, 32, `ldapscheme must be "ldap" or "ldaps"`)

	cfg = mustParse(t, ruleConfig(`		authentication "md5"
		password "p"
		ldap_endpoint_name "corp"
		storage "pg"
		pool "session"`)+"ldap_endpoint \"corp\" { ldapserver \"h\" }\n")
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Message, `applies only to authentication "clear_text"`) {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
}

func TestAuthQueryRule(t *testing.T) {
	const aq = `		authentication "scram-sha-256"
		auth_query "SELECT usename, passwd FROM pg_shadow WHERE usename = $1"
		auth_query_db "postgres"
		auth_query_user "lookup"
		storage "pg"
		pool "transaction"`

	t.Run("explicit internal rule", func(t *testing.T) {
		cfg := mustParse(t, ruleConfig(aq)+`database default {
	user "lookup" {
		authentication "none"
		storage "pg"
		storage_password "secret"
		pool "session"
		pool_routing "internal"
	}
	user default {
		authentication "none"
		storage "pg"
		pool "session"
		pool_routing "internal"
	}
}
`)
		r := cfg.Rules[0]
		if r.AuthQuery == "" || r.AuthQueryDB != "postgres" || r.AuthQueryUser != "lookup" {
			t.Fatalf("rule %+v", r)
		}
		if r.AuthQueryRule != cfg.Rules[1] {
			t.Errorf("auth query runs on %+v, want the most specific internal rule", r.AuthQueryRule)
		}
	})

	t.Run("generated from the default rule", func(t *testing.T) {
		cfg := mustParse(t, ruleConfig(aq)+`database "db2" {
	user "u" {
`+aq+`
	}
}
database default {
	user default {
		authentication "md5"
		password "p"
		storage "pg"
		storage_password "from-default"
		pool "session"
	}
}
`)
		g := cfg.Rules[0].AuthQueryRule
		if g == nil || !g.Internal || g.Storage != cfg.Rules[0].Storage || g.StoragePassword != "from-default" ||
			g.Authentication != AuthNone || g.Pool != PoolTransaction || g.PoolDiscard || g.PoolSize != generatedAuthPoolSize {
			t.Fatalf("generated rule %+v", g)
		}
		if cfg.Rules[1].AuthQueryRule != g {
			t.Error("two rules on one storage got two generated rules")
		}
		if len(cfg.Rules) != 3 {
			t.Errorf("the generated rule was added to Rules (%d)", len(cfg.Rules))
		}
	})

	t.Run("generated from the rule's own storage", func(t *testing.T) {
		cfg := mustParse(t, ruleConfig(aq))
		g := cfg.Rules[0].AuthQueryRule
		if g == nil || g.Storage == nil || g.Storage.Name != "pg" || g.StoragePassword != "" {
			t.Fatalf("generated rule %+v", g)
		}
	})

	t.Run("query without the user", func(t *testing.T) {
		cfg := mustParse(t, ruleConfig(strings.Replace(aq, "WHERE usename = $1", "LIMIT 1", 1)))
		if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Message, "does not mention the user name") {
			t.Errorf("warnings %v", cfg.Warnings)
		}
	})
}
