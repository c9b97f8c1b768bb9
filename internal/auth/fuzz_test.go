package auth

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/.

// fuzzIterations keeps key stretching cheap so fuzzing explores syntax, not
// PBKDF2.
const fuzzIterations = 2

// checkFuzzErr insists that every failure the peer can cause is an *Error
// with a known kind, so the caller can always pick a SQLSTATE.
func checkFuzzErr(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind < ErrMalformed || e.Kind > ErrServerSignature {
		t.Fatalf("error %v (%T) is not a classified *Error", err, err)
	}
}

func FuzzParseSecret(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s := string(data)
		sec, err := ParseSecret(s)
		if err != nil {
			if sec.Kind != 0 {
				t.Fatalf("error %v with kind %v", err, sec.Kind)
			}
			return
		}
		switch sec.Kind {
		case SecretPlain:
			if sec.Plain != s {
				t.Fatalf("plain %q != input %q", sec.Plain, s)
			}
		case SecretMD5:
			if sec.MD5 != s || !isMD5Secret(s) {
				t.Fatalf("md5 %q from %q", sec.MD5, s)
			}
		case SecretSCRAM:
			v := sec.SCRAM
			again, err := ParseSecret(v.String())
			if err != nil {
				t.Fatalf("String() %q of a parsed verifier does not parse: %v", v.String(), err)
			}
			w := again.SCRAM
			if w.Iterations != v.Iterations || !bytes.Equal(w.Salt, v.Salt) ||
				!bytes.Equal(w.StoredKey, v.StoredKey) || !bytes.Equal(w.ServerKey, v.ServerKey) {
				t.Fatalf("round trip changed the verifier: %+v -> %+v", v, w)
			}
			if v.Iterations > 100 {
				return // checking a password would only measure PBKDF2
			}
		default:
			t.Fatalf("unknown kind %v", sec.Kind)
		}
		// Whatever the secret, these must not panic.
		CheckPassword(sec, "user", "password")
		CheckMD5Response(sec, "user", [4]byte{1, 2, 3, 4}, "md5"+strings.Repeat("0", 32))
	})
}

func FuzzServerClientFirst(f *testing.F) {
	v := NewVerifier("pw", []byte("fuzzsalt"), fuzzIterations)
	cb := bytes.Repeat([]byte{0xcb}, 32)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tc := range []struct {
			mech string
			cb   []byte
		}{
			{MechanismSCRAM, nil},
			{MechanismSCRAM, cb},
			{MechanismSCRAMPlus, cb},
		} {
			s := NewServerSession(v, tc.cb)
			out, err := s.ClientFirst(tc.mech, data)
			if err != nil {
				checkFuzzErr(t, err)
				if out != nil {
					t.Fatal("output along with an error")
				}
				continue
			}
			m, err := parseClientFirst(string(data))
			if err != nil {
				t.Fatalf("accepted %q that does not parse: %v", data, err)
			}
			sf, err := parseServerFirst(string(out))
			if err != nil {
				t.Fatalf("server-first %q does not parse: %v", out, err)
			}
			if !strings.HasPrefix(sf.nonce, m.nonce) || len(sf.nonce) <= len(m.nonce) ||
				sf.iterations != v.Iterations || !bytes.Equal(sf.salt, v.Salt) {
				t.Fatalf("server-first %q does not match client-first %q", out, data)
			}
			if tc.mech == MechanismSCRAMPlus && m.cbFlag != 'p' || tc.mech == MechanismSCRAM && m.cbFlag == 'p' {
				t.Fatalf("%s accepted with flag %c", tc.mech, m.cbFlag)
			}
			if tc.cb != nil && m.cbFlag == 'y' {
				t.Fatal("downgrade accepted")
			}
			// A correct proof for this exchange must then be accepted.
			cbInput := []byte(m.gs2Header)
			if m.cbFlag == 'p' {
				cbInput = append(cbInput, tc.cb...)
			}
			final := clientFinalFor(t, "pw", m.bare, string(out), cbInput, "")
			if _, err := s.ClientFinal(final); err != nil {
				t.Fatalf("correct proof after %q rejected: %v", data, err)
			}
		}
	})
}

func FuzzServerClientFinal(f *testing.F) {
	v := NewVerifier("pw", []byte("fuzzsalt"), fuzzIterations)
	cb := bytes.Repeat([]byte{0xcb}, 32)
	// Correct answers depend on the key derivation, so they are computed
	// here rather than stored: one per kind of session below.
	serverFirst := "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=" + b64(v.Salt) + ",i=" + strconv.Itoa(v.Iterations)
	bare := "n=,r=fyko+d2lbbFgONRv9qkxdawL"
	f.Add(clientFinalFor(f, "pw", bare, serverFirst, []byte("n,,"), ""))
	f.Add(clientFinalFor(f, "pw", bare, serverFirst, []byte("y,,"), ",x=ext"))
	f.Add(clientFinalFor(f, "pw", bare, serverFirst, append([]byte("p=tls-server-end-point,,"), cb...), ""))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tc := range []struct {
			mech, first string
			cb          []byte
		}{
			{MechanismSCRAM, "n,,n=,r=fyko+d2lbbFgONRv9qkxdawL", nil},
			{MechanismSCRAM, "y,,n=,r=fyko+d2lbbFgONRv9qkxdawL", nil},
			{MechanismSCRAMPlus, "p=tls-server-end-point,,n=,r=fyko+d2lbbFgONRv9qkxdawL", cb},
		} {
			s := NewServerSession(v, tc.cb)
			s.nonce = "3rfcNHYJY1ZVvWVs7j"
			if _, err := s.ClientFirst(tc.mech, []byte(tc.first)); err != nil {
				t.Fatal(err)
			}
			out, err := s.ClientFinal(data)
			if err != nil {
				checkFuzzErr(t, err)
				if out != nil || s.ClientKey() != nil {
					t.Fatal("output or key along with an error")
				}
				continue
			}
			// Success must mean the client knew a key hashing to StoredKey,
			// with the right nonce and binding.
			if !bytes.Equal(storedKey(s.ClientKey()), v.StoredKey) {
				t.Fatalf("accepted %q without a valid proof", data)
			}
			m, err := parseClientFinal(string(data))
			if err != nil || m.nonce != "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j" {
				t.Fatalf("accepted %q with a bad nonce", data)
			}
			if !bytes.HasPrefix(out, []byte("v=")) {
				t.Fatalf("server-final %q", out)
			}
		}
	})
}

func FuzzClientServerFirst(f *testing.F) {
	serverKey := bytes.Repeat([]byte{0x5e}, 32)
	ck := bytes.Repeat([]byte{0xc1}, 32)
	f.Fuzz(func(t *testing.T, data []byte) {
		sessions := []*ClientSession{NewClientSessionFromKeys(ck, serverKey)}
		// Only stretch passwords when the server asks for few rounds; a
		// hostile i= would otherwise stall the fuzzer, not find bugs.
		if sf, err := parseServerFirst(string(data)); err == nil && sf.iterations <= 100 {
			sessions = append(sessions, NewClientSession("pw"))
		}
		for _, c := range sessions {
			c.nonce = "fyko+d2lbbFgONRv9qkxdawL"
			c.ClientFirst()
			out, err := c.ServerFirst(data)
			if err != nil {
				checkFuzzErr(t, err)
				if out != nil {
					t.Fatal("output along with an error")
				}
				if c.ServerFinal([]byte("v=AAAA")) == nil {
					t.Fatal("failed session accepted a server-final-message")
				}
				continue
			}
			sf, err := parseServerFirst(string(data))
			if err != nil || !strings.HasPrefix(sf.nonce, c.nonce) || len(sf.nonce) <= len(c.nonce) {
				t.Fatalf("accepted server-first %q", data)
			}
			m, err := parseClientFinal(string(out))
			if err != nil || m.nonce != sf.nonce || m.channelBinding != "biws" {
				t.Fatalf("client-final %q for %q: %v", out, data, err)
			}
			// The only acceptable server-final is the one with the right
			// signature; garbage must fail.
			if err := c.ServerFinal([]byte("v=" + b64(make([]byte, 32)))); err == nil {
				t.Fatal("zero server signature accepted")
			}
		}
	})
}
