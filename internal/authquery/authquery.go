// Package authquery fetches users' stored secrets with a rule's
// `auth_query` and caches them, so that PostgreSQL, not the config file,
// holds the passwords.
//
// The query is the rule's text with the user name put in: Odyssey passes
// it as $1 and also substitutes %u (and %h, the client's address). Here
// every one of them becomes a properly quoted literal, so a user name can
// never change the query; see Render. The first row's second column (or
// only column) is the secret, in any form auth.ParseSecret reads: an md5
// hash or a SCRAM verifier as pg_authid stores them.
//
// A Cache is process-wide. It remembers answers, a missing user included,
// for a TTL (Odyssey uses 10 seconds), so that a burst of logins costs one
// query, and lets only one query per key run at a time. It does not run
// queries itself: the caller passes a Fetcher that runs one on a server of
// the rule's internal route.
package authquery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Fetcher runs sql on the auth_query database and returns the rows as
// text, NULL as "".
type Fetcher func(ctx context.Context, sql string) ([][]string, error)

// Key identifies a cached answer: the rule it is for (any comparable
// value; the frontend uses the *config.Rule, so a reload starts afresh)
// and the user name.
type Key struct {
	Scope any
	User  string
}

// Result is what a query said about a user.
type Result struct {
	Secret string // empty when Found is false
	Found  bool   // false: no row, or a NULL or empty password
}

// DefaultTTL is how long an answer is trusted, as in Odyssey.
const DefaultTTL = 10 * time.Second

// maxEntries bounds the cache; beyond it expired entries are dropped, and
// if that is not enough, the oldest half.
const maxEntries = 100_000

// Cache holds recent answers.
type Cache struct {
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	entries  map[Key]entry
	inflight map[Key]*call
}

type entry struct {
	res     Result
	fetched time.Time
}

// call is one query in progress; waiters read res and err after done.
type call struct {
	done chan struct{}
	res  Result
	err  error
}

// New returns a cache keeping answers for ttl (DefaultTTL if 0 or less).
func New(ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Cache{ttl: ttl, now: time.Now, entries: make(map[Key]entry), inflight: make(map[Key]*call)}
}

// Lookup returns the secret for key.User: a cached answer younger than the
// TTL, or the result of running query (rendered for the user and host)
// with fetch. Concurrent lookups of one key share one query. Errors (the
// database is down, the query is wrong) are not cached.
func (c *Cache) Lookup(ctx context.Context, key Key, query, host string, fetch Fetcher) (Result, error) {
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && c.now().Sub(e.fetched) < c.ttl {
		c.mu.Unlock()
		return e.res, nil
	}
	if cl := c.inflight[key]; cl != nil {
		c.mu.Unlock()
		select {
		case <-cl.done:
			return cl.res, cl.err
		case <-ctx.Done():
			return Result{}, context.Cause(ctx)
		}
	}
	cl := &call{done: make(chan struct{})}
	c.inflight[key] = cl
	c.mu.Unlock()

	cl.res, cl.err = run(ctx, Render(query, key.User, host), fetch)

	c.mu.Lock()
	delete(c.inflight, key)
	if cl.err == nil {
		c.store(key, cl.res)
	}
	c.mu.Unlock()
	close(cl.done)
	return cl.res, cl.err
}

// store adds an answer, making room first when the cache is full. Called
// with c.mu held.
func (c *Cache) store(key Key, res Result) {
	now := c.now()
	if len(c.entries) >= maxEntries {
		for k, e := range c.entries {
			if now.Sub(e.fetched) >= c.ttl {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < maxEntries/2 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = entry{res: res, fetched: now}
}

// Forget drops the cached answer for key, after a login with it failed in
// a way a fresher secret might fix.
func (c *Cache) Forget(key Key) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// run executes the query and reads the secret from its rows.
func run(ctx context.Context, sql string, fetch Fetcher) (Result, error) {
	rows, err := fetch(ctx, sql)
	if err != nil {
		return Result{}, fmt.Errorf("auth_query: %w", err)
	}
	return secretFromRows(rows)
}

// ErrAmbiguous means the query returned several rows for one user.
var ErrAmbiguous = errors.New("auth_query returned more than one row")

// secretFromRows reads Odyssey's result shape: one row of (usename,
// passwd); a single column is taken as the password.
func secretFromRows(rows [][]string) (Result, error) {
	switch {
	case len(rows) == 0:
		return Result{}, nil
	case len(rows) > 1:
		return Result{}, ErrAmbiguous
	}
	row := rows[0]
	var pw string
	switch len(row) {
	case 0:
		return Result{}, errors.New("auth_query returned a row without columns")
	case 1:
		pw = row[0]
	default:
		pw = row[1]
	}
	if pw == "" {
		return Result{}, nil
	}
	return Result{Secret: pw, Found: true}, nil
}

// Render puts the user name and client host into an auth_query. These
// stand for the user, each replaced by a quoted literal of it:
//
//	$1     Odyssey's bound parameter
//	'%u'   the quoted form of Odyssey's older configs
//	%u     unquoted
//
// and '%h' or %h likewise stand for host. Placeholders inside other
// string literals, quoted identifiers and comments are left alone. The
// literal is E'...' with quotes and backslashes escaped, so whatever the
// user name holds, it stays one value.
func Render(query, user, host string) string {
	var b strings.Builder
	for i := 0; i < len(query); {
		rest := query[i:]
		switch {
		case strings.HasPrefix(rest, "'%u'"):
			b.WriteString(Literal(user))
			i += 4
		case strings.HasPrefix(rest, "'%h'"):
			b.WriteString(Literal(host))
			i += 4
		case strings.HasPrefix(rest, "%u"):
			b.WriteString(Literal(user))
			i += 2
		case strings.HasPrefix(rest, "%h"):
			b.WriteString(Literal(host))
			i += 2
		case strings.HasPrefix(rest, "$1") && !(len(rest) > 2 && isDigit(rest[2])) && !(i > 0 && isIdent(query[i-1])):
			b.WriteString(Literal(user))
			i += 2
		case rest[0] == '\'' || rest[0] == '"':
			n := quotedLen(rest)
			b.WriteString(rest[:n])
			i += n
		case strings.HasPrefix(rest, "--"):
			n := strings.IndexByte(rest, '\n')
			if n < 0 {
				n = len(rest)
			}
			b.WriteString(rest[:n])
			i += n
		case strings.HasPrefix(rest, "/*"):
			n := strings.Index(rest[2:], "*/")
			if n < 0 {
				n = len(rest)
			} else {
				n += 4
			}
			b.WriteString(rest[:n])
			i += n
		default:
			b.WriteByte(rest[0])
			i++
		}
	}
	return b.String()
}

// quotedLen returns the length of the quoted string or identifier that
// starts s, doubled quotes included, or len(s) when it is not closed.
func quotedLen(s string) int {
	q := s[0]
	for j := 1; j < len(s); j++ {
		if s[j] != q {
			continue
		}
		if j+1 < len(s) && s[j+1] == q {
			j++
			continue
		}
		return j + 1
	}
	return len(s)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isIdent(c byte) bool {
	return c == '_' || c == '$' || isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'z' || c >= 0x80
}

// Literal quotes s as a PostgreSQL escape string literal: E'...' with
// every quote and backslash escaped. A NUL cannot occur in a user name
// (the startup packet is NUL-separated) and is dropped to be safe.
func Literal(s string) string {
	var b strings.Builder
	b.WriteString("E'")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			b.WriteString("''")
		case '\\':
			b.WriteString(`\\`)
		case 0:
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
