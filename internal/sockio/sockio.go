// Package sockio does socket I/O with raw system calls on Go's non-blocking
// sockets, inside syscall.RawConn's Read and Write so that Go's poller still
// does the waiting (and deadlines still apply).
//
// Why not net.Conn's Read and Write: they make the system call through
// syscall.Syscall, which tells the scheduler the call may block. A loopback
// write that wakes the peer often takes longer than sysmon's 20 µs tick;
// the runtime then hands the P to another thread and takes it back
// afterwards, two context switches. Our sockets are non-blocking, so a call
// never waits; RawSyscall skips the hand-off. Measured with pgbench -S
// through the pooler on 2 cores: context switches per transaction fell from
// 2.0 to about 0.7 and CPU per transaction by a third (the relay), and the
// login path (pgbench -C) needed fewer reads per connection (see Reader).
package sockio

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// Read reads from a non-blocking fd.
func Read(fd uintptr, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}

// ReadOnce reads once from a non-blocking fd, again on EINTR. It returns
// n > 0 bytes, or wait when nothing is there yet (EAGAIN: wait for
// readiness), or an error: io.EOF at the end of the stream, or the errno.
func ReadOnce(fd uintptr, b []byte) (n int, wait bool, err error) {
	for {
		n, errno := Read(fd, b)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN:
			return 0, true, nil
		case errno != 0:
			return 0, false, errno
		case n == 0:
			return 0, false, io.EOF
		}
		return n, false, nil
	}
}

// Write writes to a non-blocking fd.
func Write(fd uintptr, b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), e
}

// rawConn returns conn's RawConn, or nil when conn is not a plain socket
// (TLS, net.Pipe).
func rawConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// Writer writes whole buffers to one connection. It is not safe for
// concurrent use: its owner serializes writes.
type Writer struct {
	conn net.Conn
	raw  syscall.RawConn       // nil: not a plain socket
	fn   func(fd uintptr) bool // w.writeFD, bound once so writes do not allocate
	buf  []byte
	err  error
}

// NewWriter returns a Writer for conn; it falls back to conn.Write when
// conn is not a plain socket.
func NewWriter(conn net.Conn) *Writer {
	w := &Writer{conn: conn, raw: rawConn(conn)}
	if w.raw != nil {
		w.fn = w.writeFD
	}
	return w
}

// Write writes all of b, waiting for room as needed (honouring the
// connection's write deadline).
func (w *Writer) Write(b []byte) (int, error) {
	if w.raw == nil {
		return w.conn.Write(b)
	}
	w.buf, w.err = b, nil
	err := w.raw.Write(w.fn)
	left := len(w.buf)
	w.buf = nil
	if err == nil {
		err = w.err
	}
	return len(b) - left, err
}

func (w *Writer) writeFD(fd uintptr) bool {
	for len(w.buf) > 0 {
		n, errno := Write(fd, w.buf)
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

// Reader reads from one connection, one system call per Read that finds
// data. It is not safe for concurrent use. Under a bufio.Reader it reads a
// whole small packet (header and body) in one call.
type Reader struct {
	conn net.Conn
	raw  syscall.RawConn
	fn   func(fd uintptr) bool // r.readFD, bound once
	buf  []byte
	n    int
	err  error
}

// NewReader returns a Reader for conn; it falls back to conn.Read when
// conn is not a plain socket.
func NewReader(conn net.Conn) *Reader {
	r := &Reader{conn: conn, raw: rawConn(conn)}
	if r.raw != nil {
		r.fn = r.readFD
	}
	return r
}

// Read reads at least one byte into b unless it fails; at the end of the
// stream it returns io.EOF. It honours the connection's read deadline.
func (r *Reader) Read(b []byte) (int, error) {
	if r.raw == nil || len(b) == 0 {
		return r.conn.Read(b)
	}
	r.buf, r.n, r.err = b, 0, nil
	err := r.raw.Read(r.fn)
	r.buf = nil
	if err == nil {
		err = r.err
	}
	return r.n, err
}

func (r *Reader) readFD(fd uintptr) bool {
	n, wait, err := ReadOnce(fd, r.buf)
	r.n, r.err = n, err
	return !wait
}
