package relay

import (
	"net"
	"syscall"
	"unsafe"
)

// The relay does its socket I/O with raw system calls on non-blocking
// sockets, inside RawConn.Read/Write so that Go's poller still does the
// waiting. Two reasons, both measured with pgbench -S through the pooler on
// 2 cores:
//
//   - syscall.Read/Write tell the scheduler they may block; when one takes
//     longer than sysmon's 20 µs tick (a loopback write that wakes
//     PostgreSQL often does), the P is handed to another thread and taken
//     back afterwards: two extra context switches per transaction. Our
//     sockets are non-blocking, so a call never waits; RawSyscall skips the
//     hand-off. Context switches per transaction fell from 2.0 to about 0.7
//     (PgBouncer's figure) and CPU per transaction by a third.
//   - Staying inside RawConn.Read lets the read loop wait for readiness
//     after a short read instead of reading again only to get EAGAIN (see
//     Client.rawReadLoop).

// sysRead reads from a non-blocking fd.
func sysRead(fd uintptr, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}

// sysWrite writes to a non-blocking fd.
func sysWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}

// writer writes whole buffers to one connection. It is not safe for
// concurrent use: its owner serializes writes (the client's write lock,
// the server's write lock).
type writer struct {
	conn net.Conn
	raw  syscall.RawConn       // nil: not a plain socket (TLS, net.Pipe)
	fn   func(fd uintptr) bool // w.writeFD, bound once so writes do not allocate
	buf  []byte
	err  error
}

func newWriter(conn net.Conn) *writer {
	w := &writer{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
			w.fn = w.writeFD
		}
	}
	return w
}

// write writes all of b, waiting for room as needed (honouring the
// connection's write deadline).
func (w *writer) write(b []byte) error {
	if w.raw == nil {
		_, err := w.conn.Write(b)
		return err
	}
	w.buf, w.err = b, nil
	err := w.raw.Write(w.fn)
	w.buf = nil
	if err != nil {
		return err
	}
	return w.err
}

func (w *writer) writeFD(fd uintptr) bool {
	for len(w.buf) > 0 {
		n, errno := sysWrite(fd, w.buf)
		switch errno {
		case 0:
			w.buf = w.buf[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // wait until the socket can take more
		default:
			w.err = errno
			return true
		}
	}
	return true
}
