package config

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestOdysseyExamples loads the example configurations shipped with
// Odyssey (see testdata/odyssey/README.md). Warnings are expected, since
// they use keywords that are not implemented yet; errors are not.
func TestOdysseyExamples(t *testing.T) {
	files, err := filepath.Glob("testdata/odyssey/*.conf")
	if err != nil || len(files) < 9 {
		t.Fatalf("example configs missing: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				t.Fatalf("Odyssey's example does not load:\n%v", err)
			}
			if len(cfg.Listen) == 0 || len(cfg.Rules) == 0 {
				t.Errorf("nothing loaded: %+v", cfg)
			}
			for _, r := range cfg.Rules {
				if r.Storage == nil {
					t.Errorf("rule %s has no storage", r.Name())
				}
			}
		})
	}
}

func TestOdysseyExampleDetails(t *testing.T) {
	cfg, err := Load("testdata/odyssey/odyssey.conf")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Storage("postgres_server")
	want := []Endpoint{{"localhost", 5432}, {"host1", 5432}, {"192.168.1.1", 5433}}
	if s == nil || !reflect.DeepEqual(s.Hosts, want) {
		t.Errorf("hosts %+v, want %v", s, want)
	}
	r := cfg.Rules[0]
	if !r.DBDefault || !r.UserDefault || r.Pool != PoolTransaction || r.PoolDiscard || r.PoolSmartDiscard ||
		!r.PoolReservePrepared || len(r.Quantiles) != 3 || cfg.UnixSocketMode != 0o644 {
		t.Errorf("rule %+v", *r)
	}

	aq, err := Load("testdata/odyssey/odyssey-aq.conf")
	if err != nil {
		t.Fatal(err)
	}
	// Two rules for postgres.user_aq: one internal (for auth_query), one
	// for clients. They differ only in routing, which Odyssey allows.
	var internal, visible int
	for _, r := range aq.Rules {
		if r.DB == "postgres" && r.User == "user_aq" {
			if r.Internal {
				internal++
			} else {
				visible++
			}
		}
	}
	if internal != 1 || visible != 1 {
		t.Errorf("user_aq rules: %d internal, %d visible", internal, visible)
	}
	if aq.Workers < 1 {
		t.Errorf("workers \"auto\" gave %d", aq.Workers)
	}
}
