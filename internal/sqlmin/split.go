package sqlmin

import "strings"

// Options are the session settings that change how SQL text is read. The
// zero value suits a session with the server's defaults.
type Options struct {
	// BackslashEscapes is set when the session runs with
	// standard_conforming_strings off (the server reports the setting in
	// ParameterStatus messages). A backslash then escapes the character
	// after it in ordinary '...' literals, as it always does in E'...'.
	BackslashEscapes bool
}

// lexer returns a lexer for src, starting at pos.
func (o Options) lexer(src string, pos int) lexer {
	return lexer{src: src, pos: pos, backslash: o.BackslashEscapes}
}

// Split cuts a simple-protocol query string into its statements and
// classifies each one. It reads the text as a session with the server's
// default settings would; see Options.Split for others.
//
// Statements end at a ';' that is outside literals, quoted identifiers,
// comments and parentheses. Like psql, Split also keeps together the body
// of CREATE [OR REPLACE] FUNCTION or PROCEDURE ... BEGIN ATOMIC ... END,
// whose inner statements end in ';' too. Statements with nothing but white
// space and comments in them are dropped, so ";;" yields none.
//
// Split never fails. The server parses a query string as a whole before it
// runs any of it, and refuses it whole if it cannot scan or parse it, so
// how such text is split matters little.
func Split(sql string) []Stmt { return Options{}.Split(sql) }

// First classifies the first statement of sql, as Split would, and
// reports whether other statements follow it. It is the cheap path for the
// usual query string of one statement. When sql holds no statement at all,
// First returns a zero Stmt (Other with empty Text) and false.
func First(sql string) (st Stmt, more bool) { return Options{}.First(sql) }

// Split is the package's Split for a session with settings o.
func (o Options) Split(sql string) []Stmt {
	var out []Stmt
	for pos := 0; pos < len(sql); {
		sp := o.scan(sql, pos)
		pos = sp.next
		if sp.tokens == 0 {
			continue
		}
		if out == nil {
			out = make([]Stmt, 0, min(strings.Count(sql[pos:], ";")+1, 16))
		}
		out = append(out, o.classify(sql, sp))
	}
	return out
}

// First is the package's First for a session with settings o.
func (o Options) First(sql string) (st Stmt, more bool) {
	for pos := 0; pos < len(sql); {
		sp := o.scan(sql, pos)
		pos = sp.next
		if sp.tokens == 0 {
			continue
		}
		return o.classify(sql, sp), o.hasTokens(sql, pos)
	}
	return Stmt{}, false
}

// hasTokens reports whether sql holds, from pos on, a token other than
// ';', that is a statement that is not empty.
func (o Options) hasTokens(sql string, pos int) bool {
	l := o.lexer(sql, pos)
	for {
		t := l.next()
		switch {
		case t.kind == tokEOF:
			return false
		case t.kind != tokPunct || sql[t.start] != ';':
			return true
		}
	}
}

// span is what scan learns about one statement.
type span struct {
	start, end int  // the statement, without its ';'
	next       int  // where the next statement starts
	tokens     int  // how many tokens it has; 0 for an empty statement
	advisory   bool // it calls a session-level advisory lock function
	bad        bool // it has text the server cannot scan
}

// scan reads one statement of sql, starting at pos.
func (o Options) scan(sql string, pos int) span {
	sp := span{start: pos}
	l := o.lexer(sql, pos)
	var (
		parens  int     // depth of parentheses
		blocks  int     // depth of BEGIN ... END in a routine body
		words   [4]byte // first letters of the leading key words, see routineWord
		nwords  int
		lockFun bool // the previous token names an advisory lock function
	)
	for {
		t := l.next()
		if t.kind == tokEOF {
			sp.end, sp.next = len(sql), len(sql)
			break
		}
		if t.kind == tokPunct && sql[t.start] == ';' && parens == 0 && blocks == 0 {
			sp.end, sp.next = t.start, t.end
			break
		}
		sp.tokens++
		if lockFun && t.kind == tokPunct && sql[t.start] == '(' {
			sp.advisory = true
		}
		lockFun = false
		switch t.kind {
		case tokPunct:
			switch sql[t.start] {
			case '(':
				parens++
			case ')':
				parens = max(parens-1, 0)
			}
		case tokIdent:
			w := sql[t.start:t.end]
			if nwords < len(words) {
				words[nwords] = routineWord(w)
				nwords++
			}
			if parens == 0 && isRoutine(words) {
				switch {
				case equalFold(w, "begin"):
					blocks++
				case equalFold(w, "case"):
					// CASE ends with END too; it matters only inside a block.
					if blocks > 0 {
						blocks++
					}
				case equalFold(w, "end"):
					blocks = max(blocks-1, 0)
				}
			}
			lockFun = isAdvisoryLock(w, true)
		case tokQIdent:
			if t.end-t.start >= 2 {
				lockFun = isAdvisoryLock(sql[t.start+1:t.end-1], false)
			}
		}
	}
	sp.bad = l.bad
	return sp
}

// routineWord returns the first letter of the key words that can start
// CREATE [OR REPLACE] {FUNCTION | PROCEDURE}, and 0 for any other word.
func routineWord(w string) byte {
	for _, kw := range [...]string{"create", "or", "replace", "function", "procedure"} {
		if equalFold(w, kw) {
			return kw[0]
		}
	}
	return 0
}

// isRoutine reports whether the leading words of a statement, as recorded
// by routineWord, are CREATE [OR REPLACE] {FUNCTION | PROCEDURE}. This is
// psql's own heuristic for finding the end of a statement.
func isRoutine(w [4]byte) bool {
	if w[0] != 'c' {
		return false
	}
	if w[1] == 'f' || w[1] == 'p' {
		return true
	}
	return w[1] == 'o' && w[2] == 'r' && (w[3] == 'f' || w[3] == 'p')
}

// isAdvisoryLock reports whether name is that of a function taking a
// session-level advisory lock. Unquoted names (fold true) are compared
// without regard to case.
func isAdvisoryLock(name string, fold bool) bool {
	switch len(name) {
	case len("pg_advisory_lock"), len("pg_advisory_lock_shared"),
		len("pg_try_advisory_lock"), len("pg_try_advisory_lock_shared"):
	default:
		return false
	}
	for _, f := range [...]string{"pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared"} {
		if fold && equalFold(name, f) || name == f {
			return true
		}
	}
	return false
}
