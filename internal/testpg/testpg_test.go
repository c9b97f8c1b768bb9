package testpg

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func startServer(t *testing.T, opts Options) *Server {
	t.Helper()
	begin := time.Now()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server on port %d started in %v", s.Port, time.Since(begin))
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestServer(t *testing.T) {
	s := startServer(t, Options{
		HBA:      []string{"host all md5user 127.0.0.1/32 md5"},
		Settings: map[string]string{"password_encryption": "md5"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if err := s.Exec(ctx, "CREATE ROLE md5user LOGIN PASSWORD 'secret'"); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, "CREATE DATABASE md5db OWNER md5user"); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(ctx, s.DSN("md5user", "md5db", "secret"))
	if err != nil {
		t.Fatalf("connect with right password: %v\n%s", err, s.LogTail(20))
	}
	// The role's password must be stored as an md5 hash for the md5 rule.
	super, err := pgx.Connect(ctx, s.DSN(s.SuperUser, "postgres", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	var hash string
	if err := super.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = 'md5user'").Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "md5") {
		t.Errorf("md5user password stored as %q, want an md5 hash", hash)
	}

	n, err := s.Connections(ctx, "md5user")
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("Connections(md5user) = %d with one open connection, want 1", n)
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitConnections(ctx, t, s, "md5user", 0)

	_, err = pgx.Connect(ctx, s.DSN("md5user", "md5db", "wrong"))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Fatalf("connect with wrong password: got %v, want SQLSTATE 28P01", err)
	}

	// The superuser stays trusted whatever the password.
	if err := s.Exec(ctx, "ALTER ROLE postgres PASSWORD 'other'"); err != nil {
		t.Fatal(err)
	}
	super2, err := pgx.Connect(ctx, s.DSN(s.SuperUser, "postgres", "anything"))
	if err != nil {
		t.Fatalf("superuser over TCP: %v", err)
	}
	super2.Close(ctx)

	cmd := exec.CommandContext(ctx, s.Bin("psql"), "-X", "-A", "-t", "-c", "select 1")
	cmd.Env = append(os.Environ(), s.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "1" {
		t.Errorf("psql printed %q, want 1", got)
	}

	if tail := s.LogTail(1000); !strings.Contains(tail, "ready to accept connections") {
		t.Errorf("log tail lacks the startup message:\n%s", tail)
	}
	if got := s.LogTail(2); strings.Count(got, "\n") > 1 {
		t.Errorf("LogTail(2) returned more than two lines:\n%s", got)
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("first Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(s.DataDir); !os.IsNotExist(err) {
		t.Errorf("data directory still present after Stop: %v", err)
	}
	if _, err := pgconn.Connect(ctx, s.DSN(s.SuperUser, "postgres", "")); err == nil {
		t.Error("server still accepts connections after Stop")
	}
}

// waitConnections polls until user has want connections; backends exit
// shortly after their client disconnects, not at once.
func waitConnections(ctx context.Context, t *testing.T, s *Server, user string, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		n, err := s.Connections(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Connections(%s) = %d, want %d", user, n, want)
		case <-ticker.C:
		}
	}
}

func TestParallelServers(t *testing.T) {
	var (
		wg      sync.WaitGroup
		servers [2]*Server
		errs    [2]error
	)
	for i := range servers {
		wg.Go(func() { servers[i], errs[i] = Start(Options{}) })
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() {
			if err := s.Stop(); err != nil {
				t.Error(err)
			}
		})
	}
	if servers[0].Port == servers[1].Port || servers[0].DataDir == servers[1].DataDir {
		t.Fatalf("servers share port or directory: %+v %+v", servers[0], servers[1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range servers {
		if err := s.Exec(ctx, "SELECT 1"); err != nil {
			t.Error(err)
		}
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	for _, opts := range []Options{
		{HBA: []string{"host all all 127.0.0.1/32 trust\nlocal all all reject"}},
		{Settings: map[string]string{"fsync = on\nport": "1"}},
	} {
		if s, err := Start(opts); err == nil {
			s.Stop()
			t.Errorf("Start(%+v) succeeded, want an error", opts)
		}
	}
}

type fakeM struct {
	ran  bool
	code int
}

func (m *fakeM) Run() int {
	m.ran = true
	return m.code
}

func TestRunFailsWithoutBinaries(t *testing.T) {
	t.Setenv("PG_BINDIR", t.TempDir())
	m := &fakeM{}
	var out strings.Builder
	if code := run(m, Options{}, nil, &out); code == 0 {
		t.Error("run succeeded without PostgreSQL binaries")
	}
	if !strings.Contains(out.String(), "has no initdb") {
		t.Errorf("run printed %q, want the reason", out.String())
	}
	if m.ran {
		t.Error("tests ran without a server")
	}
}

func TestRun(t *testing.T) {
	var s *Server
	m := &fakeM{code: 3}
	var out strings.Builder
	if code := run(m, Options{}, func(srv *Server) { s = srv }, &out); code != 3 {
		t.Errorf("run returned %d, want the tests' code 3", code)
	}
	if !m.ran || s == nil {
		t.Fatal("tests did not run with a server")
	}
	if out.Len() > 0 {
		t.Errorf("run printed %q", out.String())
	}
	if _, err := os.Stat(s.DataDir); !os.IsNotExist(err) {
		t.Errorf("server directory left behind: %v", err)
	}
}

func TestDSNQuoting(t *testing.T) {
	s := &Server{Host: Host, Port: 5432}
	got := s.DSN("u", "my db", `it's\`)
	want := `host=127.0.0.1 port=5432 user=u dbname='my db' password='it\'s\\' sslmode=disable`
	if got != want {
		t.Errorf("DSN = %s, want %s", got, want)
	}
	cfg, err := pgconn.ParseConfig(got)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database != "my db" || cfg.Password != `it's\` {
		t.Errorf("parsed database %q password %q", cfg.Database, cfg.Password)
	}
}

func TestStartRetriesTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port

	var picked []int
	pick := func() (int, error) {
		if len(picked) == 0 {
			picked = append(picked, taken)
			return taken, nil
		}
		port, err := FreePort()
		picked = append(picked, port)
		return port, err
	}
	s, err := start(Options{}, pick)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if len(picked) != 2 || s.Port == taken {
		t.Errorf("picked ports %v, server on %d; want a second port after %d", picked, s.Port, taken)
	}
	if !strings.Contains(s.LogTail(1000), "could not bind") {
		t.Error("log does not show the failed first attempt")
	}
}
