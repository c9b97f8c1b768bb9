package config

import (
	"fmt"
	"strings"
)

// value is a parsed keyword value together with where it was written.
type value struct {
	kwPos     Position // the keyword
	pos       Position // the value itself
	b         bool
	n         int64
	s         string
	isDefault bool // the bare word `default` stood in for a string
	bad       bool // the value was wrong and has been reported
	pairs     []KV
	list      []string
}

// int returns the numeric value; the parser already checked its range.
func (v value) int() int { return int(v.n) }

// object is the target of one block's items: the model object it fills (if
// any) and every keyword seen in it, implemented or not, which validation
// needs for cross-checks and for pointing at the right line.
type object struct {
	block   blockID
	path    string // e.g. `database "db" user "u"`; empty at top level
	open    Position
	ignored bool // the whole block has no effect: type-check only

	cfg     *Config
	listen  *Listen
	storage *Storage
	rule    *Rule
	ldap    *LDAPEndpoint

	dbName    string // database blocks: passed on to their user blocks
	dbDefault bool

	seen map[string]value
}

// where describes the block for messages: "at top level" or
// `in database "db" user "u" block`.
func (o *object) where() string {
	if o.block == blockTop {
		return "at top level"
	}
	return "in " + o.path + " block"
}

func newObject(b blockID, path string, open Position) *object {
	return &object{block: b, path: path, open: open, seen: map[string]value{}}
}

// namedDef is a named top-level section that rules refer to by name
// (ldap_endpoint, shared_pool).
type namedDef struct {
	name string
	pos  Position
}

// parser turns tokens into the model. It reports problems and carries on,
// so that one run shows every mistake in the file.
type parser struct {
	name     string // name of the main file
	cfg      *Config
	diags    *diagList
	readFile func(string) ([]byte, error)

	lex   *lexer
	tok   token
	stack []string // absolute paths of the files being read (include cycles)
	shown []string // the same files as named in messages
	files int      // files read so far, the main one included

	global   *object
	listens  []*object
	storages []*object
	rules    []*object
	ldaps    []*object
	named    map[blockID][]namedDef
}

func newParser(name string, readFile func(string) ([]byte, error)) *parser {
	cfg := newConfig(name)
	p := &parser{
		name:     name,
		cfg:      cfg,
		diags:    newDiagList(),
		readFile: readFile,
		named:    map[blockID][]namedDef{},
	}
	p.global = newObject(blockTop, "", Position{File: name})
	p.global.cfg = cfg
	return p
}

func (p *parser) next() { p.tok = p.lex.next() }

func (p *parser) errorf(pos Position, format string, args ...any) {
	p.diags.errorf(pos, format, args...)
}

// errorAt reports a problem with token t, unless the lexer already did.
func (p *parser) errorAt(t token, format string, args ...any) {
	if t.kind != tkInvalid && !t.reported {
		p.errorf(t.pos, format, args...)
	}
}

// parseFile reads the top-level items of one file. Included files are read
// by calling it recursively, with the includer's lexer set aside.
func (p *parser) parseFile(name, abs string, src []byte) {
	p.diags.noteFile(name)
	p.stack = append(p.stack, abs)
	p.shown = append(p.shown, name)
	p.files++
	savedLex, savedTok := p.lex, p.tok

	p.lex = newLexer(name, src, p.diags.errorf, p.diags.full)
	p.next()
	p.parseItems(p.global)

	p.lex, p.tok = savedLex, savedTok
	p.stack = p.stack[:len(p.stack)-1]
	p.shown = p.shown[:len(p.shown)-1]
}

// parseItems reads the items of block o up to its closing brace (or, at
// top level, up to the end of the file).
func (p *parser) parseItems(o *object) {
	for {
		switch p.tok.kind {
		case tkEOF:
			if o.block != blockTop {
				p.errorf(p.tok.pos, `unexpected end of file: missing "}" for the %s block opened at %s`, o.path, o.open)
			}
			return
		case tkRBrace:
			if o.block == blockTop {
				p.errorf(p.tok.pos, `unexpected "}" at top level`)
			}
			p.next()
			if o.block != blockTop {
				return
			}
		case tkWord:
			p.parseItem(o)
		default:
			p.errorAt(p.tok, "expected a keyword %s, found %s", o.where(), p.tok.describe())
			p.skipToken()
		}
	}
}

// parseItem reads one keyword and whatever follows it.
func (p *parser) parseItem(o *object) {
	kwTok := p.tok
	name := strings.ToLower(kwTok.text)
	kw := lookupKeyword(o.block, name)
	if kw == nil {
		p.unknownKeyword(o, kwTok, name)
		p.next()
		p.skipValue(o.block, kwTok.pos.Line)
		return
	}
	p.next()
	switch kw.kind {
	case kindInclude:
		p.parseInclude(kwTok)
	case kindListen:
		p.parseListen(kwTok)
	case kindStorage:
		p.parseStorage(kwTok)
	case kindDatabase:
		p.parseDatabase(kwTok)
	case kindUser:
		p.parseUser(o, kwTok)
	case kindGroup:
		p.parseGroup(o, kwTok, kw)
	case kindLDAP:
		p.parseLDAPEndpoint(kwTok)
	case kindBlock, kindNamed:
		p.parseIgnoredBlock(o, kwTok, kw)
	default:
		v, ok := p.readValue(kw, kwTok)
		if !ok || v.bad {
			// Remember the keyword anyway, so that validation does not
			// add "pool is not set" to "unknown value for pool".
			o.seen[kw.name] = value{kwPos: kwTok.pos, pos: v.pos, bad: true}
			if !ok {
				p.skipValue(o.block, kwTok.pos.Line)
			}
			return
		}
		p.apply(o, kw, v)
	}
}

// apply stores a value: into the model when the keyword is implemented,
// otherwise it only warns.
func (p *parser) apply(o *object, kw *keyword, v value) {
	o.seen[kw.name] = v
	if o.ignored {
		return
	}
	if kw.deprecated {
		p.diags.warnOnce("deprecated "+kw.name, v.kwPos, fmt.Sprintf("%q is deprecated and ignored", kw.name))
		return
	}
	handled, err := store(o, kw.name, v)
	if err != nil {
		p.errorf(v.pos, "%v", err)
		v.bad = true
		o.seen[kw.name] = v
	}
	if !handled || pendingKeyword(o.block, kw.name) {
		p.warnAccepted(o, kw.name, v.kwPos)
	}
}

// store runs the implemented setter for name in o's block, if there is one.
func store(o *object, name string, v value) (bool, error) {
	switch o.block {
	case blockTop:
		if f := implemented.global[name]; f != nil {
			return true, f(o.cfg, v)
		}
	case blockListen:
		if f := implemented.listen[name]; f != nil {
			return true, f(o.listen, v)
		}
	case blockStorage:
		if f := implemented.storage[name]; f != nil {
			return true, f(o.storage, v)
		}
	case blockUser:
		if f := implemented.rule[name]; f != nil {
			return true, f(o.rule, v)
		}
	case blockLDAPEndpoint:
		if f := implemented.ldap[name]; f != nil {
			return true, f(o.ldap, v)
		}
	}
	return false, nil
}

// warnAccepted reports, once per load, that a keyword Odyssey knows has no
// effect here. When the same name does work in another block, the warning
// says which block it is about.
func (p *parser) warnAccepted(o *object, name string, pos Position) {
	qual := ""
	if implementedElsewhere(o.block, name) {
		if noun, ok := blockNoun[o.block]; ok {
			qual = " " + noun
		}
	}
	p.diags.warnOnce("accepted "+name+qual, pos,
		fmt.Sprintf("%q%s is accepted but not implemented yet; it has no effect", name, qual))
}

// unknownKeyword reports a word that is not a keyword of block o, telling
// a misplaced keyword from a misspelt one.
func (p *parser) unknownKeyword(o *object, t token, name string) {
	if knownElsewhere(o.block, name) {
		p.errorf(t.pos, "keyword %q is not allowed %s", t.text, o.where())
		return
	}
	p.errorf(t.pos, "unknown keyword %q %s%s", truncate(t.text, 64), o.where(), didYouMean(name, keywordNames(o.block)))
}

// skipToken moves past one token, or past a whole block at "{".
func (p *parser) skipToken() {
	if p.tok.kind == tkLBrace {
		p.skipBlock()
		return
	}
	p.next()
}

// skipValue recovers from a bad item that started on line. It drops what
// follows up to the next keyword of block b: the values of an unknown
// keyword or a bad value, and a block if one comes, since a bad keyword
// owns the block written after it. A word that starts a later line ends
// the item too, so that two misspelt keywords in a row are both reported.
func (p *parser) skipValue(b blockID, line int) {
	for {
		switch t := p.tok; t.kind {
		case tkEOF, tkRBrace:
			return
		case tkLBrace:
			p.skipBlock()
			return
		case tkWord:
			if t.pos.Line != line || lookupKeyword(b, strings.ToLower(t.text)) != nil {
				return
			}
		}
		p.next()
	}
}

// skipBlock moves past a balanced { ... } starting at the current "{".
func (p *parser) skipBlock() {
	depth := 0
	for p.tok.kind != tkEOF {
		switch p.tok.kind {
		case tkLBrace:
			depth++
		case tkRBrace:
			depth--
		}
		p.next()
		if depth == 0 {
			return
		}
	}
}

// expectOpen consumes the "{" that opens a block; what names the block for
// the error, and parent is the block it belongs to, for recovery.
func (p *parser) expectOpen(parent blockID, kwTok token, what string) bool {
	if p.tok.kind == tkLBrace {
		p.next()
		return true
	}
	p.errorAt(p.tok, `expected "{" after %s, found %s`, what, p.tok.describe())
	p.skipValue(parent, kwTok.pos.Line)
	return false
}
