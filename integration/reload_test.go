package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rewrite replaces the pooler's config file with conf (after expand).
func (p *pooler) rewrite(conf string) {
	p.t.Helper()
	path := filepath.Join(p.dir, "odyssey.conf")
	if err := os.WriteFile(path, []byte(expand(conf, p.port, p.dir)), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func reloadConf(poolSize int, extra string) string {
	return baseConf + fmt.Sprintf(`
database default {
	user default {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size %d
		pool_discard no
		pool_timeout 30000
	}
}
`, poolSize) + extra
}

// TestReloadUnderLoad reloads while pgbench runs 100 clients: no failed
// transaction, and the new pool size and a newly added user take effect.
func TestReloadUnderLoad(t *testing.T) {
	p := startPooler(t, reloadConf(3, ""))
	env := []string{"PGHOST=127.0.0.1", fmt.Sprintf("PGPORT=%d", p.port), "PGUSER=" + plainUser, "PGDATABASE=" + plainUser, "PGSSLMODE=disable"}
	ini := exec.Command("pgbench", "-i", "-s", "1", "-q")
	ini.Env = append(os.Environ(), env...)
	if out, err := ini.CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	bench := exec.Command("pgbench", "-c", "100", "-j", "2", "-T", "6", "-S")
	bench.Env = append(os.Environ(), env...)
	var out strings.Builder
	bench.Stdout, bench.Stderr = &out, &out
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	// Reload a few times while it runs: sizes change, a user appears.
	newUser := `
database "` + otherDB + `" {
	user "` + md5User + `" {
		authentication "clear_text"
		password "` + md5Pass + `"
		storage "pg"
		storage_password "` + md5Pass + `"
		pool "session"
		pool_size 2
	}
}
`
	for i, size := range []int{5, 8, 6} {
		waitFor(t, 10*time.Second, "pgbench to be running", func() bool { return serverConns(t, plainUser) > 0 })
		extra := ""
		if i > 0 {
			extra = newUser
		}
		p.rewrite(reloadConf(size, extra))
		if err := p.inst.Reload(); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	if err := bench.Wait(); err != nil {
		t.Fatalf("pgbench: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "number of failed transactions: 0 ") {
		t.Fatalf("pgbench failures:\n%s", out.String())
	}
	// The last pool size (6) is in effect.
	for _, rt := range p.inst.Router().Routes() {
		if rt.User == plainUser && !rt.Obsolete() {
			if got := rt.PoolStats().Size; got != 6 {
				t.Errorf("pool size %d after reload, want 6", got)
			}
		}
	}
	if n := serverConns(t, plainUser); n > 6 {
		t.Errorf("%d servers, pool_size is 6", n)
	}
	// The new user works.
	c := p.connect(md5User, otherDB, md5Pass)
	var who string
	if err := c.QueryRow(ctxTimeout(t, 10*time.Second), "select current_user").Scan(&who); err != nil || who != md5User {
		t.Fatalf("new user: %q %v", who, err)
	}
}

// TestReloadInvalidKeepsRunning: a config with errors changes nothing.
func TestReloadInvalidKeepsRunning(t *testing.T) {
	p := startPooler(t, reloadConf(2, ""))
	p.rewrite(reloadConf(2, "pool_szie 3\n"))
	if err := p.inst.Reload(); err == nil {
		t.Fatal("invalid config accepted")
	}
	if !strings.Contains(p.logs.String(), "pool_szie") {
		t.Errorf("the problem is not logged:\n%s", p.logs.String())
	}
	c := p.connect(plainUser, plainUser, "")
	mustExec(t, c, "select 1")
}

// TestReloadChangedRule: clients on a rule whose backend changed keep the
// old route until they leave; new clients get the new one.
func TestReloadChangedRule(t *testing.T) {
	conf := func(db string) string {
		return baseConf + rule(`authentication "none"
			pool "session"
			pool_size 2
			storage_db "`+db+`"`)
	}
	p := startPooler(t, conf(plainUser))
	ctx := ctxTimeout(t, 20*time.Second)
	old := p.connect(plainUser, plainUser, "")
	var db string
	old.QueryRow(ctx, "select current_database()").Scan(&db)
	p.rewrite(conf(otherDB))
	if err := p.inst.Reload(); err != nil {
		t.Fatal(err)
	}
	old.QueryRow(ctx, "select current_database()").Scan(&db)
	if db != plainUser {
		t.Fatalf("existing client moved to %s", db)
	}
	fresh := p.connect(plainUser, plainUser, "")
	fresh.QueryRow(ctx, "select current_database()").Scan(&db)
	if db != otherDB {
		t.Fatalf("new client on %s, want %s", db, otherDB)
	}
	old.Close(context.Background())
	waitFor(t, 10*time.Second, "the retired route to close", func() bool {
		for _, rt := range p.inst.Router().Routes() {
			if rt.Obsolete() {
				return false
			}
		}
		return true
	})
}

// TestReloadListen: a listen block added by a reload is bound, a removed
// one is closed.
func TestReloadListen(t *testing.T) {
	p := startPooler(t, reloadConf(2, ""))
	second := freePort(t)
	extra := fmt.Sprintf("listen {\n\thost \"127.0.0.1\"\n\tport %d\n}\n", second)
	p.rewrite(reloadConf(2, extra))
	if err := p.inst.Reload(); err != nil {
		t.Fatal(err)
	}
	q := &pooler{t: t, port: second}
	c := q.connect(plainUser, plainUser, "")
	mustExec(t, c, "select 1")
	p.rewrite(reloadConf(2, ""))
	if err := p.inst.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.tryConnect(plainUser, plainUser, "", nil); err == nil {
		t.Fatal("removed listen block still accepts")
	}
	mustExec(t, c, "select 1") // connections made through it live on
}
