package sqlmin

import "strings"

// tokKind is the class of a lexical token.
type tokKind uint8

const (
	tokEOF    tokKind = iota // end of input
	tokIdent                 // unquoted identifier or key word
	tokQIdent                // "quoted identifier"
	tokString                // string constant in any of its forms, dollar-quoted included
	tokNumber                // numeric constant
	tokParam                 // positional parameter: $1, $2, ...
	tokOp                    // run of operator characters, as PostgreSQL groups them
	tokPunct                 // any other single byte: ( ) [ ] , ; . : $ and so on
)

// token is a half-open byte range [start, end) of the lexer's input.
type token struct {
	kind       tokKind
	start, end int
}

// lexer splits SQL text into tokens the way PostgreSQL's scanner does, as
// far as token boundaries are concerned. It skips white space and
// comments, never allocates and never fails: text the server would refuse
// to scan (an unterminated literal, quoted identifier or comment) runs to
// the end of the input and sets bad.
//
// A backslash escapes the byte after it in E'...' literals, and in
// ordinary '...' literals too when backslash is set (the session runs with
// standard_conforming_strings off). It never does in B'...' and X'...'.
type lexer struct {
	src       string
	pos       int
	backslash bool
	bad       bool
}

// next returns the next token, or a tokEOF token at the end of the input.
func (l *lexer) next() token {
	l.skipSpace()
	src, i := l.src, l.pos
	if i >= len(src) {
		return token{kind: tokEOF, start: len(src), end: len(src)}
	}
	c := src[i]
	kind, end := tokPunct, i+1
	switch {
	case c == '\'':
		kind, end = tokString, l.quoted(i+1, l.backslash)
	case c == '"':
		kind, end = tokQIdent, l.quotedIdent(i+1)
	case c == '$':
		kind, end = l.dollar(i)
	case isIdentStart(c):
		end = i + 1
		for end < len(src) && isIdentCont(src[end]) {
			end++
		}
		kind = tokIdent
		if end == i+1 && end < len(src) && src[end] == '\'' {
			// One letter and a quote: maybe a prefixed literal.
			switch c {
			case 'e', 'E':
				kind, end = tokString, l.quoted(end+1, true)
			case 'b', 'B', 'x', 'X':
				kind, end = tokString, l.quoted(end+1, false)
			}
		}
	case isDigit(c) || c == '.' && i+1 < len(src) && isDigit(src[i+1]):
		kind, end = tokNumber, l.number(i)
	case isOpChar(c):
		kind, end = tokOp, l.operator(i)
	}
	l.pos = end
	return token{kind: kind, start: i, end: end}
}

// skipSpace moves past white space, "--" comments and nested "/* */"
// comments.
func (l *lexer) skipSpace() {
	src, i := l.src, l.pos
	for i < len(src) {
		switch c := src[i]; {
		case isSpace(c):
			i++
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			i = lineEnd(src, i+2)
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			i = l.blockComment(i + 2)
		default:
			l.pos = i
			return
		}
	}
	l.pos = i
}

// lineEnd returns the index of the first '\n' or '\r' at or after i, or
// len(src).
func lineEnd(src string, i int) int {
	for ; i < len(src); i++ {
		if src[i] == '\n' || src[i] == '\r' {
			return i
		}
	}
	return i
}

// blockComment returns the index just past the "*/" that closes a comment
// whose opening "/*" ends at i. Comments nest.
func (l *lexer) blockComment(i int) int {
	src := l.src
	depth := 1
	for i+1 < len(src) {
		switch {
		case src[i] == '/' && src[i+1] == '*':
			depth++
			i += 2
		case src[i] == '*' && src[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	l.bad = true
	return len(src)
}

// quoted returns the index just past a '...' literal whose opening quote
// ends at i. A doubled quote stands for one quote; with escapes (E'...') a
// backslash also escapes the byte after it. Literals separated only by
// white space containing a newline are one literal in SQL, and the later
// parts keep the escape rules of the first, so they are scanned together.
func (l *lexer) quoted(i int, escapes bool) int {
	src := l.src
	for i < len(src) {
		var j int
		if escapes {
			j = strings.IndexAny(src[i:], `'\`)
		} else {
			j = strings.IndexByte(src[i:], '\'')
		}
		if j < 0 {
			break
		}
		i += j
		if src[i] == '\\' {
			i += 2
			continue
		}
		if i+1 < len(src) && src[i+1] == '\'' {
			i += 2
			continue
		}
		i++
		next, ok := continuation(src, i)
		if !ok {
			return i
		}
		i = next + 1
	}
	l.bad = true
	return len(src)
}

// continuation reports whether the literal that closed just before i goes
// on: only white space and "--" comments, at least one newline among them,
// and then a quote, whose index it returns.
func continuation(src string, i int) (int, bool) {
	newline := false
	for i < len(src) {
		switch c := src[i]; {
		case c == '\n' || c == '\r':
			newline = true
			i++
		case isSpace(c):
			i++
		case c == '-' && i+1 < len(src) && src[i+1] == '-':
			i = lineEnd(src, i+2)
		case c == '\'':
			return i, newline
		default:
			return i, false
		}
	}
	return i, false
}

// quotedIdent returns the index just past a "..." identifier whose opening
// quote ends at i. A doubled quote stands for one quote.
func (l *lexer) quotedIdent(i int) int {
	src := l.src
	for {
		j := strings.IndexByte(src[i:], '"')
		if j < 0 {
			l.bad = true
			return len(src)
		}
		i += j + 1
		if i < len(src) && src[i] == '"' {
			i++
			continue
		}
		return i
	}
}

// dollar scans what starts with the '$' at i: a parameter ($1), a
// dollar-quoted string ($$...$$ or $tag$...$tag$), or else the lone '$'.
func (l *lexer) dollar(i int) (tokKind, int) {
	src := l.src
	j := i + 1
	if j < len(src) && isDigit(src[j]) {
		for j < len(src) && (isDigit(src[j]) || src[j] == '_') {
			j++
		}
		return tokParam, j
	}
	// A tag cannot start with a digit, and that case is handled above.
	for j < len(src) && isTagCont(src[j]) {
		j++
	}
	if j >= len(src) || src[j] != '$' {
		return tokPunct, i + 1
	}
	delim := src[i : j+1]
	k := strings.Index(src[j+1:], delim)
	if k < 0 {
		l.bad = true
		return tokString, len(src)
	}
	return tokString, j + 1 + k + len(delim)
}

// number returns the end of a numeric constant starting at i. It only
// needs to be precise enough not to swallow what follows.
func (l *lexer) number(i int) int {
	src := l.src
	for i < len(src) && (isDigit(src[i]) || src[i] == '_' || src[i] == '.') {
		i++
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		j := i + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < len(src) && isDigit(src[j]) {
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			i = j
		}
	}
	return i
}

// operator returns the end of the operator starting at i. Like PostgreSQL
// it stops before "--" or "/*", which start comments even inside an
// operator, and drops a trailing '+' or '-' from a multi-character operator
// unless the operator contains one of ~ ! @ # % ^ & | ` ?, so that "=-1"
// is "=" followed by "-1".
func (l *lexer) operator(i int) int {
	src := l.src
	j := i + 1
	for j < len(src) && isOpChar(src[j]) {
		if j+1 < len(src) && (src[j] == '-' && src[j+1] == '-' || src[j] == '/' && src[j+1] == '*') {
			break
		}
		j++
	}
	if j-i > 1 && (src[j-1] == '+' || src[j-1] == '-') && !strings.ContainsAny(src[i:j-1], "~!@#%^&|`?") {
		for j-i > 1 && (src[j-1] == '+' || src[j-1] == '-') {
			j--
		}
	}
	return j
}

// isSpace reports whether c is white space to SQL.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isIdentStart reports whether c can start an identifier. Every byte of a
// multi-byte character counts as a letter.
func isIdentStart(c byte) bool { return isLetter(c) || c == '_' || c >= 0x80 }

// isIdentCont reports whether c can continue an identifier; '$' can.
func isIdentCont(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

// isTagCont reports whether c can appear in a dollar-quote tag.
func isTagCont(c byte) bool { return isIdentStart(c) || isDigit(c) }

// isOpChar reports whether c is one of the characters operators are made
// of.
func isOpChar(c byte) bool {
	switch c {
	case '~', '!', '@', '#', '^', '&', '|', '`', '?', '+', '-', '*', '/', '%', '<', '>', '=':
		return true
	}
	return false
}
