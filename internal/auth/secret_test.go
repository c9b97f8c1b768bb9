package auth

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// Verifiers below were produced by PostgreSQL 15 (CREATE ROLE ... PASSWORD
// with password_encryption = 'scram-sha-256'), so they pin our key
// derivation and text format to the real thing.
const (
	pgSecretVerifier = "SCRAM-SHA-256$4096:o6ZuMXD9P1gZrRDoHJF2tw==$S4xEKhqlEf6h/IL7J33qsFL8Cp/tYADL9rt78Iu2yeQ=:3spCzZ5TXYq8CuFH7u9GUMQvZs4PeoSLl3jjS/5ih2w=" // "secret"
	pgPencilVerifier = "SCRAM-SHA-256$4096:8wonxeX118dx5KKAIckKIQ==$HVxr0eL3VDWhArsu/GL/BxhQ3REENX8AlTX7vcEaDP0=:0tkLVdRR7gmQBtGfP6JQGsB8FZ0F5WkUCxSPZtN/fcM=" // "pencil"
	pgUmlautVerifier = "SCRAM-SHA-256$4096:d8cCs3aqAKk5yzGufDPIzQ==$I+422g5Ndbjbss0d+8V9J1CP1f+sD5iAUPdVs9LXmig=:pkI5kcH/P6AsgmvseWVggIoMe61hzLJfQuCkFGShNqc=" // "pässwörd"
	pgNBSPVerifier   = "SCRAM-SHA-256$4096:T4iFdFn1/Ufycps08EhZgA==$XPz51ubW6kIGavvUT+IaFcW5D/eaSgYbVk8v+qcampA=:4Ol7rEFQA3UQdy7vvPhjW/j+nV+ej4XQkbNPDkzZVFY=" // "a\u00a0b"
	pgSpaceVerifier  = "SCRAM-SHA-256$4096:lnlWDYnLQ98h9KZYCi5ctw==$NlAiFzxywMw46ASJtbX09+AEhUy3Cr/P75fkM2mgPxo=:PsKPUwCXuxI8ut6GZjmGeB34No0n+4x8Xh/BmxsOACk=" // "a b"
	pgCarolMD5       = "md594457fe557c13b9133fbdfdff9ec7d66"                                                                                                   // user carol, password "bar"
)

func mustParse(t *testing.T, s string) Secret {
	t.Helper()
	sec, err := ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret(%q): %v", s, err)
	}
	return sec
}

func TestParseSecretKinds(t *testing.T) {
	tests := []struct {
		in   string
		kind SecretKind
	}{
		{"secret", SecretPlain},
		{pgCarolMD5, SecretMD5},
		{"md594457FE557c13b9133fbdfdff9ec7d66", SecretPlain}, // PostgreSQL wants lowercase hex
		{"md594457fe557c13b9133fbdfdff9ec7d6", SecretPlain},  // too short
		{"md594457fe557c13b9133fbdfdff9ec7d666", SecretPlain},
		{"md5", SecretPlain},
		{pgSecretVerifier, SecretSCRAM},
		{"scram-sha-256$4096:AA==$AA==:AA==", SecretPlain}, // scheme is case-sensitive in PostgreSQL
		{"SCRAM-SHA-256", SecretPlain},
	}
	for _, tt := range tests {
		sec := mustParse(t, tt.in)
		if sec.Kind != tt.kind {
			t.Errorf("ParseSecret(%q).Kind = %v, want %v", tt.in, sec.Kind, tt.kind)
		}
		if sec.Kind.String() == "unknown" {
			t.Errorf("kind %d has no name", sec.Kind)
		}
		if got := sec.String(); got != tt.in {
			t.Errorf("ParseSecret(%q).String() = %q", tt.in, got)
		}
	}
}

func TestParseSecretErrors(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	bad := []string{
		"",
		"SCRAM-SHA-256$",
		"SCRAM-SHA-256$4096",
		"SCRAM-SHA-256$4096:c2FsdA==",
		"SCRAM-SHA-256$4096:c2FsdA==$" + key,
		"SCRAM-SHA-256$0:c2FsdA==$" + key + ":" + key,
		"SCRAM-SHA-256$-1:c2FsdA==$" + key + ":" + key,
		"SCRAM-SHA-256$+1:c2FsdA==$" + key + ":" + key,
		"SCRAM-SHA-256$ 1:c2FsdA==$" + key + ":" + key,
		"SCRAM-SHA-256$2147483648:c2FsdA==$" + key + ":" + key,
		"SCRAM-SHA-256$99999999999999999999:c2FsdA==$" + key + ":" + key,
		"SCRAM-SHA-256$4096:c2Fsd!==$" + key + ":" + key,
		"SCRAM-SHA-256$4096:c2FsdA==$" + short + ":" + key,
		"SCRAM-SHA-256$4096:c2FsdA==$" + key + ":" + short,
		"SCRAM-SHA-256$4096:c2FsdA==$" + key + ":" + key + ":",
		"SCRAM-SHA-256$4096:c2FsdA==$" + key + ":" + key + "$",
	}
	for _, s := range bad {
		if sec, err := ParseSecret(s); err == nil {
			t.Errorf("ParseSecret(%q) = %+v, want error", s, sec)
		}
	}
}

func TestVerifierMatchesPostgres(t *testing.T) {
	for _, tt := range []struct{ verifier, password string }{
		{pgSecretVerifier, "secret"},
		{pgPencilVerifier, "pencil"},
		{pgSpaceVerifier, "a b"},
		// Non-ASCII that SASLprep leaves alone: raw bytes agree with PostgreSQL.
		{pgUmlautVerifier, "pässwörd"},
	} {
		sec := mustParse(t, tt.verifier)
		v := sec.SCRAM
		if v.Iterations != 4096 || len(v.Salt) != 16 {
			t.Fatalf("parsed %q as %+v", tt.verifier, v)
		}
		if got := v.String(); got != tt.verifier {
			t.Errorf("String() = %q, want %q", got, tt.verifier)
		}
		if got := NewVerifier(tt.password, v.Salt, 4096).String(); got != tt.verifier {
			t.Errorf("NewVerifier(%q) = %q, want PostgreSQL's %q", tt.password, got, tt.verifier)
		}
		if !CheckPassword(sec, "anyone", tt.password) {
			t.Errorf("CheckPassword(%q) against its verifier = false", tt.password)
		}
		if CheckPassword(sec, "anyone", tt.password+"x") {
			t.Errorf("CheckPassword accepted a wrong password for %q", tt.password)
		}
	}
}

// TestSASLprepDivergence pins the documented limitation: PostgreSQL maps a
// no-break space to a plain space before hashing, we hash the raw bytes.
func TestSASLprepDivergence(t *testing.T) {
	sec := mustParse(t, pgNBSPVerifier)
	if CheckPassword(sec, "erin", "a\u00a0b") {
		t.Error("raw-bytes hashing unexpectedly matched PostgreSQL's SASLprep of a no-break space")
	}
	if !CheckPassword(sec, "erin", "a b") {
		t.Error("PostgreSQL's verifier of a\\u00a0b should be the verifier of \"a b\"")
	}
}

func TestNewVerifierDefaults(t *testing.T) {
	v := NewVerifier("pw", nil, 0)
	if v.Iterations != DefaultIterations || len(v.Salt) != 0 {
		t.Fatalf("NewVerifier defaults: %+v", v)
	}
	sec := mustParse(t, v.String())
	if !CheckPassword(sec, "u", "pw") {
		t.Fatal("empty-salt verifier does not round trip")
	}
	var nilV *Verifier
	if nilV.String() != "" || CheckPassword(Secret{Kind: SecretSCRAM}, "u", "pw") {
		t.Fatal("nil verifier must be inert")
	}
}

func TestCheckPassword(t *testing.T) {
	plain := mustParse(t, "bar")
	md5 := mustParse(t, pgCarolMD5)
	tests := []struct {
		name   string
		secret Secret
		user   string
		pw     string
		want   bool
	}{
		{"plain ok", plain, "carol", "bar", true},
		{"plain wrong", plain, "carol", "baz", false},
		{"plain prefix", plain, "carol", "ba", false},
		{"plain empty", plain, "carol", "", false},
		{"md5 ok", md5, "carol", "bar", true},
		{"md5 wrong user", md5, "carl", "bar", false},
		{"md5 wrong password", md5, "carol", "baz", false},
		{"zero secret", Secret{}, "carol", "bar", false},
		{"empty plain secret", Secret{Kind: SecretPlain}, "carol", "", false},
	}
	for _, tt := range tests {
		if got := CheckPassword(tt.secret, tt.user, tt.pw); got != tt.want {
			t.Errorf("%s: CheckPassword = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestSaltedPasswordIsPBKDF2 cross-checks our Hi() against the standard
// library's PBKDF2.
func TestSaltedPasswordIsPBKDF2(t *testing.T) {
	for _, iter := range []int{1, 2, 3, 4096} {
		for _, salt := range [][]byte{{1, 2, 3, 4}, bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{9}, 32)} {
			want, err := pbkdf2.Key(sha256.New, "pencil", salt, iter, 32)
			if err != nil {
				t.Fatal(err)
			}
			if got := saltedPassword([]byte("pencil"), salt, iter); !bytes.Equal(got, want) {
				t.Errorf("saltedPassword(iter=%d, salt=%x) = %x, want %x", iter, salt, got, want)
			}
		}
	}
}

func TestMockVerifier(t *testing.T) {
	key1 := bytes.Repeat([]byte{1}, 32)
	key2 := bytes.Repeat([]byte{2}, 32)
	a := MockVerifier(key1, "alice")
	if again := MockVerifier(key1, "alice"); again.String() != a.String() {
		t.Fatal("mock verifier is not deterministic")
	}
	if a.Iterations != DefaultIterations || len(a.Salt) != 16 || len(a.StoredKey) != 32 || len(a.ServerKey) != 32 {
		t.Fatalf("mock verifier does not look like PostgreSQL's: %+v", a)
	}
	if b := MockVerifier(key1, "bob"); bytes.Equal(a.Salt, b.Salt) {
		t.Fatal("different users share a mock salt")
	}
	if c := MockVerifier(key2, "alice"); bytes.Equal(a.Salt, c.Salt) {
		t.Fatal("mock salt does not depend on the key")
	}
	if bytes.Equal(a.StoredKey, a.ServerKey) || bytes.Equal(a.Salt, a.StoredKey[:16]) {
		t.Fatal("mock keys are not independent")
	}
	if _, err := ParseSecret(a.String()); err != nil {
		t.Fatalf("mock verifier does not parse: %v", err)
	}
}
