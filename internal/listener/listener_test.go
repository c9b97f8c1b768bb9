package listener

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sockopts are the TCP options of an accepted socket, as the kernel has them.
type sockopts struct {
	keepAlive, idle, interval, count, noDelay int
}

func readSockopts(t *testing.T, conn net.Conn) sockopts {
	t.Helper()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var o sockopts
	raw.Control(func(fd uintptr) {
		get := func(level, opt int) int {
			v, err := syscall.GetsockoptInt(int(fd), level, opt)
			if err != nil {
				t.Errorf("getsockopt %d/%d: %v", level, opt, err)
			}
			return v
		}
		o.keepAlive = get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		o.idle = get(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		o.interval = get(syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL)
		o.count = get(syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT)
		o.noDelay = get(syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	})
	return o
}

// TestAcceptedSocketOptions checks that accepted connections carry the
// configured keepalive and nodelay, which they inherit from the listening
// socket rather than get set one by one.
func TestAcceptedSocketOptions(t *testing.T) {
	tests := []struct {
		name string
		tcp  TCPOptions
		want sockopts
	}{
		{
			name: "keepalive on",
			tcp: TCPOptions{NoDelay: true, KeepAlive: net.KeepAliveConfig{
				Enable: true, Idle: 42 * time.Second, Interval: 7 * time.Second, Count: 3}},
			want: sockopts{keepAlive: 1, idle: 42, interval: 7, count: 3, noDelay: 1},
		},
		{
			name: "keepalive off, nodelay off",
			tcp:  TCPOptions{NoDelay: false},
			want: sockopts{keepAlive: 0, noDelay: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lns, err := ListenTCP(context.Background(), "127.0.0.1", 0, 16)
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan sockopts, 1)
			var conns sync.WaitGroup
			l := Serve(lns[0], func(conn net.Conn) {
				got <- readSockopts(t, conn)
				conn.Close()
			}, tt.tcp, &conns, slog.New(slog.NewTextHandler(io.Discard, nil)))
			defer func() { l.Close(); conns.Wait() }()

			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var o sockopts
			select {
			case o = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("connection not accepted")
			}
			if !tt.tcp.KeepAlive.Enable {
				o.idle, o.interval, o.count = 0, 0, 0 // OS defaults, not ours
			}
			if o != tt.want {
				t.Errorf("accepted socket options = %+v, want %+v", o, tt.want)
			}
		})
	}
}
