package frontend

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/odyssey-go/odyssey/internal/auth"
	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// Authenticator checks client credentials against the rules. It keeps the
// per-process secret for fake exchanges and the SCRAM verifiers derived
// from plain-text passwords (deriving costs 4096 HMAC rounds; once per
// password is enough).
type Authenticator struct {
	mockKey []byte

	mu        sync.Mutex
	verifiers map[string]*auth.Verifier // by plain-text password
}

// NewAuthenticator returns an Authenticator with a fresh mock key.
func NewAuthenticator() *Authenticator {
	key := make([]byte, 32)
	rand.Read(key)
	return &Authenticator{mockKey: key, verifiers: make(map[string]*auth.Verifier)}
}

// Authentication request codes (AuthenticationXXX messages).
const (
	authOK           = 0
	authCleartext    = 3
	authMD5          = 5
	authSASL         = 10
	authSASLContinue = 11
	authSASLFinal    = 12
)

// scramIterations is used for verifiers derived from plain passwords, as
// PostgreSQL's default scram_iterations.
const scramIterations = 4096

// authenticate runs the rule's method. It returns the client's cleartext
// password when the method revealed it (for password_passthrough). It does
// not send AuthenticationOk: the greeting does.
func (a *Authenticator) authenticate(s *session, rule *config.Rule, user string) (string, error) {
	switch rule.Authentication {
	case config.AuthNone:
		return "", nil
	case config.AuthBlock:
		return "", pgwire.Fatal(pgwire.CodeInvalidAuthorization, fmt.Sprintf("user blocked: %s %s", s.db, user))
	case config.AuthCert:
		return "", pgwire.Fatal(pgwire.CodeInvalidPassword, "certificate authentication requires TLS, which is not enabled")
	}
	secret, err := auth.ParseSecret(rule.Password)
	if err != nil {
		s.log.Error("rule has no usable password", "rule", rule.Name(), "error", err)
		return "", a.fake(s, rule.Authentication, user)
	}
	switch rule.Authentication {
	case config.AuthClearText:
		pw, err := a.cleartext(s)
		if err != nil {
			return "", err
		}
		if !auth.CheckPassword(secret, user, pw) {
			return "", passwordFailed(user)
		}
		return pw, nil
	case config.AuthMD5:
		if secret.Kind == auth.SecretSCRAM {
			s.log.Error("md5 authentication needs a plain or md5 password, the rule has a SCRAM verifier", "rule", rule.Name())
		}
		return "", a.md5(s, secret, user)
	case config.AuthSCRAM:
		v := a.verifierFor(secret)
		if v == nil {
			s.log.Error("scram-sha-256 authentication needs a plain password or a SCRAM verifier, the rule has an md5 hash", "rule", rule.Name())
			return "", a.scram(s, auth.MockVerifier(a.mockKey, user), user, true)
		}
		return "", a.scram(s, v, user, false)
	}
	return "", pgwire.Fatal(pgwire.CodeInvalidAuthorization, "unsupported authentication method "+rule.Authentication.String())
}

// fake runs an exchange of the given method that can only fail, for users
// without a rule, so that the answer is the same as for a wrong password.
func (a *Authenticator) fake(s *session, method config.AuthMethod, user string) error {
	switch method {
	case config.AuthClearText:
		if _, err := a.cleartext(s); err != nil {
			return err
		}
		return passwordFailed(user)
	case config.AuthMD5:
		// An md5 hash nobody can match: the check fails like a wrong password.
		return a.md5(s, auth.Secret{Kind: auth.SecretMD5, MD5: "md5" + strings.Repeat("0", 32)}, user)
	default:
		return a.scram(s, auth.MockVerifier(a.mockKey, user), user, true)
	}
}

func passwordFailed(user string) error {
	return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeInvalidPassword,
		Message: fmt.Sprintf("password authentication failed for user %q", user)}
}

// verifierFor returns the SCRAM verifier of a secret, deriving (once) one
// from a plain password; nil for an md5 hash.
func (a *Authenticator) verifierFor(sec auth.Secret) *auth.Verifier {
	switch sec.Kind {
	case auth.SecretSCRAM:
		return sec.SCRAM
	case auth.SecretPlain:
		a.mu.Lock()
		defer a.mu.Unlock()
		v := a.verifiers[sec.Plain]
		if v == nil {
			salt := make([]byte, 16)
			rand.Read(salt)
			v = auth.NewVerifier(sec.Plain, salt, scramIterations)
			a.verifiers[sec.Plain] = v
		}
		return v
	}
	return nil
}

// sendAuth writes an Authentication message with code and data.
func (s *session) sendAuth(code uint32, data []byte) error {
	msg, start := pgwire.BeginMessage(nil, pgwire.MsgAuthentication)
	msg = binary.BigEndian.AppendUint32(msg, code)
	msg = append(msg, data...)
	_, err := s.conn.Write(pgwire.FinishMessage(msg, start))
	return err
}

// readPassword reads the client's next authentication message body.
func (s *session) readPassword() ([]byte, error) {
	typ, body, err := pgwire.ReadMessage(s.conn, nil, pgwire.MaxAuthMessageLen)
	if err != nil {
		return nil, err
	}
	if typ != pgwire.MsgPassword {
		return nil, pgwire.ProtocolError("expected password response, got message type %q", typ)
	}
	return body, nil
}

func (a *Authenticator) cleartext(s *session) (string, error) {
	if err := s.sendAuth(authCleartext, nil); err != nil {
		return "", err
	}
	body, err := s.readPassword()
	if err != nil {
		return "", err
	}
	return cString(body)
}

func (a *Authenticator) md5(s *session, secret auth.Secret, user string) error {
	var salt [4]byte
	rand.Read(salt[:])
	if err := s.sendAuth(authMD5, salt[:]); err != nil {
		return err
	}
	body, err := s.readPassword()
	if err != nil {
		return err
	}
	resp, err := cString(body)
	if err != nil {
		return err
	}
	if !auth.CheckMD5Response(secret, user, salt, resp) {
		return passwordFailed(user)
	}
	return nil
}

// scram runs SCRAM-SHA-256 against v. doomed makes the exchange fail at the
// end whatever the client sends (unknown user, unusable secret).
func (a *Authenticator) scram(s *session, v *auth.Verifier, user string, doomed bool) error {
	sess := auth.NewServerSession(v, nil)
	var list []byte
	for _, m := range sess.Mechanisms() {
		list = append(list, m...)
		list = append(list, 0)
	}
	list = append(list, 0)
	if err := s.sendAuth(authSASL, list); err != nil {
		return err
	}
	body, err := s.readPassword()
	if err != nil {
		return err
	}
	mech, data, err := parseSASLInitial(body)
	if err != nil {
		return err
	}
	first, err := sess.ClientFirst(mech, data)
	if err != nil {
		return scramError(err, user)
	}
	if err := s.sendAuth(authSASLContinue, first); err != nil {
		return err
	}
	body, err = s.readPassword()
	if err != nil {
		return err
	}
	final, err := sess.ClientFinal(body)
	if err != nil {
		return scramError(err, user)
	}
	if doomed {
		return passwordFailed(user)
	}
	return s.sendAuth(authSASLFinal, final)
}

// scramError maps a SCRAM failure to the SQLSTATE PostgreSQL uses.
func scramError(err error, user string) error {
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Kind == auth.ErrWrongPassword {
		return passwordFailed(user)
	}
	return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: ae.Kind.SQLState(), Message: ae.Error()}
}

// parseSASLInitial splits SASLInitialResponse: mechanism name, then a
// length-prefixed (-1 = absent) initial response.
func parseSASLInitial(b []byte) (string, []byte, error) {
	mech, err := cString(b)
	if err != nil {
		return "", nil, err
	}
	rest := b[len(mech)+1:]
	if len(rest) < 4 {
		return "", nil, pgwire.ProtocolError("malformed SASLInitialResponse")
	}
	n := int32(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	if n < 0 {
		return mech, nil, nil
	}
	if int(n) != len(rest) {
		return "", nil, pgwire.ProtocolError("malformed SASLInitialResponse length")
	}
	return mech, rest, nil
}

// cString reads a NUL-terminated string at the start of b.
func cString(b []byte) (string, error) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), nil
		}
	}
	return "", pgwire.ProtocolError("string is not NUL-terminated")
}
