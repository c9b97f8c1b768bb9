// Package testpg runs throwaway PostgreSQL servers for integration tests.
//
// Start creates a private directory under os.TempDir, runs initdb into it
// and launches the postgres binary listening on a free port of 127.0.0.1
// and on a unix socket inside that directory. The server trades durability
// for speed (no fsync, no full page writes) and is shut down and deleted by
// Stop. Every call to Start gets its own directory and port, so several test
// binaries may run servers at the same time.
//
// PostgreSQL refuses to run as root. When the test binary runs as root,
// initdb and postgres are started directly as the "postgres" OS user; no
// su or sudo is involved.
//
// A package normally shares one server among its tests through Main:
//
//	var srv *testpg.Server
//
//	func TestMain(m *testing.M) {
//		testpg.Main(m, testpg.Options{}, func(s *testpg.Server) { srv = s })
//	}
//
// Missing PostgreSQL binaries are an error, never a reason to skip: a
// machine without PostgreSQL must not report integration tests as passed.
package testpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// SuperUser is the bootstrap superuser created by initdb.
	SuperUser = "postgres"
	// Host is the TCP address the server listens on.
	Host = "127.0.0.1"

	// osUser runs the server when the test binary runs as root.
	osUser = "postgres"
	// logName is the server log file inside the data directory.
	logName = "postgres.log"

	initdbTimeout = 2 * time.Minute
	readyTimeout  = time.Minute
	// stopTimeout bounds the fast shutdown before harsher signals are used.
	stopTimeout = 10 * time.Second
	killTimeout = 5 * time.Second
	// portAttempts is how often Start tries a new port when the chosen one
	// was taken between picking it and postgres binding it.
	portAttempts = 5
	// maxSocketPath is the longest unix socket path PostgreSQL accepts.
	maxSocketPath = 107
	// maxLogTail caps how much of the log LogTail reads.
	maxLogTail = 1 << 20
)

// Options adjusts the server created by Start.
type Options struct {
	// HBA holds pg_hba.conf lines, such as
	// "host all md5user 127.0.0.1/32 md5". They are placed after rules
	// that keep unix socket connections and the superuser on trust and
	// before a final rule that trusts every other TCP connection.
	HBA []string
	// Settings are extra postgresql.conf parameters, for example
	// {"password_encryption": "md5"}. They are written after the
	// harness defaults and therefore override them; the port is always
	// chosen by the harness.
	Settings map[string]string
}

// Server is a running PostgreSQL server owned by the test binary.
type Server struct {
	Host      string // TCP address, always 127.0.0.1
	Port      int    // TCP port, also used in the socket file name
	SocketDir string // unix socket directory, usable as host or PGHOST
	DataDir   string // cluster data directory
	LogFile   string // server log, inside DataDir
	SuperUser string // bootstrap superuser, trusted over socket and TCP
	BinDir    string // directory holding the PostgreSQL binaries

	root    string // temporary directory holding everything above
	proc    *process
	logFile *os.File

	stopOnce sync.Once
	stopErr  error // result of the first Stop
}

// Start initializes a new cluster in a fresh temporary directory and starts
// postgres on it. It returns once the server accepts TCP connections.
func Start(opts Options) (*Server, error) {
	return start(opts, FreePort)
}

// start is Start with a replaceable source of port numbers.
func start(opts Options, pickPort func() (int, error)) (*Server, error) {
	if err := validate(opts); err != nil {
		return nil, err
	}
	binDir, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, groups, err := serverCredential()
	if err != nil {
		return nil, err
	}

	root, err := makeRoot(cred, groups)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Host:      Host,
		SocketDir: filepath.Join(root, "sock"),
		DataDir:   filepath.Join(root, "data"),
		SuperUser: SuperUser,
		BinDir:    binDir,
		root:      root,
	}
	s.LogFile = filepath.Join(s.DataDir, logName)

	if err := s.setUp(opts, cred); err != nil {
		s.cleanUp()
		return nil, err
	}
	if err := s.launch(cred, pickPort); err != nil {
		s.cleanUp()
		return nil, err
	}
	return s, nil
}

// validate rejects options that would corrupt the generated config files.
func validate(opts Options) error {
	for _, line := range opts.HBA {
		if strings.ContainsAny(line, "\r\n") {
			return fmt.Errorf("testpg: HBA line %q spans several lines", line)
		}
	}
	for name := range opts.Settings {
		if name == "" || strings.ContainsAny(name, " \t\r\n=#'") {
			return fmt.Errorf("testpg: invalid setting name %q", name)
		}
	}
	return nil
}

// serverCredential returns the identity postgres must run as: nil for the
// current user, or the postgres OS user when running as root. The second
// result lists every group of that user.
func serverCredential() (*syscall.Credential, []uint32, error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil
	}
	u, err := user.Lookup(osUser)
	if err != nil {
		return nil, nil, fmt.Errorf("testpg: running as root needs OS user %q to run PostgreSQL: %w", osUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("testpg: uid of %q: %w", osUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("testpg: gid of %q: %w", osUser, err)
	}
	groups := []uint32{uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			g, err := strconv.ParseUint(id, 10, 32)
			if err == nil && !slices.Contains(groups, uint32(g)) {
				groups = append(groups, uint32(g))
			}
		}
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}
	return cred, groups, nil
}

// makeRoot creates the temporary directory for one server, with a socket
// subdirectory, and makes both usable by the server's OS user.
func makeRoot(cred *syscall.Credential, groups []uint32) (string, error) {
	root, err := os.MkdirTemp("", "testpg-")
	if err != nil {
		return "", fmt.Errorf("testpg: %w", err)
	}
	sock := filepath.Join(root, "sock")
	err = func() error {
		if err := os.Chmod(root, 0o755); err != nil {
			return err
		}
		if err := os.Mkdir(sock, 0o755); err != nil {
			return err
		}
		if n := len(sock) + len("/.s.PGSQL.65535"); n > maxSocketPath {
			return fmt.Errorf("socket path under %s would be %d bytes, more than PostgreSQL allows (%d); set TMPDIR to a shorter directory", root, n, maxSocketPath)
		}
		if cred == nil {
			return nil
		}
		for _, dir := range []string{root, sock} {
			if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
				return err
			}
		}
		return checkSearchable(filepath.Dir(root), cred.Uid, groups)
	}()
	if err != nil {
		os.RemoveAll(root)
		return "", fmt.Errorf("testpg: %w", err)
	}
	return root, nil
}

// checkSearchable reports an error if uid (with the given groups) cannot
// traverse dir or any of its parents, which would keep postgres out of its
// data directory.
func checkSearchable(dir string, uid uint32, groups []uint32) error {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		perm := fi.Mode().Perm()
		ok := perm&0o001 != 0
		if st, isStat := fi.Sys().(*syscall.Stat_t); isStat && !ok {
			ok = (st.Uid == uid && perm&0o100 != 0) ||
				(slices.Contains(groups, st.Gid) && perm&0o010 != 0)
		}
		if !ok {
			return fmt.Errorf("directory %s is not searchable by OS user %q; set TMPDIR to a directory it can reach", dir, osUser)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// setUp runs initdb and writes the configuration files.
func (s *Server) setUp(opts Options, cred *syscall.Credential) error {
	ctx, cancel := context.WithTimeout(context.Background(), initdbTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Bin("initdb"),
		"-D", s.DataDir,
		"-A", "trust",
		"-U", SuperUser,
		"--no-sync",
		"-E", "UTF8",
		"--locale=C",
	)
	cmd.Dir = s.root
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("testpg: initdb: %w\n%s", err, strings.TrimSpace(out.String()))
	}

	if err := appendFile(filepath.Join(s.DataDir, "postgresql.conf"), s.config(opts.Settings)); err != nil {
		return fmt.Errorf("testpg: %w", err)
	}
	// Truncating keeps the owner and mode initdb gave the file.
	if err := writeFile(filepath.Join(s.DataDir, "pg_hba.conf"), hbaConfig(opts.HBA)); err != nil {
		return fmt.Errorf("testpg: %w", err)
	}

	f, err := os.OpenFile(s.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testpg: %w", err)
	}
	s.logFile = f
	return nil
}

// config returns the postgresql.conf lines for this server.
func (s *Server) config(extra map[string]string) string {
	var b strings.Builder
	b.WriteString("\n# added by testpg\n")
	set := func(name, value string) {
		fmt.Fprintf(&b, "%s = %s\n", name, confQuote(value))
	}
	set("listen_addresses", Host)
	set("unix_socket_directories", s.SocketDir)
	set("max_connections", "300")
	set("shared_buffers", "32MB")
	set("fsync", "off")
	set("synchronous_commit", "off")
	set("full_page_writes", "off")
	set("logging_collector", "off")
	set("log_destination", "stderr")
	set("log_line_prefix", "%m [%p] %q%u@%d ")
	set("log_connections", "on")
	set("log_disconnections", "on")
	set("lc_messages", "C")
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		set(name, extra[name])
	}
	return b.String()
}

// hbaConfig returns pg_hba.conf: socket connections and the superuser are
// trusted, then the caller's rules apply, then everything else is trusted.
func hbaConfig(lines []string) string {
	var b strings.Builder
	b.WriteString("# generated by testpg\n")
	b.WriteString("local all all trust\n")
	b.WriteString("local replication all trust\n")
	fmt.Fprintf(&b, "host all %s 127.0.0.1/32 trust\n", SuperUser)
	fmt.Fprintf(&b, "host all %s ::1/128 trust\n", SuperUser)
	for _, line := range lines {
		b.WriteString(line + "\n")
	}
	b.WriteString("host all all 127.0.0.1/32 trust\n")
	b.WriteString("host all all ::1/128 trust\n")
	b.WriteString("host replication all 127.0.0.1/32 trust\n")
	return b.String()
}

// launch starts postgres and waits until it accepts connections, moving to
// another port if the chosen one turns out to be taken.
func (s *Server) launch(cred *syscall.Credential, pickPort func() (int, error)) error {
	for attempt := 1; ; attempt++ {
		port, err := pickPort()
		if err != nil {
			return fmt.Errorf("testpg: %w", err)
		}
		s.Port = port
		logStart, err := s.logFile.Seek(0, io.SeekEnd)
		if err != nil {
			return fmt.Errorf("testpg: %w", err)
		}

		cmd := exec.Command(s.Bin("postgres"), "-D", s.DataDir, "-p", strconv.Itoa(port))
		cmd.Dir = s.root
		cmd.Env = childEnv()
		cmd.Stdout = s.logFile
		cmd.Stderr = s.logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		setDeathSignal(cmd.SysProcAttr)
		p, err := startProcess(cmd)
		if err != nil {
			return fmt.Errorf("testpg: start postgres: %w", err)
		}
		s.proc = p

		exited, err := s.waitReady()
		if err == nil {
			return nil
		}
		p.shutdown()
		if exited && attempt < portAttempts && s.portTaken(logStart) {
			continue
		}
		return fmt.Errorf("testpg: postgres on port %d: %w\nserver log:\n%s", port, err, s.LogTail(30))
	}
}

// waitReady waits until the server accepts connections, the process exits,
// or readyTimeout passes. It reports whether the process exited.
//
// Readiness is polled on the unix socket, which lives in our own directory
// and so cannot belong to another server; postgres creates it only after it
// has bound its TCP port. Polling TCP instead could reach some other
// server that took the port first. A final TCP connection checks that path.
func (s *Server) waitReady() (exited bool, err error) {
	deadline := time.Now().Add(readyTimeout)
	ctx, cancel := context.WithDeadline(s.proc.ctx, deadline)
	defer cancel()
	backoff := 5 * time.Millisecond
	for {
		err := s.ping(ctx, dsn(s.SocketDir, s.Port, SuperUser, "postgres", ""))
		if err == nil {
			break
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			// The context also ends when the process exits.
			select {
			case <-s.proc.done:
				return true, fmt.Errorf("postgres exited during startup: %v", s.proc.err)
			default:
				return false, fmt.Errorf("not accepting connections after %v: %w", readyTimeout, err)
			}
		case <-timer.C:
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
	if err := s.ping(ctx, s.DSN(SuperUser, "postgres", "")); err != nil {
		return false, fmt.Errorf("TCP connection: %w", err)
	}
	return false, nil
}

// ping opens and closes one connection.
func (s *Server) ping(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// portTaken reports whether the log written since offset says postgres
// could not bind its TCP port.
func (s *Server) portTaken(offset int64) bool {
	f, err := os.Open(s.LogFile)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return false
	}
	b, err := io.ReadAll(io.LimitReader(f, maxLogTail))
	if err != nil {
		return false
	}
	log := string(b)
	return strings.Contains(log, "could not bind") || strings.Contains(log, "Address already in use")
}

// FreePort asks the kernel for an unused TCP port on Host (127.0.0.1),
// for servers the tests and the benchmark start.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(Host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop shuts the server down with a fast shutdown and deletes its
// directory. Later calls wait for the first one and return its result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.cleanUp() })
	return s.stopErr
}

// cleanUp stops the process, if any, and removes the temporary directory.
func (s *Server) cleanUp() error {
	var errs []error
	if s.proc != nil {
		select {
		case <-s.proc.done:
			errs = append(errs, fmt.Errorf("testpg: postgres had already exited: %v\nserver log:\n%s", s.proc.err, s.LogTail(30)))
		default:
			if err := s.proc.shutdown(); err != nil {
				errs = append(errs, fmt.Errorf("testpg: %w", err))
			}
		}
	}
	if s.logFile != nil {
		s.logFile.Close()
	}
	if err := os.RemoveAll(s.root); err != nil {
		errs = append(errs, fmt.Errorf("testpg: %w", err))
	}
	return errors.Join(errs...)
}

// DSN returns a keyword/value connection string for the TCP address.
// Empty user, db or password values are left out.
func (s *Server) DSN(user, db, password string) string {
	return dsn(s.Host, s.Port, user, db, password)
}

func dsn(host string, port int, user, db, password string) string {
	parts := []string{"host=" + dsnQuote(host), "port=" + strconv.Itoa(port)}
	if user != "" {
		parts = append(parts, "user="+dsnQuote(user))
	}
	if db != "" {
		parts = append(parts, "dbname="+dsnQuote(db))
	}
	if password != "" {
		parts = append(parts, "password="+dsnQuote(password))
	}
	parts = append(parts, "sslmode=disable")
	return strings.Join(parts, " ")
}

// superConn connects as the superuser over the unix socket.
func (s *Server) superConn(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, dsn(s.SocketDir, s.Port, SuperUser, "postgres", ""))
	if err != nil {
		return nil, fmt.Errorf("testpg: connect as %s: %w", SuperUser, err)
	}
	return conn, nil
}

// Exec runs sql as the superuser in database postgres. Several statements
// separated by semicolons run in one implicit transaction, so statements
// such as CREATE DATABASE must be sent on their own.
func (s *Server) Exec(ctx context.Context, sql string) error {
	conn, err := s.superConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("testpg: exec %q: %w", sql, err)
	}
	return nil
}

// Connections returns how many client backends are connected as user,
// not counting the connection used to ask.
func (s *Server) Connections(ctx context.Context, user string) (int, error) {
	conn, err := s.superConn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND usename = $1 AND pid <> pg_backend_pid()`, user).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("testpg: count connections of %s: %w", user, err)
	}
	return n, nil
}

// LogTail returns the last n lines of the server log, or a note saying why
// the log could not be read.
func (s *Server) LogTail(n int) string {
	if n <= 0 {
		return ""
	}
	f, err := os.Open(s.LogFile)
	if err != nil {
		return fmt.Sprintf("(server log unavailable: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxLogTail {
		if _, err := f.Seek(-maxLogTail, io.SeekEnd); err != nil {
			return fmt.Sprintf("(server log unavailable: %v)", err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(server log unavailable: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Bin returns the path of the named PostgreSQL program, such as "psql" or
// "pgbench", in the server's BinDir.
func (s *Server) Bin(name string) string {
	return filepath.Join(s.BinDir, name)
}

// Env returns PGHOST, PGPORT, PGUSER and PGDATABASE entries that point
// client programs at the server's unix socket as the superuser. Append them
// to os.Environ() so that they override inherited values.
func (s *Server) Env() []string {
	return []string{
		"PGHOST=" + s.SocketDir,
		"PGPORT=" + strconv.Itoa(s.Port),
		"PGUSER=" + SuperUser,
		"PGDATABASE=postgres",
	}
}

// BinDir finds the directory with the PostgreSQL server binaries: $PG_BINDIR
// if set, else the output of `pg_config --bindir` if it contains initdb,
// else the newest /usr/lib/postgresql/<version>/bin.
func BinDir() (string, error) {
	if dir := os.Getenv("PG_BINDIR"); dir != "" {
		if !hasInitdb(dir) {
			return "", fmt.Errorf("testpg: PG_BINDIR=%s has no initdb", dir)
		}
		return dir, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); hasInitdb(dir) {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestVersion := "", -1.0
	for _, dir := range matches {
		version, err := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		if err == nil && version > bestVersion && hasInitdb(dir) {
			best, bestVersion = dir, version
		}
	}
	if best == "" {
		return "", errors.New("testpg: PostgreSQL server binaries not found; install PostgreSQL or set PG_BINDIR to the directory containing initdb and postgres")
	}
	return best, nil
}

func hasInitdb(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "initdb"))
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Main starts one server with opts for a test package, hands it to set,
// runs the tests and stops the server. It exits with the tests' status, or
// with a non-zero status if the server cannot be started. Call it from
// TestMain.
func Main(m *testing.M, opts Options, set func(*Server)) {
	os.Exit(run(m, opts, set, os.Stderr))
}

// runner is the part of testing.M that run uses.
type runner interface {
	Run() int
}

// run is Main without the exit; problems are reported to w.
func run(m runner, opts Options, set func(*Server), w io.Writer) int {
	s, err := Start(opts)
	if err != nil {
		fmt.Fprintf(w, "FAIL: integration tests need PostgreSQL: %v\n", err)
		return 1
	}
	if set != nil {
		set(s)
	}
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintf(w, "testpg: stopping PostgreSQL: %v\n", err)
	}
	return code
}

// childEnv is the environment for initdb and postgres: the current one
// without PG* variables, which could redirect them elsewhere.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// confQuote quotes a postgresql.conf value.
func confQuote(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// dsnQuote quotes a connection string value when it needs it.
func dsnQuote(v string) string {
	if v != "" && !strings.ContainsAny(v, ` '\`+"\t\n\r") {
		return v
	}
	v = strings.ReplaceAll(v, `\`, `\\`)
	return "'" + strings.ReplaceAll(v, "'", `\'`) + "'"
}

func appendFile(name, data string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	return errors.Join(err, f.Close())
}

func writeFile(name, data string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	return errors.Join(err, f.Close())
}

// process is a started postgres postmaster.
type process struct {
	cmd  *exec.Cmd
	ctx  context.Context // canceled once the process has been reaped
	done chan struct{}   // closed once the process has been reaped
	err  error           // result of Wait, valid after done is closed
}

// startProcess starts cmd from a goroutine locked to its OS thread and
// keeps that thread alive until the process exits. The kernel delivers
// Pdeathsig when the thread that forked the child dies, so an ordinary
// goroutine could trigger it while the test binary is still running.
func startProcess(cmd *exec.Cmd) (*process, error) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{cmd: cmd, ctx: ctx, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer cancel()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// shutdown asks for a fast shutdown (SIGINT) and escalates to an immediate
// shutdown (SIGQUIT) and then SIGKILL if the server takes too long.
func (p *process) shutdown() error {
	steps := []struct {
		sig     syscall.Signal
		timeout time.Duration
	}{
		{syscall.SIGINT, stopTimeout},
		{syscall.SIGQUIT, killTimeout},
		{syscall.SIGKILL, killTimeout},
	}
	for i, step := range steps {
		if err := p.cmd.Process.Signal(step.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("signal postgres: %w", err)
		}
		timer := time.NewTimer(step.timeout)
		select {
		case <-p.done:
			timer.Stop()
			if i == 0 {
				return nil
			}
			return fmt.Errorf("postgres ignored fast shutdown for %v; stopped it with %v", stopTimeout, step.sig)
		case <-timer.C:
		}
	}
	return fmt.Errorf("postgres (pid %d) did not exit after SIGKILL", p.cmd.Process.Pid)
}
