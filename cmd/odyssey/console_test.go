package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// consoleOnlyConf is a pooler with nothing but its admin console: no
// PostgreSQL is needed to run it.
const consoleOnlyConf = `log_format "%p %t %l [%i %s] (%c) %m\n"
log_to_stdout yes
listen {
	host "127.0.0.1"
	port {{PORT}}
}
storage "local" {
	type "local"
}
database "console" {
	user "admin" {
		authentication "none"
		role "admin"
		storage "local"
		pool "session"
	}
}
`

// TestConsoleShutdown: the console's SHUTDOWN stops the process the way
// SIGTERM does (graceful, exit code 0), and the console reports the
// binary's version.
func TestConsoleShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	p := startProc(t, buildBinary(t), consoleOnlyConf)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig("host=127.0.0.1 user=admin dbname=console sslmode=disable port=" + strings.TrimPrefix(p.addr(), "127.0.0.1:"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if v := c.PgConn().ParameterStatus("server_version"); v != version {
		t.Errorf("server_version %q, want %q", v, version)
	}
	if tag, err := c.Exec(ctx, "shutdown"); err != nil || tag.String() != "SHUTDOWN" {
		t.Fatalf("SHUTDOWN: %q %v", tag, err)
	}
	if code := p.exitCode(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SHUTDOWN, want 0", code)
	}
	if out := p.out.String(); !strings.Contains(out, "shutdown requested from the console") || !strings.Contains(out, "shutdown complete") {
		t.Errorf("log after SHUTDOWN:\n%s", out)
	}
}
