package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/odyssey-go/odyssey/internal/testldap"
)

// LDAP behind clear_text (reference §2.6) against a real OpenLDAP server
// that the test starts. Without slapd installed the test fails, it does
// not skip (see internal/testldap).

const (
	ldapUser     = "ldapuser"
	ldapPass     = "ldap-Secret-3"
	ldapDBA      = "ldapdba"
	ldapDBAPass  = "dba-Secret-4"
	ldapNotInPG  = "onlyinldap"
	ldapNotInDir = "onlyinpg"
)

func startLDAP(t *testing.T) *testldap.Server {
	t.Helper()
	srv, err := testldap.Start()
	if err != nil {
		t.Fatalf("LDAP tests need OpenLDAP's slapd: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func TestLDAPAuth(t *testing.T) {
	dir := startLDAP(t)
	for _, u := range []testldap.User{
		{UID: ldapUser, Password: ldapPass},
		{UID: ldapDBA, Password: ldapDBAPass, Groups: []string{"dba"}},
		{UID: ldapNotInPG, Password: "x-Secret-5"},
	} {
		if err := dir.AddUser(u); err != nil {
			t.Fatal(err)
		}
	}
	ctx := ctxTimeout(t, 10*time.Second)
	for _, role := range []string{ldapUser, ldapDBA, ldapNotInDir} {
		if err := pg.Exec(ctx, "DO $$BEGIN CREATE ROLE "+role+" LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$"); err != nil {
			t.Fatal(err)
		}
	}
	endpoints := fmt.Sprintf(`
ldap_endpoint "simple" {
	ldapserver "127.0.0.1"
	ldapport %[1]d
	ldapprefix "uid="
	ldapsuffix ",%[2]s"
}
ldap_endpoint "search" {
	ldapserver "127.0.0.1"
	ldapport %[1]d
	ldapbasedn %[3]q
	ldapbinddn %[4]q
	ldapbindpasswd %[5]q
	ldapsearchattribute "uid"
	ldapsearchfilter "(businessCategory=dba)"
}
`, dir.Port, testldap.PeopleDN, testldap.Suffix, testldap.AdminDN, testldap.AdminPassword)

	for _, tc := range []struct {
		endpoint string
		user     string
		pass     string
		ok       bool
	}{
		{"simple", ldapUser, ldapPass, true},
		{"simple", ldapUser, "wrong", false},
		{"simple", ldapUser, "", false},
		{"simple", ldapNotInDir, "anything", false},
		{"search", ldapDBA, ldapDBAPass, true},
		{"search", ldapDBA, "wrong", false},
		{"search", ldapUser, ldapPass, false}, // not in the dba group
	} {
		t.Run(fmt.Sprintf("%s %s/%s", tc.endpoint, tc.user, tc.pass), func(t *testing.T) {
			conf := baseConf + endpoints + rule(fmt.Sprintf(
				"\t\tauthentication \"clear_text\"\n\t\tldap_endpoint_name %q\n\t\tpool \"session\"", tc.endpoint))
			p := startPooler(t, conf)
			c, err := p.tryConnect(tc.user, "postgres", tc.pass, nil)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if got := authScalar(t, c, "select current_user"); got != tc.user {
					t.Errorf("current_user %q", got)
				}
				if out, err := authPsql(t, p, tc.user, "postgres", tc.pass, "select current_user"); err != nil || out != tc.user {
					t.Errorf("psql: %v: %s", err, out)
				}
				return
			}
			if tc.pass == "" {
				// pgx sends no password message for an empty password;
				// libpq does not either: both fail before the directory.
				if err == nil {
					t.Fatal("empty password accepted")
				}
				return
			}
			pe := authPgError(t, err)
			if pe.Code != "28P01" || !strings.Contains(pe.Message, fmt.Sprintf("password authentication failed for user %q", tc.user)) {
				t.Errorf("got %s %q", pe.Code, pe.Message)
			}
		})
	}
}

// TestLDAPServerDown: an unreachable directory is a connection failure,
// not a wrong password.
func TestLDAPServerDown(t *testing.T) {
	conf := baseConf + fmt.Sprintf(`
ldap_endpoint "gone" {
	ldapserver "127.0.0.1"
	ldapport %d
	ldapprefix "uid="
}
`, freePort(t)) + rule("\t\tauthentication \"clear_text\"\n\t\tldap_endpoint_name \"gone\"\n\t\tpool \"session\"")
	p := startPooler(t, conf)
	_, err := p.tryConnect(plainUser, "postgres", "pw", nil)
	if pe := authPgError(t, err); pe.Code != "08006" || !strings.Contains(pe.Message, "LDAP") {
		t.Errorf("got %s %q", pe.Code, pe.Message)
	}
}
