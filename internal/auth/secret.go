// Package auth holds the password cryptography of the pooler: PostgreSQL's
// md5 scheme and SCRAM-SHA-256 (RFC 5802 and RFC 7677, with PostgreSQL's
// conventions) in both roles, as the server that authenticates clients and
// as the client that logs in to PostgreSQL.
//
// It knows nothing about the wire protocol: callers move the SASL payloads
// in and out of pgproto3 messages and turn errors into ErrorResponses
// (see ErrorKind.SQLState). Sessions are single-use and not safe for
// concurrent use; everything else is stateless.
package auth

import (
	"errors"
	"strings"
)

// SecretKind says how a stored credential is represented.
type SecretKind int

const (
	// SecretPlain is a cleartext password. It can answer every method.
	SecretPlain SecretKind = iota + 1
	// SecretMD5 is PostgreSQL's "md5..." hash. It can answer md5 and
	// cleartext checks, not SCRAM.
	SecretMD5
	// SecretSCRAM is a SCRAM-SHA-256 verifier. It can answer SCRAM and
	// cleartext checks, not md5.
	SecretSCRAM
)

func (k SecretKind) String() string {
	switch k {
	case SecretPlain:
		return "plain"
	case SecretMD5:
		return "md5"
	case SecretSCRAM:
		return "scram-sha-256"
	default:
		return "unknown"
	}
}

// Secret is a stored credential: the `password` of a config rule, or later a
// row returned by auth_query. Exactly one of Plain, MD5 and SCRAM is set,
// according to Kind.
type Secret struct {
	Kind  SecretKind
	Plain string
	MD5   string // "md5" + 32 lowercase hex digits
	SCRAM *Verifier
}

// ParseSecret classifies a stored credential the way PostgreSQL classifies
// pg_authid.rolpassword: "md5" followed by 32 lowercase hex digits is an md5
// hash, "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>" is a
// SCRAM verifier, anything else is a cleartext password.
//
// Two deliberate differences from PostgreSQL: an empty string is an error
// (PostgreSQL would refuse to log anyone in with it anyway), and a string
// that starts like a SCRAM verifier but does not parse is an error rather
// than a cleartext password, because in a config file that is almost
// certainly a copy-and-paste mistake that would otherwise fail silently.
func ParseSecret(s string) (Secret, error) {
	switch {
	case s == "":
		return Secret{}, errors.New("auth: empty password")
	case isMD5Secret(s):
		return Secret{Kind: SecretMD5, MD5: s}, nil
	case strings.HasPrefix(s, verifierScheme+"$"):
		v, err := ParseVerifier(s)
		if err != nil {
			return Secret{}, err
		}
		return Secret{Kind: SecretSCRAM, SCRAM: v}, nil
	default:
		return Secret{Kind: SecretPlain, Plain: s}, nil
	}
}

// String returns the secret in the form ParseSecret reads. It is the secret
// itself, so never log it.
func (s Secret) String() string {
	switch s.Kind {
	case SecretPlain:
		return s.Plain
	case SecretMD5:
		return s.MD5
	case SecretSCRAM:
		return s.SCRAM.String()
	default:
		return ""
	}
}

// CheckPassword reports whether a cleartext password (from a
// PasswordMessage, for `authentication clear_text`) matches the secret. An
// md5 secret is checked by hashing the password with the user name, a SCRAM
// verifier by deriving its keys from the password and the verifier's salt.
//
// An empty password never matches: PostgreSQL rejects it before looking at
// the secret, and so should the pooler.
func CheckPassword(secret Secret, user, password string) bool {
	if password == "" {
		return false
	}
	switch secret.Kind {
	case SecretPlain:
		return secret.Plain != "" && equalHidingLength(secret.Plain, password)
	case SecretMD5:
		return isMD5Secret(secret.MD5) && equalHidingLength(secret.MD5, MD5Hash(user, password))
	case SecretSCRAM:
		return secret.SCRAM.checkPassword(password)
	default:
		return false
	}
}
