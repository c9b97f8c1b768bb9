package integration

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestAuthFailureRateLimit: after a burst of failed logins from one
// address, further attempts are refused before any password exchange,
// whatever the user; logins from elsewhere are not affected.
func TestAuthFailureRateLimit(t *testing.T) {
	p := startPooler(t, baseConf+rule(authRuleItems("clear_text", clearPass, "")))
	limited := false
	for i := 0; i < 60 && !limited; i++ {
		_, err := p.tryConnect(clearUser, "postgres", "wrong", nil)
		pe := authPgError(t, err)
		switch {
		case pe.Code == "28P01":
		case pe.Code == "28000" && strings.Contains(pe.Message, "too many failed authentication attempts"):
			limited = true
			if i < 20 {
				t.Errorf("limited after only %d failures", i)
			}
		default:
			t.Fatalf("attempt %d: %s %q", i, pe.Code, pe.Message)
		}
	}
	if !limited {
		t.Fatal("60 failed logins in a row were never limited")
	}
	// Even the right password waits for the bucket to refill.
	_, err := p.tryConnect(clearUser, "postgres", clearPass, nil)
	if pe := authPgError(t, err); pe.Code != "28000" {
		t.Errorf("right password while limited: %s %q", pe.Code, pe.Message)
	}
	// Another address is not limited.
	cfg, err := pgx.ParseConfig(p.dsn(clearUser, "postgres", clearPass))
	if err != nil {
		t.Fatal(err)
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	cfg.DialFunc = d.DialContext
	c, err := pgx.ConnectConfig(ctxTimeout(t, 10*time.Second), cfg)
	if err != nil {
		t.Fatalf("from 127.0.0.2: %v", err)
	}
	c.Close(context.Background())
}
