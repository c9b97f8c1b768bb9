package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// The SCRAM-SHA-256 example exchange of RFC 7677, section 3.
const (
	rfcPassword    = "pencil"
	rfcUser        = "user"
	rfcClientNonce = "rOprNGfwEbeRWgbNEkqO"
	rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	rfcSalt        = "W22ZaJ0SNY7soEsUEjb6gQ=="
	rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

func rfcVerifier(t testing.TB) *Verifier {
	t.Helper()
	salt, err := base64.StdEncoding.DecodeString(rfcSalt)
	if err != nil {
		t.Fatal(err)
	}
	return NewVerifier(rfcPassword, salt, 4096)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// wantKind fails unless err is an *Error of the given kind.
func wantKind(t *testing.T, err error, kind ErrorKind) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != kind || !errors.Is(err, kind) {
		t.Fatalf("error = %v, want kind %v", err, kind)
	}
}

func TestRFC7677Client(t *testing.T) {
	c := NewClientSession(rfcPassword)
	c.nonce = rfcClientNonce
	c.user = rfcUser
	if got := string(c.ClientFirst()); got != rfcClientFirst {
		t.Fatalf("ClientFirst = %q, want %q", got, rfcClientFirst)
	}
	final, err := c.ServerFirst([]byte(rfcServerFirst))
	if err != nil {
		t.Fatal(err)
	}
	if string(final) != rfcClientFinal {
		t.Fatalf("client final = %q, want %q", final, rfcClientFinal)
	}
	if err := c.ServerFinal([]byte(rfcServerFinal)); err != nil {
		t.Fatal(err)
	}
}

func TestRFC7677Server(t *testing.T) {
	v := rfcVerifier(t)
	s := NewServerSession(v, nil)
	s.nonce = rfcServerNonce
	if got := s.Mechanisms(); !slices.Equal(got, []string{"SCRAM-SHA-256"}) {
		t.Fatalf("Mechanisms = %q", got)
	}
	if s.ClientKey() != nil {
		t.Fatal("ClientKey before the exchange")
	}
	first, err := s.ClientFirst(MechanismSCRAM, []byte(rfcClientFirst))
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != rfcServerFirst {
		t.Fatalf("server first = %q, want %q", first, rfcServerFirst)
	}
	final, err := s.ClientFinal([]byte(rfcClientFinal))
	if err != nil {
		t.Fatal(err)
	}
	if string(final) != rfcServerFinal {
		t.Fatalf("server final = %q, want %q", final, rfcServerFinal)
	}
	salt, _ := base64.StdEncoding.DecodeString(rfcSalt)
	want := clientKey(saltedPassword([]byte(rfcPassword), salt, 4096))
	if got := s.ClientKey(); !bytes.Equal(got, want) {
		t.Fatalf("ClientKey = %x, want %x", got, want)
	}
}

// exchange runs a full client/server conversation and returns the server's
// session and the first error.
func exchange(c *ClientSession, v *Verifier) (*ServerSession, error) {
	s := NewServerSession(v, nil)
	first, err := s.ClientFirst(MechanismSCRAM, c.ClientFirst())
	if err != nil {
		return s, fmt.Errorf("server ClientFirst: %w", err)
	}
	final, err := c.ServerFirst(first)
	if err != nil {
		return s, fmt.Errorf("client ServerFirst: %w", err)
	}
	last, err := s.ClientFinal(final)
	if err != nil {
		return s, fmt.Errorf("server ClientFinal: %w", err)
	}
	if err := c.ServerFinal(last); err != nil {
		return s, fmt.Errorf("client ServerFinal: %w", err)
	}
	return s, nil
}

func TestRoundTrip(t *testing.T) {
	for _, saltLen := range []int{0, 4, 16, 32} {
		for _, iter := range []int{1, 10000} {
			salt := bytes.Repeat([]byte{byte(saltLen + 1)}, saltLen)
			v := NewVerifier("correct horse", salt, iter)
			name := fmt.Sprintf("salt%d/iter%d", saltLen, iter)
			t.Run(name, func(t *testing.T) {
				s, err := exchange(NewClientSession("correct horse"), v)
				if err != nil {
					t.Fatalf("good password: %v", err)
				}
				if k := s.ClientKey(); !bytes.Equal(storedKey(k), v.StoredKey) {
					t.Fatal("recovered ClientKey does not hash to StoredKey")
				}
				s, err = exchange(NewClientSession("correct horse!"), v)
				wantKind(t, err, ErrWrongPassword)
				if s.ClientKey() != nil {
					t.Fatal("ClientKey after a failed exchange")
				}
			})
		}
	}
}

func TestPassthrough(t *testing.T) {
	v := NewVerifier("s3cret", []byte("0123456789abcdef"), 4096)
	front, err := exchange(NewClientSession("s3cret"), v)
	if err != nil {
		t.Fatal(err)
	}
	// The pooler now logs in to "PostgreSQL" (a second server session with
	// the same verifier) without the password.
	back := NewClientSessionFromKeys(front.ClientKey(), v.ServerKey)
	if _, err := exchange(back, v); err != nil {
		t.Fatalf("passthrough login: %v", err)
	}
	// A different server with a different verifier for the same password
	// (another salt) cannot be logged in to with these keys.
	other := NewVerifier("s3cret", []byte("fedcba9876543210"), 4096)
	_, err = exchange(NewClientSessionFromKeys(front.ClientKey(), v.ServerKey), other)
	wantKind(t, err, ErrWrongPassword)

	// Keys of the wrong size are refused by the client, not sent.
	c := NewClientSessionFromKeys([]byte("short"), v.ServerKey)
	if _, err := exchange(c, v); err == nil {
		t.Fatal("short ClientKey accepted")
	}
}

func TestMockVerifierExchange(t *testing.T) {
	mock := MockVerifier(bytes.Repeat([]byte{42}, 32), "nobody")
	_, err := exchange(NewClientSession(""), mock)
	wantKind(t, err, ErrWrongPassword)
	_, err = exchange(NewClientSession("guess"), mock)
	wantKind(t, err, ErrWrongPassword)
}

// plusFinal performs the client side of SCRAM-SHA-256-PLUS (which the
// ClientSession does not implement) with the given GS2 header and binding
// data, returning the client-final-message.
func plusFinal(t *testing.T, s *ServerSession, mechanism, gs2 string, cbData []byte, password string) ([]byte, error) {
	t.Helper()
	bare := "n=,r=clientnonce"
	first, err := s.ClientFirst(mechanism, []byte(gs2+bare))
	if err != nil {
		return nil, err
	}
	return clientFinalFor(t, password, bare, string(first), append([]byte(gs2), cbData...), ""), nil
}

// clientFinalFor computes a client-final-message from first principles,
// with optional extensions between nonce and proof.
func clientFinalFor(t testing.TB, password, clientFirstBare, serverFirst string, cbInput []byte, ext string) []byte {
	t.Helper()
	sf, err := parseServerFirst(serverFirst)
	if err != nil {
		t.Fatal(err)
	}
	ck := clientKey(saltedPassword([]byte(password), sf.salt, sf.iterations))
	without := "c=" + b64(cbInput) + ",r=" + sf.nonce + ext
	proof := hmacSHA256(storedKey(ck), authMessage(clientFirstBare, serverFirst, without))
	for i := range proof {
		proof[i] ^= ck[i]
	}
	return []byte(without + ",p=" + b64(proof))
}

func TestChannelBinding(t *testing.T) {
	v := NewVerifier("pw", []byte("saltsalt"), 2)
	cb := sha256.New().Sum([]byte("certificate hash"))
	const gs2Plus = "p=tls-server-end-point,,"

	s := NewServerSession(v, cb)
	if got := s.Mechanisms(); !slices.Equal(got, []string{MechanismSCRAMPlus, MechanismSCRAM}) {
		t.Fatalf("Mechanisms = %q", got)
	}
	final, err := plusFinal(t, s, MechanismSCRAMPlus, gs2Plus, cb, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClientFinal(final); err != nil {
		t.Fatalf("PLUS exchange: %v", err)
	}

	// Binding data from another connection (a man in the middle).
	s = NewServerSession(v, cb)
	final, err = plusFinal(t, s, MechanismSCRAMPlus, gs2Plus, []byte("other certificate"), "pw")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ClientFinal(final)
	wantKind(t, err, ErrChannelBinding)

	// Wrong password with correct binding is still a wrong password.
	s = NewServerSession(v, cb)
	final, _ = plusFinal(t, s, MechanismSCRAMPlus, gs2Plus, cb, "wrong")
	_, err = s.ClientFinal(final)
	wantKind(t, err, ErrWrongPassword)

	// Plain SCRAM on a TLS connection is fine with "n".
	s = NewServerSession(v, cb)
	final, _ = plusFinal(t, s, MechanismSCRAM, "n,,", nil, "pw")
	if _, err := s.ClientFinal(final); err != nil {
		t.Fatalf("SCRAM-SHA-256 over TLS: %v", err)
	}

	// "y" means "I could bind, but you can't": a downgrade when we can.
	s = NewServerSession(v, cb)
	_, err = plusFinal(t, s, MechanismSCRAM, "y,,", nil, "pw")
	wantKind(t, err, ErrChannelBinding)

	// Without TLS, "y" is legitimate and c= must then be "eSws".
	s = NewServerSession(v, nil)
	final, err = plusFinal(t, s, MechanismSCRAM, "y,,", nil, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(final, []byte("c=eSws,")) {
		t.Fatalf("unexpected final %q", final)
	}
	if _, err := s.ClientFinal(final); err != nil {
		t.Fatalf("y flag without TLS: %v", err)
	}

	// An empty authzid is the same as none, and is bound into c=.
	s = NewServerSession(v, nil)
	final, _ = plusFinal(t, s, MechanismSCRAM, "n,a=,", nil, "pw")
	if _, err := s.ClientFinal(final); err != nil {
		t.Fatalf("empty authzid: %v", err)
	}
}

func TestClientFinalExtensions(t *testing.T) {
	v := NewVerifier("pw", []byte("salt"), 1)
	s := NewServerSession(v, nil)
	first, err := s.ClientFirst(MechanismSCRAM, []byte("n,,n=,r=abc,x=first-ext"))
	if err != nil {
		t.Fatal(err)
	}
	final := clientFinalFor(t, "pw", "n=,r=abc,x=first-ext", string(first), []byte("n,,"), ",x=ext,y=more")
	if _, err := s.ClientFinal(final); err != nil {
		t.Fatalf("extensions before the proof: %v", err)
	}
}

func TestServerStateMachine(t *testing.T) {
	v := NewVerifier("pw", []byte("salt"), 1)

	s := NewServerSession(v, nil)
	_, err := s.ClientFinal([]byte("c=biws,r=x,p=" + b64(make([]byte, 32))))
	wantKind(t, err, ErrMalformed)

	s = NewServerSession(v, nil)
	if _, err := s.ClientFirst(MechanismSCRAM, []byte("n,,n=,r=abc")); err != nil {
		t.Fatal(err)
	}
	_, err = s.ClientFirst(MechanismSCRAM, []byte("n,,n=,r=abc"))
	wantKind(t, err, ErrMalformed)
	// A failed session stays failed.
	_, err = s.ClientFinal([]byte("c=biws,r=abc,p=" + b64(make([]byte, 32))))
	wantKind(t, err, ErrMalformed)

	// A finished session accepts nothing more.
	c := NewClientSession("pw")
	s, err = exchange(c, v)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ClientFinal([]byte("c=biws,r=abc,p=" + b64(make([]byte, 32))))
	wantKind(t, err, ErrMalformed)

	// Unusable verifiers are a programming error, not the client's fault.
	for _, bad := range []*Verifier{nil, {Iterations: 1}, {Iterations: 0, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)}} {
		s = NewServerSession(bad, nil)
		_, err = s.ClientFirst(MechanismSCRAM, []byte("n,,n=,r=abc"))
		var e *Error
		if err == nil || errors.As(err, &e) {
			t.Fatalf("verifier %+v: error %v", bad, err)
		}
	}
}

func TestClientStateMachine(t *testing.T) {
	c := NewClientSession("pw")
	_, err := c.ServerFirst([]byte("r=abc,s=c2FsdA==,i=1"))
	wantKind(t, err, ErrMalformed)

	c = NewClientSession("pw")
	c.ClientFirst()
	wantKind(t, c.ServerFinal([]byte("v="+b64(make([]byte, 32)))), ErrMalformed)

	c = NewClientSession("pw")
	if a, b := string(c.ClientFirst()), string(c.ClientFirst()); a != b {
		t.Fatalf("ClientFirst changed between calls: %q, %q", a, b)
	}
}

func TestClientServerFirstErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		kind ErrorKind
	}{
		{"empty", "", ErrMalformed},
		{"NUL", "r=abcdef,s=c2FsdA==,i=1\x00", ErrMalformed},
		{"nonce not extended", "r=abc,s=c2FsdA==,i=1", ErrMalformed},
		{"nonce replaced", "r=xyzdef,s=c2FsdA==,i=1", ErrMalformed},
		{"nonce shorter", "r=ab,s=c2FsdA==,i=1", ErrMalformed},
		{"nonce unprintable", "r=abc\x7f,s=c2FsdA==,i=1", ErrMalformed},
		{"mandatory extension", "m=x,r=abcdef,s=c2FsdA==,i=1", ErrUnsupported},
		{"missing salt", "r=abcdef,i=1", ErrMalformed},
		{"missing iterations", "r=abcdef,s=c2FsdA==", ErrMalformed},
		{"bad salt", "r=abcdef,s=c2Fsd!==,i=1", ErrMalformed},
		{"zero iterations", "r=abcdef,s=c2FsdA==,i=0", ErrMalformed},
		{"negative iterations", "r=abcdef,s=c2FsdA==,i=-1", ErrMalformed},
		{"huge iterations", "r=abcdef,s=c2FsdA==,i=4294967296", ErrMalformed},
		{"trailing comma", "r=abcdef,s=c2FsdA==,i=1,", ErrMalformed},
		{"swapped", "s=c2FsdA==,r=abcdef,i=1", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClientSession("pw")
			c.nonce = "abc"
			c.ClientFirst()
			_, err := c.ServerFirst([]byte(tt.msg))
			wantKind(t, err, tt.kind)
		})
	}

	// Extensions after the iteration count are allowed by RFC 5802.
	c := NewClientSession("pw")
	c.nonce = "abc"
	c.ClientFirst()
	if _, err := c.ServerFirst([]byte("r=abcdef,s=c2FsdA==,i=1,x=ext")); err != nil {
		t.Fatalf("extension: %v", err)
	}
}

func TestClientServerFinalErrors(t *testing.T) {
	v := NewVerifier("pw", []byte("salt"), 1)
	tests := []struct {
		name string
		msg  string
		kind ErrorKind
	}{
		{"invalid proof", "e=invalid-proof", ErrWrongPassword},
		{"other error", "e=other-error", ErrServerRejected},
		{"wrong signature", "v=" + b64(make([]byte, 32)), ErrServerSignature},
		{"short signature", "v=" + b64(make([]byte, 31)), ErrMalformed},
		{"bad base64", "v=!!!!", ErrMalformed},
		{"empty", "", ErrMalformed},
		{"no attribute", "x", ErrMalformed},
		{"unknown attribute", "x=1", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClientSession("pw")
			s := NewServerSession(v, nil)
			first, err := s.ClientFirst(MechanismSCRAM, c.ClientFirst())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.ServerFirst(first); err != nil {
				t.Fatal(err)
			}
			wantKind(t, c.ServerFinal([]byte(tt.msg)), tt.kind)
		})
	}
}

func TestServerClientFirstMalformed(t *testing.T) {
	cb := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name string
		mech string
		cb   []byte
		msg  string
		kind ErrorKind // 0 means success
	}{
		{"ok", MechanismSCRAM, nil, "n,,n=,r=abc", 0},
		{"ok with user and extension", MechanismSCRAM, nil, "n,,n=someone,r=abc,x=ext", 0},
		{"empty authzid", MechanismSCRAM, nil, "n,a=,n=,r=abc", 0},
		{"y without TLS", MechanismSCRAM, nil, "y,,n=,r=abc", 0},
		{"PLUS ok", MechanismSCRAMPlus, cb, "p=tls-server-end-point,,n=,r=abc", 0},
		{"empty", MechanismSCRAM, nil, "", ErrMalformed},
		{"NUL", MechanismSCRAM, nil, "n,,n=,r=a\x00bc", ErrMalformed},
		{"flag only", MechanismSCRAM, nil, "n", ErrMalformed},
		{"half header", MechanismSCRAM, nil, "n,", ErrMalformed},
		{"bad flag", MechanismSCRAM, nil, "x,,n=,r=abc", ErrMalformed},
		{"long flag", MechanismSCRAM, nil, "nn,,n=,r=abc", ErrMalformed},
		{"missing username", MechanismSCRAM, nil, "n,,r=abc", ErrMalformed},
		{"uppercase N", MechanismSCRAM, nil, "n,,N=,r=abc", ErrMalformed},
		{"missing nonce", MechanismSCRAM, nil, "n,,n=", ErrMalformed},
		{"missing bare", MechanismSCRAM, nil, "n,,", ErrMalformed},
		{"empty nonce", MechanismSCRAM, nil, "n,,n=,r=", ErrMalformed},
		{"unprintable nonce", MechanismSCRAM, nil, "n,,n=,r=a\x01c", ErrMalformed},
		{"space in nonce", MechanismSCRAM, nil, "n,,n=,r=a c", ErrMalformed},
		{"non-ASCII nonce", MechanismSCRAM, nil, "n,,n=,r=abcé", ErrMalformed},
		{"trailing comma", MechanismSCRAM, nil, "n,,n=,r=abc,", ErrMalformed},
		{"bad extension", MechanismSCRAM, nil, "n,,n=,r=abc,1=x", ErrMalformed},
		{"bare extension", MechanismSCRAM, nil, "n,,n=,r=abc,x", ErrMalformed},
		{"mandatory extension", MechanismSCRAM, nil, "n,,m=ext,n=,r=abc", ErrUnsupported},
		{"authzid", MechanismSCRAM, nil, "n,a=bob,n=,r=abc", ErrUnsupported},
		{"other gs2 attribute", MechanismSCRAM, nil, "n,b=bob,n=,r=abc", ErrMalformed},
		{"unknown mechanism", "SCRAM-SHA-1", nil, "n,,n=,r=abc", ErrMalformed},
		{"empty mechanism", "", nil, "n,,n=,r=abc", ErrMalformed},
		{"PLUS without TLS", MechanismSCRAMPlus, nil, "p=tls-server-end-point,,n=,r=abc", ErrMalformed},
		{"p flag with plain mechanism", MechanismSCRAM, cb, "p=tls-server-end-point,,n=,r=abc", ErrMalformed},
		{"p flag without TLS", MechanismSCRAM, nil, "p=tls-server-end-point,,n=,r=abc", ErrMalformed},
		{"n flag with PLUS", MechanismSCRAMPlus, cb, "n,,n=,r=abc", ErrMalformed},
		{"y flag with PLUS", MechanismSCRAMPlus, cb, "y,,n=,r=abc", ErrMalformed},
		{"y flag downgrade", MechanismSCRAM, cb, "y,,n=,r=abc", ErrChannelBinding},
		{"tls-unique", MechanismSCRAMPlus, cb, "p=tls-unique,,n=,r=abc", ErrMalformed},
		{"empty cb name", MechanismSCRAMPlus, cb, "p=,,n=,r=abc", ErrMalformed},
		{"bad cb name", MechanismSCRAMPlus, cb, "p=tls server,,n=,r=abc", ErrMalformed},
	}
	v := NewVerifier("pw", []byte("salt"), 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServerSession(v, tt.cb)
			out, err := s.ClientFirst(tt.mech, []byte(tt.msg))
			if tt.kind == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if _, err := parseServerFirst(string(out)); err != nil {
					t.Fatalf("server-first %q does not parse: %v", out, err)
				}
				return
			}
			if out != nil {
				t.Fatalf("output %q along with an error", out)
			}
			wantKind(t, err, tt.kind)
		})
	}
}

func TestServerClientFinalMalformed(t *testing.T) {
	v := NewVerifier("pw", []byte("salt"), 1)
	const bare = "n=,r=cnonce"
	const nonce = "cnoncesnonce"
	start := func(t *testing.T) (*ServerSession, string) {
		s := NewServerSession(v, nil)
		s.nonce = "snonce"
		first, err := s.ClientFirst(MechanismSCRAM, []byte("n,,"+bare))
		if err != nil {
			t.Fatal(err)
		}
		return s, string(first)
	}
	_, first := start(t)
	good := string(clientFinalFor(t, "pw", bare, first, []byte("n,,"), ""))
	proof := good[len("c=biws,r="+nonce+",p="):]
	zero := b64(make([]byte, 32))

	tests := []struct {
		name string
		msg  string
		kind ErrorKind
	}{
		{"good", good, 0},
		{"wrong proof", "c=biws,r=" + nonce + ",p=" + zero, ErrWrongPassword},
		{"empty", "", ErrMalformed},
		{"NUL", good + "\x00", ErrMalformed},
		{"only c", "c=biws", ErrMalformed},
		{"no proof", "c=biws,r=" + nonce, ErrMalformed},
		{"no nonce", "c=biws,p=" + proof, ErrMalformed},
		{"no binding", "r=" + nonce + ",p=" + proof, ErrMalformed},
		{"swapped", "r=" + nonce + ",c=biws,p=" + proof, ErrMalformed},
		{"bad base64 proof", "c=biws,r=" + nonce + ",p=!!!!", ErrMalformed},
		{"empty proof", "c=biws,r=" + nonce + ",p=", ErrMalformed},
		{"short proof", "c=biws,r=" + nonce + ",p=" + b64(make([]byte, 16)), ErrMalformed},
		{"long proof", "c=biws,r=" + nonce + ",p=" + b64(make([]byte, 33)), ErrMalformed},
		{"wrong nonce", "c=biws,r=cnonceXnonce,p=" + proof, ErrMalformed},
		{"client nonce only", "c=biws,r=cnonce,p=" + proof, ErrMalformed},
		{"nonce with extra", "c=biws,r=" + nonce + "x,p=" + proof, ErrMalformed},
		{"y binding after n", "c=eSws,r=" + nonce + ",p=" + proof, ErrMalformed},
		{"PLUS binding without PLUS", "c=" + b64([]byte("p=tls-server-end-point,,x")) + ",r=" + nonce + ",p=" + proof, ErrMalformed},
		{"non-canonical binding", "c=biws\n,r=" + nonce + ",p=" + proof, ErrMalformed},
		{"garbage after proof", good + ",x=y", ErrMalformed},
		{"second proof", good + ",p=" + proof, ErrMalformed},
		{"trailing comma", good + ",", ErrMalformed},
		{"extension changes AuthMessage", "c=biws,r=" + nonce + ",x=y,p=" + proof, ErrWrongPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := start(t)
			out, err := s.ClientFinal([]byte(tt.msg))
			if tt.kind == 0 {
				if err != nil || !bytes.HasPrefix(out, []byte("v=")) {
					t.Fatalf("got %q, %v", out, err)
				}
				return
			}
			if out != nil {
				t.Fatalf("output %q along with an error", out)
			}
			wantKind(t, err, tt.kind)
			if s.ClientKey() != nil {
				t.Fatal("ClientKey after failure")
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		kind  ErrorKind
		state string
	}{
		{ErrMalformed, "08P01"},
		{ErrUnsupported, "0A000"},
		{ErrChannelBinding, "28000"},
		{ErrWrongPassword, "28P01"},
		{ErrServerRejected, "08006"},
		{ErrServerSignature, "08006"},
	}
	for _, tt := range tests {
		if got := tt.kind.SQLState(); got != tt.state {
			t.Errorf("%v.SQLState() = %q, want %q", tt.kind, got, tt.state)
		}
		err := error(newError(tt.kind, "detail"))
		if !errors.Is(err, tt.kind) || err.Error() == "" {
			t.Errorf("kind %d not recognisable: %v", tt.kind, err)
		}
	}
	if errors.Is(newError(ErrMalformed, ""), ErrWrongPassword) {
		t.Error("kinds must not match each other")
	}
	long := newError(ErrMalformed, "found "+quote("\xff\x1b[31m"+string(bytes.Repeat([]byte("A"), 100))))
	for _, c := range []byte(long.Error()) {
		if c < 0x20 || c > 0x7e {
			t.Fatalf("error message contains raw byte %#x: %q", c, long.Error())
		}
	}
	if len(long.Error()) > 120 {
		t.Fatalf("peer data not truncated: %q", long.Error())
	}
}

func TestNonces(t *testing.T) {
	c1, c2 := NewClientSession("pw"), NewClientSession("pw")
	m1, m2 := string(c1.ClientFirst()), string(c2.ClientFirst())
	if m1 == m2 {
		t.Fatal("two sessions produced the same nonce")
	}
	if len(c1.nonce) != 24 || !isPrintable(c1.nonce) {
		t.Fatalf("client nonce %q", c1.nonce)
	}
	s := NewServerSession(NewVerifier("pw", nil, 1), nil)
	first, err := s.ClientFirst(MechanismSCRAM, []byte("n,,n=,r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	sf, _ := parseServerFirst(string(first))
	if len(sf.nonce) != 3+24 || !isPrintable(sf.nonce) {
		t.Fatalf("server nonce %q", sf.nonce)
	}
}

// TestConcurrentSessions exercises independent sessions in parallel under
// the race detector; the package must have no shared state.
func TestConcurrentSessions(t *testing.T) {
	v := NewVerifier("pw", []byte("salt"), 16)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := exchange(NewClientSession("pw"), v); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
