package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/instance"
)

// listenRule is the trusting rule of the listener tests.
var listenRule = rule(`authentication "none"
		pool "session"
		pool_size 4`)

const listenStorage = `
log_format "%p %t %l [%i %s] (%c) %m\n"
log_to_stdout no
storage "pg" {
	type "remote"
	host "{{PGHOST}}"
	port {{PGPORT}}
}
`

// connectDSN connects with pgx to a libpq connection string.
func listenConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %q: %v", dsn, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// selectOne checks that c answers a query.
func listenSelect42(t *testing.T, c *pgx.Conn) {
	t.Helper()
	var n int
	if err := c.QueryRow(ctxTimeout(t, 10*time.Second), "select 41+1").Scan(&n); err != nil || n != 42 {
		t.Fatalf("select 41+1: %d, %v", n, err)
	}
}

func hasIPv6Loopback() bool {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// TestListenAllAddresses: host "*" accepts on IPv4 and IPv6 loopback.
func TestListenAllAddresses(t *testing.T) {
	p := startPooler(t, `
listen {
	host "*"
	port {{PORT}}
}
`+listenStorage+listenRule)
	listenSelect42(t, listenConnect(t, fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", p.port, plainUser, plainUser)))
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback on this machine")
	}
	listenSelect42(t, listenConnect(t, fmt.Sprintf("host=::1 port=%d user=%s dbname=%s sslmode=disable", p.port, plainUser, plainUser)))
}

// TestListenTwoBlocks: two listen blocks serve on both ports.
func TestListenTwoBlocks(t *testing.T) {
	second := freePort(t)
	p := startPooler(t, `
listen {
	host "127.0.0.1"
	port {{PORT}}
}
listen {
	host "127.0.0.1"
	port `+strconv.Itoa(second)+`
	client_login_timeout 1000
}
`+listenStorage+listenRule)
	for _, port := range []int{p.port, second} {
		listenSelect42(t, listenConnect(t, fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", port, plainUser, plainUser)))
	}
	addrs := p.inst.Addrs()
	if len(addrs) != 2 {
		t.Errorf("Addrs() = %v, want two", addrs)
	}
}

// TestListenUnixSocket: a listen block without host, with unix_socket_dir,
// binds {{DIR}}/.s.PGSQL.<port> with unix_socket_mode; psql and pgx
// connect through it. A TCP listen block alongside keeps serving TCP.
func TestListenUnixSocket(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o600} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			tcpPort := freePort(t)
			p := startPooler(t, fmt.Sprintf(`
unix_socket_dir "{{DIR}}"
unix_socket_mode "%04o"
listen {
	port {{PORT}}
}
listen {
	host "127.0.0.1"
	port %d
}
`, mode, tcpPort)+listenStorage+listenRule)
			path := filepath.Join(p.dir, fmt.Sprintf(".s.PGSQL.%d", p.port))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != os.ModeSocket {
				t.Errorf("%s is %v, want a socket", path, fi.Mode())
			}
			if got := fi.Mode().Perm(); got != mode {
				t.Errorf("%s has mode %04o, want %04o", path, got, mode)
			}

			out, err := exec.CommandContext(ctxTimeout(t, 20*time.Second), pg.Bin("psql"),
				"-h", p.dir, "-p", strconv.Itoa(p.port), "-U", plainUser, "-d", plainUser,
				"-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", "select 'via '||coalesce(inet_client_addr()::text, 'unix')").CombinedOutput()
			if err != nil {
				t.Fatalf("psql over the unix socket: %v\n%s", err, out)
			}
			// The pooler reaches PostgreSQL over TCP; what matters is
			// that psql got an answer through the socket.
			if !strings.HasPrefix(strings.TrimSpace(string(out)), "via ") {
				t.Errorf("psql printed %q", out)
			}
			listenSelect42(t, listenConnect(t, fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", p.dir, p.port, plainUser, plainUser)))
			listenSelect42(t, listenConnect(t, fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", tcpPort, plainUser, plainUser)))
			// Nothing listens on TCP at the unix socket's port.
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), time.Second); err == nil {
				c.Close()
				t.Errorf("a listen block without host also bound TCP port %d", p.port)
			}
		})
	}
}

// TestListenStaleUnixSocket: a socket file left behind by a dead process
// does not stop the pooler from binding; a clean shutdown removes it.
func TestListenStaleUnixSocket(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	path := filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", port))
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket file not left behind: %v", err)
	}
	inst, err := listenStartInstance(t, fmt.Sprintf(`
unix_socket_dir "%s"
unix_socket_mode "0777"
listen {
	port %d
}
`, dir, port)+listenStorage+listenRule, port)
	if err != nil {
		t.Fatalf("start over a stale socket file: %v", err)
	}
	c := listenConnect(t, fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", dir, port, plainUser, plainUser))
	listenSelect42(t, c)
	c.Close(context.Background())
	// A clean shutdown removes the socket file.
	listenShutdown(inst)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file after shutdown: %v", err)
	}
}

// startInstance loads conf (expanded with port) and starts an instance,
// returning Start's error instead of failing.
func listenStartInstance(t *testing.T, conf string, port int) (*instance.Instance, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "odyssey.conf")
	if err := os.WriteFile(path, []byte(expand(conf, port, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &logBuffer{}
	inst := instance.New(cfg, listenLogger(logs))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pooler log:\n%s", logs.String())
		}
	})
	return inst, inst.Start(context.Background())
}

func listenShutdown(inst *instance.Instance) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inst.Shutdown(ctx)
}

// TestListenPortInUse: Start fails with an error naming the address, and
// leaves nothing bound.
func TestListenPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	freeP := freePort(t)
	inst, err := listenStartInstance(t, fmt.Sprintf(`
listen {
	host "127.0.0.1"
	port %d
}
listen {
	host "127.0.0.1"
	port %d
}
`, freeP, busyPort)+listenStorage+listenRule, freeP)
	if err == nil {
		listenShutdown(inst)
		t.Fatal("Start succeeded on a port in use")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", busyPort)
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name %s", err, addr)
	}
	// The first listen block's port was released.
	ln, lerr := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", freeP))
	if lerr != nil {
		t.Errorf("port %d of the first listen block still bound after a failed Start: %v", freeP, lerr)
	} else {
		ln.Close()
	}
}

// TestListenUnixSocketInUse: a second pooler on the same socket file fails
// with an error naming it and does not steal the socket.
func TestListenUnixSocketInUse(t *testing.T) {
	p := startPooler(t, `
unix_socket_dir "{{DIR}}"
unix_socket_mode "0777"
listen {
	port {{PORT}}
}
`+listenStorage+listenRule)
	path := filepath.Join(p.dir, fmt.Sprintf(".s.PGSQL.%d", p.port))
	inst, err := listenStartInstance(t, fmt.Sprintf(`
unix_socket_dir "%s"
unix_socket_mode "0777"
listen {
	port %d
}
`, p.dir, p.port)+listenStorage+listenRule, p.port)
	if err == nil {
		listenShutdown(inst)
		t.Fatal("second Start on the same unix socket succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	listenSelect42(t, listenConnect(t, fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", p.dir, p.port, plainUser, plainUser)))
}

// newTestLogger logs at debug level into w, as startPooler does.
func listenLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
