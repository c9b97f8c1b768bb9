package authquery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		query, want string
	}{
		{"SELECT usename, passwd FROM pg_shadow WHERE usename=$1", "SELECT usename, passwd FROM pg_shadow WHERE usename=E'bob'"},
		{"SELECT usename, passwd FROM pg_shadow WHERE usename='%u'", "SELECT usename, passwd FROM pg_shadow WHERE usename=E'bob'"},
		{"SELECT u, p FROM t WHERE u=%u AND h=%h", "SELECT u, p FROM t WHERE u=E'bob' AND h=E'10.0.0.1'"},
		{"SELECT u, p FROM t WHERE h='%h' AND u = $1", "SELECT u, p FROM t WHERE h=E'10.0.0.1' AND u = E'bob'"},
		{"SELECT $10, $1", "SELECT $10, E'bob'"},
		{"SELECT a$1 FROM t", "SELECT a$1 FROM t"},
		{"SELECT '$1 %u', \"col$1\" -- $1\n, $1 /* %u */", "SELECT '$1 %u', \"col$1\" -- $1\n, E'bob' /* %u */"},
		{"SELECT 'it''s $1', $1", "SELECT 'it''s $1', E'bob'"},
		{"SELECT 'unterminated $1", "SELECT 'unterminated $1"},
		{"SELECT 1 /* unterminated $1", "SELECT 1 /* unterminated $1"},
	} {
		if got := Render(tc.query, "bob", "10.0.0.1"); got != tc.want {
			t.Errorf("Render(%q) =\n%q, want\n%q", tc.query, got, tc.want)
		}
	}
	// Whatever the user name, it stays one literal.
	for _, user := range []string{`x' OR '1'='1`, `x\' OR true --`, `a''b`, "$$ || $$", "\x00'"} {
		got := Render("SELECT u, p FROM t WHERE u = $1 LIMIT 1", user, "")
		lit := strings.TrimSuffix(strings.TrimPrefix(got, "SELECT u, p FROM t WHERE u = "), " LIMIT 1")
		if n := eStringLen(lit); n != len(lit) {
			t.Errorf("user %q rendered as %q: the literal ends after %d bytes", user, got, n)
		}
	}
}

// eStringLen scans an E'...' literal the way PostgreSQL does and returns
// how many bytes it spans (len(s)+1 when it is not closed).
func eStringLen(s string) int {
	if !strings.HasPrefix(s, "E'") {
		return 0
	}
	for i := 2; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '\'':
			if i+1 < len(s) && s[i+1] == '\'' {
				i++
				continue
			}
			return i + 1
		}
	}
	return len(s) + 1
}

func FuzzRender(f *testing.F) {
	f.Fuzz(func(t *testing.T, query, user, host string) {
		got := Render(query, user, host)
		if !strings.ContainsAny(query, "$%") && got != query {
			t.Fatalf("query without placeholders changed: %q -> %q", query, got)
		}
		lit := Literal(user)
		if n := eStringLen(lit); n != len(lit) {
			t.Fatalf("Literal(%q) = %q spans %d bytes", user, lit, n)
		}
		if got := Render("SELECT $1", user, host); got != "SELECT "+lit {
			t.Fatalf("Render($1) = %q", got)
		}
	})
}

func TestSecretFromRows(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows [][]string
		want Result
		err  bool
	}{
		{"no row", nil, Result{}, false},
		{"two columns", [][]string{{"bob", "md5abc"}}, Result{Secret: "md5abc", Found: true}, false},
		{"one column", [][]string{{"SCRAM-SHA-256$x"}}, Result{Secret: "SCRAM-SHA-256$x", Found: true}, false},
		{"null password", [][]string{{"bob", ""}}, Result{}, false},
		{"two rows", [][]string{{"bob", "a"}, {"bob", "b"}}, Result{}, true},
		{"no columns", [][]string{{}}, Result{}, true},
	} {
		got, err := secretFromRows(tc.rows)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: %+v, %v", tc.name, got, err)
		}
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestCacheTTL(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	c := New(10 * time.Second)
	c.now = clk.now
	var calls atomic.Int32
	secret := "md5one"
	var sqls []string
	fetch := func(_ context.Context, sql string) ([][]string, error) {
		calls.Add(1)
		sqls = append(sqls, sql)
		return [][]string{{"bob", secret}}, nil
	}
	key := Key{Scope: "rule", User: "bob"}
	ctx := context.Background()
	for range 3 {
		res, err := c.Lookup(ctx, key, "SELECT u, p FROM t WHERE u = $1", "", fetch)
		if err != nil || res != (Result{Secret: "md5one", Found: true}) {
			t.Fatalf("%+v %v", res, err)
		}
	}
	if calls.Load() != 1 || sqls[0] != "SELECT u, p FROM t WHERE u = E'bob'" {
		t.Fatalf("%d calls: %q", calls.Load(), sqls)
	}
	clk.add(10 * time.Second)
	secret = "md5two"
	res, _ := c.Lookup(ctx, key, "SELECT u, p FROM t WHERE u = $1", "", fetch)
	if res.Secret != "md5two" || calls.Load() != 2 {
		t.Fatalf("after TTL: %+v, %d calls", res, calls.Load())
	}
	c.Forget(key)
	c.Lookup(ctx, key, "SELECT u, p FROM t WHERE u = $1", "", fetch)
	if calls.Load() != 3 {
		t.Fatalf("Forget did not drop the entry (%d calls)", calls.Load())
	}
	// Another scope is another entry.
	c.Lookup(ctx, Key{Scope: "other", User: "bob"}, "SELECT u, p FROM t WHERE u = $1", "", fetch)
	if calls.Load() != 4 {
		t.Fatalf("scopes share entries (%d calls)", calls.Load())
	}
}

func TestCacheMissingUserIsCached(t *testing.T) {
	c := New(0)
	var calls atomic.Int32
	fetch := func(context.Context, string) ([][]string, error) { calls.Add(1); return nil, nil }
	for range 5 {
		res, err := c.Lookup(context.Background(), Key{User: "ghost"}, "q $1", "", fetch)
		if err != nil || res.Found {
			t.Fatalf("%+v %v", res, err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d queries for a missing user", calls.Load())
	}
}

func TestCacheErrorsAreNotCached(t *testing.T) {
	c := New(0)
	var calls atomic.Int32
	fetch := func(context.Context, string) ([][]string, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("server down")
		}
		return [][]string{{"u", "pw"}}, nil
	}
	if _, err := c.Lookup(context.Background(), Key{User: "u"}, "q", "", fetch); err == nil || !strings.Contains(err.Error(), "auth_query: server down") {
		t.Fatalf("error %v", err)
	}
	res, err := c.Lookup(context.Background(), Key{User: "u"}, "q", "", fetch)
	if err != nil || !res.Found {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestCacheSharesOneQuery(t *testing.T) {
	c := New(0)
	release := make(chan struct{})
	var calls atomic.Int32
	fetch := func(context.Context, string) ([][]string, error) {
		calls.Add(1)
		<-release
		return [][]string{{"u", "pw"}}, nil
	}
	const n = 20
	var wg sync.WaitGroup
	results := make(chan Result, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Lookup(context.Background(), Key{User: "u"}, "q", "", fetch)
			if err != nil {
				t.Error(err)
			}
			results <- res
		}()
	}
	// Wait until the first query runs, then let it finish.
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no query started")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(results)
	for res := range results {
		if !res.Found {
			t.Fatalf("%+v", res)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d queries for concurrent lookups", calls.Load())
	}
}

func TestCacheWaiterHonoursContext(t *testing.T) {
	c := New(0)
	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	go c.Lookup(context.Background(), Key{User: "u"}, "q", "", func(context.Context, string) ([][]string, error) {
		close(started)
		<-release
		return nil, nil
	})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Lookup(ctx, Key{User: "u"}, "q", "", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v", err)
	}
}
