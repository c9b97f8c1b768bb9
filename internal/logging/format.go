package logging

import (
	"bytes"
	"context"
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file implements Odyssey's log_format placeholders (sources/logger.c,
// od_logger_format) as a slog.Handler:
//
//	%n  unixtime (seconds)              %t  timestamp, ISO 8601 in UTC: 2006-01-02T15:04:05Z
//	%e  milliseconds of the second, 000-999
//	%p  process id                      %T  thread id: none (no Go equivalent)
//	%i  client id ("client")            %s  server id ("server")
//	%u  user name ("user")              %d  database name ("db")
//	%c  context: the route ("route")    %x  external id: none (no equivalent)
//	%l  level: debug, info, warning, error
//	%m  message                         %M  message escaped for tskv
//	%h  client host ("addr" of a record with a client)
//	%r  client port (same)              %H  server host: none (no equivalent)
//	%%  a percent sign
//
// An unknown %X is printed as written, as in Odyssey; so is a backslash
// before anything but \\, \n, \t and \r, which stand for a backslash, a
// newline, a tab and a carriage return. A % or \ that ends the format is
// dropped. The names in parentheses are the slog attributes the values come
// from (top level only: inside a group they are ordinary attributes); a
// missing or empty value prints "none", as Odyssey does.
//
// Unlike Odyssey, every record is exactly one line: newlines at the end of
// the format are dropped and one newline ends every record; a newline
// elsewhere in the format prints as a space; and a newline or carriage
// return in a value (a message, a user name a client sent) prints as \n or
// \r. The attributes that no placeholder prints in full (error, reason,
// login_ms, ...) follow the message as " key=value", quoted the way slog's
// TextHandler quotes them, so nothing in the record is lost; with %M they
// are tskv-escaped along with the message, and with neither %m nor %M they
// end the line.

// Attributes that placeholders print, in the order they appear among the
// extra attributes when the format does not print them.
const (
	slotClient = iota // %i
	slotAddr          // %h and %r
	slotDB            // %d
	slotUser          // %u
	slotRoute         // %c
	slotServer        // %s
	nSlots
)

var slotKeys = [nSlots]string{"client", "addr", "db", "user", "route", "server"}

func slotOf(key string) int {
	switch key {
	case "client":
		return slotClient
	case "addr":
		return slotAddr
	case "db":
		return slotDB
	case "user":
		return slotUser
	case "route":
		return slotRoute
	case "server":
		return slotServer
	}
	return -1
}

// op is one step of a compiled format: a literal (code 0) or a placeholder.
type op struct {
	code byte
	lit  string
}

// format is a compiled log_format string.
type format struct {
	ops []op
	// prints has a bit for each slot whose value some placeholder prints
	// in full; the others stay among the extra attributes. The address
	// needs both %h and %r.
	prints uint8
	// extrasAt is the index in ops of the first %m or %M, after which the
	// extra attributes go; -1 puts them at the end of the line.
	extrasAt int
}

// compile parses an Odyssey log_format string. Every string is valid.
func compile(src string) *format {
	f := &format{extrasAt: -1}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			f.ops = append(f.ops, op{lit: string(lit)})
			lit = lit[:0]
		}
	}
	var host, port bool
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '\\' && c != '%' {
			lit = append(lit, c)
			continue
		}
		i++
		if i == len(src) {
			break // Odyssey drops a lone % or \ at the end
		}
		d := src[i]
		if c == '\\' {
			switch d {
			case '\\':
				lit = append(lit, '\\')
			case 'n':
				lit = append(lit, '\n')
			case 't':
				lit = append(lit, '\t')
			case 'r':
				lit = append(lit, '\r')
			default:
				lit = append(lit, '\\', d)
			}
			continue
		}
		switch d {
		case '%':
			lit = append(lit, '%')
			continue
		case 'n', 't', 'e', 'p', 'T', 'x', 'l', 'H':
		case 'i':
			f.prints |= 1 << slotClient
		case 's':
			f.prints |= 1 << slotServer
		case 'u':
			f.prints |= 1 << slotUser
		case 'd':
			f.prints |= 1 << slotDB
		case 'c':
			f.prints |= 1 << slotRoute
		case 'h':
			host = true
		case 'r':
			port = true
		case 'm', 'M':
			if f.extrasAt < 0 {
				flush()
				f.extrasAt = len(f.ops)
			}
		default:
			lit = append(lit, '%', d)
			continue
		}
		flush()
		f.ops = append(f.ops, op{code: d})
	}
	if host && port {
		f.prints |= 1 << slotAddr
	}
	// One newline ends every record: drop the format's own at its end, and
	// print the others as spaces. (The last op is a placeholder: literals
	// are flushed only before one.)
	lit = bytes.TrimRight(lit, "\n")
	flush()
	for i := range f.ops {
		if f.ops[i].code == 0 {
			f.ops[i].lit = strings.ReplaceAll(f.ops[i].lit, "\n", " ")
		}
	}
	return f
}

// formatState is what the handlers made by one Open share: where they
// write, and the format, which a reload may change (Sink.Apply).
type formatState struct {
	w      io.Writer
	pid    string
	format atomic.Pointer[format]
}

func newFormatState(w io.Writer, src string) *formatState {
	st := &formatState{w: w, pid: strconv.Itoa(os.Getpid())}
	st.format.Store(compile(src))
	return st
}

// formatHandler is a slog.Handler writing records in an Odyssey log_format.
// WithAttrs keeps the values that placeholders may print aside and formats
// the other attributes once, so that Handle only copies them.
type formatHandler struct {
	st     *formatState
	slots  [nSlots]slog.Value // values of the placeholders' attributes
	set    uint8              // a bit for each slot that has a value
	extras []byte             // the other attributes, " key=value" each
	prefix string             // the open groups, "a.b." (see WithGroup)
}

func newFormatHandler(st *formatState) *formatHandler {
	return &formatHandler{st: st}
}

func (h *formatHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *formatHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.extras = h.extras[:len(h.extras):len(h.extras)] // appends copy
	for _, a := range attrs {
		h2.extras = h2.addAttr(h2.extras, &h2.slots, &h2.set, a)
	}
	return &h2
}

func (h *formatHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.extras = h.extras[:len(h.extras):len(h.extras)]
	h2.prefix = h.prefix + name + "."
	return &h2
}

// addAttr keeps a at the top level whose key a placeholder may print in
// slots (a value it replaces joins the extras) and appends any other to
// extras.
func (h *formatHandler) addAttr(extras []byte, slots *[nSlots]slog.Value, set *uint8, a slog.Attr) []byte {
	if h.prefix == "" {
		if i := slotOf(a.Key); i >= 0 {
			v := a.Value.Resolve()
			if v.Kind() != slog.KindGroup {
				if *set&(1<<i) != 0 {
					extras = appendAttr(extras, "", slog.Attr{Key: slotKeys[i], Value: slots[i]})
				}
				slots[i] = v
				*set |= 1 << i
				return extras
			}
		}
	}
	return appendAttr(extras, h.prefix, a)
}

// lineBuf holds the buffers of one Handle.
type lineBuf struct {
	line, rec, extras []byte
}

var lineBufs = sync.Pool{New: func() any {
	return &lineBuf{line: make([]byte, 0, 512), rec: make([]byte, 0, 256), extras: make([]byte, 0, 256)}
}}

// maxPooled is the largest buffer put back in the pool: one huge record
// should not keep its memory.
const maxPooled = 64 << 10

func (h *formatHandler) Handle(_ context.Context, r slog.Record) error {
	f := h.st.format.Load()
	b := lineBufs.Get().(*lineBuf)
	defer func() {
		if cap(b.line) <= maxPooled && cap(b.rec) <= maxPooled && cap(b.extras) <= maxPooled {
			lineBufs.Put(b)
		}
	}()

	// The record's attributes: the placeholders' ones into slots, the
	// others formatted.
	slots, set := h.slots, h.set
	rec := b.rec[:0]
	if r.NumAttrs() > 0 {
		r.Attrs(func(a slog.Attr) bool {
			rec = h.addAttr(rec, &slots, &set, a)
			return true
		})
	}
	b.rec = rec

	// The client address is the client's only with a client: a listener's
	// or a server's address stays an ordinary attribute.
	hasAddr := set&(1<<slotAddr) != 0 && set&(1<<slotClient) != 0
	printed := set & f.prints
	if !hasAddr {
		printed &^= 1 << slotAddr
	}
	extras := b.extras[:0]
	for i := range nSlots {
		if set&(1<<i) != 0 && printed&(1<<i) == 0 {
			extras = appendAttr(extras, "", slog.Attr{Key: slotKeys[i], Value: slots[i]})
		}
	}
	extras = append(extras, h.extras...)
	extras = append(extras, rec...)
	b.extras = extras

	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	line := b.line[:0]
	for i, o := range f.ops {
		switch o.code {
		case 0:
			line = append(line, o.lit...)
		case 'n':
			line = strconv.AppendInt(line, t.Unix(), 10)
		case 't':
			line = appendTimestamp(line, t)
		case 'e':
			ms := t.Nanosecond() / 1e6
			line = append(line, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
		case 'p':
			line = append(line, h.st.pid...)
		case 'i':
			line = appendSlot(line, slots[slotClient], set&(1<<slotClient) != 0)
		case 's':
			line = appendSlot(line, slots[slotServer], set&(1<<slotServer) != 0)
		case 'u':
			line = appendSlot(line, slots[slotUser], set&(1<<slotUser) != 0)
		case 'd':
			line = appendSlot(line, slots[slotDB], set&(1<<slotDB) != 0)
		case 'c':
			line = appendSlot(line, slots[slotRoute], set&(1<<slotRoute) != 0)
		case 'h', 'r':
			if !hasAddr {
				line = append(line, "none"...)
				break
			}
			host, port := splitAddr(slots[slotAddr])
			if o.code == 'h' {
				line = appendEscaped(line, host)
			} else {
				line = appendEscaped(line, port)
			}
		case 'l':
			line = append(line, levelWord(r.Level)...)
		case 'm':
			line = appendEscaped(line, r.Message)
			if i == f.extrasAt {
				line = append(line, extras...)
			}
		case 'M':
			line = appendTSKV(line, r.Message)
			if i == f.extrasAt {
				line = appendTSKV(line, extras)
			}
		default: // %T, %x, %H: nothing here stands for them
			line = append(line, "none"...)
		}
	}
	if f.extrasAt < 0 && len(extras) > 0 {
		if len(line) == 0 {
			extras = extras[1:] // no space to begin the line
		}
		line = append(line, extras...)
	}
	line = append(line, '\n')
	b.line = line
	_, err := h.st.w.Write(line)
	return err
}

// appendTimestamp appends t as Odyssey's %t does (strftime "%FT%TZ" in
// UTC): 2006-01-02T15:04:05Z. It is time.AppendFormat's result, faster.
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(dst, "2006-01-02T15:04:05Z")
	}
	h, mi, s := t.Clock()
	return append(dst,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), 'Z')
}

// levelWord is Odyssey's name for a level (it has no warning level of its
// own; its documentation names it so).
func levelWord(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warning"
	default:
		return "error"
	}
}

// appendSlot prints the value of a placeholder: "none" when there is none.
func appendSlot(dst []byte, v slog.Value, ok bool) []byte {
	if !ok {
		return append(dst, "none"...)
	}
	if v.Kind() == slog.KindString {
		if s := v.String(); s != "" {
			return appendEscaped(dst, s)
		}
		return append(dst, "none"...)
	}
	return appendValue(dst, v) // quoted when it needs to be
}

// splitAddr splits a client address, "host:port" or "[v6]:port", into its
// host and port; anything else is a unix socket's, printed as Odyssey
// prints one.
func splitAddr(v slog.Value) (host, port string) {
	s := v.String()
	i := strings.LastIndexByte(s, ':')
	if i < 0 || i == len(s)-1 {
		return "<unix socket>", "-1"
	}
	for _, c := range []byte(s[i+1:]) {
		if c < '0' || c > '9' {
			return "<unix socket>", "-1"
		}
	}
	host, port = s[:i], s[i+1:]
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return host, port
}

// appendEscaped appends s with newlines and carriage returns escaped, so
// that a record stays one line.
func appendEscaped(dst []byte, s string) []byte {
	for {
		i := strings.IndexAny(s, "\n\r")
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		if s[i] == '\n' {
			dst = append(dst, '\\', 'n')
		} else {
			dst = append(dst, '\\', 'r')
		}
		s = s[i+1:]
	}
}

// tskvEscapes is Odyssey's od_logger_escape_tab: what %M escapes.
var tskvEscapes = [256]byte{0: '0', '\t': 't', '\n': 'n', '\r': 'r', '\\': '\\', '=': '='}

func appendTSKV[S string | []byte](dst []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		if e := tskvEscapes[s[i]]; e != 0 {
			dst = append(dst, '\\', e)
		} else {
			dst = append(dst, s[i])
		}
	}
	return dst
}

// appendAttr appends a as " key=value" the way slog's TextHandler writes
// it: groups flattened into "group.key", empty attributes and groups left
// out.
func appendAttr(dst []byte, prefix string, a slog.Attr) []byte {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		attrs := v.Group()
		if len(attrs) == 0 {
			return dst
		}
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, ga := range attrs {
			dst = appendAttr(dst, p, ga)
		}
		return dst
	}
	if a.Key == "" && v.Kind() == slog.KindAny && v.Any() == nil {
		return dst // the zero Attr
	}
	dst = append(dst, ' ')
	if prefix == "" {
		dst = appendString(dst, a.Key)
	} else if needsQuoting(prefix) || needsQuoting(a.Key) {
		dst = strconv.AppendQuote(dst, prefix+a.Key)
	} else {
		dst = append(append(dst, prefix...), a.Key...)
	}
	dst = append(dst, '=')
	return appendValue(dst, v)
}

// appendValue appends a resolved value as slog's TextHandler does.
func appendValue(dst []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendString(dst, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(dst, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(dst, v.Uint64(), 10)
	case slog.KindFloat64:
		return strconv.AppendFloat(dst, v.Float64(), 'g', -1, 64)
	case slog.KindBool:
		return strconv.AppendBool(dst, v.Bool())
	case slog.KindDuration:
		return append(dst, v.Duration().String()...)
	case slog.KindTime:
		return v.Time().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	switch x := v.Any().(type) {
	case encoding.TextMarshaler:
		data, err := x.MarshalText()
		if err != nil {
			return appendString(dst, "!ERROR:"+err.Error())
		}
		return appendBytes(dst, data)
	case []byte:
		return strconv.AppendQuote(dst, string(x))
	}
	start := len(dst)
	dst = fmt.Appendf(dst, "%+v", v.Any())
	if needsQuoting(string(dst[start:])) {
		s := string(dst[start:])
		dst = strconv.AppendQuote(dst[:start], s)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(dst, s)
	}
	return append(dst, s...)
}

func appendBytes(dst, s []byte) []byte {
	if needsQuoting(string(s)) {
		return strconv.AppendQuote(dst, string(s))
	}
	return append(dst, s...)
}

// needsQuoting is slog's rule for a text value: quote it when it is empty
// or has a space, '=', '"', a control character or a non-printing or
// invalid rune.
func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b == ' ' || b == '=' || b == '"' || b < ' ' {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
