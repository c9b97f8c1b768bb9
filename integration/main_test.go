// Package integration tests the pooler end to end: a real PostgreSQL started
// by the test harness, the pooler running in-process from an Odyssey config,
// and real clients (pgx, psql, pgbench).
package integration

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/instance"
	"github.com/odyssey-go/odyssey/internal/testpg"
)

// pg is the PostgreSQL server shared by the package's tests.
var pg *testpg.Server

// Roles created for the tests; PostgreSQL's pg_hba makes each use its method.
const (
	md5User      = "md5user"
	md5Pass      = "md5pass"
	scramUser    = "scramuser"
	scramPass    = "scrampass"
	clearUser    = "pwuser"
	clearPass    = "cleartextpass"
	plainUser    = "app" // trust
	otherDB      = "otherdb"
	setupTimeout = 30 * time.Second
)

func TestMain(m *testing.M) {
	opts := testpg.Options{
		HBA: []string{
			"host all " + md5User + " 127.0.0.1/32 md5",
			"host all " + scramUser + " 127.0.0.1/32 scram-sha-256",
			"host all " + clearUser + " 127.0.0.1/32 password",
			"local all " + md5User + " md5",
			"local all " + scramUser + " scram-sha-256",
			"local all " + clearUser + " password",
		},
		Settings: map[string]string{"max_connections": "400"},
	}
	testpg.Main(m, opts, func(s *testpg.Server) {
		pg = s
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		for _, sql := range []string{
			"SET password_encryption = 'md5'; CREATE ROLE " + md5User + " LOGIN PASSWORD '" + md5Pass + "'",
			"SET password_encryption = 'scram-sha-256'; CREATE ROLE " + scramUser + " LOGIN PASSWORD '" + scramPass + "'",
			"CREATE ROLE " + clearUser + " LOGIN PASSWORD '" + clearPass + "'",
			"CREATE ROLE " + plainUser + " LOGIN SUPERUSER",
			"CREATE DATABASE " + otherDB,
			"CREATE DATABASE " + plainUser,
		} {
			if err := s.Exec(ctx, sql); err != nil {
				fmt.Fprintf(os.Stderr, "setup %q: %v\n", sql, err)
				os.Exit(1)
			}
		}
	})
}

// pooler is an in-process instance under test.
type pooler struct {
	t    *testing.T
	inst *instance.Instance
	port int
	dir  string
	logs *logBuffer
}

// confVars are substituted into test configs: {{PGPORT}}, {{PGHOST}},
// {{PGSOCKET}} (the server's unix socket dir), {{PORT}} (the pooler's
// port), {{DIR}} (a temp dir for the pooler's own files).
func expand(conf string, port int, dir string) string {
	r := strings.NewReplacer(
		"{{PGPORT}}", strconv.Itoa(pg.Port),
		"{{PGHOST}}", pg.Host,
		"{{PGSOCKET}}", pg.SocketDir,
		"{{PORT}}", strconv.Itoa(port),
		"{{DIR}}", dir,
	)
	return r.Replace(conf)
}

// baseConf is the part every test config shares.
const baseConf = `
log_format "%p %t %l [%i %s] (%c) %m\n"
log_to_stdout no
listen {
	host "127.0.0.1"
	port {{PORT}}
	client_login_timeout 5000
}
storage "pg" {
	type "remote"
	host "{{PGHOST}}"
	port {{PGPORT}}
}
`

// rule renders a `database default { user default { ... } }` block with
// the given items, on storage "pg".
func rule(items string) string {
	return "database default {\n\tuser default {\n\t\tstorage \"pg\"\n" + items + "\n\t}\n}\n"
}

// startPooler loads conf (after expand) and runs the pooler until the test
// ends.
func startPooler(t *testing.T, conf string) *pooler {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	text := expand(conf, port, dir)
	path := filepath.Join(dir, "odyssey.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	inst := instance.New(cfg, log)
	if err := inst.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	p := &pooler{t: t, inst: inst, port: port, dir: dir, logs: logs}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		inst.Shutdown(ctx)
		if t.Failed() {
			t.Logf("pooler log:\n%s", logs.String())
		}
	})
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// dsn is a libpq connection string to the pooler.
func (p *pooler) dsn(user, db, password string) string {
	s := fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable connect_timeout=10", p.port, user, db)
	if password != "" {
		s += " password=" + password
	}
	return s
}

// connect opens a pgx connection through the pooler, closed at test end.
func (p *pooler) connect(user, db, password string) *pgx.Conn {
	p.t.Helper()
	c, err := p.tryConnect(user, db, password, nil)
	if err != nil {
		p.t.Fatalf("connect %s@%s: %v", user, db, err)
	}
	return c
}

func (p *pooler) tryConnect(user, db, password string, params map[string]string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(p.dsn(user, db, password))
	if err != nil {
		return nil, err
	}
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.t.Cleanup(func() { c.Close(context.Background()) })
	return c, nil
}

// direct opens a pgx connection straight to PostgreSQL as the superuser.
func direct(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, pg.DSN(testpg.SuperUser, "postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// ctx returns a context that ends with a deadline of d.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sqlState returns the SQLSTATE of err, or "".
func sqlState(err error) string {
	if pe, ok := err.(*pgconn.PgError); ok {
		return pe.Code
	}
	var pe *pgconn.PgError
	if asPgError(err, &pe) {
		return pe.Code
	}
	return ""
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !pollUntil(d, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// pollUntil checks cond, backing off up to 50ms between checks, until it
// holds (true) or d has passed (false), for a caller that says more than
// waitFor can when it times out.
func pollUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
	}
}

// serverConns counts PostgreSQL backends of user (other than ours).
func serverConns(t *testing.T, user string) int {
	t.Helper()
	n, err := pg.Connections(ctxTimeout(t, 10*time.Second), user)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
