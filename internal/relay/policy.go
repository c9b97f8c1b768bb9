// Package relay moves bytes between an attached client and server: the hot
// path of the pooler. It also keeps each client's session view (its session
// parameters) and each server's cleanliness (transaction state, pending
// replies, reset).
//
// Two goroutines touch an attached pair:
//   - the client's goroutine (Client.Run) reads the client, attaches a server
//     when a request needs one, and writes requests to the server;
//   - the server's pump (one goroutine per server for its whole life) reads
//     the server, forwards replies to the attached client, and detaches when
//     the pool mode says the server may go back.
//
// A pump always reads its server, so a peer blocked writing is always
// drained, an idle pooled server that dies or talks is noticed at once, and
// a transaction costs two wake-ups: one for the client's request, one for the
// server's reply.
package relay

import (
	"sync/atomic"
	"time"

	"github.com/odyssey-go/odyssey/internal/config"
)

// Policy is what the relay needs from a rule. A route builds one per rule
// snapshot; servers keep the one they were created with.
type Policy struct {
	Mode config.PoolMode
	// ResetQuery is sent before a server goes back to the pool ("" = none):
	// DISCARD ALL, the smart discard list, or pool_discard_query.
	ResetQuery string
	// ResetClearsParams says ResetQuery restores every session parameter to
	// its default (DISCARD ALL / RESET ALL do); otherwise the pooler no
	// longer knows the server's parameters after it and resets them all at
	// the next attach.
	ResetClearsParams bool
	Rollback          bool          // pool_rollback
	Cancel            bool          // pool_cancel
	ResetTimeout      time.Duration // pool_reset_timeout_ms
	CancelTimeout     time.Duration // cancel_timeout_ms
	AttachCheck       bool          // pool_attach_check
	LogQuery          bool          // log_query (global or rule)
	// MaintainParams carries the client's session parameters to every
	// server it attaches (maintain_params).
	MaintainParams bool
	// ClientIdleTimeout drops a client idle outside a transaction
	// (pool_client_idle_timeout); IdleInTxTimeout drops one idle inside a
	// transaction (pool_idle_in_transaction_timeout). Zero is off.
	ClientIdleTimeout time.Duration
	IdleInTxTimeout   time.Duration
	// Prepared maps clients' named prepared statements onto shared server
	// statements (pool_reserve_prepared_statement in transaction and
	// statement pools); PreparedMax bounds them per server (0: no bound).
	Prepared    bool
	PreparedMax int
	// Track carries session state between servers (transaction and
	// statement pools, see session.go); PinOnListen pins clients that
	// LISTEN instead of refusing LISTEN; VirtualBegin answers a bare BEGIN
	// without a server (virtual_transaction).
	Track        bool
	PinOnListen  bool
	VirtualBegin bool
}

// idleTimeout is how long a client may stay idle in transaction state tx.
func (p *Policy) idleTimeout(tx byte) time.Duration {
	if tx == 'I' {
		return p.ClientIdleTimeout
	}
	return p.IdleInTxTimeout
}

// watchesIdle says whether any idle timeout is on.
func (p *Policy) watchesIdle() bool { return p.ClientIdleTimeout > 0 || p.IdleInTxTimeout > 0 }

// detaches reports whether a server may leave a client after a reply that
// leaves no request outstanding, given the transaction status.
func (p *Policy) detaches(tx byte) bool {
	switch p.Mode {
	case config.PoolTransaction:
		return tx == 'I'
	case config.PoolStatement:
		return true
	default:
		return false
	}
}

// PolicyRef is the current policy of a route. A reload stores a new one and
// every client and server of the route sees it at its next decision.
type PolicyRef struct{ p atomic.Pointer[Policy] }

// NewPolicyRef returns a reference holding p.
func NewPolicyRef(p *Policy) *PolicyRef {
	r := new(PolicyRef)
	r.p.Store(p)
	return r
}

// Load returns the current policy.
func (r *PolicyRef) Load() *Policy { return r.p.Load() }

// Store replaces the policy.
func (r *PolicyRef) Store(p *Policy) { r.p.Store(p) }
