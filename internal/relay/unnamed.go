package relay

import (
	"bytes"
	"fmt"

	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/sqlmin"
)

// The unnamed statement in transaction and statement pools.
//
// Drivers parse an unnamed statement in one transaction and bind it in the
// next (pgx's describe-exec mode sends Parse, Describe, Sync, then Bind,
// Execute, Sync), so the Bind may reach another server than the Parse.
// The client keeps a copy of its last unnamed Parse; a server that does not
// hold it gets a hidden Parse before the Bind or Describe. A server's
// unnamed statement belongs to the client that parsed it: another client's
// Bind of "" must never run it. As in PostgreSQL, a simple Query drops the
// unnamed statement (ours too: deploy, BEGIN, reset queries).

// unnamedParsed records the client's new unnamed statement, now on s,
// and returns its generation.
func (t *translation) unnamedParsed(f []byte, whole bool) uint64 {
	c := t.c
	c.unnamedGen++
	c.unnamed = c.unnamed[:0]
	if whole {
		c.unnamed = append(c.unnamed, f...)
	}
	t.s.unnamedOf, t.s.unnamedGen = c, c.unnamedGen
	return c.unnamedGen
}

// unnamedReady makes sure the server holds the client's unnamed statement
// before a Bind or Describe of it; false after failing with 26000 when the
// client has none.
func (t *translation) unnamedReady() bool {
	c, s := t.c, t.s
	if s.unnamedOf == c && s.unnamedGen == c.unnamedGen {
		return true
	}
	if len(c.unnamed) == 0 {
		t.fail(pgwire.Error{Code: "26000", Message: "unnamed prepared statement does not exist"})
		return false
	}
	t.out = append(t.out, c.unnamed...)
	s.unnamedOf, s.unnamedGen = c, c.unnamedGen
	s.expect.push(expect{kind: expHide, n: 1, unnamed: c.unnamedGen})
	return true
}

// queryDropsUnnamed is a client's simple Query dropping its unnamed
// statement, on the server and in the client's view.
func (t *translation) queryDropsUnnamed() {
	c := t.c
	if len(c.unnamed) > 0 || t.s.unnamedOf != nil || c.unnamedEffect != nil {
		c.unnamedGen++
		c.unnamed = c.unnamed[:0]
		c.unnamedEffect = nil
	}
	t.s.unnamedOf = nil
}

// unnamedFailed forgets an unnamed statement whose Parse failed or was
// skipped. Called with s.mu held.
func (s *Server) unnamedFailed(gen uint64) {
	c := s.unnamedOf
	if c == nil || s.unnamedGen != gen {
		return
	}
	s.unnamedOf = nil
	if c == s.client && c.unnamedGen == gen {
		c.unnamed = c.unnamed[:0]
	}
}

// Session statements sent with the extended protocol (psycopg sends every
// statement so, BEGIN and DEALLOCATE included) are unnamed statements: the
// Parse is classified like a simple Query (session.go) and the effect is
// carried to the Bind of the unnamed statement and the Execute of its
// portal. DEALLOCATE is answered by the pooler message by message, as the
// server would answer it.

// parseUnnamed translates a Parse of the unnamed statement.
func (t *translation) parseUnnamed(f, rest []byte, whole bool) {
	c := t.c
	c.unnamedEffect = nil
	if whole {
		var ok bool
		if f, ok = t.classifyUnnamed(f, rest); !ok {
			return
		}
	}
	t.pass(f, expect{kind: expForward, n: 1, unnamed: t.unnamedParsed(f, whole)})
}

// classifyUnnamed sets the effect of an unnamed statement and returns the
// Parse to send (rewritten for RESET); false when the Parse was answered
// or refused.
func (t *translation) classifyUnnamed(f, rest []byte) ([]byte, bool) {
	c := t.c
	end := bytes.IndexByte(rest, 0)
	if end < 0 {
		return f, true
	}
	text, first, more, plain := classify(rest[:end])
	if more || plain {
		return f, true // several statements fail on the server
	}
	switch first.Kind {
	case sqlmin.Deallocate, sqlmin.DeallocateAll:
		c.unnamedGen++
		c.unnamed = c.unnamed[:0]
		t.s.unnamedOf = nil
		c.unnamedEffect = &sessionEffect{local: first}
		t.s.expect.push(expect{kind: expInject, data: parseComplete})
		return nil, false
	}
	eff, rewritten, refusal := t.effects(text, []sqlmin.Stmt{first})
	if refusal != nil {
		t.fail(*refusal)
		return nil, false
	}
	if rewritten != "" {
		tail := rest[len(text):] // NUL, parameter types
		f = appendParse(nil, "", append([]byte(rewritten), tail...))
	}
	if len(eff.changes) > 0 || eff.reports {
		c.unnamedEffect = &eff
	}
	return f, true
}

// bindEffect carries the unnamed statement's effect to the portal a Bind
// creates, and answers the Bind of a statement the pooler answers itself.
// It reports whether it answered.
func (t *translation) bindEffect(f []byte, stmt string, from int) bool {
	c := t.c
	portal := f[pgwire.HeaderLen : from-1]
	if stmt != "" {
		if c.portalEffect != nil && string(portal) == c.portalName {
			c.portalEffect = nil
		}
		return false
	}
	c.portalEffect = c.unnamedEffect
	if c.portalEffect == nil {
		return false
	}
	c.portalName = string(portal)
	if c.portalEffect.local.Kind == sqlmin.Other {
		return false
	}
	t.s.expect.push(expect{kind: expInject, data: bindComplete})
	return true
}

// describeLocal answers a Describe of a statement or portal the pooler
// answers itself, and reports whether it did.
func (t *translation) describeLocal(kind byte, name string) bool {
	c := t.c
	var eff *sessionEffect
	switch {
	case kind == 'S' && name == "":
		eff = c.unnamedEffect
	case kind == 'P' && name == c.portalName:
		eff = c.portalEffect
	}
	if eff == nil || eff.local.Kind == sqlmin.Other {
		return false
	}
	var b []byte
	if kind == 'S' {
		b = append(b, noParameters...)
	}
	t.s.expect.push(expect{kind: expInject, data: append(b, noData...)})
	return true
}

// execute translates an Execute: the portal's session effect goes with it,
// or the pooler answers it.
func (t *translation) execute(f []byte) {
	c := t.c
	eff := c.portalEffect

	if eff == nil || !executesPortal(f, c.portalName) {
		t.pass(f, expect{kind: expForward, n: 1})
		return
	}
	if eff.local.Kind != sqlmin.Other {
		t.executeLocal(eff.local)
		return
	}
	t.pass(f, expect{kind: expForward, n: 1, changes: eff.changes, retag: eff.retag})
	if eff.reports {
		t.s.expect.push(expect{kind: expInject, data: c.startupReports(nil)})
	}
}

// executesPortal reports whether Execute frame f runs portal name.
func executesPortal(f []byte, name string) bool {
	body := f[pgwire.HeaderLen:]
	i := bytes.IndexByte(body, 0)
	return i >= 0 && string(body[:i]) == name
}

// executeLocal runs DEALLOCATE for the client, as the server would.
func (t *translation) executeLocal(st sqlmin.Stmt) {
	c := t.c
	tag := "DEALLOCATE ALL"
	if st.Kind == sqlmin.Deallocate {
		if _, ok := c.stmts[st.Name]; !ok {
			t.fail(pgwire.Error{Code: "26000", Message: fmt.Sprintf("prepared statement %q does not exist", st.Name)})
			return
		}
		delete(c.stmts, st.Name)
		tag = "DEALLOCATE"
	} else {
		c.stmts = nil
	}
	t.s.expect.push(expect{kind: expInject, data: appendCommandComplete(nil, tag)})
}

var (
	bindComplete = []byte{pgwire.MsgBindComplete, 0, 0, 0, 4}
	noData       = []byte{pgwire.MsgNoData, 0, 0, 0, 4}
	noParameters = []byte{pgwire.MsgParameterDescription, 0, 0, 0, 6, 0, 0}
)
