package sqlmin

import (
	"strings"
	"testing"
)

// FuzzSplit checks properties that must hold for any input: no panic,
// every Text (and every part of a Stmt taken from the input) is a piece of
// the input, statements come in order without overlapping, First agrees
// with Split, and a statement's Text on its own splits into that same
// statement. Both ways of reading ordinary literals are checked.
func FuzzSplit(f *testing.F) {
	f.Add("BEGIN; SELECT 1")
	f.Add("SET search_path = \"$user\", public")
	f.Add("select $$ ; $$; COMMIT")
	f.Fuzz(func(t *testing.T, sql string) {
		checkSplit(t, Options{}, sql)
		checkSplit(t, Options{BackslashEscapes: true}, sql)
	})
}

// checkSplit checks the properties FuzzSplit describes for one input.
func checkSplit(t *testing.T, o Options, sql string) {
	t.Helper()
	all := o.Split(sql)
	first, more := o.First(sql)
	switch {
	case len(all) == 0:
		if first != (Stmt{}) || more {
			t.Fatalf("%+v: First(%q) = %+v, %v; Split found nothing", o, sql, first, more)
		}
	case first != all[0] || more != (len(all) > 1):
		t.Fatalf("%+v: First(%q) = %+v, %v; Split gave %d: %+v", o, sql, first, more, len(all), all)
	}

	pos := 0
	for _, st := range all {
		if st.Text == "" || strings.Trim(st.Text, " \t\n\r\f\v") != st.Text {
			t.Fatalf("%+v: Split(%q): bad Text %q", o, sql, st.Text)
		}
		i := strings.Index(sql[pos:], st.Text)
		if i < 0 {
			t.Fatalf("%+v: Split(%q): Text %q is not in the input after offset %d", o, sql, st.Text, pos)
		}
		pos += i + len(st.Text)
		for _, part := range []string{st.Value, st.Types, st.Body, st.Args} {
			if !strings.Contains(st.Text, part) {
				t.Fatalf("%+v: Split(%q): %q is not in Text of %+v", o, sql, part, st)
			}
		}
		if st.Kind < Other || st.Kind > Load {
			t.Fatalf("%+v: Split(%q): kind %d", o, sql, st.Kind)
		}
		again := o.Split(st.Text)
		if len(again) != 1 || again[0] != st {
			t.Fatalf("%+v: Split(%q) gave %+v, but Split of its Text gives %+v", o, sql, st, again)
		}
	}
}
