package console

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// maxMessage bounds one client message. Commands are short, but a
// driver's Parse may carry a long query that has to be read to be skipped.
const maxMessage = 1 << 20

// session is one console connection. Its goroutine (Console.Serve) is the
// only one that reads or writes the connection; kill, from any goroutine,
// only stores a reason and wakes the read.
type session struct {
	con         *Console
	conn        net.Conn
	client      Client
	connected   time.Time
	lastRequest atomic.Int64 // unix nanoseconds of the last query
	killed      atomic.Pointer[pgwire.Error]
}

// kill makes the session end with e (FATAL), sent by the frontend.
func (s *session) kill(e *pgwire.Error) {
	s.killed.CompareAndSwap(nil, e)
	s.conn.SetReadDeadline(time.Unix(1, 0))
}

// run reads and answers messages until the client leaves or fails.
// Simple queries are answered; the extended protocol is refused the way
// PostgreSQL refuses a bad statement: one ErrorResponse, then everything
// up to Sync is skipped and Sync gets ReadyForQuery, so that drivers
// recover and can go on with simple queries.
func (s *session) run() error {
	var buf []byte
	skipping := false // an extended-protocol error was sent; wait for Sync
	for {
		typ, body, err := pgwire.ReadMessage(s.conn, buf, maxMessage)
		if err != nil {
			return err
		}
		if cap(body) <= 64<<10 {
			buf = body[:0]
		}
		var out []byte
		switch typ {
		case pgwire.MsgQuery:
			if skipping {
				continue
			}
			s.lastRequest.Store(time.Now().UnixNano())
			out = s.query(cString(body))
		case pgwire.MsgSync:
			skipping = false
			out = pgwire.AppendReadyForQuery(nil, pgwire.TxIdle)
		case pgwire.MsgParse, pgwire.MsgBind, pgwire.MsgDescribe, pgwire.MsgExecute, pgwire.MsgClose:
			if skipping {
				continue
			}
			skipping = true
			out = s.appendError(nil, extendedError(typ))
		case pgwire.MsgFunctionCall:
			out = s.appendError(nil, extendedError(typ))
			out = pgwire.AppendReadyForQuery(out, pgwire.TxIdle)
		case pgwire.MsgFlush, pgwire.MsgCopyData, pgwire.MsgCopyDone, pgwire.MsgCopyFail:
			continue // nothing pending; no COPY running (PostgreSQL ignores these too)
		case pgwire.MsgTerminate:
			return nil
		default:
			return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgwire.CodeProtocolViolation,
				Message: fmt.Sprintf("invalid frontend message type %d", typ)}
		}
		if _, err := s.conn.Write(out); err != nil {
			return fmt.Errorf("console write: %w", err)
		}
	}
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func extendedError(typ byte) *pgwire.Error {
	return &pgwire.Error{Code: pgwire.CodeFeatureNotSupported,
		Message: fmt.Sprintf("unsupported request: the console accepts only simple queries (got message %q)", typ),
		Hint:    "Use psql, or a driver in simple-protocol mode (pgx: QueryExecModeSimpleProtocol)."}
}

// query answers one simple query: the result or an error, then
// ReadyForQuery.
func (s *session) query(sql string) []byte {
	log := s.client.Log
	if s.con.inst.Router().Config().LogQuery {
		log.Info("console query", "query", sql)
	}
	var out []byte
	cmd, err := Parse(sql)
	switch {
	case err != nil:
		log.Info("console command error", "query", sql, "error", err.Error())
		out = s.appendError(out, &pgwire.Error{Code: pgwire.CodeSyntaxError,
			Message: "console command error: " + err.Error(),
			Hint:    "Valid commands: " + strings.Join(usage, "; ") + "."})
	case cmd.Kind == CmdEmpty:
		out = appendEmptyQuery(out)
	case !permitted(s.client.Rule, cmd):
		log.Warn("console command refused by role", "command", cmd.String(), "role", role(s.client.Rule).String())
		out = s.appendError(out, &pgwire.Error{Code: pgwire.CodeInsufficientPriv,
			Message: "Unsuitable user role to emit console command"})
	default:
		out = s.exec(out, cmd)
	}
	return pgwire.AppendReadyForQuery(out, pgwire.TxIdle)
}

// role is the rule's console role; a rule without one is read-only, as
// config validation makes it.
func role(r *config.Rule) config.Role {
	if r == nil || r.Role == config.RoleUndefined {
		return config.RoleStat
	}
	return r.Role
}

// permitted: admin may run everything, stat only SHOW, notallow nothing.
func permitted(r *config.Rule, cmd Command) bool {
	switch role(r) {
	case config.RoleAdmin:
		return true
	case config.RoleStat:
		return cmd.Kind == CmdShow
	}
	return false
}

// exec runs a permitted command and appends its answer.
func (s *session) exec(out []byte, cmd Command) []byte {
	if cmd.Kind != CmdShow {
		tag, err := s.admin(cmd)
		if err != nil {
			return s.appendError(out, err)
		}
		return appendCommandComplete(out, tag)
	}
	if cmd.Item == "help" {
		return appendHelp(out)
	}
	t, err := s.view().show(cmd)
	if err != nil {
		return s.appendError(out, err)
	}
	return t.appendTo(out, "SHOW")
}

// appendError appends an ERROR (the session goes on), prefixed with the
// client id like every message the pooler itself sends.
func (s *session) appendError(out []byte, err error) []byte {
	var pe *pgwire.Error
	if !errors.As(err, &pe) {
		pe = &pgwire.Error{Code: pgwire.CodeInternalError, Message: err.Error()}
	}
	e := *pe
	e.Severity = pgwire.SeverityError
	e.Message = "odyssey: " + s.client.ID + ": " + e.Message
	return pgwire.AppendErrorResponse(out, &e)
}

// appendHelp answers SHOW HELP as PgBouncer does: a NOTICE listing the
// commands, and no rows.
func appendHelp(out []byte) []byte {
	out = pgwire.AppendNoticeResponse(out, &pgwire.Error{Severity: pgwire.SeverityNotice, Code: "00000",
		Message: "Console usage", Detail: "\t" + strings.Join(usage, "\n\t")})
	return appendCommandComplete(out, "SHOW")
}
