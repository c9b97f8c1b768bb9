package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles creates files (name -> content) under a new temp dir.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestIncludeResolvesRelativeToIncludingFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.conf": `log_format "x"
include "conf.d/storages.conf"
listen { host "*" }
include "rules.conf"
`,
		"conf.d/storages.conf": `storage "pg" { type "remote" host "h" }
include "../more/console.conf"
client_max 3
`,
		"more/console.conf": `storage "console" { type "local" }
locks_dir "/tmp"
`,
		"rules.conf": `database "console" { user default { authentication "none" pool "session" storage "console" } }
database default { user default { authentication "none" pool "session" storage "pg" } }
`,
	})
	cfg, err := Load(filepath.Join(dir, "main.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientMax != 3 || len(cfg.Storages) != 2 || len(cfg.Rules) != 2 || len(cfg.Listen) != 1 {
		t.Fatalf("unexpected config: client_max=%d storages=%d rules=%d listens=%d",
			cfg.ClientMax, len(cfg.Storages), len(cfg.Rules), len(cfg.Listen))
	}
	if cfg.Path != filepath.Join(dir, "main.conf") {
		t.Errorf("Path = %q", cfg.Path)
	}
	if got, want := cfg.Storages[1].Pos, (Position{File: filepath.Join(dir, "more/console.conf"), Line: 1, Column: 1}); got != want {
		t.Errorf("position in included file %v, want %v", got, want)
	}
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Pos.File != filepath.Join(dir, "more/console.conf") || cfg.Warnings[0].Pos.Line != 2 {
		t.Errorf("warnings %v", cfg.Warnings)
	}
	if cfg.Rules[0].Storage != cfg.Storages[1] {
		t.Error("rule in one file does not resolve a storage from another")
	}
}

func TestParseResolvesIncludesAgainstName(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"part.conf": `listen { host "*" }`,
	})
	src := `include "part.conf"` + "\n" + ruleConfig(validRule)
	cfg, err := Parse(filepath.Join(dir, "virtual.conf"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listen) != 2 {
		t.Errorf("%d listens, want 2", len(cfg.Listen))
	}
}

func TestIncludeErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.conf":     "include \"b.conf\"\n",
		"b.conf":     "\ninclude \"sub/c.conf\"\n",
		"sub/c.conf": "include \"../a.conf\"\n",
		"self.conf":  "include \"self.conf\"\n",
	})
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  string
		file string
		line int
		col  int
		want string
	}{
		{"cycle", `include "a.conf"`, "sub/c.conf", 1, 9,
			"include cycle: " + filepath.Join(dir, "a.conf") + " -> " + filepath.Join(dir, "b.conf") +
				" -> " + filepath.Join(dir, "sub/c.conf") + " -> " + filepath.Join(dir, "sub/../a.conf")},
		{"self", `include "self.conf"`, "self.conf", 1, 9, "include cycle: "},
		{"main file", `include "main.conf"`, "main.conf", 1, 9, "include cycle: " + filepath.Join(dir, "main.conf")},
		{"missing", `include "nope.conf"`, "main.conf", 1, 9, `cannot include "nope.conf": open ` + filepath.Join(dir, "nope.conf") + ": no such file or directory"},
		{"directory", `include "adir"`, "main.conf", 1, 9, `cannot include "adir": ` + filepath.Join(dir, "adir") + " is not a regular file"},
		{"empty", `include ""`, "main.conf", 1, 9, "include path is empty"},
		{"not a string", `include adir`, "main.conf", 1, 9, `expected a path string after "include", found "adir"`},
		{"in a block", `listen { include "x" }`, "main.conf", 1, 10, `keyword "include" is not allowed in listen block`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(filepath.Join(dir, "main.conf"), []byte(tt.src))
			le, ok := err.(*LoadError)
			if !ok {
				t.Fatalf("error %v", err)
			}
			wantDiag(t, le.Diags, filepath.Join(dir, tt.file), tt.line, tt.col, tt.want)
		})
	}
}

func TestIncludeDepthLimit(t *testing.T) {
	files := map[string]string{}
	for i := 0; i < maxIncludeDepth+2; i++ {
		files[filepath.Join("d", strings.Repeat("x", i+1)+".conf")] = "include \"" + strings.Repeat("x", i+2) + ".conf\"\n"
	}
	dir := writeFiles(t, files)
	_, err := Load(filepath.Join(dir, "d", "x.conf"))
	if err == nil || !strings.Contains(err.Error(), "nested more than 16 deep") {
		t.Errorf("error %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.conf"))
	le, ok := err.(*LoadError)
	if !ok || len(le.Diags) != 1 || !strings.Contains(le.Diags[0].Message, "no such file") || le.Diags[0].Pos.Line != 0 {
		t.Errorf("error %#v", err)
	}
}

func TestIncludeCycleThroughSymlink(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.conf": "include \"link.conf\"\n",
	})
	if err := os.Symlink(filepath.Join(dir, "a.conf"), filepath.Join(dir, "link.conf")); err != nil {
		t.Skip("symlinks not available:", err)
	}
	_, err := Load(filepath.Join(dir, "a.conf"))
	if err == nil || !strings.Contains(err.Error(), "include cycle: ") {
		t.Errorf("error %v", err)
	}
}
