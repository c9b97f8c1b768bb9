// Package pgwire holds what the pooler needs to know about PostgreSQL's wire
// protocol (version 3.0) below the level of typed messages: message type
// bytes, frame headers, the startup packet, and a bounded message reader for
// the non-hot paths (startup, authentication, login to PostgreSQL).
//
// Typed message encoding and decoding comes from pgx's pgproto3; the hot
// path (internal/relay) looks only at frame headers through Scanner and never
// decodes bodies it does not need.
package pgwire

// Frontend (client to server) message types.
const (
	MsgBind         byte = 'B'
	MsgClose        byte = 'C'
	MsgCopyData     byte = 'd'
	MsgCopyDone     byte = 'c'
	MsgCopyFail     byte = 'f'
	MsgDescribe     byte = 'D'
	MsgExecute      byte = 'E'
	MsgFlush        byte = 'H'
	MsgFunctionCall byte = 'F'
	MsgParse        byte = 'P'
	MsgPassword     byte = 'p' // also SASLInitialResponse, SASLResponse, GSSResponse
	MsgQuery        byte = 'Q'
	MsgSync         byte = 'S'
	MsgTerminate    byte = 'X'
)

// Backend (server to client) message types.
const (
	MsgAuthentication       byte = 'R'
	MsgBackendKeyData       byte = 'K'
	MsgBindComplete         byte = '2'
	MsgCloseComplete        byte = '3'
	MsgCommandComplete      byte = 'C'
	MsgCopyBothResponse     byte = 'W'
	MsgCopyInResponse       byte = 'G'
	MsgCopyOutResponse      byte = 'H'
	MsgDataRow              byte = 'D'
	MsgEmptyQueryResponse   byte = 'I'
	MsgErrorResponse        byte = 'E'
	MsgFunctionCallResponse byte = 'V'
	MsgNegotiateProtocol    byte = 'v'
	MsgNoData               byte = 'n'
	MsgNoticeResponse       byte = 'N'
	MsgNotificationResponse byte = 'A'
	MsgParameterDescription byte = 't'
	MsgParameterStatus      byte = 'S'
	MsgParseComplete        byte = '1'
	MsgPortalSuspended      byte = 's'
	MsgReadyForQuery        byte = 'Z'
	MsgRowDescription       byte = 'T'
)

// Transaction status byte of ReadyForQuery.
const (
	TxIdle   byte = 'I'
	TxActive byte = 'T'
	TxFailed byte = 'E'
)

// Limits on what we accept from a peer.
const (
	// MaxStartupLen bounds the startup packet (PostgreSQL uses 10000).
	MaxStartupLen = 10000
	// MaxMessageLen bounds a regular message (PostgreSQL's PQ_LARGE_MESSAGE_LIMIT is 1 GB - 1).
	MaxMessageLen = 1<<30 - 1
	// MaxAuthMessageLen bounds messages read during authentication and login.
	MaxAuthMessageLen = 64 << 10
)

// IsFrontendType reports whether t is a message type a client may send after
// startup. The relay refuses anything else as PostgreSQL does.
func IsFrontendType(t byte) bool {
	switch t {
	case MsgBind, MsgClose, MsgCopyData, MsgCopyDone, MsgCopyFail, MsgDescribe,
		MsgExecute, MsgFlush, MsgFunctionCall, MsgParse, MsgPassword, MsgQuery,
		MsgSync, MsgTerminate:
		return true
	}
	return false
}
