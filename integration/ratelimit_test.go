package integration

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAuthFailureDelay: a failed login is answered after
// auth_failure_delay_ms, as PostgreSQL's auth_delay does, and nobody is
// ever refused for the failures of others from the same address: after a
// burst of wrong passwords, the right one, a user that needs none and the
// admin console all log in at once.
func TestAuthFailureDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	p := startPooler(t, strings.Replace(baseConf, "log_to_stdout no", "log_to_stdout no\nauth_failure_delay_ms 300", 1)+
		consoleRules+clearTextRules(`authentication "none"
		pool "transaction"`))
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, err := p.tryConnect(clearUser, "postgres", "wrong", nil)
			if pe := authPgError(t, err); pe.Code != "28P01" {
				t.Errorf("attempt %d: %s %q", i, pe.Code, pe.Message)
			}
			if took := time.Since(start); took < delay {
				t.Errorf("attempt %d answered after %v, before auth_failure_delay_ms", i, took)
			}
		}()
	}
	wg.Wait()
	if _, err := p.tryConnect(clearUser, "postgres", clearPass, nil); err != nil {
		t.Errorf("right password after 40 wrong ones: %v", err)
	}
	if _, err := p.tryConnect(plainUser, plainUser, "", nil); err != nil {
		t.Errorf("a user without a password after 40 wrong ones: %v", err)
	}
	p.consoleConn("admin", "adminpw")
}
