package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

// Limits on includes. Cycles are caught exactly; these only stop a
// pathological but acyclic tree of includes from taking forever.
const (
	maxIncludeDepth = 16
	maxIncludeFiles = 256
)

// parseInclude reads `include "path"` and the file it names. A relative
// path is taken from the directory of the file that contains the include.
func (p *parser) parseInclude(kwTok token) {
	t := p.tok
	if t.kind != tkString {
		p.errorAt(t, `expected a path string after "include", found %s`, t.describe())
		p.skipValue(blockTop, kwTok.pos.Line)
		return
	}
	p.next()
	path := t.text
	if path == "" {
		p.errorf(t.pos, "include path is empty")
		return
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(kwTok.pos.File), path)
	}
	abs := absPath(path)
	switch {
	case slices.Contains(p.stack, abs):
		chain := append(append([]string(nil), p.shown[slices.Index(p.stack, abs):]...), path)
		p.errorf(t.pos, "include cycle: %s", strings.Join(chain, " -> "))
		return
	case len(p.stack) >= maxIncludeDepth:
		p.errorf(t.pos, "cannot include %q: includes are nested more than %d deep", t.text, maxIncludeDepth)
		return
	case p.files >= maxIncludeFiles:
		p.errorf(t.pos, "cannot include %q: more than %d files in one configuration", t.text, maxIncludeFiles)
		return
	}
	src, err := p.readFile(path)
	if err != nil {
		p.errorf(t.pos, "cannot include %q: %v", t.text, err)
		return
	}
	p.parseFile(path, abs, src)
}

// absPath names a file uniquely for cycle detection: absolute, with
// symbolic links resolved when the file exists, so that a link back to an
// including file is still seen as a cycle.
func absPath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// parseListen reads a listen { } block into a new Listen.
func (p *parser) parseListen(kwTok token) {
	o := newObject(blockListen, "listen", kwTok.pos)
	o.listen = newListen(kwTok.pos)
	if !p.expectOpen(blockTop, kwTok, `"listen"`) {
		return
	}
	p.parseItems(o)
	p.cfg.Listen = append(p.cfg.Listen, o.listen)
	p.listens = append(p.listens, o)
}

// parseStorage reads a storage "name" { } block into a new Storage.
func (p *parser) parseStorage(kwTok token) {
	name, _, ok := p.readName(kwTok, false)
	if !ok {
		p.skipValue(blockTop, kwTok.pos.Line)
		return
	}
	o := newObject(blockStorage, "storage "+quoteName(name, false), kwTok.pos)
	o.storage = newStorage(name, kwTok.pos)
	if !p.expectOpen(blockTop, kwTok, o.path) {
		return
	}
	p.parseItems(o)
	p.cfg.Storages = append(p.cfg.Storages, o.storage)
	p.storages = append(p.storages, o)
}

// parseLDAPEndpoint reads ldap_endpoint "name" { } into a new LDAPEndpoint.
// Rules refer to it by name (ldap_endpoint_name).
func (p *parser) parseLDAPEndpoint(kwTok token) {
	name, _, ok := p.readName(kwTok, false)
	if !ok {
		p.skipValue(blockTop, kwTok.pos.Line)
		return
	}
	o := newObject(blockLDAPEndpoint, "ldap_endpoint "+quoteName(name, false), kwTok.pos)
	o.ldap = &LDAPEndpoint{Pos: kwTok.pos, Name: name}
	p.named[blockLDAPEndpoint] = append(p.named[blockLDAPEndpoint], namedDef{name: name, pos: kwTok.pos})
	if !p.expectOpen(blockTop, kwTok, o.path) {
		return
	}
	p.parseItems(o)
	p.cfg.LDAPEndpoints = append(p.cfg.LDAPEndpoints, o.ldap)
	p.ldaps = append(p.ldaps, o)
}

// parseDatabase reads database "name" | default { user ... group ... }.
func (p *parser) parseDatabase(kwTok token) {
	name, isDefault, ok := p.readName(kwTok, true)
	if !ok {
		p.skipValue(blockTop, kwTok.pos.Line)
		return
	}
	o := newObject(blockDatabase, "database "+quoteName(name, isDefault), kwTok.pos)
	o.dbName, o.dbDefault = name, isDefault
	if !p.expectOpen(blockTop, kwTok, o.path) {
		return
	}
	p.parseItems(o)
}

// parseUser reads one rule: user "name" | default [selectors] { items }.
func (p *parser) parseUser(db *object, kwTok token) {
	name, isDefault, ok := p.readName(kwTok, true)
	if !ok {
		p.skipValue(blockDatabase, kwTok.pos.Line)
		return
	}
	sel := p.readSelector(true)
	r := newRule(kwTok.pos)
	r.DB, r.DBDefault = db.dbName, db.dbDefault
	r.User, r.UserDefault = name, isDefault
	r.Address, r.ConnType = sel.prefix, sel.conn

	path := db.path + " user " + quoteName(name, isDefault) + sel.text
	o := newObject(blockUser, path, kwTok.pos)
	o.rule = r
	if !p.expectOpen(blockDatabase, kwTok, path) {
		return
	}
	p.parseItems(o)
	p.cfg.Rules = append(p.cfg.Rules, r)
	p.rules = append(p.rules, o)
}

// parseGroup reads group "name" [selectors] { items }. Group rules are not
// implemented: the block is type-checked and ignored.
func (p *parser) parseGroup(db *object, kwTok token, kw *keyword) {
	name, _, ok := p.readName(kwTok, false)
	if !ok {
		p.skipValue(blockDatabase, kwTok.pos.Line)
		return
	}
	sel := p.readSelector(false)
	path := db.path + " group " + quoteName(name, false) + sel.text
	p.warnAccepted(db, kw.name, kwTok.pos)
	o := newObject(blockGroup, path, kwTok.pos)
	o.ignored = true
	if p.expectOpen(blockDatabase, kwTok, path) {
		p.parseItems(o)
	}
}

// selector is the optional address range and connection type written
// between a rule's name and its block, in either order.
type selector struct {
	prefix *netip.Prefix
	conn   ConnType
	text   string // as it will appear in messages, with a leading space
}

// readSelector reads the selectors of a user (parseAddr) or group rule.
// Group rules take any string there, so their address is not checked.
func (p *parser) readSelector(parseAddr bool) selector {
	var sel selector
	haveAddr, haveConn := false, false
	for {
		t := p.tok
		conn, isConn := connTypes[strings.ToLower(t.text)]
		switch {
		case t.kind == tkString:
			if haveAddr {
				p.errorf(t.pos, "address range given twice (%s)", t.describe())
			}
			haveAddr = true
			sel.text += " " + fmt.Sprintf("%q", t.text)
			if parseAddr {
				prefix, err := parseAddressRange(t.text)
				if err != nil {
					p.errorf(t.pos, "%v", err)
				}
				sel.prefix = prefix
			}
		case t.kind == tkWord && isConn:
			if haveConn {
				p.errorf(t.pos, "connection type given twice (%s)", t.describe())
			}
			haveConn = true
			sel.conn = conn
			if sel.conn != ConnAny {
				sel.text += " " + sel.conn.String()
			}
		default:
			return sel
		}
		p.next()
	}
}

// parseIgnoredBlock reads a block whose keyword is accepted but has no
// effect (ldap_endpoint, watchdog, soft_oom, ...): its items are checked
// like any others, then dropped.
func (p *parser) parseIgnoredBlock(parent *object, kwTok token, kw *keyword) {
	path := strings.TrimSpace(parent.path + " " + kw.name)
	name := ""
	if kw.kind == kindNamed {
		var ok bool
		name, _, ok = p.readName(kwTok, false)
		if !ok {
			p.skipValue(parent.block, kwTok.pos.Line)
			return
		}
		path += " " + quoteName(name, false)
	}
	parent.seen[kw.name] = value{kwPos: kwTok.pos, pos: kwTok.pos, s: name}
	if !parent.ignored {
		p.warnAccepted(parent, kw.name, kwTok.pos)
	}
	if parent.block == blockTop && kw.kind == kindNamed {
		p.named[kw.block] = append(p.named[kw.block], namedDef{name: name, pos: kwTok.pos})
	}
	o := newObject(kw.block, path, kwTok.pos)
	o.ignored = true
	if p.expectOpen(parent.block, kwTok, path) {
		p.parseItems(o)
	}
}
