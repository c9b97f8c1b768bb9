package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// md5Prefix starts every md5 secret and every md5 password response.
const md5Prefix = "md5"

// md5Len is the length of "md5" followed by 32 lowercase hex digits.
const md5Len = len(md5Prefix) + 2*md5.Size

// MD5Hash returns the form PostgreSQL stores for an md5 password:
// "md5" + hex(md5(password + user)). The user name is the salt, which is why
// renaming a role invalidates its md5 password.
func MD5Hash(user, password string) string {
	return md5Hex(password, user)
}

// MD5Response computes what a client sends in reply to
// AuthenticationMD5Password: "md5" + hex(md5(hexdigest + salt)), where
// hexdigest is md5Hash without its "md5" prefix. Taking the stored form means
// both the pooler-as-server (checking a client) and the pooler-as-client
// (logging in with an md5 secret, without ever knowing the password) use the
// same function.
func MD5Response(md5Hash string, salt [4]byte) string {
	return md5Hex(strings.TrimPrefix(md5Hash, md5Prefix), string(salt[:]))
}

// CheckMD5Response reports whether response is the right answer to an
// AuthenticationMD5Password challenge carrying salt. It works with a plain or
// md5 secret; a SCRAM verifier cannot answer md5 challenges, so it returns
// false for it, like PostgreSQL does.
func CheckMD5Response(secret Secret, user string, salt [4]byte, response string) bool {
	var stored string
	switch secret.Kind {
	case SecretPlain:
		if secret.Plain == "" {
			return false
		}
		stored = MD5Hash(user, secret.Plain)
	case SecretMD5:
		if !isMD5Secret(secret.MD5) {
			return false
		}
		stored = secret.MD5
	default:
		return false
	}
	return equalHidingLength(MD5Response(stored, salt), response)
}

// isMD5Secret applies PostgreSQL's rule for recognising an md5 secret:
// "md5" followed by exactly 32 lowercase hex digits. Anything else, even
// with uppercase digits, is a plaintext password to PostgreSQL.
func isMD5Secret(s string) bool {
	if len(s) != md5Len || !strings.HasPrefix(s, md5Prefix) {
		return false
	}
	for _, c := range []byte(s[len(md5Prefix):]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func md5Hex(a, b string) string {
	h := md5.New()
	h.Write([]byte(a))
	h.Write([]byte(b))
	return md5Prefix + hex.EncodeToString(h.Sum(nil))
}

// equalHidingLength compares two strings in constant time. Hashing both
// first keeps the comparison from revealing the length of the expected
// value, which subtle.ConstantTimeCompare alone would.
func equalHidingLength(a, b string) bool {
	ha := sha256.Sum256([]byte(a))
	hb := sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
