package console

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tokEOF         tokKind = iota
	tokWord                // show, pools, c0123456789ab, log_debug
	tokQuotedIdent         // "Name"
	tokString              // 'text'
	tokNumber              // 42, -1, 0.5
	tokSemicolon
	tokEquals
	tokStar
	tokDot
)

type token struct {
	kind tokKind
	text string
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of command"
	case tokString:
		return "string " + quoteLiteral(t.text)
	case tokQuotedIdent:
		return "name " + quoteIdent(t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// maxTokens bounds the work one command can cause; no valid command has
// more than a dozen.
const maxTokens = 64

// lex splits a command into tokens, dropping whitespace and comments.
func lex(s string) ([]token, error) {
	var out []token
	for i := 0; ; {
		if len(out) > maxTokens {
			return nil, parseErrorf("command too long")
		}
		c, ok := at(s, i)
		switch {
		case !ok:
			return append(out, token{kind: tokEOF}), nil
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && strings.HasPrefix(s[i:], "--"):
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				i = len(s)
			} else {
				i += end + 1
			}
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, parseErrorf("unterminated /* comment")
			}
			i += 2 + end + 2
		case c == ';':
			out = append(out, token{kind: tokSemicolon, text: ";"})
			i++
		case c == '=':
			out = append(out, token{kind: tokEquals, text: "="})
			i++
		case c == '*':
			out = append(out, token{kind: tokStar, text: "*"})
			i++
		case c == '.':
			out = append(out, token{kind: tokDot, text: "."})
			i++
		case c == '\'' || c == '"':
			text, n, err := quoted(s[i:], c)
			if err != nil {
				return nil, err
			}
			kind := tokString
			if c == '"' {
				kind = tokQuotedIdent
				if text == "" {
					return nil, parseErrorf("zero-length quoted name")
				}
			}
			out = append(out, token{kind: kind, text: text})
			i += n
		case isDigit(c) || (c == '-' && next(s, i, isDigit)):
			n := 1
			for n < len(s)-i && (isDigit(s[i+n]) || s[i+n] == '.') {
				n++
			}
			out = append(out, token{kind: tokNumber, text: s[i : i+n]})
			i += n
		case isWordStart(c):
			n := 1
			for n < len(s)-i && isWordPart(s[i+n]) {
				n++
			}
			out = append(out, token{kind: tokWord, text: s[i : i+n]})
			i += n
		default:
			return nil, parseErrorf("unexpected character %q", c)
		}
	}
}

func at(s string, i int) (byte, bool) {
	if i < len(s) {
		return s[i], true
	}
	return 0, false
}

func next(s string, i int, f func(byte) bool) bool {
	c, ok := at(s, i+1)
	return ok && f(c)
}

func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isWordStart(c byte) bool { return c == '_' || (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isWordPart(c byte) bool  { return isWordStart(c) || isDigit(c) || c == '$' }

// quoted reads a string or name in quote q, with the quote doubled inside,
// and returns its text and the bytes it took.
func quoted(s string, q byte) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != q {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), i + 1, nil
	}
	return "", 0, parseErrorf("unterminated quoted %s", map[byte]string{'\'': "string", '"': "name"}[q])
}

// quoteLiteral renders s as a SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteIdent renders a name so that the lexer reads it back unchanged: as
// a bare word when it is one in lower case, else in double quotes.
func quoteIdent(s string) string {
	if s == "" {
		return ""
	}
	bare := isWordStart(s[0]) && s == strings.ToLower(s)
	for i := 0; i < len(s) && bare; i++ {
		bare = isWordPart(s[i])
	}
	if bare {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
