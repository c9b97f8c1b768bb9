// Package listener owns the listening sockets: it binds TCP and unix
// sockets with the configured backlog, accepts with backoff on errors, sets
// per-connection TCP options, and starts one goroutine per connection.
//
// Ownership: a Listener owns its socket; the handler owns each accepted
// connection and must close it. Close stops accepting; Wait waits for the
// handlers to return.
package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Handler serves one accepted connection and closes it.
type Handler func(conn net.Conn)

// TCPOptions are applied to each accepted TCP connection.
type TCPOptions struct {
	NoDelay   bool
	KeepAlive net.KeepAliveConfig
	// UserTimeout is TCP_USER_TIMEOUT (0 = OS default).
	UserTimeout time.Duration
}

// Listener is one bound socket and its accept loop.
type Listener struct {
	ln      net.Listener
	log     *slog.Logger
	handler Handler
	tcp     TCPOptions
	conns   *sync.WaitGroup
	done    chan struct{}
}

// Addr is the bound address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// ListenTCP binds host:port ("*" or "" host = all addresses, both IPv4 and
// IPv6) with the given backlog.
func ListenTCP(ctx context.Context, host string, port, backlog int) ([]net.Listener, error) {
	var hosts []string
	if host == "*" || host == "" {
		hosts = []string{""}
	} else if ip := net.ParseIP(host); ip != nil {
		hosts = []string{host}
	} else {
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolve listen host %q: %w", host, err)
		}
		hosts = addrs
	}
	var out []net.Listener
	for _, h := range hosts {
		ln, err := listen(ctx, "tcp", net.JoinHostPort(h, fmt.Sprint(port)), backlog)
		if err != nil {
			for _, l := range out {
				l.Close()
			}
			return nil, err
		}
		out = append(out, ln)
	}
	return out, nil
}

// ListenUnix binds the socket file dir/.s.PGSQL.port with mode (0 = keep
// the umask's). A stale socket file left by a crashed process is removed
// first, but only if nothing answers on it.
func ListenUnix(ctx context.Context, dir string, port, backlog int, mode os.FileMode) (net.Listener, error) {
	path := fmt.Sprintf("%s/.s.PGSQL.%d", dir, port)
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("unix socket %s is in use by another process", path)
		}
		os.Remove(path)
	}
	ln, err := listen(ctx, "unix", path, backlog)
	if err != nil {
		return nil, err
	}
	if mode != 0 {
		if err := os.Chmod(path, mode); err != nil {
			ln.Close()
			return nil, fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	return ln, nil
}

// listen binds and then sets the backlog: Go's net.Listen always uses the
// system maximum, and Linux lets listen(2) be called again to change it.
func listen(ctx context.Context, network, addr string, backlog int) (net.Listener, error) {
	// No keepalive set per accepted socket by net: Serve sets ours on the
	// listening socket, which accepted ones inherit (see inheritKeepAlive).
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if backlog > 0 {
		if sc, ok := ln.(syscall.Conn); ok {
			if raw, err := sc.SyscallConn(); err == nil {
				raw.Control(func(fd uintptr) { syscall.Listen(int(fd), backlog) })
			}
		}
	}
	return ln, nil
}

// Serve starts the accept loop of ln in a goroutine. Each connection runs
// handler in its own goroutine, tracked by conns.
func Serve(ln net.Listener, handler Handler, tcp TCPOptions, conns *sync.WaitGroup, log *slog.Logger) *Listener {
	l := &Listener{ln: ln, log: log, handler: handler, tcp: tcp, conns: conns, done: make(chan struct{})}
	if err := inheritKeepAlive(ln, tcp.KeepAlive); err != nil {
		log.Warn("cannot set keepalive on listening socket", "addr", ln.Addr().String(), "error", err)
	}
	go l.accept()
	return l
}

// accept is the loop: like net/http's Serve, it backs off on temporary
// errors (5 ms doubling to 1 s) and returns once the socket is closed.
func (l *Listener) accept() {
	defer close(l.done)
	var delay time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else {
				delay = min(2*delay, time.Second)
			}
			l.log.Warn("accept failed", "addr", l.ln.Addr().String(), "error", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		l.configure(conn)
		l.conns.Add(1)
		go func() {
			defer l.conns.Done()
			l.handler(conn)
		}()
	}
}

// configure sets what accepted sockets do not inherit from the listening
// one: net turns TCP_NODELAY on for each, so only "nodelay no" needs a
// call, and TCP_USER_TIMEOUT.
func (l *Listener) configure(conn net.Conn) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	if !l.tcp.NoDelay {
		tc.SetNoDelay(false)
	}
	if l.tcp.UserTimeout > 0 {
		if raw, err := tc.SyscallConn(); err == nil {
			ms := int(l.tcp.UserTimeout / time.Millisecond)
			raw.Control(func(fd uintptr) {
				syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, ms)
			})
		}
	}
}

// inheritKeepAlive sets the keepalive options on a listening TCP socket.
// Linux copies them to every socket accept returns, so a connection costs
// no setsockopt for them: net's default of five calls per accepted socket
// (TCP_NODELAY, then SO_KEEPALIVE and three timers) plus ours made 10 calls,
// about 11% of the pooler's CPU under pgbench -C (pprof, md5, 16 clients).
func inheritKeepAlive(ln net.Listener, ka net.KeepAliveConfig) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil
	}
	raw, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		set := func(level, opt, v int) {
			if serr == nil {
				serr = syscall.SetsockoptInt(int(fd), level, opt, v)
			}
		}
		if !ka.Enable {
			set(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 0)
			return
		}
		set(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
		if ka.Idle > 0 {
			set(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(ka.Idle/time.Second))
		}
		if ka.Interval > 0 {
			set(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, int(ka.Interval/time.Second))
		}
		if ka.Count > 0 {
			set(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, ka.Count)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// tcpUserTimeout is TCP_USER_TIMEOUT on Linux (not in package syscall).
const tcpUserTimeout = 0x12

// Close stops accepting and waits for the accept loop to return; accepted
// connections are not touched.
func (l *Listener) Close() error {
	err := l.ln.Close()
	<-l.done
	return err
}
