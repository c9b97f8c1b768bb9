// Package sqlmin recognises the few kinds of SQL statement a transaction
// pooler has to know about, in the text of simple-protocol Query messages
// and of extended-protocol Parse messages.
//
// When clients share servers transaction by transaction, a client's
// session state (parameters set with SET, prepared statements, LISTEN,
// temporary tables, cursors WITH HOLD, advisory locks, loaded libraries)
// does not follow it from one server to the next. The pooler uses this
// package to carry what can be carried, to answer some statements itself
// and to refuse, or pin the client to its server, for the rest.
//
// This is not a SQL parser. A lexer that draws token boundaries exactly as
// PostgreSQL does (so that key words inside literals, quoted identifiers
// and comments never count) feeds recognisers for a handful of statement
// shapes; anything else is Other. The code runs on the hot path: First
// does not allocate for a statement of kind Other, and nothing here can
// panic or loop on any input.
//
// Use First for a Query message that most likely holds one statement and
// for the text of a Parse message (which the server refuses if it holds
// more than one), and Split when First reports more. Both read the text as
// a session with standard_conforming_strings on does; Options covers
// sessions that turned it off.
package sqlmin

import "strconv"

// Kind is the class of a statement.
type Kind int

// The kinds of statement. A statement of none of these shapes is Other, and
// so is one the server could not even scan (it has an unterminated
// literal, quoted identifier or comment). The recognisers check shapes,
// not validity: a statement the server will reject may still get a kind.
const (
	// Other is any statement the pooler has no special interest in.
	Other Kind = iota
	// Begin is BEGIN [WORK | TRANSACTION] [modes] or START TRANSACTION
	// [modes]. Stmt.Bare tells whether modes were given.
	Begin
	// Commit is COMMIT or END [WORK | TRANSACTION] [AND [NO] CHAIN].
	// COMMIT PREPARED is Other.
	Commit
	// Rollback is ROLLBACK or ABORT [WORK | TRANSACTION] [AND [NO] CHAIN].
	// ROLLBACK TO SAVEPOINT is RollbackTo; ROLLBACK PREPARED is Other.
	Rollback
	// Set is SET [SESSION] for one parameter, in the generic form (name
	// TO or = value) or one of the special forms TIME ZONE, SCHEMA,
	// NAMES, ROLE, SESSION AUTHORIZATION and XML OPTION. SET ... FROM
	// CURRENT and SET CONSTRAINTS are Other.
	Set
	// SetLocal is SET LOCAL, with the same forms as Set.
	SetLocal
	// SetTransaction changes the characteristics of the current
	// transaction or of the session's later ones: SET [LOCAL | SESSION]
	// TRANSACTION ..., SET SESSION CHARACTERISTICS AS TRANSACTION ... and
	// RESET TRANSACTION ISOLATION LEVEL.
	SetTransaction
	// Reset is RESET for one parameter.
	Reset
	// ResetAll is RESET ALL.
	ResetAll
	// DiscardAll is DISCARD ALL.
	DiscardAll
	// Discard is DISCARD PLANS, SEQUENCES, TEMP or TEMPORARY; Stmt.Name
	// says which.
	Discard
	// Deallocate is DEALLOCATE [PREPARE] name.
	Deallocate
	// DeallocateAll is DEALLOCATE [PREPARE] ALL.
	DeallocateAll
	// Prepare is PREPARE name [(types)] AS statement. PREPARE
	// TRANSACTION is Other.
	Prepare
	// Execute is EXECUTE name [(arguments)].
	Execute
	// Listen is LISTEN channel.
	Listen
	// Unlisten is UNLISTEN channel or UNLISTEN *.
	Unlisten
	// CreateTemp is CREATE [OR REPLACE] [GLOBAL | LOCAL] {TEMP |
	// TEMPORARY} followed by anything (TABLE, SEQUENCE, VIEW, ...).
	CreateTemp
	// DeclareHold is DECLARE name ... WITH HOLD ... FOR query: a cursor
	// that outlives its transaction. Other cursors are Other.
	DeclareHold
	// Load is LOAD 'file'.
	Load
	// Savepoint is SAVEPOINT name.
	Savepoint
	// Release is RELEASE [SAVEPOINT] name.
	Release
	// RollbackTo is ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name.
	RollbackTo
)

var kindNames = [...]string{
	Other:          "Other",
	Begin:          "Begin",
	Commit:         "Commit",
	Rollback:       "Rollback",
	Set:            "Set",
	SetLocal:       "SetLocal",
	SetTransaction: "SetTransaction",
	Reset:          "Reset",
	ResetAll:       "ResetAll",
	DiscardAll:     "DiscardAll",
	Discard:        "Discard",
	Deallocate:     "Deallocate",
	DeallocateAll:  "DeallocateAll",
	Prepare:        "Prepare",
	Execute:        "Execute",
	Listen:         "Listen",
	Unlisten:       "Unlisten",
	CreateTemp:     "CreateTemp",
	DeclareHold:    "DeclareHold",
	Load:           "Load",
	Savepoint:      "Savepoint",
	Release:        "Release",
	RollbackTo:     "RollbackTo",
}

// String returns the constant's name, such as "SetLocal".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Stmt is one classified statement. Every string in it is a substring of
// the text given to Split or First, except names that had to be folded to
// lower case, unquoted or joined.
//
// Names are identifiers as PostgreSQL reads them: folded to lower case
// (ASCII letters only, as the server does in UTF-8 databases) unless
// double-quoted, with the quotes removed from quoted ones, and cut to 63
// bytes (the server's default NAMEDATALEN less one) at a character
// boundary.
type Stmt struct {
	// Kind is the class of the statement.
	Kind Kind

	// Text is the statement without its ';' and without the white space
	// around it. Comments in and around it are kept.
	Text string

	// Name depends on Kind:
	//   - Set, SetLocal, Reset: the parameter; dotted names of custom
	//     parameters are joined with '.'. The special forms give
	//     "TimeZone" (TIME ZONE; note the case, GUC names match
	//     regardless of case), "search_path" (SCHEMA), "client_encoding"
	//     (NAMES), "role" (ROLE), "session_authorization" (SESSION
	//     AUTHORIZATION) and "xmloption" (XML OPTION).
	//   - Prepare, Execute, Deallocate: the prepared statement.
	//   - Listen, Unlisten: the channel, or "*" for UNLISTEN *.
	//   - DeclareHold: the cursor.
	//   - Discard: "plans", "sequences" or "temp" (TEMPORARY included).
	//   - Savepoint, Release, RollbackTo: the savepoint.
	Name string

	// Value is, for Set and SetLocal, the value exactly as written after
	// TO or = (or after the words of a special form), from its first
	// token to its last, such as `'UTC'`, `"$user", public` or
	// `DEFAULT`. For Load it is the file name literal as written.
	Value string

	// Default is set for Set and SetLocal when the parameter goes back to
	// its default: the value is DEFAULT, TIME ZONE LOCAL, or NAMES with no
	// value at all.
	Default bool

	// Bare is set for Begin when no transaction modes follow.
	Bare bool

	// Chain is set for Commit and Rollback with AND CHAIN: a new
	// transaction starts at once, with the same modes.
	Chain bool

	// Types is, for Prepare, the text inside the parentheses of the
	// parameter type list, trimmed, or "" without one.
	Types string

	// Body is, for Prepare, the statement after AS.
	Body string

	// Args is, for Execute, the text inside the parentheses, trimmed, or
	// "" without them.
	Args string

	// AdvisoryLock is set when the statement calls pg_advisory_lock,
	// pg_advisory_lock_shared, pg_try_advisory_lock or
	// pg_try_advisory_lock_shared (the session-level advisory lock
	// functions; the _xact_ ones are not) anywhere outside literals and
	// comments, whatever its Kind. For Prepare it means the prepared
	// statement takes the lock each time it is executed.
	AdvisoryLock bool
}
