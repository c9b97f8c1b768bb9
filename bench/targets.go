package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/odyssey-go/odyssey/internal/testpg"
)

// benchPassword is the password of the "bench" role, everywhere.
const benchPassword = "bench-pw"

// target is one thing pgbench talks to.
type target struct {
	name string
	host string
	port int
	pid  int // the pooler process, 0 for direct PostgreSQL
}

// startTargets starts PgBouncer and odyssey in front of pg with client
// authentication auth ("md5" or "scram-sha-256") and returns the three
// targets and a function that stops the poolers.
func startTargets(work string, pg *testpg.Server, odyssey string, poolSize int, auth string) ([]target, func(), error) {
	direct := target{name: "direct", host: pg.Host, port: pg.Port}
	bouncer, stopBouncer, err := startPgBouncer(work, pg, poolSize, auth)
	if err != nil {
		return nil, nil, err
	}
	ody, stopOdyssey, err := startOdyssey(work, pg, odyssey, poolSize, auth)
	if err != nil {
		stopBouncer()
		return nil, nil, err
	}
	stop := func() {
		stopOdyssey()
		stopBouncer()
	}
	return []target{direct, bouncer, ody}, stop, nil
}

func startPgBouncer(work string, pg *testpg.Server, poolSize int, auth string) (target, func(), error) {
	dir := filepath.Join(work, "pgbouncer")
	os.MkdirAll(dir, 0o755)
	port, err := testpg.FreePort()
	if err != nil {
		return target{}, nil, err
	}
	ini := fmt.Sprintf(`[databases]
bench = host=%s port=%d dbname=bench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = %s
auth_file = %s/userlist.txt
pool_mode = transaction
default_pool_size = %d
max_client_conn = 12000
max_db_connections = 0
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = %s/pgbouncer.log
pidfile = %s/pgbouncer.pid
log_connections = 0
log_disconnections = 0
`, pg.Host, pg.Port, port, auth, dir, poolSize, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(ini), 0o644); err != nil {
		return target{}, nil, err
	}
	users := fmt.Sprintf("%q %q\n", "bench", benchPassword)
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(users), 0o644); err != nil {
		return target{}, nil, err
	}
	cmd := exec.Command("pgbouncer", filepath.Join(dir, "pgbouncer.ini"))
	if os.Geteuid() == 0 {
		// PgBouncer refuses to run as root.
		cred, err := postgresCredential()
		if err != nil {
			return target{}, nil, err
		}
		os.Chown(dir, int(cred.Uid), int(cred.Gid))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return target{}, nil, fmt.Errorf("start pgbouncer: %w", err)
	}
	t := target{name: "pgbouncer", host: "127.0.0.1", port: port, pid: cmd.Process.Pid}
	stop := stopper(cmd)
	if err := waitReady(t, auth); err != nil {
		stop()
		log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
		return target{}, nil, fmt.Errorf("pgbouncer: %w\n%s", err, log)
	}
	return t, stop, nil
}

func startOdyssey(work string, pg *testpg.Server, bin string, poolSize int, auth string) (target, func(), error) {
	port, err := testpg.FreePort()
	if err != nil {
		return target{}, nil, err
	}
	conf := fmt.Sprintf(`log_format "%%p %%t %%l [%%i %%s] (%%c) %%m\n"
log_to_stdout no
log_file "%s/odyssey.log"
log_session no
listen {
	host "127.0.0.1"
	port %d
}
storage "pg" {
	type "remote"
	host "%s"
	port %d
}
database "bench" {
	user "bench" {
		authentication "%s"
		password "%s"
		storage "pg"
		storage_password "%s"
		pool "transaction"
		pool_size %d
		pool_discard no
		pool_timeout 60000
	}
}
`, work, port, pg.Host, pg.Port, auth, benchPassword, benchPassword, poolSize)
	path := filepath.Join(work, "odyssey.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return target{}, nil, err
	}
	cmd := exec.Command(bin, path)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return target{}, nil, fmt.Errorf("start odyssey: %w", err)
	}
	t := target{name: "odyssey", host: "127.0.0.1", port: port, pid: cmd.Process.Pid}
	stop := stopper(cmd)
	if err := waitReady(t, auth); err != nil {
		stop()
		log, _ := os.ReadFile(filepath.Join(work, "odyssey.log"))
		return target{}, nil, fmt.Errorf("odyssey: %w\n%s", err, log)
	}
	return t, stop, nil
}

// stopper returns a function that stops cmd with SIGTERM (then SIGKILL).
func stopper(cmd *exec.Cmd) func() {
	return func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
}

// waitReady connects until the target answers a query (30 s at most).
func waitReady(t target, auth string) error {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for delay := 10 * time.Millisecond; time.Now().Before(deadline); delay = min(2*delay, 500*time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := pgconn.Connect(ctx, t.dsn())
		if err == nil {
			err = c.Exec(ctx, "select 1").Close()
			c.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
		time.Sleep(delay)
	}
	return fmt.Errorf("not ready after 30s: %w", last)
}

func (t target) dsn() string {
	return fmt.Sprintf("host=%s port=%d user=bench password=%s dbname=bench sslmode=disable", t.host, t.port, benchPassword)
}

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres OS user for pgbouncer: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
