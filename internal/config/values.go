package config

import (
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// readValue reads the value of keyword kw, whose token was kwTok, and
// checks its type and range. On a problem it reports it and either returns
// false, leaving the offending token current for the caller to skip, or,
// when it has already skipped past the problem, returns the value marked
// bad.
func (p *parser) readValue(kw *keyword, kwTok token) (value, bool) {
	v := value{kwPos: kwTok.pos, pos: p.tok.pos}
	switch kw.kind {
	case kindBool:
		return p.readBool(kw, v)
	case kindInt:
		return p.readInt(kw, v)
	case kindSize:
		return p.readSize(kw, v)
	case kindString:
		return p.readString(kw, v)
	case kindEnum:
		return p.readEnum(kw, v)
	case kindWorkers:
		return p.readWorkers(kw, v)
	case kindNameOrDef:
		if p.tok.kind == tkWord && strings.EqualFold(p.tok.text, "default") {
			v.isDefault = true
			p.next()
			return v, true
		}
		return p.readString(kw, v)
	case kindPairs:
		return p.readPairs(kw, v)
	case kindStrings:
		return p.readStrings(kw, v)
	}
	return v, false
}

// expected reports that keyword kw wanted something else than token t.
func (p *parser) expected(t token, kw *keyword, what string) {
	p.errorAt(t, "expected %s for %q, found %s", what, kw.name, t.describe())
}

func (p *parser) readBool(kw *keyword, v value) (value, bool) {
	if p.tok.kind == tkWord {
		switch strings.ToLower(p.tok.text) {
		case "yes":
			v.b = true
			p.next()
			return v, true
		case "no":
			p.next()
			return v, true
		}
	}
	p.expected(p.tok, kw, "yes or no")
	return v, false
}

func (p *parser) readInt(kw *keyword, v value) (value, bool) {
	t := p.tok
	if t.kind != tkInt || t.sized {
		p.expected(t, kw, "a number")
		return v, false
	}
	if !p.inRange(t, kw) {
		return v, false
	}
	v.n = t.num
	p.next()
	return v, true
}

// inRange reports, and returns false, when t's number is outside kw's range.
func (p *parser) inRange(t token, kw *keyword) bool {
	switch {
	case t.num >= kw.min && t.num <= kw.max:
		return true
	case kw.min == 0 && t.num < 0:
		p.errorf(t.pos, "%q must not be negative, found %d", kw.name, t.num)
	case kw.min == 1 && t.num < 1:
		p.errorf(t.pos, "%q must be at least 1, found %d", kw.name, t.num)
	default:
		p.errorf(t.pos, "%q must be between %d and %d, found %d", kw.name, kw.min, kw.max, t.num)
	}
	return false
}

func (p *parser) readSize(kw *keyword, v value) (value, bool) {
	t := p.tok
	if t.kind != tkInt {
		p.expected(t, kw, "a size (a number, optionally with B, KB, MB or GB)")
		return v, false
	}
	if t.num < 0 {
		p.errorf(t.pos, "%q must not be negative, found %s", kw.name, t.text)
		return v, false
	}
	v.n = t.num
	p.next()
	return v, true
}

func (p *parser) readString(kw *keyword, v value) (value, bool) {
	if p.tok.kind != tkString {
		p.expected(p.tok, kw, "a string")
		return v, false
	}
	v.s = p.tok.text
	p.next()
	return v, true
}

// readEnum reads a string that must be one of kw.values; Odyssey compares
// them case-sensitively, and so does this.
func (p *parser) readEnum(kw *keyword, v value) (value, bool) {
	t := p.tok
	if t.kind != tkString && !(kw.bare && t.kind == tkWord) {
		p.expected(t, kw, "a string")
		return v, false
	}
	if !slices.Contains(kw.values, t.text) {
		p.errorf(t.pos, "unknown value %q for %q%s", truncate(t.text, 64), kw.name, suggestOrList(t.text, kw.values))
		return v, false
	}
	v.s = t.text
	p.next()
	return v, true
}

// readWorkers reads `workers N` or `workers "auto"`, which Odyssey turns
// into (1 + number of CPUs) / 2.
func (p *parser) readWorkers(kw *keyword, v value) (value, bool) {
	t := p.tok
	switch t.kind {
	case tkInt:
		k := *kw
		k.min, k.max = 1, math.MaxInt32
		return p.readInt(&k, v)
	case tkString:
		if t.text != "auto" {
			p.errorf(t.pos, `invalid value %q for "workers" (expected a number or "auto")`, truncate(t.text, 64))
			return v, false
		}
		v.s = t.text
		v.n = int64((1 + runtime.NumCPU()) / 2)
		p.next()
		return v, true
	}
	p.expected(t, kw, `a number or "auto"`)
	return v, false
}

// readPairs reads { "key" "value" ... }.
func (p *parser) readPairs(kw *keyword, v value) (value, bool) {
	if p.tok.kind != tkLBrace {
		p.expected(p.tok, kw, `"{"`)
		return v, false
	}
	var strs []string
	if !p.readStringList(kw, v, &strs) {
		v.bad = true
		return v, true
	}
	if len(strs)%2 != 0 {
		p.errorf(v.kwPos, "%q needs pairs of strings; %q has no value", kw.name, truncate(strs[len(strs)-1], 64))
		v.bad = true
		return v, true
	}
	for i := 0; i < len(strs); i += 2 {
		v.pairs = append(v.pairs, KV{Key: strs[i], Value: strs[i+1]})
	}
	return v, true
}

// readStrings reads { "value" ... }.
func (p *parser) readStrings(kw *keyword, v value) (value, bool) {
	if p.tok.kind != tkLBrace {
		p.expected(p.tok, kw, `"{"`)
		return v, false
	}
	v.bad = !p.readStringList(kw, v, &v.list)
	return v, true
}

// readStringList reads the strings of a list whose "{" is the current
// token. After a wrong element the rest of the list is skipped: one
// mistake, one error. It reports whether the list was well formed.
func (p *parser) readStringList(kw *keyword, v value, out *[]string) bool {
	p.next()
	for {
		t := p.tok
		switch t.kind {
		case tkRBrace:
			p.next()
			return true
		case tkString:
			*out = append(*out, t.text)
			p.next()
		case tkEOF:
			p.errorf(t.pos, `unexpected end of file: missing "}" for %q opened at %s`, kw.name, v.kwPos)
			return false
		default:
			p.errorAt(t, "expected a string in %q, found %s", kw.name, t.describe())
			p.skipToClose()
			return false
		}
	}
}

// skipToClose drops the rest of the current block, closing brace included.
func (p *parser) skipToClose() {
	for p.tok.kind != tkEOF {
		if p.tok.kind == tkRBrace {
			p.next()
			return
		}
		p.skipToken()
	}
}

// readName reads the name after database/user/group: a string or, where
// allowed, the bare word default.
func (p *parser) readName(kwTok token, allowDefault bool) (name string, isDefault, ok bool) {
	t := p.tok
	switch {
	case t.kind == tkString:
		p.next()
		return t.text, false, true
	case allowDefault && t.kind == tkWord && strings.EqualFold(t.text, "default"):
		p.next()
		return "", true, true
	}
	what := "a name string"
	if allowDefault {
		what = "a name string or default"
	}
	p.errorAt(t, "expected %s after %q, found %s", what, kwTok.text, t.describe())
	return "", false, false
}

// quoteName renders a block name for messages: "name" or default.
func quoteName(name string, isDefault bool) string {
	if isDefault {
		return "default"
	}
	return strconv.Quote(name)
}
