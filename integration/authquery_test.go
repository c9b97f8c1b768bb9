package integration

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/odyssey-go/odyssey/internal/auth"
	"github.com/odyssey-go/odyssey/internal/testpg"
)

// auth_query and SCRAM passthrough (reference §2.6) against a PostgreSQL
// of their own whose pg_hba demands SCRAM of everyone but its superuser:
// the pooler's config holds no application password at all.

const (
	aqSCRAMUser = "alice"
	aqSCRAMPass = "alice-Secret-1"
	aqMD5User   = "mdbob"
	aqMD5Pass   = "bob-Secret-2"
)

// aqPostgres starts the server: SCRAM for everybody over TCP except the
// md5 user (md5) and the superuser (trusted by testpg, used for the
// auth_query itself).
func aqPostgres(t *testing.T) *testpg.Server {
	t.Helper()
	srv, err := testpg.Start(testpg.Options{
		HBA: []string{
			"host all " + aqMD5User + " 127.0.0.1/32 md5",
			"host all all 127.0.0.1/32 scram-sha-256",
		},
		Settings: map[string]string{"password_encryption": "scram-sha-256"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx := ctxTimeout(t, 30*time.Second)
	for _, sql := range []string{
		"CREATE ROLE " + aqSCRAMUser + " LOGIN PASSWORD '" + aqSCRAMPass + "'",
		"SET password_encryption = 'md5'; CREATE ROLE " + aqMD5User + " LOGIN PASSWORD '" + aqMD5Pass + "'",
	} {
		if err := srv.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// aqConf is a config whose only rule takes secrets from pg_shadow. The
// query runs as the superuser through an internal rule.
func aqConf(srv *testpg.Server, listenTLS, method string, extra ...string) string {
	return fmt.Sprintf(`
log_format "%%p %%t %%l [%%i %%s] (%%c) %%m\n"
log_to_stdout no
listen {
	host "127.0.0.1"
	port {{PORT}}
	client_login_timeout 5000
%s
}
storage "pg" {
	type "remote"
	host "127.0.0.1"
	port %d
}
database default {
	user default {
		authentication %q
		auth_query "SELECT usename, passwd FROM pg_shadow WHERE usename = $1"
		auth_query_db "postgres"
		auth_query_user "postgres"
		storage "pg"
		pool "transaction"
		%s
	}
}
database "postgres" {
	user "postgres" {
		authentication "none"
		storage "pg"
		pool "session"
		pool_routing "internal"
	}
}
`, listenTLS, srv.Port, method, strings.Join(extra, "\n\t\t"))
}

func TestAuthQuerySCRAMPassthrough(t *testing.T) {
	srv := aqPostgres(t)
	conf := aqConf(srv, "", "scram-sha-256")
	for _, secret := range []string{aqSCRAMPass, aqMD5Pass} {
		if strings.Contains(conf, secret) {
			t.Fatal("the config holds a password")
		}
	}
	// PostgreSQL does check passwords: a direct login with a wrong one
	// fails.
	if _, err := pgxConnect(t, srv.DSN(aqSCRAMUser, "postgres", "wrong")); err == nil {
		t.Fatal("PostgreSQL let a wrong password in")
	}

	p := startPooler(t, conf)
	c := p.connect(aqSCRAMUser, "postgres", aqSCRAMPass)
	if got := authScalar(t, c, "select current_user"); got != aqSCRAMUser {
		t.Errorf("current_user %q", got)
	}
	// Transaction pooling: later transactions may need new servers, which
	// log in with the same keys.
	for i := range 3 {
		if got := authScalar(t, c, fmt.Sprintf("select %d", i)); got != fmt.Sprint(i) {
			t.Errorf("query %d: %q", i, got)
		}
	}
	if out, err := authPsql(t, p, aqSCRAMUser, "postgres", aqSCRAMPass, "select current_user"); err != nil || out != aqSCRAMUser {
		t.Errorf("psql: %v: %s", err, out)
	}

	_, err := p.tryConnect(aqSCRAMUser, "postgres", aqSCRAMPass+"x", nil)
	wrong := authPgError(t, err)
	if wrong.Code != "28P01" {
		t.Errorf("wrong password: %s %q", wrong.Code, wrong.Message)
	}
	// A user PostgreSQL does not know reads the same.
	_, err = p.tryConnect("ghost", "postgres", "whatever", nil)
	ghost := authPgError(t, err)
	if ghost.Code != "28P01" || authNormalized(ghost, "ghost") != authNormalized(wrong, aqSCRAMUser) {
		t.Errorf("unknown user: %s %q, wrong password: %s %q", ghost.Code, ghost.Message, wrong.Code, wrong.Message)
	}
	// The superuser has no password in pg_shadow: refused the same way,
	// although the internal rule may use it.
	_, err = p.tryConnect("postgres", "postgres", "", nil)
	if pe := authPgError(t, err); pe.Code != "28P01" {
		t.Errorf("superuser: %s %q", pe.Code, pe.Message)
	}
}

// TestAuthQueryMethods: md5 with an md5 secret logs in to PostgreSQL with
// the hash (md5 passthrough); clear_text checked against a SCRAM secret
// logs in by SCRAM passthrough; SCRAM over TLS with channel binding.
func TestAuthQueryMethods(t *testing.T) {
	srv := aqPostgres(t)
	k := newTLSPKI(t)
	listenTLS := fmt.Sprintf("\ttls \"allow\"\n\ttls_cert_file %q\n\ttls_key_file %q", k.certFile, k.keyFile)
	for _, tc := range []struct {
		name, method, user, pass string
		o                        tlsOpts
	}{
		{"md5 passthrough", "md5", aqMD5User, aqMD5Pass, tlsOpts{sslmode: "disable"}},
		{"clear_text with a SCRAM secret", "clear_text", aqSCRAMUser, aqSCRAMPass, tlsOpts{sslmode: "disable"}},
		{"clear_text with an md5 secret", "clear_text", aqMD5User, aqMD5Pass, tlsOpts{sslmode: "disable"}},
		{"SCRAM-SHA-256-PLUS", "scram-sha-256", aqSCRAMUser, aqSCRAMPass, tlsOpts{sslmode: "verify-full", channelBinding: "require"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPooler(t, aqConf(srv, listenTLS, tc.method))
			c, err := tlsConnect(t, p, k, tc.user, "postgres", tc.pass, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if got := authScalar(t, c, "select current_user"); got != tc.user {
				t.Errorf("current_user %q", got)
			}
			_, err = tlsConnect(t, p, k, tc.user, "postgres", tc.pass+"x", tc.o)
			if pe := authPgError(t, err); pe.Code != "28P01" {
				t.Errorf("wrong password: %s %q", pe.Code, pe.Message)
			}
		})
	}
	// md5 cannot be answered from a SCRAM secret: it fails like a wrong
	// password rather than with a different error.
	p := startPooler(t, aqConf(srv, "", "md5"))
	_, err := p.tryConnect(aqSCRAMUser, "postgres", aqSCRAMPass, nil)
	if pe := authPgError(t, err); pe.Code != "28P01" {
		t.Errorf("md5 against a SCRAM secret: %s %q", pe.Code, pe.Message)
	}
}

// TestAuthQueryFailure: when the query itself fails the client gets a
// clear error, not a false "wrong password".
func TestAuthQueryFailure(t *testing.T) {
	srv := aqPostgres(t)
	conf := strings.Replace(aqConf(srv, "", "scram-sha-256"), "FROM pg_shadow", "FROM no_such_table", 1)
	p := startPooler(t, conf)
	_, err := p.tryConnect(aqSCRAMUser, "postgres", aqSCRAMPass, nil)
	if pe := authPgError(t, err); pe.Code != "08006" || !strings.Contains(pe.Message, "auth_query") {
		t.Errorf("got %s %q", pe.Code, pe.Message)
	}
	if !strings.Contains(p.logs.String(), "no_such_table") {
		t.Error("the log does not say why auth_query failed")
	}
}

// pgxConnect connects with a DSN, closing the connection at test end.
func pgxConnect(t *testing.T, dsn string) (*pgx.Conn, error) {
	t.Helper()
	c, err := pgx.Connect(ctxTimeout(t, 10*time.Second), dsn)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c, nil
}

// TestAuthQueryOddVerifiers: verifiers with salts other than PostgreSQL's
// 16 bytes and other iteration counts (as Cloud SQL and scram_iterations
// make; yandex/odyssey#1568) work on both sides: the pooler checks the
// client against the verifier and logs in to PostgreSQL with the keys.
func TestAuthQueryOddVerifiers(t *testing.T) {
	srv := aqPostgres(t)
	p := startPooler(t, aqConf(srv, "", "scram-sha-256"))
	for i, tc := range []struct {
		saltLen, iterations int
	}{{1, 4096}, {7, 10000}, {40, 1}, {16, 15000}} {
		user := fmt.Sprintf("odd%d", i)
		pass := fmt.Sprintf("odd-Secret-%d", i)
		salt := make([]byte, tc.saltLen)
		rand.Read(salt)
		v := auth.NewVerifier(pass, salt, tc.iterations)
		if err := srv.Exec(ctxTimeout(t, 10*time.Second), fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", user, v)); err != nil {
			t.Fatal(err)
		}
		c, err := p.tryConnect(user, "postgres", pass, nil)
		if err != nil {
			t.Errorf("salt %d bytes, %d iterations: %v", tc.saltLen, tc.iterations, err)
			continue
		}
		if got := authScalar(t, c, "select current_user"); got != user {
			t.Errorf("current_user %q", got)
		}
	}
}

// TestSCRAMMandatoryExtension: a client-first-message with a mandatory
// extension (m=) or an authorization identity (a=) is refused with
// PostgreSQL's 0A000, not taken for a wrong password.
func TestSCRAMMandatoryExtension(t *testing.T) {
	p := startPooler(t, baseConf+rule(authRuleItems("scram-sha-256", scramPass, "")))
	for _, first := range []string{"n,,m=ext,n=,r=abcdefghijkl", "n,a=bob,n=,r=abcdefghijkl"} {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fe := pgproto3.NewFrontend(conn, conn)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
			Parameters: map[string]string{"user": scramUser, "database": "postgres"}})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		if msg, err := fe.Receive(); err != nil {
			t.Fatal(err)
		} else if _, ok := msg.(*pgproto3.AuthenticationSASL); !ok {
			t.Fatalf("got %T", msg)
		}
		fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte(first)})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		msg, err := fe.Receive()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		e, ok := msg.(*pgproto3.ErrorResponse)
		if !ok || e.Code != "0A000" {
			t.Errorf("%q: got %#v", first, msg)
		}
	}
}
