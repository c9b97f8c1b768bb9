package config

import (
	"errors"
	"strings"
	"testing"
)

// preamble is the smallest valid global part: with one rule it makes a
// valid configuration. It takes lines 1-3.
const preamble = `log_format "%p %t %l [%i %s] (%c) %m\n"
listen { host "*" }
storage "pg" { type "remote" host "localhost" }
`

// ruleConfig wraps rule items into a valid configuration; the items start
// on line 6 of the result.
func ruleConfig(items string) string {
	return preamble + "database \"db\" {\n\tuser \"u\" {\n" + items + "\n\t}\n}\n"
}

// validRule holds the items every rule needs.
const validRule = `		authentication "none"
		storage "pg"
		pool "transaction"`

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse("test.conf", []byte(src))
	if err != nil {
		t.Fatalf("unexpected error:\n%v\n--- config:\n%s", err, src)
	}
	return cfg
}

func mustFail(t *testing.T, src string) *LoadError {
	t.Helper()
	cfg, err := Parse("test.conf", []byte(src))
	if err == nil {
		t.Fatalf("expected an error, got config with warnings %v\n--- config:\n%s", cfg.Warnings, src)
	}
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error is %T, want *LoadError: %v", err, err)
	}
	if len(le.Errors()) == 0 {
		t.Fatalf("LoadError without errors: %v", le)
	}
	return le
}

// wantDiag asserts that diags has an entry at file:line:col whose message
// contains every one of parts.
func wantDiag(t *testing.T, diags []Diag, file string, line, col int, parts ...string) {
	t.Helper()
	for _, d := range diags {
		if d.Pos.File != file || d.Pos.Line != line || d.Pos.Column != col {
			continue
		}
		ok := true
		for _, p := range parts {
			if !strings.Contains(d.Message, p) {
				ok = false
			}
		}
		if ok {
			return
		}
	}
	var got []string
	for _, d := range diags {
		got = append(got, d.String())
	}
	t.Errorf("no diagnostic at %s:%d:%d containing %q; got:\n%s", file, line, col, parts, strings.Join(got, "\n"))
}

// onlyError asserts that le holds exactly one error, with the given text.
func onlyError(t *testing.T, le *LoadError, want string) {
	t.Helper()
	errs := le.Errors()
	if len(errs) != 1 || errs[0].String() != want {
		t.Errorf("errors:\n%v\nwant exactly:\n%s", le, want)
	}
}
