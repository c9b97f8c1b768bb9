package stats

import "sync/atomic"

// ErrorKind classifies errors for SHOW ERRORS, with Odyssey's names so that
// existing dashboards keep working.
type ErrorKind int

const (
	ErrRouter           ErrorKind = iota // OD_ROUTER_ERROR: routing failed otherwise
	ErrRouteNotFound                     // no rule for the database and user
	ErrClientLimit                       // global client_max reached
	ErrRouteClientLimit                  // the rule's client_max reached
	ErrPoolTimeout                       // pool_timeout expired
	ErrReplication                       // a replication connection was refused
	ErrOOM                               // soft out-of-memory (not used yet)
	ErrAttach                            // a server could not be attached
	ErrAttachTooMany                     // PostgreSQL said too many connections
	ErrServerConnect                     // dialing or logging in to PostgreSQL failed
	ErrServerRead                        // a server connection was lost while in use
	ErrServerWrite                       // writing to a server failed
	ErrClientWrite                       // writing to a client failed
	ErrClientRead                        // a client sent a malformed or unexpected message
	ErrSyncBroken                        // a server left in an unknown state was closed
	ErrCatchupTimeout                    // replication lag (not used yet)
	ErrAuth                              // a client failed authentication (ours, not Odyssey's)
	numErrorKinds
)

var errorNames = [numErrorKinds]string{
	"OD_ROUTER_ERROR", "OD_ROUTER_ERROR_NOT_FOUND", "OD_ROUTER_ERROR_LIMIT",
	"OD_ROUTER_ERROR_LIMIT_ROUTE", "OD_ROUTER_ERROR_TIMEDOUT", "OD_ROUTER_ERROR_REPLICATION",
	"OD_EOOM", "OD_EATTACH", "OD_EATTACH_TOO_MANY_CONNECTIONS", "OD_ESERVER_CONNECT",
	"OD_ESERVER_READ", "OD_ESERVER_WRITE", "OD_ECLIENT_WRITE", "OD_ECLIENT_READ",
	"OD_ESYNC_BROKEN", "OD_ECATCHUP_TIMEOUT", "OD_EAUTH",
}

func (k ErrorKind) String() string { return errorNames[k] }

// Errors counts errors by kind.
type Errors struct {
	counts [numErrorKinds]atomic.Uint64
}

// Add counts one error of kind k.
func (e *Errors) Add(k ErrorKind) { e.counts[k].Add(1) }

// ErrorCount is one row of SHOW ERRORS.
type ErrorCount struct {
	Kind  ErrorKind
	Count uint64
}

// Counts returns every kind with its count, in a fixed order.
func (e *Errors) Counts() []ErrorCount {
	out := make([]ErrorCount, numErrorKinds)
	for k := range out {
		out[k] = ErrorCount{Kind: ErrorKind(k), Count: e.counts[k].Load()}
	}
	return out
}

// Fold adds e's counts to dst.
func (e *Errors) Fold(dst *Errors) {
	for k := range e.counts {
		dst.counts[k].Add(e.counts[k].Load())
	}
}

// AddTo adds e's counts into sum (for totals across routes).
func (e *Errors) AddTo(sum []ErrorCount) {
	for k := range sum {
		sum[k].Count += e.counts[sum[k].Kind].Load()
	}
}
