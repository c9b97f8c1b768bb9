package frontend

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"

	"github.com/odyssey-go/odyssey/internal/sockio"
)

// Login I/O. The login reads its packets through a small buffer over
// sockio: one read system call per packet instead of two (length, then
// body), and none of net.Conn's scheduler hand-offs (see sockio). Measured
// with pgbench -S -C (md5, 16 clients): reads per connection fell from 11
// to 8. The buffer may hold bytes the client sent ahead of our answers;
// they are neither lost nor misread:
//   - before a TLS handshake, a byte after the SSLRequest is refused
//     (CVE-2021-23214: plain text must not pass as if it came encrypted);
//   - after the login, what is left starts the client's stream in the
//     relay or the console (takeLeftover).

// loginBufSize holds a usual startup packet or password message whole;
// larger ones are read through it in pieces.
const loginBufSize = 1024

// loginBufs holds the read buffers of logins: a client keeps one only
// while it logs in.
var loginBufs = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, loginBufSize) }}

// setConn makes conn the connection the login reads and writes (the raw
// socket, then the TLS connection after a handshake). Nothing may be
// buffered from the previous one.
func (s *session) setConn(conn net.Conn) {
	s.conn = conn
	s.out = sockio.NewWriter(conn)
	if s.in == nil {
		s.in = loginBufs.Get().(*bufio.Reader)
	}
	s.in.Reset(sockio.NewReader(conn))
}

// takeLeftover returns the bytes the client sent beyond its login and
// gives the read buffer back; the login reads no more after it.
func (s *session) takeLeftover() []byte {
	if s.in == nil {
		return nil
	}
	var rest []byte
	if n := s.in.Buffered(); n > 0 {
		b, _ := s.in.Peek(n)
		rest = bytes.Clone(b)
	}
	s.in.Reset(nil)
	loginBufs.Put(s.in)
	s.in = nil
	return rest
}

// releaseLogin gives the read buffer back when the login ends without a
// main phase.
func (s *session) releaseLogin() { s.takeLeftover() }

// prefixedConn is a connection whose first reads return bytes already
// read from it (a login's leftover, for the console).
type prefixedConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// withLeftover returns conn, or conn with rest in front of its stream.
func withLeftover(conn net.Conn, rest []byte) net.Conn {
	if len(rest) == 0 {
		return conn
	}
	return &prefixedConn{Conn: conn, r: io.MultiReader(bytes.NewReader(rest), conn)}
}
