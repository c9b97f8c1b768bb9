package sqlmin

import "testing"

var sink Stmt

func BenchmarkFirstSelect(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = First("SELECT abalance FROM pgbench_accounts WHERE aid = $1;")
	}
}

func BenchmarkFirstSet(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = First("SET search_path = \"$user\", public")
	}
}

func BenchmarkFirstBegin(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sink, _ = First("BEGIN")
	}
}

func BenchmarkSplitMulti(b *testing.B) {
	const sql = "BEGIN; UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 7; " +
		"SELECT abalance FROM pgbench_accounts WHERE aid = 7; " +
		"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 7, 1, CURRENT_TIMESTAMP); END;"
	b.ReportAllocs()
	for b.Loop() {
		all := Split(sql)
		sink = all[len(all)-1]
	}
}
