package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics or hangs, and that its result is
// coherent: a config or a *LoadError with at least one error, never both,
// and the same answer twice.
func FuzzParse(f *testing.F) {
	f.Add([]byte(ruleConfig(validRule)))
	f.Add([]byte(`listen { host "*" } storage "s" { type "remote" host "[h]:1:az,unix:///s/.s.PGSQL.5" }`))
	f.Add([]byte(`database default { user "u" "10.0.0.0/8" hostssl { options { "a" "b" } quantiles "0.5" } }`))
	f.Add([]byte(`soft_oom { limit 1GB drop { signal "SIGTERM" } } query_parsing { mode full standby_function_list { "f" } }`))
	f.Add([]byte("include \"x.conf\"\nworkers \"auto\"\n\"unterminated"))
	f.Add([]byte("}}}{{{ 9999999999999999999 -1k \xff #"))
	// The smaller Odyssey examples are good seeds; big inputs only slow
	// the fuzzer down (minimising them takes ages).
	examples, _ := filepath.Glob("testdata/odyssey/*.conf")
	for _, name := range examples {
		if src, err := os.ReadFile(name); err == nil && len(src) <= 2500 {
			f.Add(src)
		}
	}
	// Relative includes resolve into a directory that does not exist.
	const name = "/nonexistent-odyssey-fuzz/fuzz.conf"
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := Parse(name, src)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned cfg=%v err=%v", cfg != nil, err)
		}
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Errors()) == 0 || le.Error() == "" {
				t.Fatalf("bad error %#v", err)
			}
			_, err2 := Parse(name, src)
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("second parse differs:\n%v\n---\n%v", err, err2)
			}
			return
		}
		for _, r := range cfg.Rules {
			if r.Storage == nil {
				t.Fatalf("rule %s without storage in a valid config", r.Name())
			}
		}
		for _, w := range cfg.Warnings {
			if !w.Warning {
				t.Fatalf("non-warning in Warnings: %v", w)
			}
		}
	})
}
