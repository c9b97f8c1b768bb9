package sqlmin

import "strings"

// maxIdentLen is the longest identifier PostgreSQL keeps with the default
// NAMEDATALEN of 64; longer ones are cut.
const maxIdentLen = 63

// classify returns the statement scan found in sql.
func (o Options) classify(sql string, sp span) Stmt {
	text := strings.Trim(sql[sp.start:sp.end], " \t\n\r\f\v")
	if sp.bad {
		// The server will refuse the whole query string.
		return Stmt{Text: text}
	}
	st := Stmt{Text: text, AdvisoryLock: sp.advisory}
	p := parser{lx: o.lexer(text, 0)}
	p.advance()
	if p.tok.kind != tokIdent {
		return st
	}
	out := st
	if p.statement(&out) {
		return out
	}
	return st
}

// parser walks the tokens of one statement for the recognisers.
type parser struct {
	lx  lexer
	tok token // the current token
}

// advance moves to the next token.
func (p *parser) advance() { p.tok = p.lx.next() }

// text returns the source of the current token.
func (p *parser) text() string { return p.lx.src[p.tok.start:p.tok.end] }

// is reports whether the current token is the key word kw (in lower case).
func (p *parser) is(kw string) bool {
	return p.tok.kind == tokIdent && equalFold(p.text(), kw)
}

// accept moves past the key word kw if it is the current token.
func (p *parser) accept(kw string) bool {
	if p.is(kw) {
		p.advance()
		return true
	}
	return false
}

// peek returns the token after the current one.
func (p *parser) peek() token {
	l := p.lx
	return l.next()
}

// peekIs reports whether the token after the current one is the key word kw.
func (p *parser) peekIs(kw string) bool {
	t := p.peek()
	return t.kind == tokIdent && equalFold(p.lx.src[t.start:t.end], kw)
}

// isChar reports whether the current token is the punctuation or operator c.
func (p *parser) isChar(c byte) bool {
	return (p.tok.kind == tokPunct || p.tok.kind == tokOp) && p.tok.end-p.tok.start == 1 && p.lx.src[p.tok.start] == c
}

// atEnd reports whether the statement has no more tokens.
func (p *parser) atEnd() bool { return p.tok.kind == tokEOF }

// ident reads an identifier and returns it as PostgreSQL names it.
func (p *parser) ident() (string, bool) {
	var name string
	switch p.tok.kind {
	case tokIdent:
		name = lower(p.text())
	case tokQIdent:
		name = unquote(p.text())
		if name == "" {
			return "", false // the server refuses ""
		}
	default:
		return "", false
	}
	p.advance()
	return truncate(name), true
}

// dottedName reads a parameter name: identifiers joined by '.'.
func (p *parser) dottedName() (string, bool) {
	name, ok := p.ident()
	if !ok {
		return "", false
	}
	for p.isChar('.') {
		p.advance()
		part, ok := p.ident()
		if !ok {
			return "", false
		}
		name += "." + part
	}
	return name, true
}

// rest returns the source from the current token to the end of the last
// one, leaving out trailing comments, and moves to the end.
func (p *parser) rest() string {
	if p.atEnd() {
		return ""
	}
	start, end := p.tok.start, p.tok.end
	for p.advance(); !p.atEnd(); p.advance() {
		end = p.tok.end
	}
	return p.lx.src[start:end]
}

// parens reads a parenthesised list, the current token being its '(', and
// returns the text inside, trimmed.
func (p *parser) parens() (string, bool) {
	open := p.tok.end
	depth := 0
	for ; !p.atEnd(); p.advance() {
		switch {
		case p.isChar('('):
			depth++
		case p.isChar(')'):
			depth--
			if depth == 0 {
				inner := p.lx.src[open:p.tok.start]
				p.advance()
				return strings.Trim(inner, " \t\n\r\f\v"), true
			}
		}
	}
	return "", false
}

// statement dispatches on the first key word, the current token. It
// reports whether the statement is one of the recognised kinds, having
// filled in st.
func (p *parser) statement(st *Stmt) bool {
	w := p.text()
	p.advance()
	switch {
	case equalFold(w, "begin"):
		st.Kind = Begin
		if !p.accept("work") {
			p.accept("transaction")
		}
		return p.transactionModes(st)
	case equalFold(w, "start"):
		st.Kind = Begin
		return p.accept("transaction") && p.transactionModes(st)
	case equalFold(w, "commit"), equalFold(w, "end"):
		st.Kind = Commit
		return p.transactionEnd(st)
	case equalFold(w, "rollback"), equalFold(w, "abort"):
		st.Kind = Rollback
		if equalFold(w, "rollback") && p.rollbackTo(st) {
			return true
		}
		return p.transactionEnd(st)
	case equalFold(w, "savepoint"):
		st.Kind = Savepoint
		return p.savepoint(st)
	case equalFold(w, "release"):
		st.Kind = Release
		p.accept("savepoint")
		return p.savepoint(st)
	case equalFold(w, "set"):
		return p.set(st)
	case equalFold(w, "reset"):
		return p.reset(st)
	case equalFold(w, "discard"):
		return p.discard(st)
	case equalFold(w, "deallocate"):
		return p.deallocate(st)
	case equalFold(w, "prepare"):
		return p.prepare(st)
	case equalFold(w, "execute"):
		return p.execute(st)
	case equalFold(w, "listen"):
		st.Kind = Listen
		return p.channel(st, false)
	case equalFold(w, "unlisten"):
		st.Kind = Unlisten
		return p.channel(st, true)
	case equalFold(w, "create"):
		return p.create(st)
	case equalFold(w, "declare"):
		return p.declare(st)
	case equalFold(w, "load"):
		st.Kind = Load
		st.Value = p.rest()
		return st.Value != ""
	}
	return false
}

// transactionModes reads what follows BEGIN [WORK | TRANSACTION] or START
// TRANSACTION: nothing, or a list of transaction modes.
func (p *parser) transactionModes(st *Stmt) bool {
	if p.atEnd() {
		st.Bare = true
		return true
	}
	return p.is("isolation") || p.is("read") || p.is("deferrable") || p.is("not")
}

// transactionEnd reads what follows COMMIT, END, ROLLBACK or ABORT:
// [WORK | TRANSACTION] [AND [NO] CHAIN].
func (p *parser) transactionEnd(st *Stmt) bool {
	if !p.accept("work") {
		p.accept("transaction")
	}
	if p.accept("and") {
		chain := !p.accept("no")
		if !p.accept("chain") {
			return false
		}
		st.Chain = chain
	}
	return p.atEnd()
}

// rollbackTo reads ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name,
// leaving the parser where it was if TO does not follow.
func (p *parser) rollbackTo(st *Stmt) bool {
	save := *p
	if !p.accept("work") {
		p.accept("transaction")
	}
	if !p.accept("to") {
		*p = save
		return false
	}
	st.Kind = RollbackTo
	p.accept("savepoint")
	return p.savepoint(st)
}

// savepoint reads the savepoint name ending a statement.
func (p *parser) savepoint(st *Stmt) bool {
	name, ok := p.ident()
	st.Name = name
	return ok && p.atEnd()
}

// set reads what follows SET.
func (p *parser) set(st *Stmt) bool {
	st.Kind = Set
	// LOCAL and SESSION are also names when TO or = follows them.
	next := p.peek()
	assign := next.kind == tokIdent && equalFold(p.lx.src[next.start:next.end], "to") ||
		next.kind == tokOp && p.lx.src[next.start:next.end] == "="
	switch {
	case assign:
	case p.is("local"):
		st.Kind = SetLocal
		p.advance()
	case p.is("session") && !p.peekIs("authorization") && !p.peekIs("characteristics"):
		p.advance()
	}

	// The generic form comes first: "SET role = x" names the parameter
	// role just as "SET ROLE x" does, but "SET names = x" is about a
	// parameter called names.
	save := *p
	if name, ok := p.dottedName(); ok && (p.is("to") || p.isChar('=')) {
		p.advance()
		st.Name = name
		return p.setValue(st, false, false)
	}
	*p = save

	ok := true
	switch {
	case p.is("transaction"), p.is("session") && p.peekIs("characteristics"):
		st.Kind = SetTransaction
		return true
	case p.accept("names"):
		st.Name = "client_encoding"
		return p.setValue(st, true, false)
	case p.accept("time"):
		st.Name = "TimeZone"
		return p.accept("zone") && p.setValue(st, false, true)
	case p.accept("schema"):
		st.Name = "search_path"
	case p.accept("role"):
		st.Name = "role"
	case p.accept("session"):
		st.Name = "session_authorization"
		ok = p.accept("authorization")
	case p.accept("xml"):
		st.Name = "xmloption"
		ok = p.accept("option")
	default:
		return false
	}
	return ok && p.setValue(st, false, false)
}

// setValue reads the value of a SET, which runs to the end of the
// statement. A missing value is an error unless empty is set, when it
// means the default; so does LOCAL when local is set (SET TIME ZONE).
func (p *parser) setValue(st *Stmt, empty, local bool) bool {
	first := p.tok
	def := p.is("default") || local && p.is("local")
	st.Value = p.rest()
	if st.Value == "" {
		st.Default = empty
		return empty
	}
	// DEFAULT is a value only on its own.
	st.Default = def && len(st.Value) == first.end-first.start
	return true
}

// reset reads what follows RESET.
func (p *parser) reset(st *Stmt) bool {
	if p.is("all") && p.peek().kind == tokEOF {
		st.Kind = ResetAll
		return true
	}
	save := *p
	if name, ok := p.dottedName(); ok && p.atEnd() {
		st.Kind = Reset
		st.Name = name
		return true
	}
	*p = save

	st.Kind = Reset
	switch {
	case p.accept("time"):
		st.Name = "TimeZone"
		return p.accept("zone") && p.atEnd()
	case p.accept("session"):
		st.Name = "session_authorization"
		return p.accept("authorization") && p.atEnd()
	case p.accept("transaction"):
		st.Kind = SetTransaction
		return p.accept("isolation") && p.accept("level") && p.atEnd()
	}
	return false
}

// discard reads what follows DISCARD.
func (p *parser) discard(st *Stmt) bool {
	st.Kind = Discard
	switch {
	case p.accept("all"):
		st.Kind = DiscardAll
	case p.accept("plans"):
		st.Name = "plans"
	case p.accept("sequences"):
		st.Name = "sequences"
	case p.accept("temp"), p.accept("temporary"):
		st.Name = "temp"
	default:
		return false
	}
	return p.atEnd()
}

// deallocate reads what follows DEALLOCATE.
func (p *parser) deallocate(st *Stmt) bool {
	if p.is("prepare") && p.peek().kind != tokEOF {
		p.advance() // otherwise it is a statement called prepare
	}
	if p.is("all") && p.peek().kind == tokEOF {
		st.Kind = DeallocateAll
		return true
	}
	st.Kind = Deallocate
	name, ok := p.ident()
	st.Name = name
	return ok && p.atEnd()
}

// prepare reads what follows PREPARE.
func (p *parser) prepare(st *Stmt) bool {
	st.Kind = Prepare
	name, ok := p.ident()
	if !ok {
		return false
	}
	st.Name = name
	if p.isChar('(') {
		if st.Types, ok = p.parens(); !ok {
			return false
		}
	}
	if !p.accept("as") {
		return false
	}
	st.Body = p.rest()
	return st.Body != ""
}

// execute reads what follows EXECUTE.
func (p *parser) execute(st *Stmt) bool {
	st.Kind = Execute
	name, ok := p.ident()
	if !ok {
		return false
	}
	st.Name = name
	if p.isChar('(') {
		if st.Args, ok = p.parens(); !ok {
			return false
		}
	}
	return p.atEnd()
}

// channel reads the channel name of LISTEN or UNLISTEN; star allows "*".
func (p *parser) channel(st *Stmt, star bool) bool {
	if star && p.isChar('*') {
		p.advance()
		st.Name = "*"
		return p.atEnd()
	}
	name, ok := p.ident()
	st.Name = name
	return ok && p.atEnd()
}

// create reads what follows CREATE, looking for TEMP or TEMPORARY.
func (p *parser) create(st *Stmt) bool {
	if p.accept("or") && !p.accept("replace") {
		return false
	}
	if !p.accept("global") {
		p.accept("local")
	}
	st.Kind = CreateTemp
	return p.is("temp") || p.is("temporary")
}

// declare reads what follows DECLARE, looking for WITH HOLD before FOR.
func (p *parser) declare(st *Stmt) bool {
	name, ok := p.ident()
	if !ok {
		return false
	}
	for ; !p.atEnd() && !p.is("for"); p.advance() {
		if p.is("with") && p.peekIs("hold") {
			st.Kind = DeclareHold
			st.Name = name
			return true
		}
	}
	return false
}

// equalFold reports whether s equals the lower-case ASCII word kw, ignoring
// the case of ASCII letters in s.
func equalFold(s, kw string) bool {
	if len(s) != len(kw) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != kw[i] {
			return false
		}
	}
	return true
}

// lower folds the ASCII letters of s to lower case, allocating only when
// there is one to fold.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// unquote returns the name in a "quoted identifier" token.
func unquote(s string) string {
	s = s[1 : len(s)-1]
	if strings.Contains(s, `""`) {
		s = strings.ReplaceAll(s, `""`, `"`)
	}
	return s
}

// truncate cuts a name to maxIdentLen bytes without splitting a UTF-8
// character.
func truncate(s string) string {
	if len(s) <= maxIdentLen {
		return s
	}
	n := maxIdentLen
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
