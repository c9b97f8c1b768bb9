package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
)

type serverState int

const (
	serverStart serverState = iota
	serverSentFirst
	serverDone
	serverFailed
)

// ServerSession is one SCRAM-SHA-256 exchange in which the pooler
// authenticates a client, as PostgreSQL's auth-scram.c does:
//
//	mechanism, msg := <SASLInitialResponse>
//	first, err := s.ClientFirst(mechanism, msg)  // send as AuthenticationSASLContinue
//	final, err := s.ClientFinal(<SASLResponse>)  // send as AuthenticationSASLFinal
//
// Any error ends the exchange; the caller then sends an ErrorResponse with
// the error's SQLSTATE and closes the connection. Like PostgreSQL, the
// session never sends "e=" to the client, so that a wrong password reads
// the same as with every other method.
//
// If the client sends a SASLInitialResponse without data, PostgreSQL
// answers with an empty AuthenticationSASLContinue and takes the next
// message as the client-first-message; the caller does that, this type only
// sees real messages.
type ServerSession struct {
	verifier       *Verifier
	channelBinding []byte
	state          serverState

	// nonce is our half of the combined nonce. Random unless a test sets it
	// before ClientFirst.
	nonce string

	cbInUse     bool   // the client chose SCRAM-SHA-256-PLUS
	gs2Header   string // as the client sent it, to check c= against
	clientNonce string
	authPrefix  string // client-first-bare "," server-first ","
	clientKey   []byte
}

// NewServerSession starts an exchange against verifier v (use MockVerifier
// for an unknown user, never skip the exchange). channelBinding is the
// tls-server-end-point hash of this TLS connection's certificate; when it
// is nil or empty, the connection is treated as plain and only
// SCRAM-SHA-256 is offered.
func NewServerSession(v *Verifier, channelBinding []byte) *ServerSession {
	s := &ServerSession{verifier: v}
	if len(channelBinding) > 0 {
		s.channelBinding = append([]byte{}, channelBinding...)
	}
	return s
}

// Mechanisms lists the mechanisms for AuthenticationSASL, the preferred one
// first as PostgreSQL does: SCRAM-SHA-256-PLUS only when channel binding is
// possible on this connection.
func (s *ServerSession) Mechanisms() []string {
	if s.channelBinding != nil {
		return []string{MechanismSCRAMPlus, MechanismSCRAM}
	}
	return []string{MechanismSCRAM}
}

// ClientFirst takes the mechanism and data of SASLInitialResponse and
// returns the server-first-message: the combined nonce, the salt and the
// iteration count.
func (s *ServerSession) ClientFirst(mechanism string, msg []byte) ([]byte, error) {
	if s.state != serverStart {
		s.state = serverFailed
		return nil, malformed("unexpected client-first-message")
	}
	out, err := s.clientFirst(mechanism, msg)
	if err != nil {
		s.state = serverFailed
		return nil, err
	}
	s.state = serverSentFirst
	return out, nil
}

func (s *ServerSession) clientFirst(mechanism string, msg []byte) ([]byte, error) {
	if !s.verifier.valid() {
		// A programming error, not the client's fault: the verifier should
		// come from ParseSecret, NewVerifier or MockVerifier.
		return nil, errors.New("auth: unusable SCRAM verifier")
	}
	switch {
	case mechanism == MechanismSCRAMPlus && s.channelBinding != nil:
		s.cbInUse = true
	case mechanism == MechanismSCRAM:
		s.cbInUse = false
	default:
		// Including PLUS on a connection where we did not offer it.
		return nil, malformed("client selected an invalid SASL authentication mechanism " + quote(mechanism))
	}
	text, err := checkMessage(msg)
	if err != nil {
		return nil, err
	}
	m, err := parseClientFirst(text)
	if err != nil {
		return nil, err
	}
	switch m.cbFlag {
	case 'n':
		if s.cbInUse {
			return nil, malformed("client selected SCRAM-SHA-256-PLUS, but the message does not include channel binding data")
		}
	case 'y':
		if s.cbInUse {
			return nil, malformed("client selected SCRAM-SHA-256-PLUS, but the message does not include channel binding data")
		}
		// "y" means the client can bind but thinks we cannot. We can, so
		// someone removed the PLUS mechanism on the way: RFC 5802 section 6
		// says to fail.
		if s.channelBinding != nil {
			return nil, newError(ErrChannelBinding, "client supports channel binding but thinks the server does not; this server does")
		}
	case 'p':
		if !s.cbInUse {
			return nil, malformed("client selected SCRAM-SHA-256 without channel binding, but the message includes channel binding data")
		}
		if m.cbName != ChannelBindingType {
			// PostgreSQL reports this as a protocol violation too.
			return nil, malformed("unsupported channel binding type " + quote(m.cbName))
		}
	}
	if s.nonce == "" {
		s.nonce = newNonce()
	}
	s.gs2Header = m.gs2Header
	s.clientNonce = m.nonce
	serverFirst := "r=" + m.nonce + s.nonce +
		",s=" + base64.StdEncoding.EncodeToString(s.verifier.Salt) +
		",i=" + strconv.Itoa(s.verifier.Iterations)
	s.authPrefix = m.bare + "," + serverFirst + ","
	return []byte(serverFirst), nil
}

// ClientFinal takes the data of SASLResponse, checks channel binding, the
// nonce and the proof, and returns the server-final-message ("v=" and our
// signature) for AuthenticationSASLFinal. A wrong proof gives an error of
// kind ErrWrongPassword.
func (s *ServerSession) ClientFinal(msg []byte) ([]byte, error) {
	if s.state != serverSentFirst {
		s.state = serverFailed
		return nil, malformed("unexpected client-final-message")
	}
	out, err := s.clientFinal(msg)
	if err != nil {
		s.state = serverFailed
		return nil, err
	}
	s.state = serverDone
	return out, nil
}

func (s *ServerSession) clientFinal(msg []byte) ([]byte, error) {
	text, err := checkMessage(msg)
	if err != nil {
		return nil, err
	}
	m, err := parseClientFinal(text)
	if err != nil {
		return nil, err
	}

	// c= must repeat the GS2 header, followed by this connection's binding
	// data when the client asked for binding. Like PostgreSQL, compare the
	// base64 text, so that only the canonical encoding is accepted.
	cbInput := []byte(s.gs2Header)
	if s.cbInUse {
		cbInput = append(cbInput, s.channelBinding...)
	}
	want := base64.StdEncoding.EncodeToString(cbInput)
	if subtle.ConstantTimeCompare([]byte(m.channelBinding), []byte(want)) != 1 {
		if s.cbInUse {
			return nil, newError(ErrChannelBinding, "channel binding data does not match this connection")
		}
		return nil, malformed("unexpected channel binding attribute in client-final-message")
	}

	if subtle.ConstantTimeCompare([]byte(m.nonce), []byte(s.clientNonce+s.nonce)) != 1 {
		return nil, malformed("nonce does not match")
	}

	// The proof is ClientKey XOR HMAC(StoredKey, AuthMessage). Undo the XOR
	// and check that the result hashes to StoredKey.
	auth := []byte(s.authPrefix + m.withoutProof)
	key := hmacSHA256(s.verifier.StoredKey, auth)
	subtle.XORBytes(key, key, m.proof)
	if subtle.ConstantTimeCompare(storedKey(key), s.verifier.StoredKey) != 1 {
		return nil, newError(ErrWrongPassword, "")
	}
	s.clientKey = key

	sig := hmacSHA256(s.verifier.ServerKey, auth)
	return []byte("v=" + base64.StdEncoding.EncodeToString(sig)), nil
}

// ClientKey returns the client's ClientKey, recovered from its proof, after
// a successful ClientFinal, and nil otherwise. Together with the verifier's
// ServerKey it is enough to log in to PostgreSQL as this user with the same
// verifier (see NewClientSessionFromKeys), without knowing the password.
// It is as sensitive as a password.
func (s *ServerSession) ClientKey() []byte {
	if s.state != serverDone {
		return nil
	}
	return append([]byte{}, s.clientKey...)
}
