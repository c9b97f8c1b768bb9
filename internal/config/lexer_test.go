package config

import (
	"fmt"
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

func TestLexerMultiLineString(t *testing.T) {
	toks, errs := lexAll("a \"x\ny\" b")
	if len(errs) != 0 || len(toks) != 3 {
		t.Fatalf("toks=%v errs=%v", toks, errs)
	}
	if toks[1].text != "x\ny" || toks[2].pos.Line != 2 || toks[2].pos.Column != 4 {
		t.Errorf("string %q, next token at %d:%d", toks[1].text, toks[2].pos.Line, toks[2].pos.Column)
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
		{`a "unterminated`, `1:3: unterminated string`},
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
