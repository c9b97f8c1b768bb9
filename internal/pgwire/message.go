package pgwire

import (
	"encoding/binary"
	"io"
)

// ReadMessage reads one regular message (type byte, length, body) from r,
// reusing buf for the body when it is large enough. It is for the paths
// that handle a few messages per connection (authentication, login); the
// relay never uses it. Bodies longer than max are refused before reading.
func ReadMessage(r io.Reader, buf []byte, max int) (typ byte, body []byte, err error) {
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	length := int(binary.BigEndian.Uint32(hdr[1:]))
	if length < 4 || length-4 > max {
		return 0, nil, ProtocolError("invalid message length %d for message type %q", length, hdr[0])
	}
	n := length - 4
	if cap(buf) >= n {
		body = buf[:n]
	} else {
		body = make([]byte, n)
	}
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return hdr[0], body, nil
}

// BeginMessage appends a message header with a placeholder length and
// returns the new slice and the header's offset for FinishMessage.
func BeginMessage(dst []byte, typ byte) ([]byte, int) {
	start := len(dst)
	return append(dst, typ, 0, 0, 0, 0), start
}

// FinishMessage writes the length of the message begun at start.
func FinishMessage(dst []byte, start int) []byte {
	binary.BigEndian.PutUint32(dst[start+1:], uint32(len(dst)-start-1))
	return dst
}

// AppendQuery appends a simple Query message.
func AppendQuery(dst []byte, sql string) []byte {
	dst, start := BeginMessage(dst, MsgQuery)
	dst = append(dst, sql...)
	dst = append(dst, 0)
	return FinishMessage(dst, start)
}

// AppendReadyForQuery appends ReadyForQuery with the given status.
func AppendReadyForQuery(dst []byte, status byte) []byte {
	return append(dst, MsgReadyForQuery, 0, 0, 0, 5, status)
}

// AppendParameterStatus appends a ParameterStatus message.
func AppendParameterStatus(dst []byte, name, value string) []byte {
	dst, start := BeginMessage(dst, MsgParameterStatus)
	dst = append(dst, name...)
	dst = append(dst, 0)
	dst = append(dst, value...)
	dst = append(dst, 0)
	return FinishMessage(dst, start)
}

// AppendBackendKeyData appends BackendKeyData (protocol 3.0: 4-byte secret).
func AppendBackendKeyData(dst []byte, pid, secret uint32) []byte {
	dst, start := BeginMessage(dst, MsgBackendKeyData)
	dst = binary.BigEndian.AppendUint32(dst, pid)
	dst = binary.BigEndian.AppendUint32(dst, secret)
	return FinishMessage(dst, start)
}

// AppendAuthOK appends AuthenticationOk.
func AppendAuthOK(dst []byte) []byte {
	return append(dst, MsgAuthentication, 0, 0, 0, 8, 0, 0, 0, 0)
}

// AppendTerminate appends a Terminate message.
func AppendTerminate(dst []byte) []byte {
	return append(dst, MsgTerminate, 0, 0, 0, 4)
}

// ReadyStatus returns the status byte of a whole ReadyForQuery frame.
func ReadyStatus(frame []byte) byte {
	if len(frame) < 6 {
		return 0
	}
	return frame[5]
}

// ParseParameterStatus splits the body of a whole ParameterStatus frame.
func ParseParameterStatus(frame []byte) (name, value string, ok bool) {
	if len(frame) < HeaderLen {
		return "", "", false
	}
	name, rest, ok := cutCString(frame[HeaderLen:])
	if !ok {
		return "", "", false
	}
	value, _, ok = cutCString(rest)
	return name, value, ok
}
