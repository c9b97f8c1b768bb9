package auth

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestPasswordClientKey(t *testing.T) {
	v := NewVerifier("pencil", []byte("salt of any length"), 4096)
	ck := v.PasswordClientKey("pencil")
	if ck == nil {
		t.Fatal("right password refused")
	}
	// The key must be the one a SCRAM exchange recovers from the proof.
	cs := NewClientSession("pencil")
	ss := NewServerSession(v, nil)
	first, err := ss.ClientFirst(MechanismSCRAM, cs.ClientFirst())
	if err != nil {
		t.Fatal(err)
	}
	final, err := cs.ServerFirst(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.ClientFinal(final); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ck, ss.ClientKey()) {
		t.Fatal("derived key differs from the key recovered from a proof")
	}
	for _, pw := range []string{"", "Pencil", "pencil "} {
		if v.PasswordClientKey(pw) != nil {
			t.Errorf("password %q accepted", pw)
		}
	}
	if (&Verifier{}).PasswordClientKey("pencil") != nil {
		t.Error("invalid verifier accepted a password")
	}
}

func TestClientChannelBinding(t *testing.T) {
	v := NewVerifier("pencil", []byte("0123456789abcdef"), 4096)
	binding := bytes.Repeat([]byte{0xab}, 32)
	for _, tc := range []struct {
		name     string
		client   []byte // what the client binds to
		server   []byte // what the server's connection has
		ok       bool
		fromKeys bool
	}{
		{"same certificate", binding, binding, true, false},
		{"same certificate, passthrough keys", binding, binding, true, true},
		{"different certificate", binding, bytes.Repeat([]byte{0xcd}, 32), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := NewClientSession("pencil")
			if tc.fromKeys {
				cs = NewClientSessionFromKeys(v.PasswordClientKey("pencil"), v.ServerKey)
			}
			cs.UseChannelBinding(tc.client)
			if cs.Mechanism() != MechanismSCRAMPlus {
				t.Fatalf("mechanism %q", cs.Mechanism())
			}
			ss := NewServerSession(v, tc.server)
			first, err := ss.ClientFirst(cs.Mechanism(), cs.ClientFirst())
			if err != nil {
				t.Fatal(err)
			}
			final, err := cs.ServerFirst(first)
			if err != nil {
				t.Fatal(err)
			}
			sfinal, err := ss.ClientFinal(final)
			if !tc.ok {
				if err == nil || !errors.Is(err, ErrChannelBinding) {
					t.Fatalf("error %v, want a channel binding failure", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := cs.ServerFinal(sfinal); err != nil {
				t.Fatal(err)
			}
		})
	}
	if cs := NewClientSession("x"); cs.Mechanism() != MechanismSCRAM || !strings.HasPrefix(string(cs.ClientFirst()), "n,,") {
		t.Error("a session without binding does not say n,,")
	}
}
