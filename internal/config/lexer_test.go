package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// lexAll returns the tokens of src and the lexer's error messages.
func lexAll(src string) ([]token, []string) {
	var errs []string
	errf := func(pos Position, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("%d:%d: ", pos.Line, pos.Column)+fmt.Sprintf(format, args...))
	}
	lx := newLexer("f", []byte(src), errf, func() bool { return false })
	var toks []token
	for {
		t := lx.next()
		if t.kind == tkEOF {
			return toks, errs
		}
		toks = append(toks, t)
	}
}

func TestLexerTokens(t *testing.T) {
	src := "# comment\nlisten {\n\tport -12 # trailing\n\thost \"a\\\"b\\n\"\n}\nlimit 2MB x 3k 1b 4Gb"
	toks, errs := lexAll(src)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := []struct {
		kind      tokKind
		text      string
		num       int64
		line, col int
	}{
		{tkWord, "listen", 0, 2, 1},
		{tkLBrace, "{", 0, 2, 8},
		{tkWord, "port", 0, 3, 2},
		{tkInt, "-12", -12, 3, 7},
		{tkWord, "host", 0, 4, 2},
		{tkString, "a\"b\\n", 0, 4, 7}, // only \" is an escape
		{tkRBrace, "}", 0, 5, 1},
		{tkWord, "limit", 0, 6, 1},
		{tkInt, "2MB", 2 << 20, 6, 7},
		{tkWord, "x", 0, 6, 11},
		{tkInt, "3k", 3 << 10, 6, 13},
		{tkInt, "1b", 1, 6, 16},
		{tkInt, "4Gb", 4 << 30, 6, 19},
	}
	if len(toks) != len(want) {
		t.Fatalf("got %d tokens %+v, want %d", len(toks), toks, len(want))
	}
	for i, w := range want {
		g := toks[i]
		if g.kind != w.kind || g.text != w.text || g.num != w.num || g.pos.Line != w.line || g.pos.Column != w.col {
			t.Errorf("token %d = %v %q %d at %d:%d, want %v %q %d at %d:%d",
				i, g.kind, g.text, g.num, g.pos.Line, g.pos.Column, w.kind, w.text, w.num, w.line, w.col)
		}
	}
	if !toks[8].sized || toks[3].sized {
		t.Errorf("sized flags wrong: 2MB=%v -12=%v", toks[8].sized, toks[3].sized)
	}
}

// TestLexerStrings: as in Odyssey, a backslash takes the next byte along
// and a string ends with its line. A missing closing quote is reported once,
// where the string opened, and the string ends with the line (less the
// braces that close it), so that the next line reads as usual.
func TestLexerStrings(t *testing.T) {
	type tok struct {
		kind      tokKind
		text      string
		line, col int
	}
	const missing = `unterminated string (the closing " is missing)`
	tests := []struct {
		src  string
		want []tok
		errs []string
	}{
		{`a "\"" "C:\\" "\n\x"`, []tok{{tkWord, "a", 1, 1}, {tkString, `"`, 1, 3}, {tkString, `C:\\`, 1, 8}, {tkString, `\n\x`, 1, 15}}, nil},
		// Odyssey lets a backslash carry a string over a line break.
		{"a \"x\\\ny\" b", []tok{{tkWord, "a", 1, 1}, {tkString, "x\\\ny", 1, 3}, {tkWord, "b", 2, 4}}, nil},
		{"host \"127.0.0.1\nport 5432", []tok{{tkWord, "host", 1, 1}, {tkString, "127.0.0.1", 1, 6}, {tkWord, "port", 2, 1}, {tkInt, "5432", 2, 6}},
			[]string{"1:6: " + missing}},
		{"a \"x  \r\n\tb", []tok{{tkWord, "a", 1, 1}, {tkString, "x", 1, 3}, {tkWord, "b", 2, 2}}, []string{"1:3: " + missing}},
		{`a "x # not a comment`, []tok{{tkWord, "a", 1, 1}, {tkString, "x # not a comment", 1, 3}}, []string{"1:3: " + missing}},
		{`a "`, []tok{{tkWord, "a", 1, 1}, {tkString, "", 1, 3}}, []string{"1:3: " + missing}},
		// Strings cannot span lines.
		{"a \"x\ny\" b", []tok{{tkWord, "a", 1, 1}, {tkString, "x", 1, 3}, {tkWord, "y", 2, 1}, {tkString, " b", 2, 2}},
			[]string{"1:3: " + missing, "2:2: " + missing}},
		// Braces that end the line belong to the block.
		{"database \"db {\n}", []tok{{tkWord, "database", 1, 1}, {tkString, "db", 1, 10}, {tkLBrace, "{", 1, 14}, {tkRBrace, "}", 2, 1}},
			[]string{"1:10: " + missing}},
		{`listen { host "* }`, []tok{{tkWord, "listen", 1, 1}, {tkLBrace, "{", 1, 8}, {tkWord, "host", 1, 10}, {tkString, "*", 1, 15}, {tkRBrace, "}", 1, 18}},
			[]string{"1:15: " + missing}},
		{`s "a"{ x "b }}`, []tok{{tkWord, "s", 1, 1}, {tkString, "a", 1, 3}, {tkLBrace, "{", 1, 6}, {tkWord, "x", 1, 8}, {tkString, "b", 1, 10}, {tkRBrace, "}", 1, 13}, {tkRBrace, "}", 1, 14}},
			[]string{`1:10: unterminated string (the closing " is missing here or in an earlier string on this line)`}},
		// The quote after u is missing: the next quote opens the address.
		{`user "u "10.0.0.0/8" {`, []tok{{tkWord, "user", 1, 1}, {tkString, "u", 1, 6}, {tkString, "10.0.0.0/8", 1, 9}, {tkLBrace, "{", 1, 22}},
			[]string{"1:6: " + missing}},
		// A line with an even number of quotes is read as written.
		{`a "x "y" " # "`, []tok{{tkWord, "a", 1, 1}, {tkString, "x ", 1, 3}, {tkWord, "y", 1, 7}, {tkString, " ", 1, 8}}, nil},
		// Which quote of the line is missing is not always clear.
		{`a "x" "y`, []tok{{tkWord, "a", 1, 1}, {tkString, "x", 1, 3}, {tkString, "y", 1, 7}},
			[]string{`1:7: unterminated string (the closing " is missing here or in an earlier string on this line)`}},
	}
	for _, tt := range tests {
		toks, errs := lexAll(tt.src)
		var got []tok
		for _, tk := range toks {
			got = append(got, tok{tk.kind, tk.text, tk.pos.Line, tk.pos.Column})
			// The parser must not report again what the lexer did.
			at := fmt.Sprintf("%d:%d: ", tk.pos.Line, tk.pos.Column)
			if inErrs := slices.ContainsFunc(errs, func(e string) bool { return strings.HasPrefix(e, at) }); tk.reported != inErrs {
				t.Errorf("%q: token %q at %s reported=%v", tt.src, tk.text, at, tk.reported)
			}
		}
		if !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(errs, tt.errs) {
			t.Errorf("%q:\ntokens %v\nerrors %q\nwant   %v\nerrors %q", tt.src, got, errs, tt.want, tt.errs)
		}
	}
}

func TestLexerByteOrderMark(t *testing.T) {
	toks, errs := lexAll("\ufeffdaemonize yes")
	if len(errs) != 0 || len(toks) != 2 || toks[0].pos.Column != 1 {
		t.Errorf("toks=%v errs=%v", toks, errs)
	}
}

func TestLexerErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"a 10s", `1:3: invalid number "10s"`},
		{"a 99999999999999999999", `1:3: number 99999999999999999999 is out of range`},
		{"a 9999999999999GB", `1:3: number 9999999999999GB is out of range`},
		{"a @@@ b", `1:3: unexpected character '@'`},
		{"a - b", `1:3: unexpected character '-'`},
		{"a \xff\xfe b", `1:3: unexpected character byte "\xff"`},
		{"a é b", `1:3: unexpected character 'é'`},
	}
	for _, tt := range tests {
		toks, errs := lexAll(tt.src)
		if len(errs) != 1 || errs[0] != tt.want {
			t.Errorf("%q: errors %q, want [%q]", tt.src, errs, tt.want)
			continue
		}
		var invalid int
		for _, tok := range toks {
			if tok.kind == tkInvalid {
				invalid++
			}
		}
		if invalid != 1 {
			t.Errorf("%q: %d invalid tokens, want 1 (%v)", tt.src, invalid, toks)
		}
	}
}

func TestLexerStopsWhenLoadGivesUp(t *testing.T) {
	lx := newLexer("f", []byte("a b c"), func(Position, string, ...any) {}, func() bool { return true })
	if tok := lx.next(); tok.kind != tkEOF {
		t.Errorf("got %v, want EOF", tok)
	}
}

// TestMissingQuoteIsOneError: a string whose closing quote is missing is
// reported where it opened, and nothing else is: not the lines after it,
// not the value's type, not the blocks or names it leaves undefined.
func TestMissingQuoteIsOneError(t *testing.T) {
	const missing = `unterminated string (the closing " is missing)`
	rule := "\tuser \"u\" {\n" + validRule + "\n\t}\n}\n"
	tests := []struct {
		name string
		src  string
		at   string
	}{
		{"storage host", `log_format "x"
listen { host "*" }
storage "pg" {
	type "remote"
	host "127.0.0.1
	port 5432
}
database "db" {
` + rule, "5:7"},
		{"rule value", ruleConfig("\t\tauthentication \"none\n\t\tstorage \"pg\"\n\t\tpool \"transaction\""), "6:18"},
		{"storage name in a rule", ruleConfig("\t\tauthentication \"none\"\n\t\tstorage \"pg\n\t\tpool \"transaction\""), "7:11"},
		{"number as a string", preamble + "storage \"other\" {\n\ttype \"remote\"\n\thost \"h\"\n\tport \"5432\n}\ndatabase \"db\" {\n" + rule, "7:7"},
		{"database name", preamble + "database \"db {\n" + rule, "4:10"},
		{"one-line block", "log_format \"x\"\nlisten { host \"* }\nstorage \"pg\" { type \"remote\" host \"localhost\" }\ndatabase \"db\" {\n" + rule, "2:15"},
		{"rule address", preamble + "database \"db\" {\n\tuser \"u \"10.0.0.0/8\" {\n" + validRule + "\n\t}\n}\n", "5:7"},
		{"last line", ruleConfig(validRule) + "log_file \"/var/log/odyssey.log", "11:10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			onlyError(t, mustFail(t, tt.src), "test.conf:"+tt.at+": "+missing)
		})
	}
}

// TestMissingQuoteInExamples drops, one at a time, the closing quote of
// every string in Odyssey's example configurations: each time there must
// be exactly one error, at the quote that opened the string.
func TestMissingQuoteInExamples(t *testing.T) {
	files, err := filepath.Glob("testdata/odyssey/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("example configs missing: %v %v", files, err)
	}
	tried := 0
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lx := newLexer(name, src, func(Position, string, ...any) {}, func() bool { return false })
		for tok := lx.next(); tok.kind != tkEOF; tok = lx.next() {
			if tok.kind != tkString {
				continue
			}
			tried++
			closing := lx.off - 1 // the lexer has just read past the quote
			broken := append(append([]byte(nil), src[:closing]...), src[closing+1:]...)
			_, err := Parse(name, broken)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Errorf("%s: without the closing quote: %v", tok.pos, err)
				continue
			}
			if errs := le.Errors(); len(errs) != 1 || errs[0].Pos != tok.pos || !strings.HasPrefix(errs[0].Message, "unterminated string") {
				t.Errorf("%s: without the closing quote:\n%v", tok.pos, le)
			}
		}
	}
	if tried < 100 {
		t.Errorf("only %d strings tried", tried)
	}
}
