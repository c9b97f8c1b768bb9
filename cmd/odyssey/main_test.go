package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/odyssey-go/odyssey/internal/testpg"
)

// validConf is a complete, valid config; %d is the listen port, %s/%d the
// storage host and port.
const validConf = `log_format "%%p %%t %%l [%%i %%s] (%%c) %%m\n"
log_to_stdout no
listen {
	host "127.0.0.1"
	port %d
}
storage "pg" {
	type "remote"
	host "%s"
	port %d
}
database default {
	user default {
		authentication "none"
		storage "pg"
		pool "session"
		pool_size 5
	}
}
`

func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "odyssey.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI("--version")
	if code != 0 {
		t.Fatalf("--version returned %d", code)
	}
	if !strings.Contains(out, version) || !strings.Contains(out, "odyssey") {
		t.Fatalf("--version printed %q, want the version %q", out, version)
	}
}

func TestConfigTestValid(t *testing.T) {
	path := writeConf(t, fmt.Sprintf(validConf, 6432, "127.0.0.1", 5432))
	code, out, errOut := runCLI("--test", path)
	if code != 0 {
		t.Fatalf("--test on a valid config returned %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(out+errOut, path) {
		t.Errorf("--test output does not name the file: %q %q", out, errOut)
	}
}

func TestConfigTestTypo(t *testing.T) {
	text := fmt.Sprintf(validConf, 6432, "127.0.0.1", 5432)
	text = strings.Replace(text, "\t\tpool_size 5", "\t\tpool_szie 5", 1)
	path := writeConf(t, text)
	line := 0
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "pool_szie") {
			line = i + 1
		}
	}
	code, out, errOut := runCLI("--test", path)
	if code == 0 {
		t.Fatalf("--test on a config with a typo returned 0\nstdout: %s\nstderr: %s", out, errOut)
	}
	pos := regexp.MustCompile(regexp.QuoteMeta(fmt.Sprintf("%s:%d:", path, line)) + `\d+`)
	if !pos.MatchString(errOut) {
		t.Errorf("stderr does not point at %s:%d:<col>: %q", path, line, errOut)
	}
	if !strings.Contains(errOut, `did you mean "pool_size"`) {
		t.Errorf(`stderr lacks did you mean "pool_size": %q`, errOut)
	}
	if strings.Contains(out, "valid") {
		t.Errorf("stdout claims the config is valid: %q", out)
	}
}

// TestConfigTestMissingQuote: --test reports a missing closing quote once,
// on its own line, and nothing about the lines after it.
func TestConfigTestMissingQuote(t *testing.T) {
	text := fmt.Sprintf(validConf, 6432, "127.0.0.1", 5432)
	text = strings.Replace(text, "\thost \"127.0.0.1\"\n\tport 5432", "\thost \"127.0.0.1\n\tport 5432", 1)
	path := writeConf(t, text)
	line := 0
	for i, l := range strings.Split(text, "\n") {
		if strings.HasSuffix(l, `"127.0.0.1`) {
			line = i + 1
		}
	}
	code, out, errOut := runCLI("--test", path)
	want := fmt.Sprintf("%s:%d:7: unterminated string (the closing \" is missing)\n", path, line)
	if code != 1 || out != "" || errOut != want {
		t.Errorf("--test returned %d\nstdout: %q\nstderr: %q\nwant 1, no stdout and stderr %q", code, out, errOut, want)
	}
}

func TestConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.conf")
	code, _, errOut := runCLI("--test", path)
	if code == 0 {
		t.Fatal("--test on a missing file returned 0")
	}
	if !strings.Contains(errOut, path) {
		t.Errorf("stderr does not name %s: %q", path, errOut)
	}
}

// TestUsage: asking for help prints the usage on stdout and succeeds; a
// wrong command line says what is wrong on stderr and exits 2.
func TestUsage(t *testing.T) {
	path := writeConf(t, fmt.Sprintf(validConf, 6432, "127.0.0.1", 5432))
	cases := []struct {
		args    []string
		code    int
		stdout  string // exactly, when the case succeeds
		stderr  []string
		noUsage bool // stderr has the synopsis, not the whole usage
	}{
		{args: []string{"--help"}, stdout: usage},
		{args: []string{"-h"}, stdout: usage},
		{args: []string{"-?"}, stdout: usage},
		{args: []string{"--usage"}, stdout: usage},
		{args: []string{"--test", "--help", "a.conf", "b.conf"}, stdout: usage},
		{args: []string{"--no-such-flag", "a.conf"}, code: 2,
			stderr: []string{"odyssey: flag provided but not defined: -no-such-flag\n", usage}},
		{args: []string{"--test=maybe", "a.conf"}, code: 2, stderr: []string{`invalid boolean value "maybe" for -test`, usage}},
		{args: nil, code: 2, stderr: []string{"odyssey: a CONFIG is needed", synopsis}, noUsage: true},
		{args: []string{"--test"}, code: 2, stderr: []string{"odyssey: a CONFIG is needed", synopsis}, noUsage: true},
		{args: []string{"--test", ""}, code: 2, stderr: []string{`odyssey: CONFIG is ""`, synopsis}, noUsage: true},
		{args: []string{"--test", "a.conf", "b.conf"}, code: 2,
			stderr: []string{`odyssey: expected exactly one CONFIG, got 2: "a.conf" "b.conf"` + "\n", synopsis}, noUsage: true},
		{args: []string{"a.conf", "--test", "my file.conf"}, code: 2,
			stderr: []string{`got 2: "a.conf" "my file.conf"`}, noUsage: true},
		// As with Odyssey's getopt_long, options may follow CONFIG, and
		// "--" ends them.
		{args: []string{path, "--test", "--silent"}},
		{args: []string{"--test", "--", path, "--silent"}, code: 2, stderr: []string{`got 2: "` + path + `" "--silent"`}, noUsage: true},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(tc.args...)
			if code != tc.code {
				t.Errorf("returned %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if out != tc.stdout {
				t.Errorf("stdout is %q, want %q", out, tc.stdout)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q: %q", want, errOut)
				}
			}
			if len(tc.stderr) == 0 && errOut != "" {
				t.Errorf("stderr is %q, want nothing", errOut)
			}
			if tc.noUsage && strings.Contains(errOut, "Options:") {
				t.Errorf("stderr has the whole usage: %q", errOut)
			}
		})
	}
}

// TestUsageMatchesFlags keeps the usage true to the flags: every flag is
// documented, and every option the usage names exists. All of them are
// switches, which optionsFirst relies on.
func TestUsageMatchesFlags(t *testing.T) {
	fs, _ := newFlagSet()
	options := regexp.MustCompile(`(?:^|[\s,\[|])(--?[a-z_?]+|-[A-Z?])`)
	named := map[string]bool{}
	for _, m := range options.FindAllStringSubmatch(usage, -1) {
		named[strings.TrimLeft(m[1], "-")] = true
		if fs.Lookup(strings.TrimLeft(m[1], "-")) == nil {
			t.Errorf("the usage names %s, which is no flag", m[1])
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !named[f.Name] {
			t.Errorf("flag %q is not in the usage", f.Name)
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			t.Errorf("flag %q takes a value; optionsFirst would misplace it", f.Name)
		}
	})
	for _, name := range []string{"test", "silent", "console", "log_to_stdout", "verbose", "version", "V", "help", "h", "?", "usage"} {
		if fs.Lookup(name) == nil {
			t.Errorf("Odyssey's option %q is missing", name)
		}
	}
}

// TestOdysseyFlags: the other flags of Odyssey's command line (reference
// §2.13: odyssey [-?V] [--console] [--log_to_stdout] [--silent] [--test]
// [--verbose] [--help] [--usage] [--version]) are accepted, so that
// existing service files and scripts keep working.
func TestOdysseyFlags(t *testing.T) {
	path := writeConf(t, fmt.Sprintf(validConf, 6432, "127.0.0.1", 5432))
	cases := []struct {
		args []string
		want string // in stdout+stderr
	}{
		{[]string{"--console", "--log_to_stdout", "--verbose", "--test", path}, "valid"},
		{[]string{"-V"}, version},
		{[]string{"-?"}, "Usage"},
		{[]string{"--usage"}, "Usage"},
		{[]string{"--silent", "--test", path}, ""},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(tc.args...)
			if code != 0 {
				t.Errorf("returned %d, want 0\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if !strings.Contains(out+errOut, tc.want) {
				t.Errorf("output lacks %q: stdout %q stderr %q", tc.want, out, errOut)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// buildBinary builds ./cmd/odyssey into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "odyssey")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
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

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(delay)
	}
}

// proc is a running odyssey binary.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	port   int
	dir    string
	out    *syncBuffer
	done   chan struct{}
	waited error
}

// startProc runs bin with conf (%d = port) and waits until it accepts.
func startProc(t *testing.T, bin, conf string) *proc {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "odyssey.conf")
	text := strings.ReplaceAll(strings.ReplaceAll(conf, "{{PORT}}", strconv.Itoa(port)), "{{DIR}}", dir)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd := exec.Command(bin, path)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, port: port, dir: dir, out: out, done: make(chan struct{})}
	go func() {
		p.waited = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			logText, _ := os.ReadFile(filepath.Join(dir, "odyssey.log"))
			t.Logf("odyssey output:\n%s\nodyssey.log:\n%s", out.String(), logText)
		}
	})
	waitFor(t, 10*time.Second, "odyssey to accept connections", func() bool {
		select {
		case <-p.done:
			t.Fatalf("odyssey exited early: %v\n%s", p.waited, out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", p.addr(), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return p
}

func (p *proc) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// exitCode waits up to d for the process to exit and returns its code.
func (p *proc) exitCode(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.t.Fatalf("odyssey did not exit within %v", d)
	}
	return p.cmd.ProcessState.ExitCode()
}

// rawClient is a hand-driven client connection.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	fe   *pgproto3.Frontend
}

const rawTimeout = 10 * time.Second

// login connects to addr as user/db and reads the greeting.
func login(t *testing.T, addr, user, db string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, rawTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &rawClient{t: t, conn: c, fe: pgproto3.NewFrontend(c, c)}
	pkt := []byte{0, 0, 0, 0}
	pkt = binary.BigEndian.AppendUint32(pkt, 3<<16)
	for _, s := range []string{"user", user, "database", db} {
		pkt = append(pkt, s...)
		pkt = append(pkt, 0)
	}
	pkt = append(pkt, 0)
	binary.BigEndian.PutUint32(pkt, uint32(len(pkt)))
	r.write(pkt)
	for {
		switch m := r.next().(type) {
		case *pgproto3.ErrorResponse:
			t.Fatalf("login: %s %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			return r
		}
	}
}

func (r *rawClient) write(b []byte) {
	r.t.Helper()
	r.conn.SetWriteDeadline(time.Now().Add(rawTimeout))
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawClient) next() pgproto3.BackendMessage {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(rawTimeout))
	m, err := r.fe.Receive()
	if err != nil {
		r.t.Fatalf("receive: %v", err)
	}
	return m
}

func (r *rawClient) sendQuery(sql string) {
	r.t.Helper()
	b, _ := (&pgproto3.Query{String: sql}).Encode(nil)
	r.write(b)
}

// results reads one query's replies up to ReadyForQuery: the command tags,
// the first column of the rows, the error if any, and the final status.
func (r *rawClient) results() (tags, rows []string, failed string, status byte) {
	r.t.Helper()
	for {
		switch m := r.next().(type) {
		case *pgproto3.CommandComplete:
			tags = append(tags, string(m.CommandTag))
		case *pgproto3.DataRow:
			rows = append(rows, string(m.Values[0]))
		case *pgproto3.ErrorResponse:
			failed = m.Code + ": " + m.Message
		case *pgproto3.ReadyForQuery:
			return tags, rows, failed, m.TxStatus
		}
	}
}

// exec runs sql and fails on an error.
func (r *rawClient) exec(sql string) (rows []string, status byte) {
	r.t.Helper()
	r.sendQuery(sql)
	_, rows, failed, status := r.results()
	if failed != "" {
		r.t.Fatalf("%s: %s", sql, failed)
	}
	return rows, status
}

// finalError reads until the connection closes and returns the code of
// the ErrorResponse it got (severity included), or "" if none.
func (r *rawClient) finalError(d time.Duration) string {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(d))
	got := ""
	for {
		m, err := r.fe.Receive()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				r.t.Fatalf("connection still open after %v", d)
			}
			return got
		}
		if e, ok := m.(*pgproto3.ErrorResponse); ok && got == "" {
			got = e.Severity + " " + e.Code
			r.t.Logf("final error: %s %s: %s", e.Severity, e.Code, e.Message)
		}
	}
}

const e2eConf = `log_format "%p %t %l [%i %s] (%c) %m\n"
log_to_stdout no
log_file "{{DIR}}/odyssey.log"
graceful_shutdown_timeout_ms 10000
listen {
	host "127.0.0.1"
	port {{PORT}}
	client_login_timeout 5000
}
storage "pg" {
	type "remote"
	host "127.0.0.1"
	port {{PGPORT}}
}
database default {
	user default {
		authentication "none"
		storage "pg"
		pool "session"
		pool_size 5
	}
}
`

// TestEndToEnd builds the binary, runs it in front of a real PostgreSQL
// and checks psql through it and the graceful shutdown on SIGTERM.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts PostgreSQL")
	}
	bin := buildBinary(t)
	pg, err := testpg.Start(testpg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Error(err)
		}
	})
	conf := strings.ReplaceAll(e2eConf, "{{PGPORT}}", strconv.Itoa(pg.Port))
	ctx := context.Background()
	super := func(t *testing.T) *pgx.Conn {
		c, err := pgx.Connect(ctx, pg.DSN(testpg.SuperUser, "postgres", ""))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}

	t.Run("psql and SIGTERM with idle clients", func(t *testing.T) {
		p := startProc(t, bin, conf)
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(cctx, pg.Bin("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
			"-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", testpg.SuperUser, "-d", "postgres",
			"-c", "select 40+2").CombinedOutput()
		if err != nil {
			t.Fatalf("psql: %v\n%s", err, out)
		}
		if strings.TrimSpace(string(out)) != "42" {
			t.Fatalf("psql printed %q, want 42", out)
		}

		attached := login(t, p.addr(), testpg.SuperUser, "postgres")
		if rows, _ := attached.exec("select 1"); len(rows) != 1 || rows[0] != "1" {
			t.Fatalf("select 1: %q", rows)
		}
		fresh := login(t, p.addr(), testpg.SuperUser, "postgres") // never attached a server

		p.signal(syscall.SIGTERM)
		for name, c := range map[string]*rawClient{"attached": attached, "fresh": fresh} {
			if got := c.finalError(10 * time.Second); got != "FATAL 57P01" {
				t.Errorf("idle %s client got %q, want FATAL 57P01", name, got)
			}
		}
		if code := p.exitCode(15 * time.Second); code != 0 {
			t.Errorf("exit code %d, want 0\n%s", code, p.out.String())
		}
	})

	t.Run("SIGTERM with a connection that never logged in", func(t *testing.T) {
		// client_login_timeout is 5 s; the process must not wait for a
		// socket that has not even sent its startup packet.
		p := startProc(t, bin, conf)
		idle := login(t, p.addr(), testpg.SuperUser, "postgres")
		silent, err := net.DialTimeout("tcp", p.addr(), rawTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		// An SSLRequest answered 'N' proves the pooler accepted the
		// connection; then it stays silent, inside its login phase.
		silent.SetDeadline(time.Now().Add(rawTimeout))
		if _, err := silent.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
			t.Fatal(err)
		}
		var answer [1]byte
		if _, err := silent.Read(answer[:]); err != nil || answer[0] != 'N' {
			t.Fatalf("SSLRequest: %q, %v", answer, err)
		}
		start := time.Now()
		p.signal(syscall.SIGTERM)
		if got := idle.finalError(10 * time.Second); got != "FATAL 57P01" {
			t.Errorf("idle client got %q, want FATAL 57P01", got)
		}
		code := p.exitCode(15 * time.Second)
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("BUG: exit took %v: shutdown waited for a connection that never sent a startup packet (client_login_timeout 5000)", elapsed)
		}
		if code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
	})

	t.Run("SIGTERM during a transaction", func(t *testing.T) {
		p := startProc(t, bin, conf)
		admin := super(t)
		if _, err := admin.Exec(ctx, "drop table if exists graceful; create table graceful(x int)"); err != nil {
			t.Fatal(err)
		}
		c := login(t, p.addr(), testpg.SuperUser, "postgres")
		if _, st := c.exec("begin"); st != 'T' {
			t.Fatalf("begin: status %q", st)
		}
		c.exec("insert into graceful values (1)")
		c.sendQuery("select pg_sleep(1)")
		waitFor(t, 10*time.Second, "pg_sleep to run on the server", func() bool {
			var n int
			admin.QueryRow(ctx, "select count(*) from pg_stat_activity where state = 'active' and query = 'select pg_sleep(1)'").Scan(&n)
			return n == 1
		})
		p.signal(syscall.SIGTERM)
		// The listener closes: new clients are refused.
		waitFor(t, 5*time.Second, "the listener to close", func() bool {
			conn, err := net.DialTimeout("tcp", p.addr(), time.Second)
			if err != nil {
				return true
			}
			conn.Close()
			return false
		})
		_, rows, failed, st := c.results()
		if failed != "" || len(rows) != 1 || st != 'T' {
			t.Fatalf("pg_sleep during shutdown: rows %q error %q status %q", rows, failed, st)
		}
		c.sendQuery("commit")
		tags, _, failed, st := c.results()
		if failed != "" || len(tags) != 1 || tags[0] != "COMMIT" || st != 'I' {
			t.Fatalf("commit during shutdown: tags %q error %q status %q", tags, failed, st)
		}
		if got := c.finalError(10 * time.Second); got != "FATAL 57P01" {
			t.Errorf("after commit got %q, want FATAL 57P01", got)
		}
		if code := p.exitCode(15 * time.Second); code != 0 {
			t.Errorf("exit code %d, want 0", code)
		}
		var n int
		if err := admin.QueryRow(ctx, "select count(*) from graceful").Scan(&n); err != nil || n != 1 {
			t.Fatalf("committed rows: %d, %v", n, err)
		}
	})

	t.Run("graceful timeout ends a stuck transaction", func(t *testing.T) {
		p := startProc(t, bin, strings.Replace(conf, "graceful_shutdown_timeout_ms 10000", "graceful_shutdown_timeout_ms 300", 1))
		admin := super(t)
		if _, err := admin.Exec(ctx, "drop table if exists stuck; create table stuck(x int)"); err != nil {
			t.Fatal(err)
		}
		c := login(t, p.addr(), testpg.SuperUser, "postgres")
		c.exec("begin")
		c.exec("insert into stuck values (1)")
		start := time.Now()
		p.signal(syscall.SIGTERM)
		if got := c.finalError(10 * time.Second); !strings.HasPrefix(got, "FATAL ") {
			t.Errorf("stuck client got %q, want a FATAL", got)
		}
		code := p.exitCode(10 * time.Second)
		t.Logf("exited with %d after %v", code, time.Since(start))
		if elapsed := time.Since(start); elapsed < 250*time.Millisecond {
			t.Errorf("stuck transaction ended after %v, before graceful_shutdown_timeout_ms", elapsed)
		}
		// The transaction was rolled back, its server closed or reset.
		waitFor(t, 10*time.Second, "the abandoned transaction to end", func() bool {
			var n int
			admin.QueryRow(ctx, "select count(*) from pg_stat_activity where state like 'idle in transaction%'").Scan(&n)
			return n == 0
		})
		var n int
		if err := admin.QueryRow(ctx, "select count(*) from stuck").Scan(&n); err != nil || n != 0 {
			t.Fatalf("rows of the unfinished transaction: %d, %v", n, err)
		}
	})
}
