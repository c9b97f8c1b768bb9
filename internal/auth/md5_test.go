package auth

import "testing"

func TestMD5Hash(t *testing.T) {
	tests := []struct{ user, password, want string }{
		// From PostgreSQL 15: CREATE ROLE carol PASSWORD 'bar' with
		// password_encryption = md5.
		{"carol", "bar", pgCarolMD5},
		// The often quoted hash of user postgres, password postgres.
		{"postgres", "postgres", "md53175bce1d3201d16594cebf9d7eb3f9d"},
	}
	for _, tt := range tests {
		if got := MD5Hash(tt.user, tt.password); got != tt.want {
			t.Errorf("MD5Hash(%q, %q) = %q, want %q", tt.user, tt.password, got, tt.want)
		}
	}
}

func TestMD5Response(t *testing.T) {
	// Computed independently: md5("94457fe5...7d66" + "\x93\x1a\x00\xff").
	salt := [4]byte{0x93, 0x1a, 0x00, 0xff}
	const want = "md5f98e8b54cf716bed5d9a6f61402405cd"
	if got := MD5Response(pgCarolMD5, salt); got != want {
		t.Fatalf("MD5Response = %q, want %q", got, want)
	}

	plain := mustParse(t, "bar")
	hashed := mustParse(t, pgCarolMD5)
	scram := mustParse(t, pgSecretVerifier)
	tests := []struct {
		name     string
		secret   Secret
		user     string
		salt     [4]byte
		response string
		ok       bool
	}{
		{"plain", plain, "carol", salt, want, true},
		{"md5", hashed, "carol", salt, want, true},
		{"plain wrong user", plain, "carl", salt, want, false},
		{"other salt", hashed, "carol", [4]byte{1, 2, 3, 4}, want, false},
		{"uppercase", hashed, "carol", salt, "MD5F98E8B54CF716BED5D9A6F61402405CD", false},
		{"empty", hashed, "carol", salt, "", false},
		{"truncated", hashed, "carol", salt, want[:34], false},
		{"scram cannot", scram, "carol", salt, want, false},
		{"zero secret", Secret{}, "carol", salt, want, false},
		{"broken md5 secret", Secret{Kind: SecretMD5, MD5: "md5"}, "carol", salt, MD5Response("md5", salt), false},
	}
	for _, tt := range tests {
		if got := CheckMD5Response(tt.secret, tt.user, tt.salt, tt.response); got != tt.ok {
			t.Errorf("%s: CheckMD5Response = %v, want %v", tt.name, got, tt.ok)
		}
	}
}
