package auth

import (
	"bytes"
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
