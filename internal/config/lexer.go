package config

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token of the configuration language.
type tokKind int

const (
	tkEOF     tokKind = iota
	tkWord            // bare identifier: keyword, yes/no, default, conn type
	tkString          // double-quoted string, already unescaped
	tkInt             // integer, possibly negative, possibly with a size suffix
	tkLBrace          // {
	tkRBrace          // }
	tkInvalid         // something the lexer already reported as an error
)

// token is one lexeme with the position of its first byte.
type token struct {
	kind  tokKind
	text  string // word as written, unescaped string, or number literal
	num   int64  // value of a tkInt, suffix applied
	sized bool   // the number carried a B/KB/MB/GB suffix
	pos   Position
}

// describe names a token for "expected X, found Y" messages.
func (t token) describe() string {
	switch t.kind {
	case tkEOF:
		return "end of file"
	case tkWord:
		return strconv.Quote(t.text)
	case tkString:
		return "string " + strconv.Quote(t.text)
	case tkInt:
		return "number " + t.text
	case tkLBrace:
		return `"{"`
	case tkRBrace:
		return `"}"`
	default:
		return "invalid input"
	}
}

// lexer splits Odyssey configuration text into tokens. It follows Odyssey's
// scanner: '#' starts a comment that runs to the end of the line, strings are
// double-quoted and may span lines, and the only escape is \" for a quote;
// every other backslash is kept as written, so log_format's "\n" reaches the
// logger untouched. Problems are reported through errf and the offending
// input comes back as a tkInvalid token.
type lexer struct {
	file string
	src  []byte
	off  int
	line int
	col  int
	errf func(pos Position, format string, args ...any)
	stop func() bool // true once the load has given up
}

func newLexer(file string, src []byte, errf func(Position, string, ...any), stop func() bool) *lexer {
	lx := &lexer{file: file, src: src, line: 1, col: 1, errf: errf, stop: stop}
	if strings.HasPrefix(string(src[:min(len(src), 3)]), "\ufeff") {
		lx.off = 3 // a UTF-8 byte order mark is not part of the text
	}
	return lx
}

func (lx *lexer) pos() Position {
	return Position{File: lx.file, Line: lx.line, Column: lx.col}
}

// advance moves past n bytes, keeping line and column up to date.
func (lx *lexer) advance(n int) {
	for i := 0; i < n && lx.off < len(lx.src); i++ {
		if lx.src[lx.off] == '\n' {
			lx.line++
			lx.col = 1
		} else {
			lx.col++
		}
		lx.off++
	}
}

// next returns the next token. After the load gave up it only returns EOF,
// which guarantees that every parsing loop ends.
func (lx *lexer) next() token {
	lx.skipSpaceAndComments()
	start := lx.pos()
	if lx.off >= len(lx.src) || lx.stop() {
		return token{kind: tkEOF, pos: start}
	}
	c := lx.src[lx.off]
	switch {
	case c == '{':
		lx.advance(1)
		return token{kind: tkLBrace, text: "{", pos: start}
	case c == '}':
		lx.advance(1)
		return token{kind: tkRBrace, text: "}", pos: start}
	case c == '"':
		return lx.lexString(start)
	case isDigit(c) || (c == '-' && lx.off+1 < len(lx.src) && isDigit(lx.src[lx.off+1])):
		return lx.lexNumber(start)
	case isIdentStart(c):
		return lx.lexWord(start)
	default:
		return lx.lexGarbage(start)
	}
}

func (lx *lexer) skipSpaceAndComments() {
	for lx.off < len(lx.src) {
		switch c := lx.src[lx.off]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			lx.advance(1)
		case c == '#':
			for lx.off < len(lx.src) && lx.src[lx.off] != '\n' {
				lx.advance(1)
			}
		default:
			return
		}
	}
}

func (lx *lexer) lexWord(start Position) token {
	end := lx.off
	for end < len(lx.src) && isIdentPart(lx.src[end]) {
		end++
	}
	text := string(lx.src[lx.off:end])
	lx.advance(end - lx.off)
	return token{kind: tkWord, text: text, pos: start}
}

// lexString reads a double-quoted string; \" stands for a quote.
func (lx *lexer) lexString(start Position) token {
	lx.advance(1)
	var b strings.Builder
	for lx.off < len(lx.src) {
		c := lx.src[lx.off]
		switch {
		case c == '\\' && lx.off+1 < len(lx.src) && lx.src[lx.off+1] == '"':
			b.WriteByte('"')
			lx.advance(2)
		case c == '"':
			lx.advance(1)
			return token{kind: tkString, text: b.String(), pos: start}
		default:
			b.WriteByte(c)
			lx.advance(1)
		}
	}
	lx.errf(start, "unterminated string")
	return token{kind: tkInvalid, pos: start}
}

// lexNumber reads an integer with an optional B, K(B), M(B) or G(B) suffix
// (powers of 1024, as in Odyssey's size values such as soft_oom's limit).
func (lx *lexer) lexNumber(start Position) token {
	end := lx.off
	if lx.src[end] == '-' {
		end++
	}
	digitsEnd := end
	for digitsEnd < len(lx.src) && isDigit(lx.src[digitsEnd]) {
		digitsEnd++
	}
	tail := digitsEnd
	for tail < len(lx.src) && isIdentPart(lx.src[tail]) {
		tail++
	}
	literal := string(lx.src[lx.off:tail])
	digits := string(lx.src[lx.off:digitsEnd])
	suffix := strings.ToLower(string(lx.src[digitsEnd:tail]))
	lx.advance(tail - lx.off)

	mult, ok := sizeSuffixes[suffix]
	if !ok {
		lx.errf(start, "invalid number %q", truncate(literal, 40))
		return token{kind: tkInvalid, pos: start}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || (n != 0 && (n > math.MaxInt64/mult || n < math.MinInt64/mult)) {
		lx.errf(start, "number %s is out of range", truncate(literal, 40))
		return token{kind: tkInvalid, pos: start}
	}
	return token{kind: tkInt, text: literal, num: n * mult, sized: suffix != "", pos: start}
}

// sizeSuffixes maps the lower-cased size suffixes Odyssey accepts to their
// multipliers; the empty suffix is a plain number.
var sizeSuffixes = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30,
}

// lexGarbage reports a run of characters that cannot start a token, once.
func (lx *lexer) lexGarbage(start Position) token {
	r, size := utf8.DecodeRune(lx.src[lx.off:])
	desc := strconv.QuoteRune(r)
	if r == utf8.RuneError && size <= 1 {
		desc = "byte " + strconv.Quote(string(lx.src[lx.off:lx.off+1]))
	}
	lx.advance(max(size, 1))
	for lx.off < len(lx.src) && !startsToken(lx.src[lx.off]) {
		lx.advance(1)
	}
	lx.errf(start, "unexpected character %s", desc)
	return token{kind: tkInvalid, pos: start}
}

// startsToken reports whether c ends a run of garbage: blanks, comments and
// anything that can begin a valid token.
func startsToken(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '#' ||
		c == '{' || c == '}' || c == '"' || isDigit(c) || isIdentStart(c)
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// truncate shortens s for use in a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
