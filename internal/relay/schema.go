package relay

import (
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"

	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// Prepared statements and schema changes (transaction and statement
// pools). Servers share statements by content (pstmt.go), but PostgreSQL
// analyses a statement when it is parsed: its parameter types, its result
// columns and the objects it names are fixed then. A copy parsed before a
// schema change (a type dropped and created again, a column's type
// altered) is not what a client parsing the same text now would get. So:
//
//   - a client's own Parse (or SQL PREPARE) always reaches a server, which
//     analyses it then, as PostgreSQL would (its errors, its parameter
//     description, a statement_timeout counting from it); a copy the
//     server had under that name is replaced;
//   - a server's copy serves a client's statement only if it was parsed no
//     earlier than the client's Parse; an older one is parsed again, hidden,
//     before the client uses it (clock.next orders the two);
//   - a schema change the pooler sees (a CREATE, ALTER or DROP command tag
//     through a transaction pool of the database) starts a new epoch, and
//     statements parsed from then on get other names: a client that
//     prepared before the change keeps its older statement, which
//     PostgreSQL revalidates as it would its own ("cached plan must not
//     change result type"), instead of being given the new analysis with
//     parameter types it did not describe;
//   - the name also depends on the client's search_path and role, which
//     decide what the text's names resolve to.

// SchemaClock orders, for one database, the statements the pooler has
// parsed and the schema changes it has seen. A router holds one per
// database its routes' servers log in to; its clients and servers share
// it. A nil clock orders nothing (every copy is fresh, one epoch).
type SchemaClock struct {
	epoch atomic.Uint64 // schema changes seen
	seq   atomic.Uint64 // Parse messages sent
}

// next returns a new point in the order of analyses.
func (k *SchemaClock) next() uint64 {
	if k == nil {
		return 0
	}
	return k.seq.Add(1)
}

// changed records a schema change.
func (k *SchemaClock) changed() {
	if k != nil {
		k.epoch.Add(1)
	}
}

// now returns the current epoch.
func (k *SchemaClock) now() uint64 {
	if k == nil {
		return 0
	}
	return k.epoch.Load()
}

// statementName returns the server name of a statement the client
// prepares: its text and parameter types (body), the client's search_path
// and role, and the schema epoch. prefix is "odyssey_" for protocol
// statements, "odyssey_sql_" for SQL PREPARE.
func (c *Client) statementName(prefix string, body []byte) string {
	c.paramsMu.Lock()
	path, _ := c.params.Get("search_path")
	role, _ := c.params.Get("role")
	c.paramsMu.Unlock()
	var epoch [8]byte
	e := c.schema.now()
	for i := range epoch {
		epoch[i] = byte(e >> (8 * i))
	}
	h := sha256.New()
	h.Write(epoch[:])
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write([]byte(role))
	h.Write([]byte{0})
	h.Write(body)
	sum := h.Sum(nil)
	n := 16
	if prefix != "odyssey_" {
		n = 14 // names stay within PostgreSQL's 63 bytes
	}
	return prefix + hex.EncodeToString(sum[:n])
}

// schemaChange reports whether a whole CommandComplete frame is the tag
// of a statement that changes the schema: CREATE, ALTER or DROP of
// anything.
func schemaChange(frame []byte) bool {
	if len(frame) < pgwire.HeaderLen+5 {
		return false
	}
	tag := frame[pgwire.HeaderLen:]
	switch tag[0] {
	case 'C':
		return len(tag) > 7 && string(tag[:7]) == "CREATE "
	case 'A':
		return len(tag) > 6 && string(tag[:6]) == "ALTER "
	case 'D':
		return len(tag) > 5 && string(tag[:5]) == "DROP "
	}
	return false
}
