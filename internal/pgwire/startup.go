package pgwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Request codes carried in place of a protocol version by the first packet.
const (
	codeCancel  = 80877102
	codeSSL     = 80877103
	codeGSSENC  = 80877104
	protocol30  = 3 << 16
	majorOffset = 16
)

// StartupKind says what the first packet of a connection asked for.
type StartupKind int

const (
	KindStartup StartupKind = iota
	KindSSLRequest
	KindGSSENCRequest
	KindCancel
)

func (k StartupKind) String() string {
	switch k {
	case KindSSLRequest:
		return "SSLRequest"
	case KindGSSENCRequest:
		return "GSSENCRequest"
	case KindCancel:
		return "CancelRequest"
	default:
		return "StartupMessage"
	}
}

// Param is one name/value pair, kept in the order the peer sent it.
type Param struct{ Name, Value string }

// Startup is a parsed first packet.
//
// We parse it by hand rather than with pgproto3.StartupMessage because that
// type rejects every protocol minor other than 3.0 and 3.2 (we must answer
// 3.1, 3.3... with NegotiateProtocolVersion) and keeps parameters in a map
// (we keep their order for logs and for the options list).
type Startup struct {
	Kind  StartupKind
	Major uint16
	Minor uint16
	// Params are the name/value pairs of a StartupMessage, without the
	// protocol options that start with "_pq_." (see ProtocolOptions).
	Params []Param
	// ProtocolOptions are the names of "_pq_.*" parameters; we support none.
	ProtocolOptions []string
	// CancelPID and CancelSecret are the key of a CancelRequest.
	CancelPID    uint32
	CancelSecret []byte
}

// Param returns the value of the named startup parameter.
func (s *Startup) Param(name string) (string, bool) {
	for _, p := range s.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return "", false
}

// ErrProtocol marks a malformed packet; the caller answers 08P01.
var ErrProtocol = errors.New("protocol violation")

// ErrStartupLength marks a first packet whose length word is impossible.
// PostgreSQL logs it and closes the connection without a word (the peer
// may not speak the protocol at all, or sent Terminate before its startup
// packet, as node-postgres does when a connection is ended at once); so
// does the pooler. It wraps ErrProtocol.
var ErrStartupLength = fmt.Errorf("%w: invalid length of startup packet", ErrProtocol)

// ProtocolError wraps ErrProtocol with what was wrong.
func ProtocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// ReadStartup reads one startup-phase packet (4-byte length, then body).
func ReadStartup(r io.Reader) (*Startup, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n < 8 || n > MaxStartupLen {
		return nil, fmt.Errorf("%w: %d", ErrStartupLength, n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return ParseStartup(body)
}

// ParseStartup parses a startup-phase packet body (everything after the
// length word).
func ParseStartup(body []byte) (*Startup, error) {
	if len(body) < 4 {
		return nil, ProtocolError("startup packet too short")
	}
	code := binary.BigEndian.Uint32(body)
	rest := body[4:]
	switch code {
	case codeSSL, codeGSSENC:
		if len(rest) != 0 {
			return nil, ProtocolError("invalid length of %s", StartupKind(code-codeSSL+1))
		}
		if code == codeSSL {
			return &Startup{Kind: KindSSLRequest}, nil
		}
		return &Startup{Kind: KindGSSENCRequest}, nil
	case codeCancel:
		// 3.0 sends a 4-byte secret; 3.2 allows up to 256 bytes.
		if len(rest) < 8 || len(rest) > 4+256 {
			return nil, ProtocolError("invalid length of CancelRequest")
		}
		s := &Startup{Kind: KindCancel, CancelPID: binary.BigEndian.Uint32(rest)}
		s.CancelSecret = append([]byte(nil), rest[4:]...)
		return s, nil
	}
	s := &Startup{Kind: KindStartup, Major: uint16(code >> majorOffset), Minor: uint16(code)}
	if s.Major != 3 {
		// The caller answers 0A000 with the version we got.
		return s, nil
	}
	if err := parseParams(s, rest); err != nil {
		return nil, err
	}
	return s, nil
}

// parseParams reads "name\0value\0...\0" into s.
func parseParams(s *Startup, b []byte) error {
	for {
		if len(b) == 0 {
			return ProtocolError("startup packet is not terminated")
		}
		if b[0] == 0 {
			if len(b) != 1 {
				return ProtocolError("garbage after startup packet parameters")
			}
			return nil
		}
		name, rest, ok := cutCString(b)
		if !ok {
			return ProtocolError("startup parameter name is not terminated")
		}
		value, rest, ok := cutCString(rest)
		if !ok {
			return ProtocolError("startup parameter %q has no value", name)
		}
		b = rest
		if strings.HasPrefix(name, "_pq_.") {
			s.ProtocolOptions = append(s.ProtocolOptions, name)
			continue
		}
		s.Params = append(s.Params, Param{Name: name, Value: value})
	}
}

func cutCString(b []byte) (string, []byte, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}

// AppendStartup encodes a StartupMessage for protocol 3.0 with params in
// order. Names and values must not contain NUL bytes (they come from our own
// config or from a parsed startup packet, which cannot hold them).
func AppendStartup(dst []byte, params []Param) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, protocol30)
	for _, p := range params {
		dst = append(dst, p.Name...)
		dst = append(dst, 0)
		dst = append(dst, p.Value...)
		dst = append(dst, 0)
	}
	dst = append(dst, 0)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}

// AppendCancelRequest encodes a CancelRequest packet.
func AppendCancelRequest(dst []byte, pid uint32, secret []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(12+len(secret)))
	dst = binary.BigEndian.AppendUint32(dst, codeCancel)
	dst = binary.BigEndian.AppendUint32(dst, pid)
	return append(dst, secret...)
}

// AppendSSLRequest encodes an SSLRequest packet.
func AppendSSLRequest(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, 8)
	return binary.BigEndian.AppendUint32(dst, codeSSL)
}
