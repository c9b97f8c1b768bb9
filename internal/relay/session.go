package relay

import (
	"fmt"
	"strings"

	"github.com/odyssey-go/odyssey/internal/pgwire"
	"github.com/odyssey-go/odyssey/internal/sqlmin"
)

// In transaction and statement pools a client's session moves between
// servers. What the client changes with SQL must follow it:
//
//   - SET of a parameter PostgreSQL does not report with ParameterStatus
//     (search_path before 18, statement_timeout, work_mem...) is recorded
//     when its transaction commits and applied to the next server; SET LOCAL
//     and changes rolled back are not. Reported parameters follow
//     ParameterStatus (relay.Client.noteParam).
//   - RESET of a parameter the client set at startup returns to the startup
//     value, as a direct connection's RESET does: the statement is sent as
//     SET name TO startup value (its CommandComplete tag reads SET). RESET
//     ALL and DISCARD ALL return every parameter to its startup value.
//   - SQL PREPARE, EXECUTE and DEALLOCATE map statement names like the
//     protocol-level ones (see pstmt.go).
//   - State that cannot move (temporary objects, session advisory locks,
//     WITH HOLD cursors, LOAD, and LISTEN with pool_pin_on_listen) pins the
//     client to its server until it leaves; LISTEN without
//     pool_pin_on_listen is refused with an error.
//   - A bare BEGIN is answered at once and sent with the next statement
//     (virtual_transaction).

// sqlChange is a session change made by one statement of a Query.
type sqlChange struct {
	index int // the statement's position among the Query's results
	kind  sqlmin.Kind
	name  string // canonical parameter name
	value string // the value as a configuration string
}

// queryBody returns the text of a whole Query frame.
func queryBody(f []byte) []byte {
	q := f[pgwire.HeaderLen:]
	if n := len(q); n > 0 && q[n-1] == 0 {
		q = q[:n-1]
	}
	return q
}

// classify is sqlmin.First for text the client's buffer holds. The common
// case (a statement with no session effect) is classified on a view of
// the buffer, without copying it; for the others the text is copied, as
// their strings are kept.
func classify(b []byte) (text string, first sqlmin.Stmt, more, plain bool) {
	first, more = sqlmin.First(view(b))
	if !more && first.Kind == sqlmin.Other && !first.AdvisoryLock {
		return "", first, false, true
	}
	text = string(b)
	first, more = sqlmin.First(text)
	return text, first, more, false
}

// query translates a simple Query in a transaction or statement pool.
func (t *translation) query(f []byte) {
	c := t.c
	text, first, more, plain := classify(queryBody(f))
	if plain {
		t.requests++
		t.pass(f, expect{kind: expUntilReady}) // the common case
		return
	}
	stmts := []sqlmin.Stmt{first}
	if more {
		stmts = sqlmin.Split(text)
	} else if t.localStatement(first) {
		return
	}
	eff, rewritten, refusal := t.effects(text, stmts)
	if refusal != nil {
		t.refuse(*refusal)
		return
	}
	x := expect{kind: expUntilReady, changes: eff.changes, retag: eff.retag}
	if eff.reports {
		x.data = c.startupReports(nil)
	}
	t.requests++
	if rewritten != "" {
		t.out = pgwire.AppendQuery(t.out, rewritten)
		t.s.expect.push(x)
		return
	}
	t.pass(f, x)
}

// sessionEffect is what running a statement does to the client's session
// beyond the server it runs on.
type sessionEffect struct {
	changes []sqlChange // parameters to carry (confirmed by CommandComplete)
	reports bool        // startup values are reported after it (RESET ALL, DISCARD ALL)
	retag   []int       // statements sent as SET whose tag must read RESET
	local   sqlmin.Stmt // a statement the pooler answers itself (Kind Other: none)
}

// effects works out the session effects of the statements of text: pins,
// parameter changes and the text rewritten for RESET ("" if unchanged),
// or the error refusing it.
func (t *translation) effects(text string, stmts []sqlmin.Stmt) (eff sessionEffect, rewritten string, refusal *pgwire.Error) {
	c, s := t.c, t.s
	for i, st := range stmts {
		switch st.Kind {
		case sqlmin.Listen:
			if !c.policy.Load().PinOnListen {
				return eff, "", &pgwire.Error{Code: pgwire.CodeFeatureNotSupported,
					Message: "LISTEN is not available in transaction pooling",
					Hint:    "Set pool_pin_on_listen yes to keep such clients on their server, or use a session pool."}
			}
			c.pin("LISTEN")
		case sqlmin.CreateTemp:
			c.pin("temporary object")
		case sqlmin.DeclareHold:
			c.pin("WITH HOLD cursor")
		case sqlmin.Load:
			c.pin("LOAD")
		case sqlmin.Set, sqlmin.SetLocal:
			if st.Default {
				if name, tracked := c.tracks(st.Name); tracked {
					if v, ok := c.startup.Get(name); ok {
						// DEFAULT is the session's default: for this
						// client its startup value, not the server's.
						set := "SET " + quoteIdent(name) + " TO " + QuoteLiteral(v)
						if st.Kind == sqlmin.SetLocal {
							set = "SET LOCAL " + quoteIdent(name) + " TO " + QuoteLiteral(v)
						}
						rewritten = strings.Replace(orDefault(rewritten, text), st.Text, set, 1)
					}
				}
			}
			if st.Kind == sqlmin.Set {
				if ch, ok := c.setChange(i, st); ok {
					eff.changes = append(eff.changes, ch)
				}
			}
		case sqlmin.Reset:
			name, tracked := c.tracks(st.Name)
			if !tracked {
				break
			}
			if v, ok := c.startup.Get(name); ok {
				// RESET goes back to the session's default, which for
				// this client is its startup value.
				set := "SET " + quoteIdent(name) + " TO " + QuoteLiteral(v)
				rewritten = strings.Replace(orDefault(rewritten, text), st.Text, set, 1)
				eff.retag = append(eff.retag, i)
				if !reported[name] {
					eff.changes = append(eff.changes, sqlChange{index: i, kind: sqlmin.Set, name: name, value: v})
				}
				break
			}
			eff.changes = append(eff.changes, sqlChange{index: i, kind: sqlmin.Reset, name: name})
		case sqlmin.Savepoint, sqlmin.Release, sqlmin.RollbackTo:
			// Marks in the transaction's changes (see Server.commandDone).
			eff.changes = append(eff.changes, sqlChange{index: i, kind: st.Kind, name: st.Name})
		case sqlmin.ResetAll, sqlmin.DiscardAll:
			eff.changes = append(eff.changes, sqlChange{index: i, kind: st.Kind})
			eff.reports = true
			if st.Kind == sqlmin.DiscardAll {
				c.stmts = nil
				s.prepared.clear()
			}
		}
		if st.AdvisoryLock {
			c.pin("session advisory lock")
		}
	}
	return eff, rewritten, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// setChange describes a SET the client's next servers must repeat, for
// parameters PostgreSQL does not report.
func (c *Client) setChange(i int, st sqlmin.Stmt) (sqlChange, bool) {
	name, tracked := c.tracks(st.Name)
	if !tracked || reported[name] {
		return sqlChange{}, false
	}
	if st.Default {
		if v, ok := c.startup.Get(name); ok {
			return sqlChange{index: i, kind: sqlmin.Set, name: name, value: v}, true
		}
		return sqlChange{index: i, kind: sqlmin.Reset, name: name}, true
	}
	return sqlChange{index: i, kind: sqlmin.Set, name: name, value: configValue(st.Value)}, true
}

// tracks reports whether the pooler carries parameter name for the client
// between servers, and its canonical name: the parameters it tracks for
// every client, and those the client set in its startup packet (their
// startup values must stay in force, RESET included).
func (c *Client) tracks(name string) (string, bool) {
	if n, ok := CanonicalParam(name); ok {
		return n, true
	}
	n := strings.ToLower(name)
	_, ok := c.startup.Get(n)
	return n, ok
}

// configValue turns a SET value as written in SQL into the string
// set_config() takes: a single quoted literal is unquoted, anything else
// (numbers, identifiers, lists such as a, "B") stays as written.
func configValue(v string) string {
	v = strings.TrimSpace(v)
	switch {
	case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' && !strings.Contains(v[1:len(v)-1], "','"):
		return strings.ReplaceAll(v[1:len(v)-1], "''", "'")
	case len(v) >= 3 && (v[0] == 'E' || v[0] == 'e') && v[1] == '\'' && v[len(v)-1] == '\'':
		s := strings.ReplaceAll(v[2:len(v)-1], "''", "'")
		return strings.ReplaceAll(s, `\\`, `\`)
	}
	return v
}

// reported are the parameters PostgreSQL sends ParameterStatus for (15).
var reported = map[string]bool{
	"application_name": true, "client_encoding": true, "DateStyle": true,
	"IntervalStyle": true, "TimeZone": true, "standard_conforming_strings": true,
	"default_transaction_read_only": true, "in_hot_standby": true,
	"integer_datetimes": true, "is_superuser": true, "server_encoding": true,
	"server_version": true, "session_authorization": true,
}

// startupReports appends ParameterStatus for the reported parameters whose
// startup value differs from the default: after RESET ALL or DISCARD ALL
// PostgreSQL reports defaults, and a direct connection would report the
// startup values instead.
func (c *Client) startupReports(dst []byte) []byte {
	for _, p := range c.startup {
		if reported[p.Name] {
			dst = pgwire.AppendParameterStatus(dst, p.Name, p.Value)
		}
	}
	return dst
}

// localStatement answers a single-statement Query the pooler handles
// itself (DEALLOCATE, PREPARE and EXECUTE naming) and reports whether it
// did.
func (t *translation) localStatement(st sqlmin.Stmt) bool {
	c, s := t.c, t.s
	switch st.Kind {
	case sqlmin.Deallocate:
		if _, ok := c.stmts[st.Name]; !ok {
			t.refuse(pgwire.Error{Code: "26000", Message: fmt.Sprintf("prepared statement %q does not exist", st.Name)})
			return true
		}
		delete(c.stmts, st.Name)
		t.answer("DEALLOCATE")
		return true
	case sqlmin.DeallocateAll:
		c.stmts = nil
		t.answer("DEALLOCATE ALL")
		return true
	case sqlmin.Prepare:
		if !c.policy.Load().Prepared {
			return false
		}
		if _, dup := c.stmts[st.Name]; dup {
			t.refuse(pgwire.Error{Code: "42P05", Message: fmt.Sprintf("prepared statement %q already exists", st.Name)})
			return true
		}
		sname := c.statementName("odyssey_sql_", []byte(st.Types+"\x00"+st.Body))
		sql := "PREPARE " + sname
		if st.Types != "" {
			sql += " (" + st.Types + ")"
		}
		sql += " AS " + st.Body
		if c.stmts == nil {
			c.stmts = make(map[string]*stmt)
		}
		p := &stmt{server: sname, sql: sql, query: st.Body, parsed: c.schema.next()}
		c.stmts[st.Name] = p
		// Prepared now, as PostgreSQL would (see schema.go), even when
		// the server has a copy.
		t.replaceOrEvict(sname)
		s.prepared.add(sname, st.Body, p.parsed)
		t.requests++
		t.out = pgwire.AppendQuery(t.out, sql)
		s.expect.push(expect{kind: expUntilReady, undo: sname, clientName: st.Name})
		return true
	case sqlmin.Execute:
		if !c.policy.Load().Prepared {
			return false
		}
		p := c.stmts[st.Name]
		if p == nil {
			t.refuse(pgwire.Error{Code: "26000", Message: fmt.Sprintf("prepared statement %q does not exist", st.Name)})
			return true
		}
		t.ensure(p)
		sql := "EXECUTE " + p.server
		if st.Args != "" {
			sql += " (" + st.Args + ")"
		}
		t.requests++
		t.out = pgwire.AppendQuery(t.out, sql)
		s.expect.push(expect{kind: expUntilReady})
		return true
	}
	return false
}

// ensure makes sure the server has statement p before a simple Query uses
// it, with a hidden PREPARE (SQL statements) or Parse and Sync.
func (t *translation) ensure(p *stmt) {
	s := t.s
	if s.prepared.fresh(p.server, p.parsed) {
		return
	}
	t.replaceOrEvict(p.server)
	if p.sql != "" {
		s.unnamedOf = nil
		t.out = pgwire.AppendQuery(t.out, p.sql)
	} else {
		t.out = append(t.out, p.parse...)
		t.out = append(t.out, pgwire.MsgSync, 0, 0, 0, 4)
	}
	t.requests++
	s.prepared.add(p.server, p.query, t.c.schema.next())
	s.expect.push(expect{kind: expHideUntilReady, undo: p.server})
}

// answer replies to a Query the pooler handled itself: CommandComplete
// with tag, then ReadyForQuery with the server's transaction status.
func (t *translation) answer(tag string) {
	b := appendCommandComplete(nil, tag)
	b = pgwire.AppendReadyForQuery(b, t.s.tx)
	t.s.expect.push(expect{kind: expInject, data: b})
}

// refuse answers a Query with an error, as PostgreSQL would, without
// sending it. The transaction state does not change (as it would for an
// error inside a transaction block): a refused Query inside one leaves it
// usable, which is the only difference from PostgreSQL.
func (t *translation) refuse(e pgwire.Error) {
	e.Severity = pgwire.SeverityError
	b := pgwire.AppendErrorResponse(nil, &e)
	b = pgwire.AppendReadyForQuery(b, t.s.tx)
	t.s.expect.push(expect{kind: expInject, data: b})
}

// pin keeps the client on its server until it leaves.
func (c *Client) pin(reason string) {
	if c.pinned == "" {
		c.pinned = reason
		c.log.Info("client pinned to its server", "reason", reason)
	}
}

// applyChanges makes committed SQL changes part of the client's session
// (and records what the server now has). Called by the pump with s.mu held
// at the end of a transaction that committed.
func (s *Server) applyChanges(c *Client, changes []sqlChange) {
	c.paramsMu.Lock()
	defer c.paramsMu.Unlock()
	for _, ch := range changes {
		switch ch.kind {
		case sqlmin.Set:
			c.params.Set(ch.name, ch.value, c.defaults)
			s.params.Set(ch.name, ch.value, s.defaults)
		case sqlmin.Reset:
			c.params.Delete(ch.name)
			s.params.Delete(ch.name)
		case sqlmin.ResetAll, sqlmin.DiscardAll:
			c.params = c.startup.Clone()
			s.params = nil
			s.paramsUnknown = false
		}
	}
}

// virtualTransaction handles, for a client without a server, a bare BEGIN
// (answered at once, sent later with the next statement) and the COMMIT
// or ROLLBACK of such a transaction with nothing in it. It reports whether
// it answered the run.
func (c *Client) virtualTransaction(run []byte, frames []runFrame) bool {
	if !c.policy.Load().VirtualBegin && !c.deferredBegin {
		return false
	}
	if len(frames) != 1 || frames[0].typ != pgwire.MsgQuery || !frames[0].whole {
		return false
	}
	_, st, more, plain := classify(queryBody(run[frames[0].off : frames[0].off+frames[0].n]))
	if more || plain {
		return false
	}
	var reply []byte
	switch {
	case !c.deferredBegin && st.Kind == sqlmin.Begin && st.Bare:
		c.deferredBegin = true
		reply = appendCommandComplete(nil, "BEGIN")
		reply = pgwire.AppendReadyForQuery(reply, pgwire.TxActive)
	case c.deferredBegin && (st.Kind == sqlmin.Commit || st.Kind == sqlmin.Rollback) && !st.Chain:
		c.deferredBegin = false
		tag := "COMMIT"
		if st.Kind == sqlmin.Rollback {
			tag = "ROLLBACK"
		}
		reply = appendCommandComplete(nil, tag)
		reply = pgwire.AppendReadyForQuery(reply, pgwire.TxIdle)
	default:
		return false
	}
	c.writeMu.Lock()
	c.writeReplyLocked(reply)
	return true
}

func appendCommandComplete(dst []byte, tag string) []byte {
	dst, start := pgwire.BeginMessage(dst, pgwire.MsgCommandComplete)
	dst = append(dst, tag...)
	dst = append(dst, 0)
	return pgwire.FinishMessage(dst, start)
}

// beginDeferred sends the BEGIN a client was told it had, ahead of its
// next statement; the server's reply to it is ours.
func (t *translation) beginDeferred() {
	if !t.c.deferredBegin {
		return
	}
	t.c.deferredBegin = false
	t.s.unnamedOf = nil
	t.out = pgwire.AppendQuery(t.out, "BEGIN")
	t.requests++
	t.s.expect.push(expect{kind: expHideUntilReady})
}

// settleLocal runs, on the client's goroutine, what the pump runs after a
// reply when the client's run was answered entirely by the pooler: with
// nothing outstanding, the server may be released.
func (s *Server) settleLocal(c *Client) {
	s.mu.Lock()
	ok := s.client == c && s.state == stateAttached && s.pending == 0 && !s.unsynced && s.expect.empty()
	s.mu.Unlock()
	if ok {
		s.settle(c)
	}
}
