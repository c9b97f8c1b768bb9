package integration

import (
	"bytes"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
)

// logBuffer collects the pooler's log for failure messages and log tests.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func asPgError(err error, pe **pgconn.PgError) bool { return errors.As(err, pe) }
