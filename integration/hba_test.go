package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/odyssey-go/odyssey/internal/config"
)

// hba_file (reference §2.5): pg_hba-style rules checked before
// authentication.

func TestHBAFile(t *testing.T) {
	k := newTLSPKI(t)
	hbaPath := filepath.Join(t.TempDir(), "hba.conf")
	hba := `# checked in order; no match means rejected
host    all        mallory   127.0.0.1/32  reject
hostssl all        sslonly   127.0.0.1/32  allow
hostnossl all      sslonly   127.0.0.1/32  reject
host    "otherdb"  all       127.0.0.1/32  deny
host    all        all       127.0.0.1 255.255.255.255 trust
`
	if err := os.WriteFile(hbaPath, []byte(hba), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("hba_file %q\n", hbaPath) + tlsBaseConf(k, "allow") +
		rule(authRuleItems("none", "", "", fmt.Sprintf("storage_user %q", plainUser)))
	p := startPooler(t, conf)

	for _, tc := range []struct {
		name, user, db, sslmode string
		ok                      bool
	}{
		{"allowed", plainUser, plainUser, "disable", true},
		{"rejected user", "mallory", plainUser, "disable", false},
		{"hostssl line, plain client", "sslonly", plainUser, "disable", false},
		{"hostssl line, TLS client", "sslonly", plainUser, "require", true},
		{"denied database", plainUser, otherDB, "disable", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tlsConnect(t, p, k, tc.user, tc.db, "", tlsOpts{sslmode: tc.sslmode})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				authScalar(t, c, "select 1")
				return
			}
			pe := authPgError(t, err)
			if pe.Code != "28000" || !strings.Contains(pe.Message, "pg_hba.conf") {
				t.Errorf("got %s %q", pe.Code, pe.Message)
			}
		})
	}
	if out, err := authPsql(t, p, "mallory", plainUser, "", "select 1"); err == nil ||
		!strings.Contains(out, `pg_hba.conf rejects connection for host "127.0.0.1", user "mallory", database "app", no encryption`) {
		t.Errorf("psql as mallory: %v: %s", err, out)
	}
}

// TestHBAFileErrors: a broken hba_file stops the config from loading,
// with the file and line.
func TestHBAFileErrors(t *testing.T) {
	dir := t.TempDir()
	hbaPath := filepath.Join(dir, "hba.conf")
	if err := os.WriteFile(hbaPath, []byte("local all all trust\nhost all all 10.0.0.0/8 md5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "odyssey.conf")
	conf := expand(fmt.Sprintf("hba_file %q\n", hbaPath)+baseConf+rule(authRuleItems("none", "", "")), freePort(t), dir)
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(confPath)
	if err == nil || !strings.Contains(err.Error(), hbaPath+":2:1") || !strings.Contains(err.Error(), `unsupported method "md5"`) {
		t.Fatalf("error %v", err)
	}
}
