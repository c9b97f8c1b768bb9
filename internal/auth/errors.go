package auth

import (
	"strconv"
)

// ErrorKind classifies why a SCRAM exchange failed. The pooler answers a
// client with an ErrorResponse whose SQLSTATE depends on the reason, the way
// PostgreSQL does, so callers need more than "it failed".
//
// An ErrorKind is itself an error, which lets callers write
// errors.Is(err, auth.ErrWrongPassword) without this package keeping
// sentinel variables.
type ErrorKind int

const (
	// ErrMalformed: the peer sent something that is not valid SCRAM, or a
	// message at the wrong moment (nonce mismatch, bad base64, wrong
	// channel-binding flag for the chosen mechanism, unknown mechanism).
	// PostgreSQL reports these as protocol_violation, 08P01.
	ErrMalformed ErrorKind = iota + 1

	// ErrUnsupported: valid SCRAM using a feature we do not implement, namely
	// mandatory extensions ("m=") and authorization identities ("a=").
	// PostgreSQL reports feature_not_supported, 0A000.
	ErrUnsupported

	// ErrChannelBinding: the channel-binding data did not match this TLS
	// connection, or the client claimed the server cannot do channel binding
	// when it can (the RFC 5802 downgrade check). PostgreSQL reports
	// invalid_authorization_specification, 28000.
	ErrChannelBinding

	// ErrWrongPassword: the proof was well-formed but wrong. On the client
	// side it also means the server answered "e=invalid-proof".
	// PostgreSQL reports invalid_password, 28P01.
	ErrWrongPassword

	// ErrServerRejected (client side only): the server ended the exchange
	// with an "e=" error other than invalid-proof.
	ErrServerRejected

	// ErrServerSignature (client side only): the server's "v=" signature is
	// wrong, so the server does not know our verifier. Either the pooler
	// talks to an impostor or the stored credentials are inconsistent; the
	// login must be abandoned even though the server said yes.
	ErrServerSignature
)

// Error describes the failure kind; it never includes peer data.
func (k ErrorKind) Error() string {
	switch k {
	case ErrMalformed:
		return "malformed SCRAM message"
	case ErrUnsupported:
		return "unsupported SCRAM feature"
	case ErrChannelBinding:
		return "SCRAM channel binding check failed"
	case ErrWrongPassword:
		return "SCRAM authentication failed: invalid proof"
	case ErrServerRejected:
		return "server rejected SCRAM authentication"
	case ErrServerSignature:
		return "incorrect SCRAM server signature"
	default:
		return "SCRAM error " + strconv.Itoa(int(k))
	}
}

// SQLState is the code PostgreSQL uses for the same failure. The two
// client-side kinds have no PostgreSQL equivalent (libpq reports them as
// connection failures), so they map to connection_failure, 08006.
func (k ErrorKind) SQLState() string {
	switch k {
	case ErrMalformed:
		return "08P01"
	case ErrUnsupported:
		return "0A000"
	case ErrChannelBinding:
		return "28000"
	case ErrWrongPassword:
		return "28P01"
	default:
		return "08006"
	}
}

// Error is what the SCRAM functions return. Detail is meant for the log, not
// necessarily for the peer; anything the peer sent is quoted and truncated
// so that an unauthenticated client cannot spam the log with arbitrary
// bytes.
type Error struct {
	Kind   ErrorKind
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Detail
}

// Unwrap exposes the kind so that errors.Is works with the ErrorKind
// constants.
func (e *Error) Unwrap() error { return e.Kind }

func newError(kind ErrorKind, detail string) *Error {
	return &Error{Kind: kind, Detail: detail}
}

func malformed(detail string) *Error { return newError(ErrMalformed, detail) }

// maxQuoted bounds how much of a peer-supplied value ends up in an error.
const maxQuoted = 30

// quote renders peer data for an error detail: at most maxQuoted bytes,
// ASCII-only, with Go escaping for everything else.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.QuoteToASCII(s[:maxQuoted]) + "..."
	}
	return strconv.QuoteToASCII(s)
}
