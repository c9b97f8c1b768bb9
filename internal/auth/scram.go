package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"strings"
)

const (
	// MechanismSCRAM is the SASL mechanism without channel binding.
	MechanismSCRAM = "SCRAM-SHA-256"
	// MechanismSCRAMPlus is the SASL mechanism with channel binding; the
	// only binding type PostgreSQL (and so the pooler) supports is
	// tls-server-end-point.
	MechanismSCRAMPlus = "SCRAM-SHA-256-PLUS"
	// ChannelBindingType is the name the client puts after "p=".
	ChannelBindingType = "tls-server-end-point"

	// DefaultIterations is PostgreSQL's default scram_iterations, used by
	// NewVerifier when given none and by MockVerifier.
	DefaultIterations = 4096

	// verifierScheme starts the text form of a verifier.
	verifierScheme = "SCRAM-SHA-256"
	// keyLen is the size of every SCRAM-SHA-256 key, proof and signature.
	keyLen = sha256.Size
	// rawNonceLen is how many random bytes go into our half of a nonce,
	// the same as PostgreSQL's SCRAM_RAW_NONCE_LEN.
	rawNonceLen = 18
	// mockSaltLen is the salt length PostgreSQL uses for new verifiers, and
	// so what a made-up verifier must look like.
	mockSaltLen = 16
	// maxIterations keeps iteration counts within PostgreSQL's int.
	maxIterations = math.MaxInt32
)

// Verifier is a SCRAM-SHA-256 verifier, what PostgreSQL stores instead of a
// password. It lets a server check a client's proof and prove itself to the
// client, but not compute a proof, so a leaked verifier alone does not let
// anyone log in. (A recovered ClientKey together with the ServerKey does,
// which is what SCRAM passthrough relies on.)
type Verifier struct {
	Iterations int
	Salt       []byte
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte
}

// NewVerifier derives a verifier from a password, the way PostgreSQL does on
// CREATE ROLE ... PASSWORD. A non-positive iteration count means
// DefaultIterations, as in PostgreSQL's scram_build_secret. The salt is
// used as given (any length, even empty); callers creating new verifiers
// should pass 16 bytes from crypto/rand.
func NewVerifier(password string, salt []byte, iterations int) *Verifier {
	if iterations <= 0 {
		iterations = DefaultIterations
	}
	salted := saltedPassword(saslPrep(password), salt, iterations)
	return &Verifier{
		Iterations: iterations,
		Salt:       append([]byte{}, salt...),
		StoredKey:  storedKey(clientKey(salted)),
		ServerKey:  serverKey(salted),
	}
}

// String returns PostgreSQL's text form of the verifier:
// SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>.
func (v *Verifier) String() string {
	if v == nil {
		return ""
	}
	b64 := base64.StdEncoding.EncodeToString
	return verifierScheme + "$" + strconv.Itoa(v.Iterations) + ":" + b64(v.Salt) +
		"$" + b64(v.StoredKey) + ":" + b64(v.ServerKey)
}

// ParseVerifier reads PostgreSQL's text form of a verifier. It follows
// parse_scram_secret: the salt may have any length, both keys must be
// exactly 32 bytes. It is stricter about the iteration count, which must be
// a decimal number from 1 to 2^31-1, because PostgreSQL's own client refuses
// anything else during the exchange.
func ParseVerifier(s string) (*Verifier, error) {
	invalid := errors.New("auth: invalid SCRAM-SHA-256 verifier")
	rest, ok := strings.CutPrefix(s, verifierScheme+"$")
	if !ok {
		return nil, invalid
	}
	iterStr, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, invalid
	}
	saltStr, rest, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, invalid
	}
	storedStr, serverStr, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, invalid
	}
	iterations, ok := parseIterations(iterStr)
	if !ok {
		return nil, errors.New("auth: invalid iteration count in SCRAM-SHA-256 verifier")
	}
	salt, err := base64.StdEncoding.DecodeString(saltStr)
	if err != nil {
		return nil, errors.New("auth: invalid salt in SCRAM-SHA-256 verifier")
	}
	stored, err := base64.StdEncoding.DecodeString(storedStr)
	if err != nil || len(stored) != keyLen {
		return nil, errors.New("auth: invalid StoredKey in SCRAM-SHA-256 verifier")
	}
	server, err := base64.StdEncoding.DecodeString(serverStr)
	if err != nil || len(server) != keyLen {
		return nil, errors.New("auth: invalid ServerKey in SCRAM-SHA-256 verifier")
	}
	return &Verifier{Iterations: iterations, Salt: salt, StoredKey: stored, ServerKey: server}, nil
}

// valid reports whether the verifier can take part in an exchange; only a
// hand-built Verifier can fail this, ParseVerifier and NewVerifier never
// produce one that does.
func (v *Verifier) valid() bool {
	return v != nil && v.Iterations >= 1 && len(v.StoredKey) == keyLen && len(v.ServerKey) == keyLen
}

// checkPassword derives both keys from a cleartext password and compares
// them with the verifier, for clear_text authentication against a SCRAM
// secret. PostgreSQL compares only ServerKey; checking StoredKey as well
// costs two HMACs and rejects a verifier whose halves disagree.
func (v *Verifier) checkPassword(password string) bool {
	if !v.valid() {
		return false
	}
	salted := saltedPassword(saslPrep(password), v.Salt, v.Iterations)
	okServer := subtle.ConstantTimeCompare(serverKey(salted), v.ServerKey)
	okStored := subtle.ConstantTimeCompare(storedKey(clientKey(salted)), v.StoredKey)
	return okServer&okStored == 1
}

// MockVerifier makes up a verifier for a user that does not exist (or has no
// usable secret), so that the exchange looks exactly like a real one and an
// attacker cannot probe for user names. Like PostgreSQL's scram_mock_salt,
// the salt is deterministic per user, otherwise asking twice would reveal
// the fake. The keys are derived from a per-user HMAC too; nobody knows a
// ClientKey that hashes to that StoredKey, so the proof always fails.
//
// mockKey must be secret and random, generated once per process by the
// caller; if it were known, the fake salts could be predicted.
func MockVerifier(mockKey []byte, user string) *Verifier {
	perUser := hmacSHA256(mockKey, []byte(user))
	return &Verifier{
		Iterations: DefaultIterations,
		Salt:       perUser[:mockSaltLen],
		StoredKey:  hmacSHA256(perUser, []byte("StoredKey")),
		ServerKey:  hmacSHA256(perUser, []byte("ServerKey")),
	}
}

// saslPrep returns the bytes that SCRAM hashes for a password.
//
// RFC 5802 wants the password normalised with SASLprep (RFC 4013).
// PostgreSQL does so when it can and otherwise, when the password is not
// valid UTF-8 or contains prohibited characters, hashes the raw bytes,
// since passwords need not be UTF-8 at all. An ASCII password is left
// alone by SASLprep in PostgreSQL's implementation, so for ASCII we match
// PostgreSQL exactly.
//
// For non-ASCII we always use the raw bytes, because a faithful SASLprep
// needs Unicode 3.2 normalisation tables that the standard library does not
// have. This gives the same result as PostgreSQL whenever SASLprep would
// fail or would not change the password (already NFKC-normalised text
// without non-ASCII spaces or "mapped to nothing" characters, which is
// what people type). A password containing, say, a no-break space or a
// decomposed accent will hash differently from PostgreSQL's verifier of the
// same password; such a user needs the verifier copied from PostgreSQL
// rather than a cleartext password in the config.
func saslPrep(password string) []byte {
	return []byte(password)
}

// saltedPassword is SCRAM's Hi(), which is PBKDF2-HMAC-SHA-256 producing one
// 32-byte block. The HMAC is keyed once and reset between rounds, which
// matters at tens of thousands of iterations.
func saltedPassword(password, salt []byte, iterations int) []byte {
	mac := hmac.New(sha256.New, password)
	mac.Write(salt)
	mac.Write([]byte{0, 0, 0, 1})
	u := mac.Sum(nil)
	out := append([]byte{}, u...)
	for i := 1; i < iterations; i++ {
		mac.Reset()
		mac.Write(u)
		u = mac.Sum(u[:0])
		subtle.XORBytes(out, out, u)
	}
	return out
}

func clientKey(salted []byte) []byte { return hmacSHA256(salted, []byte("Client Key")) }
func serverKey(salted []byte) []byte { return hmacSHA256(salted, []byte("Server Key")) }

func storedKey(clientKey []byte) []byte {
	sum := sha256.Sum256(clientKey)
	return sum[:]
}

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	mac := hmac.New(sha256.New, key)
	for _, p := range parts {
		mac.Write(p)
	}
	return mac.Sum(nil)
}

// authMessage is what both signatures sign: the three messages that make up
// the exchange, minus the proof itself.
func authMessage(clientFirstBare, serverFirst, clientFinalWithoutProof string) []byte {
	return []byte(clientFirstBare + "," + serverFirst + "," + clientFinalWithoutProof)
}

// newNonce returns our half of a nonce: rawNonceLen random bytes in base64,
// which is printable and never contains a comma.
func newNonce() string {
	raw := make([]byte, rawNonceLen)
	// crypto/rand.Read never fails on supported platforms; it crashes the
	// program rather than return predictable bytes.
	_, _ = rand.Read(raw)
	return base64.StdEncoding.EncodeToString(raw)
}

// parseIterations reads a positive decimal iteration count: digits only (no
// sign, no spaces), at least 1 and at most 2^31-1.
func parseIterations(s string) (int, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n < 1 || n > maxIterations {
		return 0, false
	}
	return int(n), true
}
