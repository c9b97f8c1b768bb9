package auth

import "crypto/subtle"

// PasswordClientKey checks a cleartext password against the verifier, as
// CheckPassword does, and returns the ClientKey it derives, or nil when the
// password is wrong. With the verifier's ServerKey that key logs in to
// PostgreSQL by SCRAM passthrough (NewClientSessionFromKeys), so a
// clear_text login checked against a SCRAM secret needs no password kept
// for the server side. It costs one key derivation, like CheckPassword.
func (v *Verifier) PasswordClientKey(password string) []byte {
	if password == "" || !v.valid() {
		return nil
	}
	salted := saltedPassword(saslPrep(password), v.Salt, v.Iterations)
	ck := clientKey(salted)
	okServer := subtle.ConstantTimeCompare(serverKey(salted), v.ServerKey)
	okStored := subtle.ConstantTimeCompare(storedKey(ck), v.StoredKey)
	if okServer&okStored != 1 {
		return nil
	}
	return ck
}
