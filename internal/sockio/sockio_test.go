package sockio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestReaderWriter(t *testing.T) {
	tcpA, tcpB := tcpPair(t)
	pipeA, pipeB := net.Pipe()
	t.Cleanup(func() { pipeA.Close(); pipeB.Close() })
	for _, tc := range []struct {
		name   string
		a, b   net.Conn
		raw    bool
		amount int
	}{
		{"tcp", tcpA, tcpB, true, 8 << 20}, // more than the socket buffers: the writer waits for room
		{"pipe fallback", pipeA, pipeB, false, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, r := NewWriter(tc.a), NewReader(tc.b)
			if (w.raw != nil) != tc.raw || (r.raw != nil) != tc.raw {
				t.Fatalf("raw I/O: writer %v, reader %v, want %v", w.raw != nil, r.raw != nil, tc.raw)
			}
			data := bytes.Repeat([]byte("0123456789abcdef"), tc.amount/16)
			errc := make(chan error, 1)
			go func() {
				n, err := w.Write(data)
				if err == nil && n != len(data) {
					err = io.ErrShortWrite
				}
				errc <- err
			}()
			got := make([]byte, 0, len(data))
			buf := make([]byte, 64<<10)
			tc.b.SetReadDeadline(time.Now().Add(10 * time.Second))
			for len(got) < len(data) {
				n, err := r.Read(buf)
				if err != nil {
					t.Fatalf("read after %d bytes: %v", len(got), err)
				}
				got = append(got, buf[:n]...)
			}
			if err := <-errc; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("bytes differ")
			}
		})
	}
}

func TestReaderDeadlineAndEOF(t *testing.T) {
	a, b := tcpPair(t)
	r := NewReader(b)
	b.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := r.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing sent: %v, want a deadline error", err)
	}
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	a.Write([]byte("x"))
	a.Close()
	buf := make([]byte, 8)
	if n, err := r.Read(buf); n != 1 || err != nil || buf[0] != 'x' {
		t.Fatalf("read = %d %q %v, want the byte sent", n, buf[:n], err)
	}
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read after close = %d %v, want io.EOF", n, err)
	}
}

func TestWriterError(t *testing.T) {
	a, b := tcpPair(t)
	b.(*net.TCPConn).SetLinger(0)
	b.Close() // reset: writes fail
	w := NewWriter(a)
	a.SetWriteDeadline(time.Now().Add(10 * time.Second))
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = w.Write(make([]byte, 64<<10))
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
}
