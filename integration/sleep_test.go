package integration

import (
	"testing"
	"time"
)

// TestIdleClientsSleep: clients idle for a while give up their goroutine
// (relay.Sleeper) and carry on as if nothing happened when they speak,
// in session and transaction pools; a killed sleeping client is woken to
// get its FATAL.
func TestIdleClientsSleep(t *testing.T) {
	poolModes(t, func(t *testing.T, p *pooler) {
		ctx := ctxTimeout(t, 30*time.Second)
		a := p.connect(plainUser, plainUser, "")
		b := p.connect(plainUser, plainUser, "")
		mustExec(t, a, "select 1")
		waitFor(t, 10*time.Second, "idle clients to sleep", func() bool { return p.inst.Sleeping() == 2 })
		var n int
		if err := a.QueryRow(ctx, "select 41 + 1").Scan(&n); err != nil || n != 42 {
			t.Fatalf("after sleeping: %d %v", n, err)
		}
		if got := p.inst.Sleeping(); got != 1 {
			t.Fatalf("%d clients asleep after one spoke, want 1", got)
		}
		var id string
		for _, c := range p.inst.Router().Clients() {
			if c.PID() == b.PgConn().PID() {
				id = c.ID
			}
		}
		if id == "" || !p.inst.Router().KillClient(id) {
			t.Fatal("sleeping client not found")
		}
		_, err := b.Exec(ctx, "select 1")
		if sqlState(err) != "57P01" {
			t.Fatalf("killed sleeping client got %v, want 57P01", err)
		}
		waitFor(t, 10*time.Second, "the killed client to leave", func() bool { return len(p.inst.Router().Clients()) == 1 })
	})
}
