package sqlmin

import (
	"slices"
	"strings"
	"testing"
)

// one classifies sql, which must hold exactly one statement, and checks
// that Split and First agree on it.
func one(t *testing.T, sql string) Stmt {
	t.Helper()
	all := Split(sql)
	if len(all) != 1 {
		t.Fatalf("Split(%q) = %d statements, want 1: %+v", sql, len(all), all)
	}
	st, more := First(sql)
	if more {
		t.Errorf("First(%q): more = true", sql)
	}
	if st != all[0] {
		t.Errorf("First(%q) = %+v, Split gave %+v", sql, st, all[0])
	}
	return st
}

func TestClassify(t *testing.T) {
	tests := []struct {
		sql  string
		want Stmt // Text is filled in from sql when left empty
	}{
		// Other.
		{"SELECT 1", Stmt{}},
		{"select 'BEGIN'", Stmt{}},
		{`select "begin" from t`, Stmt{}},
		{"/* BEGIN */ SELECT 1", Stmt{}},
		{"-- BEGIN\nSELECT 1", Stmt{}},
		{"(SELECT 1)", Stmt{}},
		{"$1", Stmt{}},
		{`"begin"`, Stmt{}},
		{"begins", Stmt{}},
		{"WITH x AS (SELECT 1) SELECT * FROM x", Stmt{}},
		{"EXPLAIN EXECUTE p", Stmt{}},
		{"SELECT 'unterminated", Stmt{}},
		{"SET x = 'unterminated", Stmt{}},
		{"BEGIN /* unterminated", Stmt{}},
		{`LISTEN "unterminated`, Stmt{}},
		{"BEGIN $$", Stmt{}},

		// Begin.
		{"BEGIN", Stmt{Kind: Begin, Bare: true}},
		{"begin", Stmt{Kind: Begin, Bare: true}},
		{"BeGiN WoRk", Stmt{Kind: Begin, Bare: true}},
		{"BEGIN TRANSACTION", Stmt{Kind: Begin, Bare: true}},
		{"START TRANSACTION", Stmt{Kind: Begin, Bare: true}},
		{"start\ttransaction", Stmt{Kind: Begin, Bare: true}},
		{"/* /* nested */ still comment */ BEGIN", Stmt{Kind: Begin, Bare: true}},
		{"-- c\nBEGIN -- c", Stmt{Kind: Begin, Bare: true}},
		{"BEGIN/*x*/TRANSACTION", Stmt{Kind: Begin, Bare: true}},
		{"\r\n\f\vBEGIN\v", Stmt{Kind: Begin, Bare: true, Text: "BEGIN"}},
		{"begin isolation level serializable", Stmt{Kind: Begin}},
		{"BEGIN READ ONLY", Stmt{Kind: Begin}},
		{"BEGIN TRANSACTION READ WRITE", Stmt{Kind: Begin}},
		{"BEGIN WORK DEFERRABLE", Stmt{Kind: Begin}},
		{"BEGIN NOT DEFERRABLE", Stmt{Kind: Begin}},
		{"START TRANSACTION ISOLATION LEVEL REPEATABLE READ", Stmt{Kind: Begin}},
		{"BEGIN ATOMIC", Stmt{}},
		{"BEGIN WORK TRANSACTION", Stmt{}},
		{"START", Stmt{}},
		{"START WORK", Stmt{}},

		// Commit.
		{"COMMIT", Stmt{Kind: Commit}},
		{"commit work", Stmt{Kind: Commit}},
		{"END", Stmt{Kind: Commit}},
		{"end transaction", Stmt{Kind: Commit}},
		{"COMMIT AND NO CHAIN", Stmt{Kind: Commit}},
		{"COMMIT AND CHAIN", Stmt{Kind: Commit, Chain: true}},
		{"END WORK AND CHAIN", Stmt{Kind: Commit, Chain: true}},
		{"COMMIT PREPARED 'x'", Stmt{}},
		{"COMMIT AND", Stmt{}},

		// Rollback.
		{"ROLLBACK", Stmt{Kind: Rollback}},
		{"rollback transaction", Stmt{Kind: Rollback}},
		{"ABORT", Stmt{Kind: Rollback}},
		{"Abort Work", Stmt{Kind: Rollback}},
		{"ROLLBACK AND CHAIN", Stmt{Kind: Rollback, Chain: true}},
		{"ABORT AND NO CHAIN", Stmt{Kind: Rollback}},
		{"ROLLBACK TO SAVEPOINT a", Stmt{Kind: RollbackTo, Name: "a"}},
		{"ROLLBACK TO a", Stmt{Kind: RollbackTo, Name: "a"}},
		{"ROLLBACK WORK TO SAVEPOINT \"A\"", Stmt{Kind: RollbackTo, Name: "A"}},
		{"rollback transaction to b", Stmt{Kind: RollbackTo, Name: "b"}},
		{"SAVEPOINT sp_1", Stmt{Kind: Savepoint, Name: "sp_1"}},
		{"release savepoint SP", Stmt{Kind: Release, Name: "sp"}},
		{"RELEASE x", Stmt{Kind: Release, Name: "x"}},
		{"SAVEPOINT", Stmt{}},
		{"RELEASE a b", Stmt{}},
		{"ROLLBACK PREPARED 'x'", Stmt{}},

		// Set and SetLocal.
		{"SET search_path = \"$user\", public", Stmt{Kind: Set, Name: "search_path", Value: `"$user", public`}},
		{"set local statement_timeout to '5s'", Stmt{Kind: SetLocal, Name: "statement_timeout", Value: "'5s'"}},
		{"SET SESSION work_mem TO '64MB'", Stmt{Kind: Set, Name: "work_mem", Value: "'64MB'"}},
		{"SET Search_Path TO a, \"B\", public", Stmt{Kind: Set, Name: "search_path", Value: `a, "B", public`}},
		{"SET \"TimeZone\" = 'UTC'", Stmt{Kind: Set, Name: "TimeZone", Value: "'UTC'"}},
		{"SET x=-1", Stmt{Kind: Set, Name: "x", Value: "-1"}},
		{"SET x=+1", Stmt{Kind: Set, Name: "x", Value: "+1"}},
		{"SET x =< 1", Stmt{}},
		{"SET myapp.user_id = 42", Stmt{Kind: Set, Name: "myapp.user_id", Value: "42"}},
		{`SET MyApp."User" = 'x'`, Stmt{Kind: Set, Name: "myapp.User", Value: "'x'"}},
		{"SET x TO DEFAULT", Stmt{Kind: Set, Name: "x", Value: "DEFAULT", Default: true}},
		{"set x = default", Stmt{Kind: Set, Name: "x", Value: "default", Default: true}},
		{"SET x = 'default'", Stmt{Kind: Set, Name: "x", Value: "'default'"}},
		{"SET x = \"default\"", Stmt{Kind: Set, Name: "x", Value: `"default"`}},
		{"SET x = default, 1", Stmt{Kind: Set, Name: "x", Value: "default, 1"}},
		{"SET /* a */ x /* b */ = /* c */ 1 /* d */ , 2 -- e", Stmt{Kind: Set, Name: "x", Value: "1 /* d */ , 2"}},
		{"SET application_name = 'a;b'", Stmt{Kind: Set, Name: "application_name", Value: "'a;b'"}},
		{"SET x = E'it\\'s'", Stmt{Kind: Set, Name: "x", Value: `E'it\'s'`}},
		{"SET x = $$v$$", Stmt{Kind: Set, Name: "x", Value: "$$v$$"}},
		{"SET TIME ZONE 'UTC'", Stmt{Kind: Set, Name: "TimeZone", Value: "'UTC'"}},
		{"SET TIME ZONE LOCAL", Stmt{Kind: Set, Name: "TimeZone", Value: "LOCAL", Default: true}},
		{"SET TIME ZONE DEFAULT", Stmt{Kind: Set, Name: "TimeZone", Value: "DEFAULT", Default: true}},
		{"set time zone interval '+02:00' hour to minute", Stmt{Kind: Set, Name: "TimeZone", Value: "interval '+02:00' hour to minute"}},
		{"SET LOCAL TIME ZONE -3", Stmt{Kind: SetLocal, Name: "TimeZone", Value: "-3"}},
		{"SET timezone = local", Stmt{Kind: Set, Name: "timezone", Value: "local"}},
		{"SET SCHEMA 'app'", Stmt{Kind: Set, Name: "search_path", Value: "'app'"}},
		{"SET NAMES 'UTF8'", Stmt{Kind: Set, Name: "client_encoding", Value: "'UTF8'"}},
		{"SET NAMES DEFAULT", Stmt{Kind: Set, Name: "client_encoding", Value: "DEFAULT", Default: true}},
		{"SET NAMES", Stmt{Kind: Set, Name: "client_encoding", Default: true}},
		{"SET ROLE admin", Stmt{Kind: Set, Name: "role", Value: "admin"}},
		{"SET ROLE NONE", Stmt{Kind: Set, Name: "role", Value: "NONE"}},
		{"SET role = 'admin'", Stmt{Kind: Set, Name: "role", Value: "'admin'"}},
		{"SET LOCAL ROLE 'x'", Stmt{Kind: SetLocal, Name: "role", Value: "'x'"}},
		{"SET SESSION AUTHORIZATION bob", Stmt{Kind: Set, Name: "session_authorization", Value: "bob"}},
		{"SET SESSION AUTHORIZATION DEFAULT", Stmt{Kind: Set, Name: "session_authorization", Value: "DEFAULT", Default: true}},
		{"SET SESSION SESSION AUTHORIZATION 'bob'", Stmt{Kind: Set, Name: "session_authorization", Value: "'bob'"}},
		{"SET LOCAL SESSION AUTHORIZATION bob", Stmt{Kind: SetLocal, Name: "session_authorization", Value: "bob"}},
		{"SET XML OPTION DOCUMENT", Stmt{Kind: Set, Name: "xmloption", Value: "DOCUMENT"}},
		{"SET local = 1", Stmt{Kind: Set, Name: "local", Value: "1"}},
		{"SET session TO 1", Stmt{Kind: Set, Name: "session", Value: "1"}},
		{"SET x", Stmt{}},
		{"SET x TO", Stmt{}},
		{"SET x FROM CURRENT", Stmt{}},
		{"SET CONSTRAINTS ALL DEFERRED", Stmt{}},
		{"SET TIME ZONE", Stmt{}},
		{"SET TIME 'UTC'", Stmt{}},
		{"SET", Stmt{}},
		{"SET = 1", Stmt{}},
		{`SET "" = 1`, Stmt{}},

		// SetTransaction.
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", Stmt{Kind: SetTransaction}},
		{"SET LOCAL TRANSACTION READ ONLY", Stmt{Kind: SetTransaction}},
		{"SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", Stmt{Kind: SetTransaction}},
		{"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", Stmt{Kind: SetTransaction}},
		{"RESET TRANSACTION ISOLATION LEVEL", Stmt{Kind: SetTransaction}},

		// Reset and ResetAll.
		{"reset all;", Stmt{Kind: ResetAll, Text: "reset all"}},
		{"RESET ALL", Stmt{Kind: ResetAll}},
		{"RESET search_path", Stmt{Kind: Reset, Name: "search_path"}},
		{"RESET \"all\"", Stmt{Kind: Reset, Name: "all"}},
		{"RESET myapp.User_Id", Stmt{Kind: Reset, Name: "myapp.user_id"}},
		{"RESET TIME ZONE", Stmt{Kind: Reset, Name: "TimeZone"}},
		{"RESET ROLE", Stmt{Kind: Reset, Name: "role"}},
		{"RESET SESSION AUTHORIZATION", Stmt{Kind: Reset, Name: "session_authorization"}},
		{"RESET", Stmt{}},
		{"RESET a b", Stmt{}},
		{"RESET ALL x", Stmt{}},

		// Discard.
		{"DISCARD ALL", Stmt{Kind: DiscardAll}},
		{"discard all ;", Stmt{Kind: DiscardAll, Text: "discard all"}},
		{"DISCARD PLANS", Stmt{Kind: Discard, Name: "plans"}},
		{"DISCARD SEQUENCES", Stmt{Kind: Discard, Name: "sequences"}},
		{"DISCARD TEMP", Stmt{Kind: Discard, Name: "temp"}},
		{"discard temporary", Stmt{Kind: Discard, Name: "temp"}},
		{"DISCARD", Stmt{}},
		{"DISCARD EVERYTHING", Stmt{}},
		{"DISCARD ALL PLANS", Stmt{}},

		// Deallocate.
		{`DEALLOCATE PREPARE "MyStmt"`, Stmt{Kind: Deallocate, Name: "MyStmt"}},
		{"DEALLOCATE MyStmt", Stmt{Kind: Deallocate, Name: "mystmt"}},
		{"DEALLOCATE prepare", Stmt{Kind: Deallocate, Name: "prepare"}},
		{`DEALLOCATE "a""b"`, Stmt{Kind: Deallocate, Name: `a"b`}},
		{"DEALLOCATE ALL", Stmt{Kind: DeallocateAll}},
		{"deallocate prepare all", Stmt{Kind: DeallocateAll}},
		{`DEALLOCATE "all"`, Stmt{Kind: Deallocate, Name: "all"}},
		{"DEALLOCATE", Stmt{}},
		{"DEALLOCATE a b", Stmt{}},

		// Prepare.
		{"prepare p (int, text) as select $1, $2", Stmt{Kind: Prepare, Name: "p", Types: "int, text", Body: "select $1, $2"}},
		{"PREPARE Q AS SELECT 1", Stmt{Kind: Prepare, Name: "q", Body: "SELECT 1"}},
		{"PREPARE p ( numeric(10, 2) [] ) AS INSERT INTO t VALUES ($1) -- c", Stmt{Kind: Prepare, Name: "p", Types: "numeric(10, 2) []", Body: "INSERT INTO t VALUES ($1)"}},
		{"PREPARE p AS SELECT pg_advisory_lock($1)", Stmt{Kind: Prepare, Name: "p", Body: "SELECT pg_advisory_lock($1)", AdvisoryLock: true}},
		{"PREPARE TRANSACTION 'gid'", Stmt{}},
		{"PREPARE p AS", Stmt{}},
		{"PREPARE p (int AS SELECT 1", Stmt{}},
		{"PREPARE p SELECT 1", Stmt{}},

		// Execute.
		{"EXECUTE p(1, 'a;b')", Stmt{Kind: Execute, Name: "p", Args: "1, 'a;b'"}},
		{"EXECUTE P", Stmt{Kind: Execute, Name: "p"}},
		{`execute "P" ( ( 1 ) , ')' )`, Stmt{Kind: Execute, Name: "P", Args: "( 1 ) , ')'"}},
		{"EXECUTE p()", Stmt{Kind: Execute, Name: "p"}},
		{"EXECUTE p(1) x", Stmt{}},
		{"EXECUTE", Stmt{}},

		// Listen and Unlisten.
		{`LISTEN "Chan"`, Stmt{Kind: Listen, Name: "Chan"}},
		{"listen Chan", Stmt{Kind: Listen, Name: "chan"}},
		{"LISTEN", Stmt{}},
		{"LISTEN 'chan'", Stmt{}},
		{"UNLISTEN *", Stmt{Kind: Unlisten, Name: "*"}},
		{"UNLISTEN chan", Stmt{Kind: Unlisten, Name: "chan"}},
		{"LISTEN *", Stmt{}},
		{"UNLISTEN **", Stmt{}},

		// CreateTemp.
		{"create temporary table t(x int)", Stmt{Kind: CreateTemp}},
		{"CREATE TEMP TABLE t AS SELECT 1", Stmt{Kind: CreateTemp}},
		{"CREATE GLOBAL TEMPORARY TABLE t (x int)", Stmt{Kind: CreateTemp}},
		{"CREATE LOCAL TEMP SEQUENCE s", Stmt{Kind: CreateTemp}},
		{"CREATE OR REPLACE TEMP VIEW v AS SELECT 1", Stmt{Kind: CreateTemp}},
		{"CREATE TEMP RECURSIVE VIEW v (n) AS SELECT 1", Stmt{Kind: CreateTemp}},
		{"CREATE TABLE temp (x int)", Stmt{}},
		{"CREATE TABLE t (x int) -- temporary", Stmt{}},
		{"CREATE UNLOGGED TABLE t (x int)", Stmt{}},
		{"CREATE OR TEMP TABLE t (x int)", Stmt{}},

		// DeclareHold.
		{"DECLARE c CURSOR WITH HOLD FOR select 1", Stmt{Kind: DeclareHold, Name: "c"}},
		{"declare C binary scroll cursor with hold for select 1", Stmt{Kind: DeclareHold, Name: "c"}},
		{"DECLARE c NO SCROLL CURSOR WITH /* x */ HOLD FOR SELECT 1", Stmt{Kind: DeclareHold, Name: "c"}},
		{"DECLARE c CURSOR WITHOUT HOLD FOR select 1", Stmt{}},
		{"DECLARE c CURSOR FOR select 1", Stmt{}},
		{"DECLARE c CURSOR FOR WITH hold AS (SELECT 1) SELECT * FROM hold", Stmt{}},

		// Load.
		{"LOAD 'auto_explain'", Stmt{Kind: Load, Value: "'auto_explain'"}},
		{"load '$libdir/plugins/x' -- c", Stmt{Kind: Load, Value: "'$libdir/plugins/x'"}},
		{"LOAD", Stmt{}},

		// Advisory locks.
		{"select pg_advisory_lock(1)", Stmt{AdvisoryLock: true}},
		{"SELECT PG_TRY_ADVISORY_LOCK_SHARED (1)", Stmt{AdvisoryLock: true}},
		{"SELECT pg_catalog.pg_advisory_lock_shared(1, 2)", Stmt{AdvisoryLock: true}},
		{`SELECT "pg_try_advisory_lock"(1)`, Stmt{AdvisoryLock: true}},
		{"SELECT pg_advisory_lock /* c */ (1)", Stmt{AdvisoryLock: true}},
		{"SELECT 1 FROM t WHERE pg_try_advisory_lock(t.id)", Stmt{AdvisoryLock: true}},
		{"select pg_advisory_xact_lock(1)", Stmt{}},
		{"select pg_try_advisory_xact_lock_shared(1)", Stmt{}},
		{"SELECT 'pg_advisory_lock(1)'", Stmt{}},
		{"SELECT 1 -- pg_advisory_lock(1)", Stmt{}},
		{`SELECT "PG_ADVISORY_LOCK"(1)`, Stmt{}},
		{"SELECT pg_advisory_lock FROM t", Stmt{}},
		{"SELECT pg_advisory_unlock(1)", Stmt{}},
		{"SELECT pg_advisory_lock(1", Stmt{AdvisoryLock: true}},
		{"SELECT pg_advisory_lock('x", Stmt{}},        // unterminated: the server refuses it
		{"BEGIN; SELECT pg_advisory_lock(1)", Stmt{}}, // checked in TestSplit
	}
	for _, tt := range tests {
		if strings.HasPrefix(tt.sql, "BEGIN; ") {
			continue
		}
		want := tt.want
		if want.Text == "" {
			want.Text = strings.TrimRight(tt.sql, "; ")
		}
		if got := one(t, tt.sql); got != want {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.sql, got, want)
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		sql  string
		want []Stmt
	}{
		{"", nil},
		{";", nil},
		{" ;; ; ", nil},
		{"-- only a comment", nil},
		{"/* c */ ; -- d\n;", nil},
		{"BEGIN; SELECT 1", []Stmt{{Kind: Begin, Bare: true, Text: "BEGIN"}, {Text: "SELECT 1"}}},
		{"BEGIN;SELECT 1;COMMIT;", []Stmt{{Kind: Begin, Bare: true, Text: "BEGIN"}, {Text: "SELECT 1"}, {Kind: Commit, Text: "COMMIT"}}},
		{";;BEGIN;;;COMMIT;;", []Stmt{{Kind: Begin, Bare: true, Text: "BEGIN"}, {Kind: Commit, Text: "COMMIT"}}},
		{"select $$ ; $$", []Stmt{{Text: "select $$ ; $$"}}},
		{"select $a$ $$;$$ ; $a$; COMMIT", []Stmt{{Text: "select $a$ $$;$$ ; $a$"}, {Kind: Commit, Text: "COMMIT"}}},
		{"select $a$ ; $A$ ; $a$", []Stmt{{Text: "select $a$ ; $A$ ; $a$"}}},
		{"select a$b$ ; COMMIT; select $b$", []Stmt{{Text: "select a$b$"}, {Kind: Commit, Text: "COMMIT"}, {Text: "select $b$"}}},
		{"select $1;COMMIT;select $1$$;$$", []Stmt{{Text: "select $1"}, {Kind: Commit, Text: "COMMIT"}, {Text: "select $1$$;$$"}}},
		{"select $_x1$;$_x1$;END", []Stmt{{Text: "select $_x1$;$_x1$"}, {Kind: Commit, Text: "END"}}},
		{"select $ ; END", []Stmt{{Text: "select $"}, {Kind: Commit, Text: "END"}}},
		{"select $x ; END", []Stmt{{Text: "select $x"}, {Kind: Commit, Text: "END"}}},
		{"select ';' ; END", []Stmt{{Text: "select ';'"}, {Kind: Commit, Text: "END"}}},
		{"select 'it''s; fine' ; END", []Stmt{{Text: "select 'it''s; fine'"}, {Kind: Commit, Text: "END"}}},
		{`select '\'; END; --'`, []Stmt{{Text: `select '\'`}, {Kind: Commit, Text: "END"}}},
		{`select E'\'; END; --'`, []Stmt{{Text: `select E'\'; END; --'`}}},
		{`select e'\\'; END`, []Stmt{{Text: `select e'\\'`}, {Kind: Commit, Text: "END"}}},
		{`select x'\'; END`, []Stmt{{Text: `select x'\'`}, {Kind: Commit, Text: "END"}}},
		{`select U&'\'; END`, []Stmt{{Text: `select U&'\'`}, {Kind: Commit, Text: "END"}}},
		{`select U&"\"; END`, []Stmt{{Text: `select U&"\"`}, {Kind: Commit, Text: "END"}}},
		// A literal continued on the next line keeps E's escapes.
		{"select E'a'\n'\\'; END; --'", []Stmt{{Text: "select E'a'\n'\\'; END; --'"}}},
		{"select E'a' -- c\n  '\\'; END; --'", []Stmt{{Text: "select E'a' -- c\n  '\\'; END; --'"}}},
		// Without a newline there is no continuation.
		{"select E'a' '\\'; END; --'", []Stmt{{Text: "select E'a' '\\'"}, {Kind: Commit, Text: "END"}}},
		{"select E'a' /* c */\n'\\'; END; --'", []Stmt{{Text: "select E'a' /* c */\n'\\'"}, {Kind: Commit, Text: "END"}}},
		{`select "a;""b" ; END`, []Stmt{{Text: `select "a;""b"`}, {Kind: Commit, Text: "END"}}},
		{"select 1 -- ; END\n; END", []Stmt{{Text: "select 1 -- ; END"}, {Kind: Commit, Text: "END"}}},
		{"select 1 /* ; /* ; */ ; */ ; END", []Stmt{{Text: "select 1 /* ; /* ; */ ; */"}, {Kind: Commit, Text: "END"}}},
		{"select 1 */* ; */ ; END", []Stmt{{Text: "select 1 */* ; */"}, {Kind: Commit, Text: "END"}}},
		{"select 1 +-- ; END\n; END", []Stmt{{Text: "select 1 +-- ; END"}, {Kind: Commit, Text: "END"}}},
		{"select (1; 2) ; END", []Stmt{{Text: "select (1; 2)"}, {Kind: Commit, Text: "END"}}},
		{"select 1) ; END", []Stmt{{Text: "select 1)"}, {Kind: Commit, Text: "END"}}},
		{"EXECUTE p(1, 'a;b'); DEALLOCATE p", []Stmt{{Kind: Execute, Name: "p", Args: "1, 'a;b'", Text: "EXECUTE p(1, 'a;b')"}, {Kind: Deallocate, Name: "p", Text: "DEALLOCATE p"}}},
		{"BEGIN; SELECT pg_advisory_lock(1); COMMIT", []Stmt{{Kind: Begin, Bare: true, Text: "BEGIN"}, {Text: "SELECT pg_advisory_lock(1)", AdvisoryLock: true}, {Kind: Commit, Text: "COMMIT"}}},
		// SQL-standard routine bodies hold statements of their own.
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END; COMMIT",
			[]Stmt{{Text: "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END"}, {Kind: Commit, Text: "COMMIT"}}},
		{"create or replace procedure p() begin atomic insert into t values (1); end; end",
			[]Stmt{{Text: "create or replace procedure p() begin atomic insert into t values (1); end"}, {Kind: Commit, Text: "end"}}},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN CASE WHEN true THEN 1 END; END",
			[]Stmt{{Text: "CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN CASE WHEN true THEN 1 END"}, {Kind: Commit, Text: "END"}}},
		{"CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql; BEGIN",
			[]Stmt{{Text: "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql"}, {Kind: Begin, Bare: true, Text: "BEGIN"}}},
		{"CREATE TABLE t (a int); BEGIN; END",
			[]Stmt{{Text: "CREATE TABLE t (a int)"}, {Kind: Begin, Bare: true, Text: "BEGIN"}, {Kind: Commit, Text: "END"}}},
		// Unterminated text runs to the end and spoils its statement only.
		{"BEGIN; SELECT 'x; COMMIT", []Stmt{{Kind: Begin, Bare: true, Text: "BEGIN"}, {Text: "SELECT 'x; COMMIT"}}},
		{"BEGIN; /* x; COMMIT", []Stmt{{Kind: Begin, Bare: true, Text: "BEGIN"}}},
		{"BEGIN; $a$ x; COMMIT", []Stmt{{Kind: Begin, Bare: true, Text: "BEGIN"}, {Text: "$a$ x; COMMIT"}}},
	}
	for _, tt := range tests {
		got := Split(tt.sql)
		if !equalStmts(got, tt.want) {
			t.Errorf("Split(%q):\n got %+v\nwant %+v", tt.sql, got, tt.want)
		}
		first, more := First(tt.sql)
		var want Stmt
		if len(tt.want) > 0 {
			want = tt.want[0]
		}
		if first != want || more != (len(tt.want) > 1) {
			t.Errorf("First(%q) = %+v, %v; want %+v, %v", tt.sql, first, more, want, len(tt.want) > 1)
		}
	}
}

func equalStmts(a, b []Stmt) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNames(t *testing.T) {
	long := strings.Repeat("a", 70)
	if got := one(t, "LISTEN "+long).Name; got != long[:63] {
		t.Errorf("long name: got %d bytes, want 63", len(got))
	}
	// 62 ASCII bytes then a two-byte character: the cut falls before it.
	name := strings.Repeat("b", 62) + "é" + "c"
	if got := one(t, `PREPARE "`+name+`" AS SELECT 1`).Name; got != name[:62] {
		t.Errorf("cut inside a character: got %q", got)
	}
	if got := one(t, "LISTEN Ünïcode").Name; got != "Ünïcode" {
		t.Errorf("non-ASCII letters must keep their case: got %q", got)
	}
}

func TestKindString(t *testing.T) {
	if s := SetLocal.String(); s != "SetLocal" {
		t.Errorf("SetLocal.String() = %q", s)
	}
	if s := Load.String(); s != "Load" {
		t.Errorf("Load.String() = %q", s)
	}
	if s := Kind(99).String(); s != "Kind(99)" {
		t.Errorf("Kind(99).String() = %q", s)
	}
}

func TestAllocs(t *testing.T) {
	for _, sql := range []string{
		"SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
		"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
		"BEGIN",
		"SET statement_timeout = '5s'",
	} {
		n := testing.AllocsPerRun(100, func() { First(sql) })
		if n != 0 {
			t.Errorf("First(%q): %v allocations, want 0", sql, n)
		}
		n = testing.AllocsPerRun(100, func() { Split(sql) })
		if n > 1 {
			t.Errorf("Split(%q): %v allocations, want at most 1", sql, n)
		}
	}
}

func TestBackslashEscapes(t *testing.T) {
	on, off := Options{}, Options{BackslashEscapes: true}
	tests := []struct {
		sql     string
		on, off []string // the Texts Split finds for each setting
	}{
		{`select '\'; END; --'`, []string{`select '\'`, "END"}, []string{`select '\'; END; --'`}},
		{`select 'x\''; SET ROLE admin; select '`, []string{`select 'x\''; SET ROLE admin; select '`}, []string{`select 'x\''`, "SET ROLE admin", "select '"}},
		{`select '\\'; END`, []string{`select '\\'`, "END"}, []string{`select '\\'`, "END"}},
		{`select E'\'; END; --'`, []string{`select E'\'; END; --'`}, []string{`select E'\'; END; --'`}},
		{`select N'\'; END; --'`, []string{`select N'\'`, "END"}, []string{`select N'\'; END; --'`}},
		{`select B'\'; END`, []string{`select B'\'`, "END"}, []string{`select B'\'`, "END"}},
		{`select x'\'; END`, []string{`select x'\'`, "END"}, []string{`select x'\'`, "END"}},
		{"select x'1'\n'\\'; END; --'", []string{"select x'1'\n'\\'", "END"}, []string{"select x'1'\n'\\'", "END"}},
	}
	texts := func(all []Stmt) []string {
		var s []string
		for _, st := range all {
			s = append(s, st.Text)
		}
		return s
	}
	for _, tt := range tests {
		if got := texts(on.Split(tt.sql)); !slices.Equal(got, tt.on) {
			t.Errorf("standard strings, Split(%q) = %q, want %q", tt.sql, got, tt.on)
		}
		if got := texts(off.Split(tt.sql)); !slices.Equal(got, tt.off) {
			t.Errorf("backslash escapes, Split(%q) = %q, want %q", tt.sql, got, tt.off)
		}
	}
	st, more := off.First(`select 'x\''; SET ROLE admin; select '`)
	if st.Kind != Other || !more {
		t.Errorf("backslash escapes, First: %+v, %v", st, more)
	}
	if all := off.Split(`select 'x\''; SET ROLE admin`); len(all) != 2 || all[1].Kind != Set || all[1].Name != "role" {
		t.Errorf("backslash escapes: %+v", all)
	}
}
