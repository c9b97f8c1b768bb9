package logging

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWithAttrs checks that attributes added with Logger.With, whose
// formatting levelFilter defers, appear in order on every line, survive
// WithDebug and groups, and that the level filter still applies.
func TestWithAttrs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	log, sink, err := Open(Options{File: path})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()

	client := log.With("client", "c0123456789ab")
	client.Debug("hidden")
	client.With("user", "alice").Info("login")
	WithDebug(client).Debug("debug shown", "n", 1)
	client.WithGroup("g").With("k", "v").Info("grouped")
	log.Info("plain")

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	want := []string{
		`msg=login client=c0123456789ab user=alice`,
		`msg="debug shown" client=c0123456789ab n=1`,
		`msg=grouped client=c0123456789ab g.k=v`,
		`msg=plain`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), data)
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d = %q, want suffix %q", i, lines[i], w)
		}
	}
}
