package integration

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/odyssey-go/odyssey/internal/stats"
)

// Client and server authentication through the pooler (reference §2.6).

// authMD5Secret is PostgreSQL's stored md5 password: "md5" + md5(password + user).
func authMD5Secret(user, password string) string {
	sum := md5.Sum([]byte(password + user))
	return "md5" + hex.EncodeToString(sum[:])
}

// authRolPassword reads a role's stored password (md5 hash or SCRAM
// verifier) from PostgreSQL directly.
func authRolPassword(t *testing.T, role string) string {
	t.Helper()
	var pw string
	err := direct(t).QueryRow(ctxTimeout(t, 10*time.Second),
		"select rolpassword from pg_authid where rolname = $1", role).Scan(&pw)
	if err != nil {
		t.Fatalf("rolpassword of %s: %v", role, err)
	}
	return pw
}

// authPgError returns err as a *pgconn.PgError, failing the test if it is
// not one.
func authPgError(t *testing.T, err error) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v (%T), want a PostgreSQL error", err, err)
	}
	return pe
}

// authScalar runs a one-value query and returns it as text.
func authScalar(t *testing.T, c *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	if err := c.QueryRow(ctxTimeout(t, 10*time.Second), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// authClientIDPrefix is the "odyssey: c<12 hex>: " prefix of the pooler's
// own error messages.
var authClientIDPrefix = regexp.MustCompile(`^odyssey: c[0-9a-f]{12}: `)

// authConnectTimed connects and reports how long the attempt took; login
// failures must come back promptly, never by a client-side timeout.
func authConnectTimed(p *pooler, user, db, password string) (*pgx.Conn, time.Duration, error) {
	start := time.Now()
	c, err := p.tryConnect(user, db, password, nil)
	return c, time.Since(start), err
}

// authRuleItems renders the items of a rule with optional password lines.
func authRuleItems(method, password, storagePassword string, extra ...string) string {
	s := fmt.Sprintf("\t\tauthentication %q\n", method)
	if password != "" {
		s += fmt.Sprintf("\t\tpassword %q\n", password)
	}
	if storagePassword != "" {
		s += fmt.Sprintf("\t\tstorage_password %q\n", storagePassword)
	}
	s += "\t\tpool \"session\"\n\t\tpool_discard no\n"
	for _, e := range extra {
		s += "\t\t" + e + "\n"
	}
	return s
}

// TestAuthStoredSecretsMatchPostgres checks that the md5 secret the tests
// compute is what PostgreSQL stores, and that scramuser has a verifier.
func TestAuthStoredSecretsMatchPostgres(t *testing.T) {
	if got, want := authRolPassword(t, md5User), authMD5Secret(md5User, md5Pass); got != want {
		t.Errorf("md5user rolpassword %q, computed %q", got, want)
	}
	if v := authRolPassword(t, scramUser); !strings.HasPrefix(v, "SCRAM-SHA-256$4096:") {
		t.Errorf("scramuser rolpassword %q is not a SCRAM verifier", v)
	}
}

// TestAuthNone: authentication "none" lets any password (or none) in.
func TestAuthNone(t *testing.T) {
	p := startPooler(t, baseConf+rule(authRuleItems("none", "", "")))
	for _, pw := range []string{"", "anything"} {
		c := p.connect(plainUser, plainUser, pw)
		if got := authScalar(t, c, "select current_user"); got != plainUser {
			t.Errorf("password %q: current_user %q, want %q", pw, got, plainUser)
		}
	}
}

// TestAuthBlock: authentication "block" refuses with 28000 whatever the
// password.
func TestAuthBlock(t *testing.T) {
	p := startPooler(t, baseConf+rule(authRuleItems("block", "", "")))
	for _, pw := range []string{"", "x"} {
		_, took, err := authConnectTimed(p, plainUser, plainUser, pw)
		pe := authPgError(t, err)
		if pe.Code != "28000" || pe.Severity != "FATAL" || !strings.Contains(pe.Message, "blocked") {
			t.Errorf("password %q: got %s %s %q, want FATAL 28000 user blocked", pw, pe.Severity, pe.Code, pe.Message)
		}
		if took > 5*time.Second {
			t.Errorf("block took %v", took)
		}
	}
}

// TestAuthClientMethods runs every client method against every form of
// the rule's password (plain, md5 hash, SCRAM verifier), with the right and
// a wrong password. Server login uses storage_password so that only the
// client side is under test.
func TestAuthClientMethods(t *testing.T) {
	md5Secret := authMD5Secret(md5User, md5Pass)
	if stored := authRolPassword(t, md5User); stored != md5Secret {
		t.Fatalf("computed md5 secret %q differs from PostgreSQL's %q", md5Secret, stored)
	}
	scramSecret := authRolPassword(t, scramUser)

	type form struct {
		name, user, pass, secret string
	}
	forms := []form{
		{"plain", clearUser, clearPass, clearPass},
		{"md5hash", md5User, md5Pass, md5Secret},
		{"scramverifier", scramUser, scramPass, scramSecret},
	}
	// works[method][form]: can a client log in at all with this pair?
	works := map[string]map[string]bool{
		"clear_text":    {"plain": true, "md5hash": true, "scramverifier": true},
		"md5":           {"plain": true, "md5hash": true, "scramverifier": false},
		"scram-sha-256": {"plain": true, "md5hash": false, "scramverifier": true},
	}
	for _, method := range []string{"clear_text", "md5", "scram-sha-256"} {
		for _, f := range forms {
			t.Run(method+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				p := startPooler(t, baseConf+rule(authRuleItems(method, f.secret, f.pass)))
				// Right password.
				c, took, err := authConnectTimed(p, f.user, "postgres", f.pass)
				if works[method][f.name] {
					if err != nil {
						t.Fatalf("right password refused: %v", err)
					}
					if got := authScalar(t, c, "select current_user"); got != f.user {
						t.Errorf("current_user %q, want %q", got, f.user)
					}
				} else {
					pe := authPgError(t, err)
					if pe.Code != "28P01" {
						t.Errorf("unusable secret: got %s %q, want 28P01", pe.Code, pe.Message)
					}
					if took > 5*time.Second {
						t.Errorf("unusable secret: failure took %v", took)
					}
				}
				// Wrong password.
				_, took, err = authConnectTimed(p, f.user, "postgres", f.pass+"-wrong")
				pe := authPgError(t, err)
				want := fmt.Sprintf("password authentication failed for user %q", f.user)
				if pe.Code != "28P01" || pe.Severity != "FATAL" || !strings.HasSuffix(pe.Message, want) {
					t.Errorf("wrong password: got %s %s %q, want FATAL 28P01 ...%s", pe.Severity, pe.Code, pe.Message, want)
				}
				if took > 5*time.Second {
					t.Errorf("wrong password: failure took %v", took)
				}
				// The pooler still serves the right password afterwards.
				if works[method][f.name] {
					p.connect(f.user, "postgres", f.pass)
				}
			})
		}
	}
}

// authNormalized strips the client id prefix and replaces the user name,
// so that errors for different users and clients can be compared.
func authNormalized(pe *pgconn.PgError, user string) string {
	msg := authClientIDPrefix.ReplaceAllString(pe.Message, "")
	msg = strings.ReplaceAll(msg, strconv.Quote(user), `"<user>"`)
	return fmt.Sprintf("%s|%s|%s|%s|%s", pe.Severity, pe.Code, msg, pe.Detail, pe.Hint)
}

// TestAuthUnknownUserLooksLikeWrongPassword: in a database that has rules,
// a user matching none of them fails exactly like a wrong password, so
// user names cannot be probed.
func TestAuthUnknownUserLooksLikeWrongPassword(t *testing.T) {
	for _, method := range []string{"clear_text", "md5", "scram-sha-256"} {
		t.Run(method, func(t *testing.T) {
			conf := baseConf + `
database "app" {
	user "alice" {
		storage "pg"
		storage_user "app"
` + authRuleItems(method, "alicepw", "") + `
	}
}
`
			p := startPooler(t, conf)
			p.connect("alice", "app", "alicepw") // the rule works

			_, took, err := authConnectTimed(p, "alice", "app", "nope")
			wrong := authPgError(t, err)
			if took > 5*time.Second {
				t.Errorf("wrong password took %v", took)
			}
			_, took, err = authConnectTimed(p, "mallory", "app", "nope")
			unknown := authPgError(t, err)
			if took > 5*time.Second {
				t.Errorf("unknown user took %v", took)
			}
			if wrong.Code != "28P01" || !strings.Contains(wrong.Message, `password authentication failed for user "alice"`) {
				t.Errorf("wrong password: %s %q", wrong.Code, wrong.Message)
			}
			if !strings.Contains(unknown.Message, `password authentication failed for user "mallory"`) {
				t.Errorf("unknown user: %s %q", unknown.Code, unknown.Message)
			}
			if a, b := authNormalized(wrong, "alice"), authNormalized(unknown, "mallory"); a != b {
				t.Errorf("unknown user distinguishable from wrong password:\n wrong password: %s\n unknown user:   %s", a, b)
			}
		})
	}
}

// authFirstRequest sends a startup message and returns the first
// authentication request the pooler answers with.
func authFirstRequest(t *testing.T, p *pooler, user, db string) pgproto3.BackendMessage {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": user, "database": db}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	msg, err := fe.Receive()
	if err != nil {
		t.Fatalf("%s@%s: %v", user, db, err)
	}
	return msg
}

// TestAuthUnknownUserSameChallenge: the unknown user is also asked for its
// password the same way as a known one; a different challenge (SCRAM for
// mallory, MD5 for alice) tells a prober which user names exist.
func TestAuthUnknownUserSameChallenge(t *testing.T) {
	for _, method := range []string{"clear_text", "md5", "scram-sha-256"} {
		t.Run(method, func(t *testing.T) {
			conf := baseConf + `
database "app" {
	user "alice" {
		storage "pg"
		storage_user "app"
` + authRuleItems(method, "alicepw", "") + `
	}
}
`
			p := startPooler(t, conf)
			known := authFirstRequest(t, p, "alice", "app")
			unknown := authFirstRequest(t, p, "mallory", "app")
			if fmt.Sprintf("%T", known) != fmt.Sprintf("%T", unknown) {
				t.Errorf("known user gets %T, unknown user gets %T", known, unknown)
			}
		})
	}
}

// TestAuthUnknownDatabase: no rule for the database at all gives 3D000.
func TestAuthUnknownDatabase(t *testing.T) {
	conf := baseConf + `
database "app" {
	user default {
		storage "pg"
` + authRuleItems("none", "", "") + `
	}
}
`
	p := startPooler(t, conf)
	p.connect(plainUser, "app", "")
	_, took, err := authConnectTimed(p, plainUser, otherDB, "")
	pe := authPgError(t, err)
	if pe.Code != "3D000" || !strings.Contains(pe.Message, "otherdb.app") {
		t.Errorf("got %s %q, want 3D000 naming otherdb.app", pe.Code, pe.Message)
	}
	if took > 5*time.Second {
		t.Errorf("took %v", took)
	}
	var notFound uint64
	for _, e := range p.inst.Router().Errors() {
		if e.Kind == stats.ErrRouteNotFound {
			notFound += e.Count
		}
	}
	if notFound != 1 {
		t.Errorf("OD_ROUTER_ERROR_NOT_FOUND = %d, want 1", notFound)
	}
}

// authPsql runs psql against the pooler with PGPASSWORD and returns its
// combined output.
func authPsql(t *testing.T, p *pooler, user, db, password, sql string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", "-X", "-w", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", user, "-d", db, "-c", sql)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PGPASSWORD="+password, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10", "PGGSSENCMODE=disable")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("psql hung: %s", out)
	}
	return strings.TrimSpace(string(out)), err
}

// TestAuthPsql: libpq's implementation of each method against the pooler.
func TestAuthPsql(t *testing.T) {
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatal("psql is not on PATH")
	}
	cases := []struct {
		method, user, pass string
	}{
		{"clear_text", clearUser, clearPass},
		{"md5", md5User, md5Pass},
		{"scram-sha-256", scramUser, scramPass},
	}
	for _, tc := range cases {
		t.Run(tc.method, func(t *testing.T) {
			t.Parallel()
			p := startPooler(t, baseConf+rule(authRuleItems(tc.method, tc.pass, "")))
			out, err := authPsql(t, p, tc.user, "postgres", tc.pass, "select current_user")
			if err != nil || out != tc.user {
				t.Errorf("right password: %v: %s", err, out)
			}
			out, err = authPsql(t, p, tc.user, "postgres", "wrong", "select current_user")
			want := fmt.Sprintf("password authentication failed for user %q", tc.user)
			if err == nil || !strings.Contains(out, want) {
				t.Errorf("wrong password: err %v, output %q, want it to contain %q", err, out, want)
			}
		})
	}
}

// TestAuthServer: the pooler logs in to PostgreSQL with each method
// PostgreSQL asks for, from storage_password, else the rule's password.
func TestAuthServer(t *testing.T) {
	md5Secret := authMD5Secret(md5User, md5Pass)
	cases := []struct {
		name, user, clientPass, items string
	}{
		{"trust", plainUser, "", authRuleItems("none", "", "")},
		{"cleartext/storage_password", clearUser, "", authRuleItems("none", "", clearPass)},
		{"md5/storage_password", md5User, "", authRuleItems("none", "", md5Pass)},
		{"scram/storage_password", scramUser, "", authRuleItems("none", "", scramPass)},
		{"cleartext/rule_password", clearUser, clearPass, authRuleItems("clear_text", clearPass, "")},
		{"md5/rule_password", md5User, md5Pass, authRuleItems("md5", md5Pass, "")},
		{"scram/rule_password", scramUser, scramPass, authRuleItems("scram-sha-256", scramPass, "")},
		// An md5 hash is enough to answer PostgreSQL's md5 challenge.
		{"md5/rule_md5_hash", md5User, md5Pass, authRuleItems("md5", md5Secret, "")},
		// storage_password wins over the rule's password.
		{"scram/storage_password_over_password", scramUser, "clientpw",
			authRuleItems("clear_text", "clientpw", scramPass)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startPooler(t, baseConf+rule(tc.items))
			c := p.connect(tc.user, "postgres", tc.clientPass)
			if got := authScalar(t, c, "select current_user"); got != tc.user {
				t.Errorf("current_user %q, want %q", got, tc.user)
			}
			// A second client logs in a second server the same way.
			c2 := p.connect(tc.user, "postgres", tc.clientPass)
			if got := authScalar(t, c2, "select current_user"); got != tc.user {
				t.Errorf("second client: current_user %q, want %q", got, tc.user)
			}
			if n := serverConns(t, tc.user); n < 2 {
				t.Errorf("%d server connections of %s, want 2 (session pool)", n, tc.user)
			}
		})
	}
}

// TestAuthPasswordPassthrough: with clear_text and password_passthrough,
// the client's password logs in to PostgreSQL. The rule holds only a hash
// of it (a SCRAM verifier, an md5 hash), which cannot answer PostgreSQL's
// SCRAM or cleartext request, so the login can only work with the
// client's password.
func TestAuthPasswordPassthrough(t *testing.T) {
	scramSecret := authRolPassword(t, scramUser)
	cases := []struct {
		name, user, pass, secret string
	}{
		{"scram", scramUser, scramPass, scramSecret},
		{"cleartext", clearUser, clearPass, authMD5Secret(clearUser, clearPass)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startPooler(t, baseConf+rule(authRuleItems("clear_text", tc.secret, "", "password_passthrough yes")))
			c := p.connect(tc.user, "postgres", tc.pass)
			if got := authScalar(t, c, "select current_user"); got != tc.user {
				t.Errorf("current_user %q, want %q", got, tc.user)
			}
			// A wrong password is refused by the pooler itself.
			_, err := p.tryConnect(tc.user, "postgres", tc.pass+"x", nil)
			if pe := authPgError(t, err); pe.Code != "28P01" {
				t.Errorf("wrong password: %s %q, want 28P01", pe.Code, pe.Message)
			}
		})
		t.Run(tc.name+"/without", func(t *testing.T) {
			p := startPooler(t, baseConf+rule(authRuleItems("clear_text", tc.secret, "")))
			if tc.name == "scram" {
				// The password checked against PostgreSQL's own verifier
				// gives the SCRAM keys: SCRAM passthrough logs in without
				// keeping the password.
				c := p.connect(tc.user, "postgres", tc.pass)
				if got := authScalar(t, c, "select current_user"); got != tc.user {
					t.Errorf("current_user %q, want %q", got, tc.user)
				}
				return
			}
			// The control: no passthrough, no usable password for
			// PostgreSQL (an md5 hash cannot answer its cleartext
			// request): the client gets a clean connection failure.
			_, took, err := authConnectTimed(p, tc.user, "postgres", tc.pass)
			pe := authPgError(t, err)
			if pe.Code != "08006" {
				t.Errorf("got %s %q, want 08006", pe.Code, pe.Message)
			}
			if took > 5*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

// TestAuthServerWrongStoragePassword: PostgreSQL refusing a wrong
// storage_password reaches the client promptly as 08006 "failed to connect
// to remote server" with PostgreSQL's error in the detail, or, with
// client_fwd_error yes, as PostgreSQL's own 28P01 (reference §3 item 9).
// The failed login does not leak a pool slot: with pool_size 1 every
// attempt gets the same answer at once, never a pool_timeout.
func TestAuthServerWrongStoragePassword(t *testing.T) {
	for _, fwd := range []bool{false, true} {
		for _, user := range []string{clearUser, md5User, scramUser} {
			name := user
			extra := []string{"pool_size 1", "pool_timeout 2000"}
			if fwd {
				name += "/client_fwd_error"
				extra = append(extra, "client_fwd_error yes")
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				p := startPooler(t, baseConf+rule(authRuleItems("none", "", "wrong-password", extra...)))
				pgMsg := fmt.Sprintf("password authentication failed for user %q", user)
				for i := range 3 {
					_, took, err := authConnectTimed(p, user, "postgres", "")
					pe := authPgError(t, err)
					if fwd {
						if pe.Code != "28P01" || pe.Severity != "FATAL" || !strings.Contains(pe.Message, pgMsg) {
							t.Errorf("attempt %d: got %s %s %q, want FATAL 28P01 %s", i, pe.Severity, pe.Code, pe.Message, pgMsg)
						}
					} else {
						if pe.Code != "08006" || pe.Severity != "FATAL" ||
							!strings.Contains(pe.Message, "failed to connect to remote server") ||
							!strings.Contains(pe.Detail, "28P01") || !strings.Contains(pe.Detail, pgMsg) {
							t.Errorf("attempt %d: got %s %s %q detail %q, want FATAL 08006 failed to connect, detail 28P01 %s",
								i, pe.Severity, pe.Code, pe.Message, pe.Detail, pgMsg)
						}
					}
					if took > 1500*time.Millisecond {
						t.Errorf("attempt %d took %v", i, took)
					}
				}
			})
		}
	}
}
