package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/odyssey-go/odyssey/internal/testcert"
	"github.com/odyssey-go/odyssey/internal/testpg"
)

// TLS on both sides (reference §2.7): certificates are made by the test
// with internal/testcert, never by openssl.

// tlsPKI is a CA and a server certificate for 127.0.0.1 and localhost,
// written to a directory that PostgreSQL's OS user can read too.
type tlsPKI struct {
	ca                        *testcert.CA
	dir                       string
	caFile, certFile, keyFile string
}

// newTLSPKI makes the CA and server certificate. When the tests run as
// root, the files belong to the postgres OS user (PostgreSQL insists on
// owning its key).
func newTLSPKI(t *testing.T) *tlsPKI {
	t.Helper()
	dir, err := os.MkdirTemp("", "odyssey-tls-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, err := testcert.NewCA("odyssey test ca")
	if err != nil {
		t.Fatal(err)
	}
	k := &tlsPKI{ca: ca, dir: dir}
	if k.caFile, err = ca.Write(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("odyssey test server")
	if err != nil {
		t.Fatal(err)
	}
	if k.certFile, k.keyFile, err = srv.Write(dir, "server"); err != nil {
		t.Fatal(err)
	}
	k.chownToPostgres(t, k.caFile, k.certFile, k.keyFile)
	return k
}

// client issues a client certificate for cn and returns its files.
func (k *tlsPKI) client(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	p, err := k.ca.Client(cn)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err = p.Write(k.dir, "client-"+cn)
	if err != nil {
		t.Fatal(err)
	}
	k.chownToPostgres(t, certFile, keyFile)
	return certFile, keyFile
}

func (k *tlsPKI) chownToPostgres(t *testing.T, files ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root needs the postgres OS user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, f := range files {
		if err := os.Chown(f, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}

// tlsBaseConf is baseConf with TLS on the listen block; mode "" leaves the
// tls keyword out.
func tlsBaseConf(k *tlsPKI, mode string) string {
	listenTLS := ""
	if mode != "" {
		listenTLS = fmt.Sprintf("\ttls %q\n\ttls_cert_file %q\n\ttls_key_file %q\n\ttls_ca_file %q\n", mode, k.certFile, k.keyFile, k.caFile)
	}
	return `
log_format "%p %t %l [%i %s] (%c) %m\n"
log_to_stdout no
listen {
	host "127.0.0.1"
	port {{PORT}}
	client_login_timeout 5000
` + listenTLS + `}
storage "pg" {
	type "remote"
	host "{{PGHOST}}"
	port {{PGPORT}}
}
`
}

// tlsOpts are libpq connection settings for TLS.
type tlsOpts struct {
	sslmode         string
	cert, key       string
	channelBinding  string
	noRootCert      bool
	extraConnString string
}

// conninfo renders the settings; forLibpq keeps libpq from picking up a
// certificate in ~/.postgresql (pgx never does and refuses missing files).
func (o tlsOpts) conninfo(k *tlsPKI, forLibpq bool) string {
	s := " sslmode=" + o.sslmode
	if !o.noRootCert {
		s += " sslrootcert=" + k.caFile
	}
	if o.cert != "" {
		s += " sslcert=" + o.cert + " sslkey=" + o.key
	} else if forLibpq {
		s += " sslcert=" + filepath.Join(k.dir, "none.crt") + " sslkey=" + filepath.Join(k.dir, "none.key")
	}
	if o.channelBinding != "" {
		s += " channel_binding=" + o.channelBinding
	}
	return s + o.extraConnString
}

// tlsConnect opens a pgx connection to the pooler with TLS settings.
func tlsConnect(t *testing.T, p *pooler, k *tlsPKI, user, db, password string, o tlsOpts) (*pgx.Conn, error) {
	t.Helper()
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s connect_timeout=10", p.port, user, db)
	if password != "" {
		dsn += " password=" + password
	}
	cfg, err := pgx.ParseConfig(dsn + o.conninfo(k, false))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c, nil
}

func isTLS(c *pgx.Conn) bool {
	_, ok := c.PgConn().Conn().(*tls.Conn)
	return ok
}

// tlsPsql runs psql against the pooler with TLS settings in conninfo.
func tlsPsql(t *testing.T, p *pooler, k *tlsPKI, user, db, password string, o tlsOpts, sql string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s connect_timeout=10 gssencmode=disable", p.port, user, db) + o.conninfo(k, true)
	cmd := exec.CommandContext(ctx, "psql", "-X", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sql)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PGPASSWORD="+password)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("psql hung: %s", out)
	}
	return strings.TrimSpace(string(out)), err
}

// TestTLSClientModes runs pgx and psql in every sslmode against every
// listen tls mode.
func TestTLSClientModes(t *testing.T) {
	k := newTLSPKI(t)
	cert, key := k.client(t, plainUser)
	const (
		plain   = "plain"
		tlsOK   = "tls"
		refused = "refused"
	)
	for _, mode := range []string{"disable", "allow", "require", "verify_ca", "verify_full"} {
		t.Run(mode, func(t *testing.T) {
			p := startPooler(t, tlsBaseConf(k, mode)+rule(authRuleItems("none", "", "")))
			for _, tc := range []struct {
				sslmode  string
				withCert bool
			}{
				{"disable", false},
				{"prefer", false},
				{"require", false},
				{"verify-ca", false},
				{"verify-full", false},
				{"verify-full", true},
			} {
				want := tlsOK
				switch {
				case mode == "disable" && (tc.sslmode == "disable" || tc.sslmode == "prefer"):
					want = plain
				case mode == "disable":
					want = refused
				case tc.sslmode == "disable" && mode == "allow":
					want = plain
				case tc.sslmode == "disable":
					want = refused // SSL is required
				case strings.HasPrefix(mode, "verify") && !tc.withCert:
					want = refused // no client certificate
				}
				o := tlsOpts{sslmode: tc.sslmode}
				if tc.withCert {
					o.cert, o.key = cert, key
				}
				name := fmt.Sprintf("%s cert=%v", tc.sslmode, tc.withCert)
				c, err := tlsConnect(t, p, k, plainUser, plainUser, "", o)
				got := refused
				if err == nil {
					got = plain
					if isTLS(c) {
						got = tlsOK
					}
					if v := authScalar(t, c, "select 42"); v != "42" {
						t.Errorf("pgx %s: select 42 = %q", name, v)
					}
				}
				if got != want {
					t.Errorf("pgx %s: %s (%v), want %s", name, got, err, want)
				}
				if mode == "require" && tc.sslmode == "disable" {
					if pe := authPgError(t, err); pe.Code != "08P01" || !strings.Contains(pe.Message, "SSL is required") {
						t.Errorf("plain text to require: %s %q", pe.Code, pe.Message)
					}
				}

				out, err := tlsPsql(t, p, k, plainUser, plainUser, "", o, "select 'tls=' || (inet_server_port() is not null)")
				if (err == nil) != (want != refused) {
					t.Errorf("psql %s: %v: %s (want %s)", name, err, out, want)
				}
			}
		})
	}
}

// TestTLSHostSSLSelectors: rules with hostssl and hostnossl route TLS and
// plain clients differently.
func TestTLSHostSSLSelectors(t *testing.T) {
	k := newTLSPKI(t)
	conf := tlsBaseConf(k, "allow") + fmt.Sprintf(`
database default {
	user %[1]q hostssl {
		authentication "none"
		storage "pg"
		storage_db %[1]q
		pool "session"
	}
	user %[1]q hostnossl {
		authentication "none"
		storage "pg"
		storage_db %[2]q
		pool "session"
	}
}
`, plainUser, otherDB)
	p := startPooler(t, conf)
	for _, tc := range []struct{ sslmode, db string }{{"require", plainUser}, {"disable", otherDB}} {
		c, err := tlsConnect(t, p, k, plainUser, "x", "", tlsOpts{sslmode: tc.sslmode})
		if err != nil {
			t.Fatalf("%s: %v", tc.sslmode, err)
		}
		if got := authScalar(t, c, "select current_database()"); got != tc.db {
			t.Errorf("sslmode %s routed to %q, want %q", tc.sslmode, got, tc.db)
		}
	}
}

// TestTLSSCRAMChannelBinding: on TLS the pooler offers SCRAM-SHA-256-PLUS
// and checks the tls-server-end-point binding; pgx and libpq with
// channel_binding=require succeed only if both agree on it.
func TestTLSSCRAMChannelBinding(t *testing.T) {
	k := newTLSPKI(t)
	p := startPooler(t, tlsBaseConf(k, "allow")+rule(authRuleItems("scram-sha-256", scramPass, "")))
	for _, sslmode := range []string{"require", "verify-full"} {
		o := tlsOpts{sslmode: sslmode, channelBinding: "require"}
		c, err := tlsConnect(t, p, k, scramUser, "postgres", scramPass, o)
		if err != nil {
			t.Fatalf("pgx %s with channel binding: %v", sslmode, err)
		}
		if got := authScalar(t, c, "select current_user"); got != scramUser {
			t.Errorf("current_user %q", got)
		}
		if out, err := tlsPsql(t, p, k, scramUser, "postgres", scramPass, o, "select current_user"); err != nil || out != scramUser {
			t.Errorf("psql %s with channel binding: %v: %s", sslmode, err, out)
		}
		_, err = tlsConnect(t, p, k, scramUser, "postgres", scramPass+"x", o)
		if pe := authPgError(t, err); pe.Code != "28P01" {
			t.Errorf("wrong password with channel binding: %s %q", pe.Code, pe.Message)
		}
	}
	// Without TLS there is nothing to bind to: a client that insists
	// refuses the server itself.
	if _, err := tlsConnect(t, p, k, scramUser, "postgres", scramPass, tlsOpts{sslmode: "disable", channelBinding: "require"}); err == nil {
		t.Error("channel_binding=require succeeded without TLS")
	}
	// A client that does not bind still logs in over TLS.
	if _, err := tlsConnect(t, p, k, scramUser, "postgres", scramPass, tlsOpts{sslmode: "require", channelBinding: "disable"}); err != nil {
		t.Errorf("SCRAM without binding over TLS: %v", err)
	}
}

// TestTLSCertAuth: authentication "cert" takes the user from the client
// certificate's common name, or from auth_common_name.
func TestTLSCertAuth(t *testing.T) {
	k := newTLSPKI(t)
	appCert, appKey := k.client(t, plainUser)
	otherCert, otherKey := k.client(t, "mallory")
	conf := tlsBaseConf(k, "require") + fmt.Sprintf(`
database default {
	user %q {
		authentication "cert"
		storage "pg"
		pool "session"
	}
	user "shared" {
		authentication "cert"
		auth_common_name "mallory"
		auth_common_name default
		storage "pg"
		storage_user %q
		pool "session"
	}
}
`, plainUser, plainUser)
	p := startPooler(t, conf)
	withCert := func(cert, key string) tlsOpts { return tlsOpts{sslmode: "verify-full", cert: cert, key: key} }

	c, err := tlsConnect(t, p, k, plainUser, plainUser, "", withCert(appCert, appKey))
	if err != nil {
		t.Fatalf("matching certificate: %v", err)
	}
	if got := authScalar(t, c, "select current_user"); got != plainUser {
		t.Errorf("current_user %q", got)
	}
	if out, err := tlsPsql(t, p, k, plainUser, plainUser, "", withCert(appCert, appKey), "select 1"); err != nil || out != "1" {
		t.Errorf("psql with certificate: %v: %s", err, out)
	}

	_, err = tlsConnect(t, p, k, plainUser, plainUser, "", withCert(otherCert, otherKey))
	if pe := authPgError(t, err); pe.Code != "28000" || !strings.Contains(pe.Message, `certificate authentication failed for user "app"`) {
		t.Errorf("foreign certificate: %s %q", pe.Code, pe.Message)
	}
	_, err = tlsConnect(t, p, k, plainUser, plainUser, "", tlsOpts{sslmode: "verify-full"})
	if pe := authPgError(t, err); pe.Code != "28000" || !strings.Contains(pe.Message, "requires a valid client certificate") {
		t.Errorf("no certificate: %s %q", pe.Code, pe.Message)
	}
	// auth_common_name lists the names a certificate may carry.
	if _, err := tlsConnect(t, p, k, "shared", plainUser, "", withCert(otherCert, otherKey)); err != nil {
		t.Errorf("auth_common_name: %v", err)
	}
	_, err = tlsConnect(t, p, k, "shared", plainUser, "", withCert(appCert, appKey))
	if pe := authPgError(t, err); pe.Code != "28000" {
		t.Errorf("auth_common_name mismatch: %s %q", pe.Code, pe.Message)
	}
	// A user without a rule gets the same answer as a mismatch.
	_, err = tlsConnect(t, p, k, "nobody", plainUser, "", withCert(appCert, appKey))
	if pe := authPgError(t, err); pe.Code != "28000" || !strings.Contains(pe.Message, `certificate authentication failed for user "nobody"`) {
		t.Errorf("unknown user: %s %q", pe.Code, pe.Message)
	}
}

// TestTLSCertAuthNeedsTLS: cert on a plain connection is refused.
func TestTLSCertAuthNeedsTLS(t *testing.T) {
	k := newTLSPKI(t)
	p := startPooler(t, tlsBaseConf(k, "allow")+rule("\t\tauthentication \"cert\"\n\t\tpool \"session\""))
	_, err := tlsConnect(t, p, k, plainUser, plainUser, "", tlsOpts{sslmode: "disable"})
	if pe := authPgError(t, err); pe.Code != "28000" || !strings.Contains(pe.Message, "TLS connection required") {
		t.Errorf("plain text: %s %q", pe.Code, pe.Message)
	}
}

// TestTLSReloadCertificates: a reload (SIGHUP, RELOAD) puts new
// certificates in effect for new clients while connected ones keep going.
func TestTLSReloadCertificates(t *testing.T) {
	k := newTLSPKI(t)
	p := startPooler(t, tlsBaseConf(k, "require")+rule(authRuleItems("none", "", "")))
	old, err := tlsConnect(t, p, k, plainUser, plainUser, "", tlsOpts{sslmode: "verify-full"})
	if err != nil {
		t.Fatal(err)
	}
	oldCA := k.caFile

	// A new CA and certificate, written over the configured files.
	ca2, err := testcert.NewCA("second ca")
	if err != nil {
		t.Fatal(err)
	}
	srv2, err := ca2.Server("second server")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv2.Write(k.dir, "server"); err != nil {
		t.Fatal(err)
	}
	newCA, err := ca2.Write(k.dir, "ca2")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.inst.Reload(); err != nil {
		t.Fatal(err)
	}

	if got := authScalar(t, old, "select 'still here'"); got != "still here" {
		t.Errorf("connection made before the reload: %q", got)
	}
	if _, err := tlsConnect(t, p, k, plainUser, plainUser, "", tlsOpts{sslmode: "verify-full"}); err == nil {
		t.Error("the old CA still verifies the server after the reload")
	}
	k.caFile = newCA
	c, err := tlsConnect(t, p, k, plainUser, plainUser, "", tlsOpts{sslmode: "verify-full"})
	k.caFile = oldCA
	if err != nil {
		t.Fatalf("new certificate: %v", err)
	}
	peer := c.PgConn().Conn().(*tls.Conn).ConnectionState().PeerCertificates[0]
	if peer.Subject.CommonName != "second server" {
		t.Errorf("server certificate %q after reload", peer.Subject.CommonName)
	}

	// A broken key keeps the current certificate, and says so.
	if err := os.WriteFile(k.keyFile, []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.inst.TLS().Reload(); err == nil {
		t.Error("reloading a broken key succeeded")
	}
	p.inst.Reload()
	if !strings.Contains(p.logs.String(), "reload: TLS") {
		t.Error("the reload did not log the broken key")
	}
	k.caFile = newCA
	_, err = tlsConnect(t, p, k, plainUser, plainUser, "", tlsOpts{sslmode: "verify-full"})
	k.caFile = oldCA
	if err != nil {
		t.Errorf("after a failed reload: %v", err)
	}
}

// TestTLSBadCertificateStopsStart: listen TLS files that do not load make
// Start fail instead of failing every client.
func TestTLSBadCertificateStopsStart(t *testing.T) {
	k := newTLSPKI(t)
	k.keyFile = filepath.Join(k.dir, "missing.key")
	port := freePort(t)
	_, err := listenStartInstance(t, expand(tlsBaseConf(k, "require")+rule(authRuleItems("none", "", "")), port, t.TempDir()), port)
	if err == nil || !strings.Contains(err.Error(), "listen tls") {
		t.Fatalf("start with a missing key: %v", err)
	}
}

// pgTLS starts a PostgreSQL of its own with ssl on, the pki's server
// certificate, its CA for client certificates, and extra pg_hba lines.
func pgTLS(t *testing.T, k *tlsPKI, hba []string, settings map[string]string) *testpg.Server {
	t.Helper()
	s := map[string]string{
		"ssl":           "on",
		"ssl_cert_file": k.certFile,
		"ssl_key_file":  k.keyFile,
		"ssl_ca_file":   k.caFile,
	}
	for name, v := range settings {
		s[name] = v
	}
	srv, err := testpg.Start(testpg.Options{HBA: hba, Settings: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

// tlsStorageConf points storage "pg" at srv with the given tls items.
func tlsStorageConf(srv *testpg.Server, host, storageTLS string) string {
	return fmt.Sprintf(`
log_format "%%p %%t %%l [%%i %%s] (%%c) %%m\n"
log_to_stdout no
listen {
	host "127.0.0.1"
	port {{PORT}}
	client_login_timeout 5000
}
storage "pg" {
	type "remote"
	host %q
	port %d
%s
}
`, host, srv.Port, storageTLS)
}

// TestTLSStorageModes: the pooler's connections to a PostgreSQL that
// accepts user "sslapp" only over TLS, and "certapp" only with a client
// certificate, in every storage tls mode.
func TestTLSStorageModes(t *testing.T) {
	k := newTLSPKI(t)
	srv := pgTLS(t, k, []string{
		"hostnossl all sslapp 127.0.0.1/32 reject",
		"hostssl all sslapp 127.0.0.1/32 trust",
		"hostnossl all certapp 127.0.0.1/32 reject",
		"hostssl all certapp 127.0.0.1/32 cert",
		"hostnossl all scramtls 127.0.0.1/32 reject",
		"hostssl all scramtls 127.0.0.1/32 scram-sha-256",
	}, nil)
	ctx := ctxTimeout(t, 30*time.Second)
	for _, sql := range []string{"CREATE ROLE sslapp LOGIN", "CREATE ROLE certapp LOGIN",
		"SET password_encryption = 'scram-sha-256'; CREATE ROLE scramtls LOGIN PASSWORD 'scram-tls-pw'"} {
		if err := srv.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	certFile, keyFile := k.client(t, "certapp")
	otherCA, err := testcert.NewCA("unrelated ca")
	if err != nil {
		t.Fatal(err)
	}
	otherCAFile, err := otherCA.Write(k.dir, "unrelated")
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, host, items, user string
		ok                      bool
		ruleItems               string
	}{
		{"disable", "127.0.0.1", `tls "disable"`, "sslapp", false, ""},
		{"allow retries with TLS", "127.0.0.1", `tls "allow"`, "sslapp", true, ""},
		{"prefer", "127.0.0.1", `tls "prefer"`, "sslapp", true, ""},
		{"require", "127.0.0.1", `tls "require"`, "sslapp", true, ""},
		{"require with a foreign ca", "127.0.0.1", fmt.Sprintf("tls \"require\"\n\ttls_ca_file %q", otherCAFile), "sslapp", false, ""},
		{"verify_ca", "127.0.0.1", fmt.Sprintf("tls \"verify_ca\"\n\ttls_ca_file %q", k.caFile), "sslapp", true, ""},
		{"verify_full by ip", "127.0.0.1", fmt.Sprintf("tls \"verify_full\"\n\ttls_ca_file %q", k.caFile), "sslapp", true, ""},
		{"verify_full by name", "localhost", fmt.Sprintf("tls \"verify_full\"\n\ttls_ca_file %q", k.caFile), "sslapp", true, ""},
		{"verify_full with a foreign ca", "127.0.0.1", fmt.Sprintf("tls \"verify_full\"\n\ttls_ca_file %q", otherCAFile), "sslapp", false, ""},
		{"client certificate", "127.0.0.1", fmt.Sprintf("tls \"verify_full\"\n\ttls_ca_file %q\n\ttls_cert_file %q\n\ttls_key_file %q", k.caFile, certFile, keyFile), "certapp", true, ""},
		{"no client certificate", "127.0.0.1", fmt.Sprintf("tls \"verify_full\"\n\ttls_ca_file %q", k.caFile), "certapp", false, ""},
		// SCRAM over TLS binds to the connection (SCRAM-SHA-256-PLUS).
		{"scram with channel binding", "127.0.0.1", `tls "require"`, "scramtls", true, authRuleItems("none", "", "scram-tls-pw")},
		{"scram with a wrong password", "127.0.0.1", `tls "require"`, "scramtls", false, authRuleItems("none", "", "wrong")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := tc.ruleItems
			if items == "" {
				items = authRuleItems("none", "", "")
			}
			p := startPooler(t, tlsStorageConf(srv, tc.host, tc.items)+rule(items))
			c, err := p.tryConnect(tc.user, "postgres", "", nil)
			if !tc.ok {
				if err == nil {
					t.Fatal("connected")
				}
				if pe := authPgError(t, err); pe.Code != "08006" {
					t.Errorf("got %s %q, want 08006", pe.Code, pe.Message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := authScalar(t, c, "select ssl::text from pg_stat_ssl where pid = pg_backend_pid()"); got != "true" {
				t.Errorf("server connection ssl = %q", got)
			}
		})
	}
}

// TestTLSStorageCancel: a cancel for a query on a TLS server connection
// reaches PostgreSQL (over TLS, as the connection it cancels).
func TestTLSStorageCancel(t *testing.T) {
	k := newTLSPKI(t)
	srv := pgTLS(t, k, []string{"hostnossl all sslapp 127.0.0.1/32 reject", "hostssl all sslapp 127.0.0.1/32 trust"}, nil)
	if err := srv.Exec(ctxTimeout(t, 10*time.Second), "CREATE ROLE sslapp LOGIN"); err != nil {
		t.Fatal(err)
	}
	p := startPooler(t, tlsStorageConf(srv, "127.0.0.1", fmt.Sprintf("tls \"verify_full\"\n\ttls_ca_file %q", k.caFile))+
		rule(authRuleItems("none", "", "")))
	c := p.connect("sslapp", "postgres", "")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Exec(ctx, "select pg_sleep(30)")
	if err == nil {
		t.Fatal("pg_sleep(30) finished")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("cancel took %v", took)
	}
	// pgx closes a connection whose query context ended; the server must
	// have been cancelled, not left sleeping.
	waitFor(t, 10*time.Second, "the sleeping query to end", func() bool {
		var n int
		conn, err := pgx.Connect(ctxTimeout(t, 5*time.Second), srv.DSN(testpg.SuperUser, "postgres", ""))
		if err != nil {
			return false
		}
		defer conn.Close(context.Background())
		conn.QueryRow(ctxTimeout(t, 5*time.Second),
			"select count(*) from pg_stat_activity where usename = 'sslapp' and query like '%pg_sleep%' and state = 'active'").Scan(&n)
		return n == 0
	})
}

// TestTLSStorageSCRAMPassthrough: auth_query and SCRAM passthrough to a
// PostgreSQL that accepts only TLS and SCRAM: the client's proof, bound
// to the client's TLS connection, becomes a login bound to the pooler's
// TLS connection to PostgreSQL, with no password in the config.
func TestTLSStorageSCRAMPassthrough(t *testing.T) {
	k := newTLSPKI(t)
	srv := pgTLS(t, k, []string{
		"hostnossl all all 127.0.0.1/32 reject",
		"hostssl all all 127.0.0.1/32 scram-sha-256",
	}, map[string]string{"password_encryption": "scram-sha-256"})
	if err := srv.Exec(ctxTimeout(t, 10*time.Second), "CREATE ROLE "+aqSCRAMUser+" LOGIN PASSWORD '"+aqSCRAMPass+"'"); err != nil {
		t.Fatal(err)
	}
	listenTLS := fmt.Sprintf("\ttls \"require\"\n\ttls_cert_file %q\n\ttls_key_file %q", k.certFile, k.keyFile)
	conf := strings.Replace(aqConf(srv, listenTLS, "scram-sha-256"), "\ttype \"remote\"\n",
		fmt.Sprintf("\ttype \"remote\"\n\ttls \"verify_full\"\n\ttls_ca_file %q\n", k.caFile), 1)
	p := startPooler(t, conf)
	c, err := tlsConnect(t, p, k, aqSCRAMUser, "postgres", aqSCRAMPass, tlsOpts{sslmode: "verify-full", channelBinding: "require"})
	if err != nil {
		t.Fatal(err)
	}
	if got := authScalar(t, c, "select current_user || ' ' || ssl::text from pg_stat_ssl where pid = pg_backend_pid()"); got != aqSCRAMUser+" true" {
		t.Errorf("got %q", got)
	}
}

// TestTLSReloadMode: a reload that turns TLS on for a listen block applies
// to the next client.
func TestTLSReloadMode(t *testing.T) {
	k := newTLSPKI(t)
	conf := tlsBaseConf(k, "disable") + rule(authRuleItems("none", "", ""))
	p := startPooler(t, conf)
	if _, err := tlsConnect(t, p, k, plainUser, plainUser, "", tlsOpts{sslmode: "disable"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(p.dir, "odyssey.conf")
	next := expand(tlsBaseConf(k, "require")+rule(authRuleItems("none", "", "")), p.port, p.dir)
	if err := os.WriteFile(path, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.inst.Reload(); err != nil {
		t.Fatal(err)
	}
	_, err := tlsConnect(t, p, k, plainUser, plainUser, "", tlsOpts{sslmode: "disable"})
	if pe := authPgError(t, err); pe.Code != "08P01" {
		t.Errorf("plain text after the reload: %s %q", pe.Code, pe.Message)
	}
	c, err := tlsConnect(t, p, k, plainUser, plainUser, "", tlsOpts{sslmode: "verify-full"})
	if err != nil || !isTLS(c) {
		t.Fatalf("TLS after the reload: %v", err)
	}
}

// TestTLSRequireExemptsUnixSocket: libpq never asks for TLS on a unix
// socket, so tls "require" refuses plain text only over TCP.
func TestTLSRequireExemptsUnixSocket(t *testing.T) {
	k := newTLSPKI(t)
	listenTLS := fmt.Sprintf("\ttls \"require\"\n\ttls_cert_file %q\n\ttls_key_file %q\n", k.certFile, k.keyFile)
	tcpPort := freePort(t)
	p := startPooler(t, fmt.Sprintf(`
unix_socket_dir "{{DIR}}"
unix_socket_mode "0777"
listen {
	port {{PORT}}
%[1]s}
listen {
	host "127.0.0.1"
	port %[2]d
%[1]s}
`, listenTLS, tcpPort)+listenStorage+listenRule)
	listenSelect42(t, listenConnect(t, fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", p.dir, p.port, plainUser, plainUser)))
	c, err := pgx.Connect(ctxTimeout(t, 10*time.Second), fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", tcpPort, plainUser, plainUser))
	if err == nil {
		c.Close(context.Background())
		t.Fatal("plain text over TCP accepted")
	}
	if pe := authPgError(t, err); pe.Code != "08P01" {
		t.Errorf("got %s %q", pe.Code, pe.Message)
	}
}

// TestTLSUnencryptedDataAfterSSLRequest: a byte sent after the SSLRequest
// before the handshake is refused with 08P01, as PostgreSQL does since
// CVE-2021-23214, and never read as part of the encrypted stream.
func TestTLSUnencryptedDataAfterSSLRequest(t *testing.T) {
	k := newTLSPKI(t)
	p := startPooler(t, tlsBaseConf(k, "allow")+rule(authRuleItems("none", "", "")))
	r := p.raw(t)
	r.write(append(requestPacket(codeSSLRequest), startupPacket(proto30, "user", plainUser, "database", plainUser)...))
	e := r.readUntilClosed(5 * time.Second)
	if e == nil || e.Code != "08P01" || !strings.Contains(e.Message, "unencrypted data after SSL request") {
		t.Fatalf("got %s, want 08P01 unencrypted data after SSL request", startupErrText(e))
	}
}
