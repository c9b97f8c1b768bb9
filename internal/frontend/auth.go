package frontend

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/odyssey-go/odyssey/internal/auth"
	"github.com/odyssey-go/odyssey/internal/authquery"
	"github.com/odyssey-go/odyssey/internal/backend"
	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/ldapauth"
	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/router"
	"github.com/odyssey-go/odyssey/internal/stats"
)

// Authenticator checks client credentials against the rules. It keeps the
// per-process secret for fake exchanges, the SCRAM verifiers derived from
// plain-text passwords (deriving costs 4096 HMAC rounds; once per password
// is enough) and the auth_query cache. It lives as long as the process,
// across reloads.
type Authenticator struct {
	mockKey []byte
	queries *authquery.Cache

	mu        sync.Mutex
	verifiers map[string]*auth.Verifier // by plain-text password
}

// NewAuthenticator returns an Authenticator with a fresh mock key.
func NewAuthenticator() *Authenticator {
	key := make([]byte, 32)
	rand.Read(key)
	return &Authenticator{
		mockKey:   key,
		queries:   authquery.New(authquery.DefaultTTL),
		verifiers: make(map[string]*auth.Verifier),
	}
}

// secretLookupTimeout bounds an auth_query (or LDAP) round trip when the
// listen block has no client_login_timeout.
const secretLookupTimeout = 10 * time.Second

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
// not send AuthenticationOk: the greeting does. What a successful login
// proves about the user (SCRAM keys, an md5 hash) is handed to the route
// for logging in to PostgreSQL without a password in the config.
func (a *Authenticator) authenticate(ctx context.Context, s *session, rule *config.Rule, route *router.Route, user string) (string, error) {
	return a.guard(ctx, s, func() (string, error) {
		ctx, cancel := s.lookupContext(ctx)
		defer cancel()
		return a.check(ctx, s, rule, route, user)
	})
}

// guard runs one authentication and answers a failed one after
// auth_failure_delay_ms, as PostgreSQL's auth_delay does: a guesser gets
// one try per delay per connection, and nobody is ever refused for what
// others did (a per-address lockout shut out every client behind the same
// NAT, the right passwords and the console included). The wait ends early
// at shutdown or at the client's login deadline.
func (a *Authenticator) guard(ctx context.Context, s *session, run func() (string, error)) (string, error) {
	pw, err := run()
	var pe *pgwire.Error
	if errors.As(err, &pe) && (pe.Code == pgwire.CodeInvalidPassword || pe.Code == pgwire.CodeInvalidAuthorization) {
		s.f.Router().CountError(stats.ErrAuth)
		if d := time.Duration(s.f.Router().Config().AuthFailureDelayMs) * time.Millisecond; d > 0 {
			ctx, cancel := s.lookupContext(ctx)
			defer cancel()
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
	}
	return pw, err
}

// lookupContext bounds secret lookups by the client's login deadline.
func (s *session) lookupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ms := s.listen.ClientLoginTimeout; ms > 0 {
		return context.WithDeadline(ctx, s.start.Add(time.Duration(ms)*time.Millisecond))
	}
	return context.WithTimeout(ctx, secretLookupTimeout)
}

// check is authenticate without the rate limit.
func (a *Authenticator) check(ctx context.Context, s *session, rule *config.Rule, route *router.Route, user string) (string, error) {
	switch rule.Authentication {
	case config.AuthNone:
		return "", nil
	case config.AuthBlock:
		return "", pgwire.Fatal(pgwire.CodeInvalidAuthorization, fmt.Sprintf("user blocked: %s %s", s.db, user))
	case config.AuthCert:
		return "", a.checkCert(s, rule, user)
	case config.AuthClearText, config.AuthMD5, config.AuthSCRAM:
	default:
		return "", pgwire.Fatal(pgwire.CodeInvalidAuthorization, "unsupported authentication method "+rule.Authentication.String())
	}
	if rule.Authentication == config.AuthClearText && rule.LDAPEndpoint != nil {
		return a.ldap(ctx, s, rule, user)
	}
	secret, ok, err := a.secret(ctx, s, rule, user)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", a.fake(s, rule.Authentication, user)
	}
	switch rule.Authentication {
	case config.AuthClearText:
		pw, err := a.cleartext(s)
		if err != nil {
			return "", err
		}
		if secret.Kind == auth.SecretSCRAM {
			// One key derivation both checks the password and gives the
			// key for SCRAM passthrough.
			ck := secret.SCRAM.PasswordClientKey(pw)
			if ck == nil {
				return "", passwordFailed(user)
			}
			route.LearnCredentials(backend.Credentials{ClientKey: ck, ServerKey: secret.SCRAM.ServerKey})
			return pw, nil
		}
		if !auth.CheckPassword(secret, user, pw) {
			return "", passwordFailed(user)
		}
		if secret.Kind == auth.SecretMD5 {
			route.LearnCredentials(backend.Credentials{MD5: secret.MD5})
		}
		return pw, nil
	case config.AuthMD5:
		if secret.Kind == auth.SecretSCRAM {
			s.log.Error("md5 authentication needs a plain or md5 password, the stored secret is a SCRAM verifier", "rule", rule.Name())
		}
		if err := a.md5(s, secret, user); err != nil {
			return "", err
		}
		if secret.Kind == auth.SecretMD5 {
			route.LearnCredentials(backend.Credentials{MD5: secret.MD5})
		}
		return "", nil
	default: // config.AuthSCRAM
		v := a.verifierFor(secret)
		if v == nil {
			s.log.Error("scram-sha-256 authentication needs a plain password or a SCRAM verifier, the stored secret is an md5 hash", "rule", rule.Name())
			_, err := a.scram(s, auth.MockVerifier(a.mockKey, user), user, true)
			return "", err
		}
		clientKey, err := a.scram(s, v, user, false)
		if err != nil {
			return "", err
		}
		if secret.Kind == auth.SecretSCRAM {
			route.LearnCredentials(backend.Credentials{ClientKey: clientKey, ServerKey: v.ServerKey})
		}
		return "", nil
	}
}

// secret returns the user's stored secret: from auth_query when the rule
// has one, else the rule's password. ok is false when there is none the
// method can use (no such user, an unusable value); the caller then runs
// an exchange that fails like a wrong password.
func (a *Authenticator) secret(ctx context.Context, s *session, rule *config.Rule, user string) (auth.Secret, bool, error) {
	text := rule.Password
	if rule.AuthQuery != "" {
		host := ""
		if addr := s.connInfo().Addr; addr.IsValid() {
			host = addr.String()
		}
		res, err := a.queries.Lookup(ctx, authquery.Key{Scope: rule, User: user}, rule.AuthQuery, host, a.fetcher(s, rule))
		if err != nil {
			s.log.Error("auth_query failed", "error", err)
			return auth.Secret{}, false, pgwire.Fatal(pgwire.CodeConnectionFailure,
				"failed to check the password: the password lookup (auth_query) failed")
		}
		if !res.Found {
			s.log.Info("auth_query found no password for the user")
			return auth.Secret{}, false, nil
		}
		text = res.Secret
	}
	sec, err := auth.ParseSecret(text)
	if err != nil {
		s.log.Error("no usable password for the user", "rule", rule.Name(), "auth_query", rule.AuthQuery != "", "error", err)
		return auth.Secret{}, false, nil
	}
	return sec, true, nil
}

// fetcher runs auth_query on a server of the rule's internal route, like
// the route's own internal queries (Route.NormalizeParams).
func (a *Authenticator) fetcher(s *session, rule *config.Rule) authquery.Fetcher {
	return func(ctx context.Context, sql string) ([][]string, error) {
		rt, err := s.f.Router().AttachInternal(rule.AuthQueryRule, rule.AuthQueryDB, rule.AuthQueryUser)
		if err != nil {
			return nil, err
		}
		srv, err := rt.Acquire(ctx, nil)
		if err != nil {
			return nil, err
		}
		rows, err := srv.Query(ctx, sql)
		var pe *pgwire.Error
		if err != nil && !errors.As(err, &pe) {
			srv.Close()
			rt.Discard(srv)
			return nil, err
		}
		if !rt.Release(srv) {
			srv.Close()
		}
		if pe != nil {
			return nil, fmt.Errorf("%s: %s", pe.Code, pe.Message)
		}
		return rows, nil
	}
}

// ldap checks a clear_text password against the rule's ldap_endpoint.
func (a *Authenticator) ldap(ctx context.Context, s *session, rule *config.Rule, user string) (string, error) {
	pw, err := a.cleartext(s)
	if err != nil {
		return "", err
	}
	err = ldapauth.Authenticate(ctx, rule.LDAPEndpoint, user, pw)
	switch {
	case err == nil:
		return pw, nil
	case errors.Is(err, ldapauth.ErrInvalidCredentials):
		s.log.Info("ldap refused the login", "reason", err.Error())
		return "", passwordFailed(user)
	default:
		s.log.Error("ldap authentication failed", "endpoint", rule.LDAPEndpoint.Name, "error", err)
		return "", pgwire.Fatal(pgwire.CodeConnectionFailure, "failed to check the password: the LDAP server did not answer")
	}
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
	case config.AuthCert:
		if _, err := s.clientCN(); err != nil {
			return err
		}
		return certFailed(user)
	default:
		_, err := a.scram(s, auth.MockVerifier(a.mockKey, user), user, true)
		return err
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
	_, err := s.out.Write(pgwire.FinishMessage(msg, start))
	return err
}

// readPassword reads the client's next authentication message body.
func (s *session) readPassword() ([]byte, error) {
	typ, body, err := pgwire.ReadMessage(s.in, nil, pgwire.MaxAuthMessageLen)
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
	pw, err := cString(body)
	if err == nil && pw == "" {
		// PostgreSQL's answer: an empty password is never checked.
		return "", &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeInvalidPassword,
			Message: "empty password returned by client"}
	}
	return pw, err
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

// scram runs SCRAM-SHA-256 against v, offering SCRAM-SHA-256-PLUS on a
// TLS connection, and returns the client's ClientKey recovered from its
// proof. doomed makes the exchange fail at the end whatever the client
// sends (unknown user, unusable secret).
func (a *Authenticator) scram(s *session, v *auth.Verifier, user string, doomed bool) ([]byte, error) {
	sess := auth.NewServerSession(v, s.binding)
	var list []byte
	for _, m := range sess.Mechanisms() {
		list = append(list, m...)
		list = append(list, 0)
	}
	list = append(list, 0)
	if err := s.sendAuth(authSASL, list); err != nil {
		return nil, err
	}
	body, err := s.readPassword()
	if err != nil {
		return nil, err
	}
	mech, data, err := parseSASLInitial(body)
	if err != nil {
		return nil, err
	}
	first, err := sess.ClientFirst(mech, data)
	if err != nil {
		return nil, scramError(err, user)
	}
	if err := s.sendAuth(authSASLContinue, first); err != nil {
		return nil, err
	}
	body, err = s.readPassword()
	if err != nil {
		return nil, err
	}
	final, err := sess.ClientFinal(body)
	if err != nil {
		return nil, scramError(err, user)
	}
	if doomed {
		return nil, passwordFailed(user)
	}
	return sess.ClientKey(), s.sendAuth(authSASLFinal, final)
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
