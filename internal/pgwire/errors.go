package pgwire

import "bytes"

// SQLSTATE codes the pooler itself sends.
const (
	CodeProtocolViolation    = "08P01"
	CodeConnectionFailure    = "08006"
	CodeFeatureNotSupported  = "0A000"
	CodeInvalidAuthorization = "28000"
	CodeInvalidPassword      = "28P01"
	CodeInvalidCatalogName   = "3D000"
	CodeTooManyConnections   = "53300"
	CodeAdminShutdown        = "57P01"
	CodeQueryCanceled        = "57014"
	CodeSystemError          = "58000"
	CodeSyntaxError          = "42601"
	CodeInsufficientPriv     = "42501"
	CodeInternalError        = "XX000"
)

// Severities.
const (
	SeverityError  = "ERROR"
	SeverityFatal  = "FATAL"
	SeverityNotice = "NOTICE"
)

// Error is an error the pooler itself reports to a client. It implements
// error so that it can travel up the stack and be sent once, at the top.
type Error struct {
	Severity string // ERROR or FATAL
	Code     string // SQLSTATE
	Message  string
	Detail   string
	Hint     string
	// FromServer marks PostgreSQL's own error (ParseError): it reaches the
	// client as PostgreSQL worded it, without the pooler's prefix.
	FromServer bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Fatal builds a FATAL error.
func Fatal(code, message string) *Error {
	return &Error{Severity: SeverityFatal, Code: code, Message: message}
}

// AppendErrorResponse appends e as an ErrorResponse message.
func AppendErrorResponse(dst []byte, e *Error) []byte {
	return appendFields(dst, MsgErrorResponse, e)
}

// AppendNoticeResponse appends e as a NoticeResponse message.
func AppendNoticeResponse(dst []byte, e *Error) []byte {
	return appendFields(dst, MsgNoticeResponse, e)
}

func appendFields(dst []byte, typ byte, e *Error) []byte {
	dst, start := BeginMessage(dst, typ)
	sev := e.Severity
	if sev == "" {
		sev = SeverityError
	}
	dst = appendField(dst, 'S', sev)
	dst = appendField(dst, 'V', sev)
	dst = appendField(dst, 'C', e.Code)
	dst = appendField(dst, 'M', e.Message)
	if e.Detail != "" {
		dst = appendField(dst, 'D', e.Detail)
	}
	if e.Hint != "" {
		dst = appendField(dst, 'H', e.Hint)
	}
	dst = append(dst, 0)
	return FinishMessage(dst, start)
}

func appendField(dst []byte, code byte, v string) []byte {
	dst = append(dst, code)
	// A NUL inside a value would end the field early; values come from our
	// own text or from PostgreSQL, but be safe.
	for i := 0; i < len(v); i++ {
		if v[i] != 0 {
			dst = append(dst, v[i])
		}
	}
	return append(dst, 0)
}

// ParseError reads the severity (unlocalized when present), SQLSTATE and
// message of a whole ErrorResponse or NoticeResponse frame.
func ParseError(frame []byte) *Error {
	e := &Error{FromServer: true}
	if len(frame) < HeaderLen {
		return e
	}
	b := frame[HeaderLen:]
	for len(b) > 0 && b[0] != 0 {
		code := b[0]
		i := bytes.IndexByte(b[1:], 0)
		if i < 0 {
			break
		}
		v := string(b[1 : 1+i])
		b = b[2+i:]
		switch code {
		case 'S':
			if e.Severity == "" {
				e.Severity = v
			}
		case 'V':
			e.Severity = v
		case 'C':
			e.Code = v
		case 'M':
			e.Message = v
		case 'D':
			e.Detail = v
		case 'H':
			e.Hint = v
		}
	}
	return e
}

// IsFatal reports whether a whole ErrorResponse frame has severity FATAL
// or PANIC, without allocating.
func IsFatal(frame []byte) bool {
	if len(frame) < HeaderLen {
		return false
	}
	b := frame[HeaderLen:]
	for len(b) > 0 && b[0] != 0 {
		code := b[0]
		i := bytes.IndexByte(b[1:], 0)
		if i < 0 {
			return false
		}
		v := b[1 : 1+i]
		if code == 'V' || code == 'S' {
			if string(v) == SeverityFatal || string(v) == "PANIC" {
				return true
			}
			if code == 'V' {
				return false
			}
		}
		b = b[2+i:]
	}
	return false
}
