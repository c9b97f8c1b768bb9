package config

import (
	"errors"
	"testing"
)

func TestFormatDiag(t *testing.T) {
	tests := []struct {
		d    Diag
		want string
	}{
		{Diag{Pos: Position{File: "a.conf", Line: 3, Column: 7}, Message: "bad"}, "a.conf:3:7: bad"},
		{Diag{Pos: Position{File: "a.conf", Line: 3, Column: 7}, Message: "meh", Warning: true}, "a.conf:3:7: warning: meh"},
		{Diag{Pos: Position{File: "a.conf"}, Message: "no listen"}, "a.conf: no listen"},
		{Diag{Message: "odd"}, "odd"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestLoadErrorListsEverythingInFileOrder(t *testing.T) {
	src := `nodelay yes
pipeline 1
listen { host "*" }
storage "pg" { type "remote" host "h" }
database "db" { user "u" { storage "pg" pool "session" } }
log_format "x"
bogus 1
`
	_, err := Parse("f.conf", []byte(src))
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v", err)
	}
	want := "f.conf:2:1: warning: \"pipeline\" is deprecated and ignored\n" +
		"f.conf:5:17: database \"db\" user \"u\": authentication is not set\n" +
		"f.conf:7:1: unknown keyword \"bogus\" at top level"
	if le.Error() != want {
		t.Errorf("Error():\n%s\nwant:\n%s", le.Error(), want)
	}
	if len(le.Errors()) != 2 {
		t.Errorf("Errors() = %v", le.Errors())
	}
}
