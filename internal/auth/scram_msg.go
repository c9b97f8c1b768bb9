package auth

import (
	"encoding/base64"
	"strings"
)

// This file holds the syntax of the four SCRAM messages (RFC 5802 section
// 7) and nothing else: parsers check the grammar and decode values, the
// sessions decide whether the values are acceptable.

// gs2NoBinding is the GS2 header of a client that does not use channel
// binding and has no authorization identity; libpq always sends it when
// not using SCRAM-SHA-256-PLUS.
const gs2NoBinding = "n,,"

// attr is one "x=value" element of a message.
type attr struct {
	name  byte
	value string
	start int // offset of name within the message
}

// checkMessage rejects what cannot be a SCRAM message at all. NUL bytes are
// refused the way PostgreSQL refuses them (it treats payloads as C strings
// and checks the length); letting them through would make our idea of the
// message differ from the peer's.
func checkMessage(msg []byte) (string, error) {
	if len(msg) == 0 {
		return "", malformed("empty message")
	}
	s := string(msg)
	if strings.IndexByte(s, 0) >= 0 {
		return "", malformed("message contains a NUL byte")
	}
	return s, nil
}

// splitAttrs splits a message into attributes, checking the generic
// syntax attr-val = ALPHA "=" value. Values cannot contain commas, so
// splitting on commas is exact. An empty element (two commas in a row, a
// trailing comma) is an error.
func splitAttrs(msg string) ([]attr, error) {
	var out []attr
	start := 0
	for {
		end := strings.IndexByte(msg[start:], ',')
		part := msg[start:]
		if end >= 0 {
			part = msg[start : start+end]
		}
		if len(part) < 2 || !isAlpha(part[0]) || part[1] != '=' {
			return nil, malformed("expected attribute=value, found " + quote(part))
		}
		out = append(out, attr{name: part[0], value: part[2:], start: start})
		if end < 0 {
			return out, nil
		}
		start += end + 1
	}
}

// expectAttr checks that attrs[i] exists and has the given name.
func expectAttr(attrs []attr, i int, name byte, msgName string) (string, error) {
	if i >= len(attrs) {
		return "", malformed(msgName + " has no \"" + string(name) + "=\" attribute")
	}
	if attrs[i].name != name {
		return "", malformed(msgName + ": expected \"" + string(name) + "=\", found " + quote(string(attrs[i].name)+"="))
	}
	return attrs[i].value, nil
}

// clientFirst is a parsed client-first-message:
//
//	gs2-cbind-flag "," [authzid] "," [reserved-mext ","] username "," nonce ["," extensions]
type clientFirst struct {
	gs2Header string // everything up to and including the second comma
	cbFlag    byte   // 'n', 'y' or 'p'
	cbName    string // channel binding type after "p="
	bare      string // client-first-message-bare, part of AuthMessage
	nonce     string
}

func parseClientFirst(msg string) (clientFirst, error) {
	var m clientFirst
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return m, malformed("client-first-message has no GS2 header")
	}
	switch {
	case flag == "n" || flag == "y":
		m.cbFlag = flag[0]
	case strings.HasPrefix(flag, "p="):
		m.cbFlag = 'p'
		m.cbName = flag[2:]
		if !isChannelBindingName(m.cbName) {
			return m, malformed("invalid channel binding name " + quote(m.cbName))
		}
	default:
		return m, malformed("unexpected channel binding flag " + quote(flag))
	}
	authzid, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return m, malformed("client-first-message has an incomplete GS2 header")
	}
	switch {
	case authzid == "" || authzid == "a=":
		// No authorization identity. "a=" with an empty name is not quite
		// RFC syntax, but means the same and is harmless.
	case strings.HasPrefix(authzid, "a="):
		return m, newError(ErrUnsupported, "client uses an authorization identity")
	default:
		return m, malformed("unexpected attribute " + quote(authzid) + " in GS2 header")
	}
	m.gs2Header = msg[:len(msg)-len(bare)]
	m.bare = bare

	// RFC 5802 lets a server fail at once on a mandatory extension, which is
	// what PostgreSQL does.
	if strings.HasPrefix(bare, "m=") {
		return m, newError(ErrUnsupported, "client requires an unsupported SCRAM extension")
	}
	attrs, err := splitAttrs(bare)
	if err != nil {
		return m, err
	}
	// The user name is ignored, as in PostgreSQL: the startup packet names
	// the user and libpq sends "n=". Only its presence is required.
	if _, err := expectAttr(attrs, 0, 'n', "client-first-message"); err != nil {
		return m, err
	}
	if m.nonce, err = expectAttr(attrs, 1, 'r', "client-first-message"); err != nil {
		return m, err
	}
	if !isPrintable(m.nonce) {
		return m, malformed("client nonce is empty or not printable")
	}
	// Optional extensions follow; splitAttrs checked their syntax and we
	// support none, so they are ignored.
	return m, nil
}

// serverFirst is a parsed server-first-message:
//
//	[reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
type serverFirst struct {
	nonce      string
	salt       []byte
	iterations int
}

func parseServerFirst(msg string) (serverFirst, error) {
	var m serverFirst
	attrs, err := splitAttrs(msg)
	if err != nil {
		return m, err
	}
	if attrs[0].name == 'm' {
		return m, newError(ErrUnsupported, "server requires an unsupported SCRAM extension")
	}
	if m.nonce, err = expectAttr(attrs, 0, 'r', "server-first-message"); err != nil {
		return m, err
	}
	if !isPrintable(m.nonce) {
		return m, malformed("server nonce is empty or not printable")
	}
	salt, err := expectAttr(attrs, 1, 's', "server-first-message")
	if err != nil {
		return m, err
	}
	if m.salt, err = base64.StdEncoding.DecodeString(salt); err != nil {
		return m, malformed("salt is not valid base64")
	}
	iterations, err := expectAttr(attrs, 2, 'i', "server-first-message")
	if err != nil {
		return m, err
	}
	var ok bool
	if m.iterations, ok = parseIterations(iterations); !ok {
		return m, malformed("invalid iteration count " + quote(iterations))
	}
	return m, nil
}

// clientFinal is a parsed client-final-message:
//
//	channel-binding "," nonce ["," extensions] "," proof
type clientFinal struct {
	channelBinding string // base64 as sent; compared as text like PostgreSQL
	nonce          string
	proof          []byte
	withoutProof   string // client-final-message-without-proof, part of AuthMessage
}

func parseClientFinal(msg string) (clientFinal, error) {
	var m clientFinal
	attrs, err := splitAttrs(msg)
	if err != nil {
		return m, err
	}
	if m.channelBinding, err = expectAttr(attrs, 0, 'c', "client-final-message"); err != nil {
		return m, err
	}
	if m.nonce, err = expectAttr(attrs, 1, 'r', "client-final-message"); err != nil {
		return m, err
	}
	// Extensions may sit between the nonce and the proof, which must come
	// last.
	p := -1
	for i := 2; i < len(attrs); i++ {
		if attrs[i].name == 'p' {
			p = i
			break
		}
	}
	if p < 0 {
		return m, malformed("client-final-message has no proof")
	}
	if p != len(attrs)-1 {
		return m, malformed("garbage after the proof in client-final-message")
	}
	proof, err := base64.StdEncoding.DecodeString(attrs[p].value)
	if err != nil || len(proof) != keyLen {
		return m, malformed("invalid proof in client-final-message")
	}
	m.proof = proof
	m.withoutProof = msg[:attrs[p].start-1]
	return m, nil
}

// serverFinal is a parsed server-final-message:
//
//	(server-error / verifier) ["," extensions]
type serverFinal struct {
	serverError string // value of "e=", if the server sent one
	isError     bool
	signature   []byte
}

func parseServerFinal(msg string) (serverFinal, error) {
	var m serverFinal
	attrs, err := splitAttrs(msg)
	if err != nil {
		return m, err
	}
	switch attrs[0].name {
	case 'e':
		m.isError = true
		m.serverError = attrs[0].value
		return m, nil
	case 'v':
		sig, err := base64.StdEncoding.DecodeString(attrs[0].value)
		if err != nil || len(sig) != keyLen {
			return m, malformed("invalid server signature")
		}
		m.signature = sig
		return m, nil
	default:
		return m, malformed("server-final-message has neither \"v=\" nor \"e=\"")
	}
}

// escapeSASLName encodes a name for "n=" or "a=", where ',' and '=' must be
// written as "=2C" and "=3D".
func escapeSASLName(name string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(name)
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isPrintable is RFC 5802's "printable": one or more of %x21-2B / %x2D-7E,
// which is visible ASCII except the comma.
func isPrintable(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// isChannelBindingName is RFC 5056's cb-name: 1*(ALPHA / DIGIT / "." / "-").
func isChannelBindingName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlpha(c) && !('0' <= c && c <= '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}
