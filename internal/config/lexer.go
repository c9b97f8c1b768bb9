package config

import (
	"bytes"
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

	// reported is set when the lexer already reported a problem with the
	// token but still gives it a meaning (a string with its closing quote
	// missing); the parser does not complain about it again.
	reported bool
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
// double-quoted and end at the end of their line, and a backslash takes the
// next byte along. The only escape is \" for a quote; every other backslash
// is kept as written, so log_format's "\n" reaches the logger untouched.
// Problems are reported through errf and the offending input comes back as a
// tkInvalid token, or, for a string whose closing quote is missing, as a
// string token marked reported.
type lexer struct {
	file string
	src  []byte
	off  int
	line int
	col  int
	errf func(pos Position, format string, args ...any)
	stop func() bool // true once the load has given up

	checkedLine int // the line opensNext last read to its end
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

// lexString reads a double-quoted string. As in Odyssey, a backslash and
// the byte after it go together, so \" does not end the string (it stands
// for a quote; other pairs are kept as written), and a string cannot go on
// past the end of its line, except after a backslash, which Odyssey lets
// through too.
func (lx *lexer) lexString(start Position) token {
	body := lx.off + 1
	end := body
	for end < len(lx.src) && lx.src[end] != '"' && lx.src[end] != '\n' {
		if lx.src[end] == '\\' && end+1 < len(lx.src) {
			end += 2
		} else {
			end++
		}
	}
	if end < len(lx.src) && lx.src[end] == '"' {
		if lx.opensNext(body, end) {
			return lx.unterminated(start, body, end)
		}
		text := unescape(lx.src[body:end])
		lx.advance(end + 1 - lx.off)
		return token{kind: tkString, text: text, pos: start}
	}
	return lx.unterminated(start, body, end)
}

// opensNext reports whether the quote at offset end, which would close the
// string whose text starts at body, rather opens the next string, as in
// `user "u "10.0.0.0/8" {` with the quote after u missing. It does when the
// quote comes after a blank and right before more text, and the line read
// on from there ends inside a string, with an odd number of quotes. Only
// the first such quote of a line is looked into, which keeps the lexer
// linear on any input.
func (lx *lexer) opensNext(body, end int) bool {
	if end == body || (lx.src[end-1] != ' ' && lx.src[end-1] != '\t') ||
		end+1 >= len(lx.src) || strings.IndexByte(" \t\r\n\f\v{}#\"", lx.src[end+1]) >= 0 ||
		lx.checkedLine == lx.line {
		return false
	}
	lx.checkedLine = lx.line
	inString := false
	for i := end + 1; i < len(lx.src) && lx.src[i] != '\n'; i++ {
		switch c := lx.src[i]; {
		case inString && c == '\\':
			i++ // as in lexString, a backslash takes the next byte along
		case c == '"':
			inString = !inString
		case c == '#' && !inString:
			return false
		}
	}
	return inString
}

// unterminated reports a string that opened at start, whose text begins
// at offset body and runs without a closing quote into offset end: the end
// of the line (or of the file), or the quote that opens the next string
// (see opensNext). The error is reported once, where the string opened, and
// the string is taken to end there: Odyssey's strings cannot span lines, and
// reading on as if they could would turn every later quote inside out and
// bury the one mistake under errors about the lines that follow.
//
// The string comes back as a string token holding the rest of the line, so
// that `storage "pg` still names what was meant and later checks stay
// quiet; the parser does not report the token again. Blanks and braces at
// the end of the line are left out: in `database "db {` or
// `listen { host "* }` the braces are the block's own and are read as
// tokens, so that the blocks still match.
func (lx *lexer) unterminated(start Position, body, end int) token {
	msg := `unterminated string (the closing " is missing)`
	if lineStart := bytes.LastIndexByte(lx.src[:body-1], '\n') + 1; bytes.IndexByte(lx.src[lineStart:body-1], '"') >= 0 {
		// With other quotes before it on the line, the missing quote may
		// as well be one of theirs.
		msg = `unterminated string (the closing " is missing here or in an earlier string on this line)`
	}
	lx.errf(start, "%s", msg)
	cut := end
	for cut > body && strings.IndexByte(" \t\r\f\v{}", lx.src[cut-1]) >= 0 {
		cut--
	}
	if brace := bytes.IndexAny(lx.src[cut:end], "{}"); brace >= 0 {
		end = cut + brace
	}
	text := unescape(lx.src[body:cut])
	lx.advance(end - lx.off)
	return token{kind: tkString, text: text, pos: start, reported: true}
}

// unescape returns the text of a string: \" stands for a quote, and every
// other backslash pair is kept as written.
func unescape(raw []byte) string {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '\\' && i+1 < len(raw) {
			if raw[i+1] != '"' {
				b.WriteByte('\\')
			}
			i++
		}
		b.WriteByte(raw[i])
	}
	return b.String()
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
