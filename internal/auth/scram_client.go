package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
)

type clientState int

const (
	clientStart clientState = iota
	clientSentFirst
	clientSentFinal
	clientDone
	clientFailed
)

// ClientSession is one SCRAM-SHA-256 exchange in which the pooler logs in to
// PostgreSQL, as libpq's fe-auth-scram.c does:
//
//	c.ClientFirst()                    // SASLInitialResponse, mechanism SCRAM-SHA-256
//	c.ServerFirst(<SASLContinue data>) // SASLResponse
//	c.ServerFinal(<SASLFinal data>)    // then expect AuthenticationOk
//
// Without UseChannelBinding the client sends "n,," and selects
// SCRAM-SHA-256; with it, SCRAM-SHA-256-PLUS with tls-server-end-point.
//
// ServerFinal must succeed before the login is trusted: it is the server's
// proof that it knows the verifier, without which an impostor could accept
// any proof.
type ClientSession struct {
	password  []byte // after saslPrep; nil when built from keys
	keys      bool   // clientKey and serverKey were given, not derived
	clientKey []byte
	serverKey []byte
	state     clientState

	// nonce is our half of the combined nonce and user the name sent in
	// "n="; tests set them before ClientFirst to replay RFC 7677.
	// PostgreSQL ignores the name, so it stays empty like libpq's.
	nonce string
	user  string

	clientFirstBare string
	serverSignature []byte

	// cbData is the tls-server-end-point data of the server's certificate
	// when the exchange binds to the TLS connection (SCRAM-SHA-256-PLUS).
	cbData []byte
}

// gs2Binding is the GS2 header of a client binding to the TLS connection.
const gs2Binding = "p=" + ChannelBindingType + ",,"

// UseChannelBinding makes the exchange SCRAM-SHA-256-PLUS, bound to the TLS
// connection whose server certificate gives data (its tls-server-end-point
// hash). Call it before ClientFirst, and only when the server offered the
// PLUS mechanism. A man in the middle that terminates TLS cannot relay
// such an exchange: the proof covers the certificate it saw.
func (c *ClientSession) UseChannelBinding(data []byte) {
	if c.state == clientStart && len(data) > 0 {
		c.cbData = append([]byte{}, data...)
	}
}

// Mechanism is the SASL mechanism to name in SASLInitialResponse.
func (c *ClientSession) Mechanism() string {
	if c.cbData != nil {
		return MechanismSCRAMPlus
	}
	return MechanismSCRAM
}

// gs2Header is the header this exchange sends.
func (c *ClientSession) gs2Header() string {
	if c.cbData != nil {
		return gs2Binding
	}
	return gs2NoBinding
}

// NewClientSession prepares a login with a cleartext password. See
// saslPrep for how non-ASCII passwords are treated.
func NewClientSession(password string) *ClientSession {
	return &ClientSession{password: saslPrep(password)}
}

// NewClientSessionFromKeys prepares a login for SCRAM passthrough: the
// pooler knows no password, only the ClientKey recovered from a client's
// proof (ServerSession.ClientKey) and the ServerKey of the verifier the
// client was checked against. That is everything the exchange needs when
// PostgreSQL holds the same verifier; salt and iteration count from the
// server are then not used.
func NewClientSessionFromKeys(clientKey, serverKey []byte) *ClientSession {
	return &ClientSession{
		keys:      true,
		clientKey: append([]byte{}, clientKey...),
		serverKey: append([]byte{}, serverKey...),
	}
}

// ClientFirst returns the client-first-message, "n,,n=,r=<nonce>" (or
// "p=tls-server-end-point,,n=,r=<nonce>" with channel binding), the data
// of SASLInitialResponse. Calling it again returns the same message.
func (c *ClientSession) ClientFirst() []byte {
	if c.state == clientStart {
		if c.nonce == "" {
			c.nonce = newNonce()
		}
		c.clientFirstBare = "n=" + escapeSASLName(c.user) + ",r=" + c.nonce
		c.state = clientSentFirst
	}
	return []byte(c.gs2Header() + c.clientFirstBare)
}

// ServerFirst takes the server-first-message and returns the
// client-final-message with our proof. The server's nonce must extend ours
// (otherwise the exchange could be a replay). Its iteration count is
// accepted up to 2^31-1 like libpq does, so a hostile server can make a
// password login slow; passthrough logins do no key stretching at all.
func (c *ClientSession) ServerFirst(msg []byte) ([]byte, error) {
	if c.state != clientSentFirst {
		c.state = clientFailed
		return nil, malformed("unexpected server-first-message")
	}
	out, err := c.serverFirst(msg)
	if err != nil {
		c.state = clientFailed
		return nil, err
	}
	c.state = clientSentFinal
	return out, nil
}

func (c *ClientSession) serverFirst(msg []byte) ([]byte, error) {
	text, err := checkMessage(msg)
	if err != nil {
		return nil, err
	}
	m, err := parseServerFirst(text)
	if err != nil {
		return nil, err
	}
	// The server must add something of its own; libpq tolerates an empty
	// addition, but then the nonce is entirely ours and replays work.
	if len(m.nonce) <= len(c.nonce) || !strings.HasPrefix(m.nonce, c.nonce) {
		return nil, malformed("server nonce does not extend the client nonce")
	}

	ck, sk := c.clientKey, c.serverKey
	if !c.keys {
		salted := saltedPassword(c.password, m.salt, m.iterations)
		ck, sk = clientKey(salted), serverKey(salted)
	} else if len(ck) != keyLen || len(sk) != keyLen {
		return nil, errors.New("auth: SCRAM keys must be 32 bytes")
	}

	cbInput := append([]byte(c.gs2Header()), c.cbData...)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString(cbInput) + ",r=" + m.nonce
	auth := authMessage(c.clientFirstBare, text, withoutProof)
	proof := hmacSHA256(storedKey(ck), auth)
	subtle.XORBytes(proof, proof, ck)
	c.serverSignature = hmacSHA256(sk, auth)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// ServerFinal checks the server-final-message. It fails with
// ErrWrongPassword if the server answered "e=invalid-proof", with
// ErrServerRejected for any other "e=", and with ErrServerSignature if the
// server's signature is wrong.
func (c *ClientSession) ServerFinal(msg []byte) error {
	if c.state != clientSentFinal {
		c.state = clientFailed
		return malformed("unexpected server-final-message")
	}
	if err := c.serverFinal(msg); err != nil {
		c.state = clientFailed
		return err
	}
	c.state = clientDone
	return nil
}

func (c *ClientSession) serverFinal(msg []byte) error {
	text, err := checkMessage(msg)
	if err != nil {
		return err
	}
	m, err := parseServerFinal(text)
	if err != nil {
		return err
	}
	if m.isError {
		if m.serverError == "invalid-proof" {
			return newError(ErrWrongPassword, "server says the proof is invalid")
		}
		return newError(ErrServerRejected, "server error "+quote(m.serverError))
	}
	if subtle.ConstantTimeCompare(m.signature, c.serverSignature) != 1 {
		return newError(ErrServerSignature, "")
	}
	return nil
}

// Verified reports whether the server's final message was checked: only
// then has the server proved it knows the verifier.
func (c *ClientSession) Verified() bool { return c.state == clientDone }
