package console

import (
	"errors"
	"testing"
)

// FuzzParse feeds the console's parser arbitrary text, as any console
// client may send: it never panics, fails only with a ParseError, and
// whatever it accepts renders to a canonical form that parses back to the
// same command.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"SHOW POOLS", "kill_client c0123456789ab;", "SET a.b TO 'x'"} {
		f.Add(s) // the rest of the seeds are in testdata/fuzz/FuzzParse
	}
	f.Fuzz(func(t *testing.T, s string) {
		cmd, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q): %T %v, want a *ParseError", s, err, err)
			}
			return
		}
		if cmd.Kind == CmdEmpty {
			return
		}
		again, err := Parse(cmd.String())
		if err != nil || again != cmd {
			t.Fatalf("Parse(%q) = %+v; its String %q parses to %+v, %v", s, cmd, cmd.String(), again, err)
		}
	})
}
