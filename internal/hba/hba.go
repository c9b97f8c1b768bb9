// Package hba reads and applies an `hba_file`: pg_hba.conf-style rules
// that allow or reject a client before authentication, as Odyssey's
// hba_reader.c reads them.
//
// A line is
//
//	local      DATABASE USER                  METHOD
//	host       DATABASE USER ADDRESS          METHOD
//	hostssl    DATABASE USER ADDRESS          METHOD
//	hostnossl  DATABASE USER ADDRESS          METHOD
//
// DATABASE and USER are comma-separated lists of names (optionally in
// double quotes) or the keyword all; DATABASE may also be sameuser.
// ADDRESS is an IP address with a /prefix, an address followed by a
// separate netmask, or all. METHOD is allow or trust (let the client go
// on to the rule's authentication) or deny or reject. # starts a comment.
//
// The first line that matches the connection decides; a connection no line
// matches is rejected, like PostgreSQL. Lines PostgreSQL knows but this
// pooler cannot honour (other methods, +group or @file names, host names)
// are errors, so that a file never means less than it says.
package hba

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
)

// ConnType is the first field of a line.
type ConnType int

const (
	Local     ConnType = iota // unix socket
	Host                      // TCP with or without TLS
	HostSSL                   // TCP with TLS
	HostNoSSL                 // TCP without TLS
)

func (c ConnType) String() string {
	return [...]string{"local", "host", "hostssl", "hostnossl"}[c]
}

// Names is the DATABASE or USER field.
type Names struct {
	All      bool
	SameUser bool // DATABASE only: the database named like the user
	List     []string
}

// Rule is one line.
type Rule struct {
	Line     int
	Type     ConnType
	Database Names
	User     Names
	// Address is the client range; invalid (zero) means all addresses,
	// and is always zero for local lines.
	Address netip.Prefix
	Allow   bool
}

// Table is a parsed file, rules in file order.
type Table struct {
	Rules []Rule
}

// Conn describes a connection to check.
type Conn struct {
	// Addr is the client's address; invalid for a unix socket.
	Addr     netip.Addr
	TLS      bool
	Database string
	User     string
}

// Allowed applies the table: the first matching line's method, or false
// when none matches. It also returns that line's number (0 if none) for
// the log.
func (t *Table) Allowed(c Conn) (bool, int) {
	for i := range t.Rules {
		r := &t.Rules[i]
		if r.matches(c) {
			return r.Allow, r.Line
		}
	}
	return false, 0
}

func (r *Rule) matches(c Conn) bool {
	local := !c.Addr.IsValid()
	switch r.Type {
	case Local:
		if !local {
			return false
		}
	case Host:
		if local {
			return false
		}
	case HostSSL:
		if local || !c.TLS {
			return false
		}
	case HostNoSSL:
		if local || c.TLS {
			return false
		}
	}
	if !local && r.Address.IsValid() && !r.Address.Contains(c.Addr.Unmap()) {
		return false
	}
	db := r.Database
	if !db.All && !(db.SameUser && c.Database == c.User) && !slices.Contains(db.List, c.Database) {
		return false
	}
	return r.User.All || slices.Contains(r.User.List, c.User)
}

// Error is a problem in the file, with its line.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// maxFileSize bounds what Parse reads; a real file is a few kilobytes.
const maxFileSize = 1 << 20

// Parse reads a whole file. It stops at the first error.
func Parse(src []byte) (*Table, error) {
	if len(src) > maxFileSize {
		return nil, &Error{Line: 1, Msg: fmt.Sprintf("file is larger than %d bytes", maxFileSize)}
	}
	t := &Table{}
	for i, line := range strings.Split(string(src), "\n") {
		toks, err := tokenize(line)
		if err != nil {
			return nil, &Error{Line: i + 1, Msg: err.Error()}
		}
		if len(toks) == 0 {
			continue
		}
		r, err := parseRule(toks)
		if err != nil {
			return nil, &Error{Line: i + 1, Msg: err.Error()}
		}
		r.Line = i + 1
		t.Rules = append(t.Rules, r)
	}
	return t, nil
}

// token is one field; quoted tells "all" (a name) from all (a keyword).
type token struct {
	text   string
	quoted bool
	comma  bool // a list separator, not a field
}

// tokenize splits a line into fields and commas, dropping comments.
func tokenize(line string) ([]token, error) {
	var out []token
	i := 0
	for i < len(line) {
		c := line[i]
		switch {
		case c == '#':
			return out, nil
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == ',':
			out = append(out, token{text: ",", comma: true})
			i++
		case c == '"':
			end := strings.IndexByte(line[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted name")
			}
			out = append(out, token{text: line[i+1 : i+1+end], quoted: true})
			i += end + 2
		default:
			j := i
			for j < len(line) && !strings.ContainsRune(" \t\r,#\"", rune(line[j])) {
				j++
			}
			out = append(out, token{text: line[i:j]})
			i = j
		}
	}
	return out, nil
}

var connTypes = map[string]ConnType{"local": Local, "host": Host, "hostssl": HostSSL, "hostnossl": HostNoSSL}

// parseRule reads the fields of one non-empty line.
func parseRule(toks []token) (Rule, error) {
	var r Rule
	p := &fields{toks: toks}
	first := p.next()
	ct, ok := connTypes[strings.ToLower(first.text)]
	if !ok || first.quoted || first.comma {
		return r, fmt.Errorf("invalid connection type %q (expected local, host, hostssl or hostnossl)", first.text)
	}
	r.Type = ct
	var err error
	if r.Database, err = p.names("database", true); err != nil {
		return r, err
	}
	if r.User, err = p.names("user", false); err != nil {
		return r, err
	}
	if ct != Local {
		if r.Address, err = p.address(); err != nil {
			return r, err
		}
	}
	m := p.next()
	switch strings.ToLower(m.text) {
	case "allow", "trust":
		r.Allow = true
	case "deny", "reject":
	case "":
		return r, fmt.Errorf("missing method (allow, trust, deny or reject)")
	default:
		return r, fmt.Errorf("unsupported method %q: only allow/trust and deny/reject are supported", m.text)
	}
	if m.quoted || m.comma {
		return r, fmt.Errorf("invalid method %q", m.text)
	}
	if rest := p.next(); rest.text != "" || rest.comma {
		return r, fmt.Errorf("unexpected %q after the method (options are not supported)", rest.text)
	}
	return r, nil
}

type fields struct {
	toks []token
	i    int
}

func (f *fields) next() token {
	if f.i >= len(f.toks) {
		return token{}
	}
	t := f.toks[f.i]
	f.i++
	return t
}

// names reads a comma-separated list of names and keywords.
func (f *fields) names(what string, db bool) (Names, error) {
	var n Names
	for {
		t := f.next()
		switch {
		case t.comma || (t.text == "" && !t.quoted):
			return n, fmt.Errorf("missing %s name", what)
		case t.quoted:
			n.List = append(n.List, t.text)
		case t.text == "all":
			n.All = true
		case t.text == "sameuser" && db:
			n.SameUser = true
		case strings.HasPrefix(t.text, "+") || strings.HasPrefix(t.text, "@"):
			return n, fmt.Errorf("%s %q: group (+) and file (@) references are not supported", what, t.text)
		case t.text == "samerole" || t.text == "samegroup" || t.text == "replication":
			return n, fmt.Errorf("%s keyword %q is not supported", what, t.text)
		default:
			n.List = append(n.List, t.text)
		}
		if f.i < len(f.toks) && f.toks[f.i].comma {
			f.i++
			continue
		}
		return n, nil
	}
}

// address reads "addr/prefix", "addr mask" or all.
func (f *fields) address() (netip.Prefix, error) {
	t := f.next()
	if t.text == "" || t.comma {
		return netip.Prefix{}, fmt.Errorf("missing address")
	}
	if t.text == "all" && !t.quoted {
		return netip.Prefix{}, nil
	}
	if strings.Contains(t.text, "/") {
		p, err := netip.ParsePrefix(t.text)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid address range %q", t.text)
		}
		return p.Masked(), nil
	}
	addr, err := netip.ParseAddr(t.text)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address %q (host names are not supported)", t.text)
	}
	m := f.next()
	mask, err := netip.ParseAddr(m.text)
	if err != nil || mask.BitLen() != addr.BitLen() {
		return netip.Prefix{}, fmt.Errorf("address %q needs a /prefix or a netmask of the same family", t.text)
	}
	bits, ok := maskBits(mask)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("invalid netmask %q", m.text)
	}
	return netip.PrefixFrom(addr, bits).Masked(), nil
}

// maskBits converts a netmask to a prefix length; masks with holes fail.
func maskBits(mask netip.Addr) (int, bool) {
	b := mask.AsSlice()
	n := 0
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	// The mask must be n ones followed by zeros.
	for i, x := range b {
		ones := min(max(n-8*i, 0), 8)
		if x != byte(0xff<<(8-ones)) {
			return 0, false
		}
	}
	return n, true
}
