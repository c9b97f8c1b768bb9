package logging

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// records keeps every Write as one record.
type records struct{ recs []string }

func (w *records) Write(p []byte) (int, error) {
	w.recs = append(w.recs, string(p))
	return len(p), nil
}

func newTestHandler(format string) (*formatHandler, *records) {
	w := &records{}
	st := newFormatState(w, format)
	st.pid = "4242"
	return newFormatHandler(st), w
}

// testTime is in UTC+1: %t prints UTC.
var testTime = time.Date(2026, 12, 8, 1, 2, 3, 45_600_000, time.FixedZone("X", 3600))

const (
	cid = "c0123456789ab"
	sid = "s0123456789ab"
)

type stringer struct{}

func (stringer) String() string { return "str ing" }

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue("resolved") }

type textM struct{}

func (textM) MarshalText() ([]byte, error) { return []byte("as-text"), nil }

func TestFormat(t *testing.T) {
	a := slog.String
	client := a("client", cid)
	tests := []struct {
		name   string
		format string
		with   []slog.Attr // WithAttrs, before group
		group  string      // WithGroup, when not ""
		with2  []slog.Attr // WithAttrs after the group
		level  slog.Level
		msg    string
		attrs  []slog.Attr
		want   string // without the newline
	}{
		{name: "unixtime", format: "%n", want: "1796688123"},
		{name: "timestamp UTC", format: "%t", want: "2026-12-08T00:02:03Z"},
		{name: "millis", format: "%e", want: "045"},
		{name: "pid", format: "%p", want: "4242"},
		{name: "client id", format: "%i", attrs: []slog.Attr{client}, want: cid},
		{name: "client id missing", format: "%i", want: "none"},
		{name: "client id empty", format: "%i", attrs: []slog.Attr{a("client", "")}, want: "none"},
		{name: "server id", format: "%s", attrs: []slog.Attr{a("server", sid)}, want: sid},
		{name: "server id missing", format: "[%i %s]", want: "[none none]"},
		{name: "user and db", format: "%u@%d", with: []slog.Attr{a("db", "app"), a("user", "alice")}, want: "alice@app"},
		{name: "user and db missing", format: "%u@%d", want: "none@none"},
		{name: "context is the route", format: "(%c)", attrs: []slog.Attr{a("route", "app.alice")}, want: "(app.alice)"},
		{name: "context missing", format: "(%c)", want: "(none)"},
		{name: "level debug", format: "%l", level: slog.LevelDebug, want: "debug"},
		{name: "level below debug", format: "%l", level: slog.LevelDebug - 4, want: "debug"},
		{name: "level info", format: "%l", level: slog.LevelInfo, want: "info"},
		{name: "level warn", format: "%l", level: slog.LevelWarn, want: "warning"},
		{name: "level error", format: "%l", level: slog.LevelError, want: "error"},
		{name: "level above error", format: "%l", level: slog.LevelError + 4, want: "error"},
		{name: "message", format: "%m", msg: "hello world", want: "hello world"},
		{name: "message one line", format: "%m", msg: "a\nb\r\nc", want: `a\nb\r\nc`},
		{name: "message tskv", format: "%M", msg: "a=b\tc\\d\ne\x00", want: `a\=b\tc\\d\ne\0`},
		{name: "client host and port", format: "%h:%r %m", msg: "m",
			with: []slog.Attr{client, a("addr", "10.0.0.1:5432")}, want: "10.0.0.1:5432 m client=" + cid},
		{name: "client host ipv6", format: "%h %r", with: []slog.Attr{client, a("addr", "[::1]:6000")}, want: "::1 6000 client=" + cid},
		{name: "client on a unix socket", format: "%h %r", with: []slog.Attr{client, a("addr", "")}, want: "<unix socket> -1 client=" + cid},
		{name: "addr without a client is not the client's", format: "%h %r %m", msg: "listening",
			attrs: []slog.Attr{a("addr", "0.0.0.0:6432")}, want: "none none listening addr=0.0.0.0:6432"},
		{name: "host alone keeps addr", format: "%i %h %m", msg: "m",
			with: []slog.Attr{client, a("addr", "10.0.0.1:5432")}, want: cid + " 10.0.0.1 m addr=10.0.0.1:5432"},
		{name: "no equivalent", format: "%T %x %H", want: "none none none"},
		{name: "percent", format: "100%% %q %", want: "100% %q "},
		{name: "escapes", format: `a\tb\\c\qd\re\`, want: "a\tb\\c\\qd\re"},
		{name: "format newline at the end", format: `%m\n`, msg: "m", want: "m"},
		{name: "format newlines at the end", format: "%m\\n\n\\n", msg: "m", want: "m"},
		{name: "format newline inside", format: `%l\n%m`, msg: "m", want: "info m"},
		{name: "format raw newline inside", format: "%l\n%m\n", msg: "m", want: "info m"},
		{name: "empty format", format: `\n`, attrs: []slog.Attr{a("k", "v")}, want: "k=v"},
		{name: "odyssey example", format: `%p %t %l [%i %s] (%c) %m\n`, level: slog.LevelWarn,
			with: []slog.Attr{client, a("addr", "1.2.3.4:5"), slog.Any("route", "db.u")}, msg: "server connection lost",
			attrs: []slog.Attr{a("server", sid), a("reason", "EOF")},
			want:  "4242 2026-12-08T00:02:03Z warning [" + cid + " " + sid + "] (db.u) server connection lost addr=1.2.3.4:5 reason=EOF"},
		{name: "extras after the message", format: "%l %m (%c)", msg: "boom",
			attrs: []slog.Attr{slog.Any("error", errors.New("no such\nthing")), slog.Int("n", 1), a("reason", "")},
			want:  `info boom error="no such\nthing" n=1 reason="" (none)`},
		{name: "extras at the end without a message", format: "%l [%i]", msg: "lost?",
			attrs: []slog.Attr{client, a("k", "v")}, want: "info [" + cid + "] k=v"},
		{name: "extras after the first message only", format: "%m|%m", msg: "m", attrs: []slog.Attr{a("k", "v")}, want: "m k=v|m"},
		{name: "extras tskv", format: "msg=%M\tlevel=%l", msg: "m",
			attrs: []slog.Attr{a("error", "a=b"), a("k", "x\ty")},
			want:  `msg=m error\="a\=b" k\="x\\ty"` + "\tlevel=info"},
		{name: "groups and With", format: "%i %m", msg: "m",
			with:  []slog.Attr{client, a("addr", "1.2.3.4:5"), a("tls", "TLS 1.3")},
			group: "g", with2: []slog.Attr{a("k", "v")},
			attrs: []slog.Attr{slog.Int("n", 1), a("client", "other")},
			want:  cid + " m addr=1.2.3.4:5 tls=\"TLS 1.3\" g.k=v g.n=1 g.client=other"},
		{name: "record groups", format: "%m", msg: "m",
			attrs: []slog.Attr{slog.Group("req", "id", 7, slog.Group("in", "x", true)), slog.Group("empty"),
				slog.Group("", "inline", 1), {}},
			want: "m req.id=7 req.in.x=true inline=1"},
		{name: "a group named like a placeholder's attribute", format: "%i %m", msg: "m",
			attrs: []slog.Attr{slog.Group("client", "a", 1)}, want: "none m client.a=1"},
		{name: "replaced values stay", format: "%s %m", msg: "m",
			with: []slog.Attr{a("server", "s1"), a("server", "s2")}, attrs: []slog.Attr{a("server", "s3")},
			want: "s3 m server=s1 server=s2"},
		{name: "unprinted placeholder attributes", format: "%m", msg: "m",
			with:  []slog.Attr{client, a("addr", "1.2.3.4:5"), a("db", "d"), a("user", "u")},
			attrs: []slog.Attr{a("route", "d.u"), a("server", sid)},
			want:  "m client=" + cid + " addr=1.2.3.4:5 db=d user=u route=d.u server=" + sid},
		{name: "value kinds", format: "%m", msg: "m",
			attrs: []slog.Attr{slog.Duration("d", 1500*time.Millisecond), slog.Time("t", testTime), slog.Float64("f", 0.5),
				slog.Uint64("u", 7), slog.Any("b", []byte("x y")), slog.Any("s", stringer{}), slog.Any("lv", valuer{}),
				slog.Any("tm", textM{}), slog.Any("nil", nil), a("a b", "c")},
			want: `m d=1.5s t=2026-12-08T01:02:03.045+01:00 f=0.5 u=7 b="x y" s="str ing" lv=resolved tm=as-text nil=<nil> "a b"=c`},
		{name: "placeholder value of another kind", format: "%i", attrs: []slog.Attr{slog.Int("client", 12)}, want: "12"},
		{name: "placeholder value resolved", format: "%u", attrs: []slog.Attr{slog.Any("user", valuer{})}, want: "resolved"},
		{name: "placeholder value one line", format: "%u|%d", attrs: []slog.Attr{a("user", "a\nb"), a("db", "x\ry")}, want: `a\nb|x\ry`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fh, w := newTestHandler(tc.format)
			var h slog.Handler = fh
			h = h.WithAttrs(tc.with)
			if tc.group != "" {
				h = h.WithGroup(tc.group)
			}
			h = h.WithAttrs(tc.with2)
			r := slog.NewRecord(testTime, tc.level, tc.msg, 0)
			r.AddAttrs(tc.attrs...)
			if err := h.Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if len(w.recs) != 1 {
				t.Fatalf("%d writes, want 1: %q", len(w.recs), w.recs)
			}
			if got := w.recs[0]; got != tc.want+"\n" {
				t.Errorf("format %q\n got %q\nwant %q", tc.format, got, tc.want+"\n")
			}
		})
	}
}

// TestFormatHandlerUnchanged: With and WithGroup leave the handler they
// are called on as it was.
func TestFormatHandlerUnchanged(t *testing.T) {
	h, w := newTestHandler("%i %m")
	base := h.WithAttrs([]slog.Attr{slog.String("a", "1")})
	x := base.WithAttrs([]slog.Attr{slog.String("b", "2"), slog.String("client", cid)})
	y := base.WithGroup("g").WithAttrs([]slog.Attr{slog.String("c", "3")})
	for _, h := range []slog.Handler{base, x, y, base} {
		h.Handle(context.Background(), slog.NewRecord(testTime, slog.LevelInfo, "m", 0))
	}
	want := []string{"none m a=1\n", cid + " m a=1 b=2\n", "none m a=1 g.c=3\n", "none m a=1\n"}
	if strings.Join(w.recs, "") != strings.Join(want, "") {
		t.Errorf("got %q, want %q", w.recs, want)
	}
}

// TestOpenFormat logs through Open with Odyssey's usual format, as the
// config gives it (with a backslash and an n), then changes the format at
// reload.
func TestOpenFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	log, sink, err := Open(Options{File: path, Format: `%p %t.%e %l [%i %s] (%c) %m\n`})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()

	c := log.With("client", cid, "addr", "127.0.0.1:40000").With("db", "app", "user", "alice")
	c.Debug("hidden")
	c.Info("client logged in", "login_ms", 3)
	WithDebug(c).Debug("debug shown", "server", sid)
	log.With("route", "app.alice").Warn("server connect failed", "error", errors.New("refused"))
	if err := sink.Apply(Options{File: path, Format: `%l %i %h:%r %m`}); err != nil {
		t.Fatal(err)
	}
	c.Error("client disconnected", "reason", "bye bye")
	if err := sink.Apply(Options{File: path, Format: "json"}); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Errorf("format string to json at reload: %v, want an error", err)
	}
	log.Info("still the format string")

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head := `^` + strconv.Itoa(os.Getpid()) + ` \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\.\d{3} `
	want := []string{
		head + `info \[` + cid + ` none\] \(none\) client logged in addr=127\.0\.0\.1:40000 db=app user=alice login_ms=3$`,
		head + `debug \[` + cid + ` ` + sid + `\] \(none\) debug shown addr=127\.0\.0\.1:40000 db=app user=alice$`,
		head + `warning \[none none\] \(app\.alice\) server connect failed error=refused$`,
		`^error ` + cid + ` 127\.0\.0\.1:40000 client disconnected db=app user=alice reason="bye bye"$`,
		`^info none none:none still the format string$`,
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) != len(want)+1 || lines[len(want)] != "" {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines)-1, len(want), data)
	}
	for i, w := range want {
		if !regexp.MustCompile(w).MatchString(lines[i]) {
			t.Errorf("line %d = %q, want match of %q", i, lines[i], w)
		}
	}
}

// TestApplyFormatKinds: only a format string can change at reload.
func TestApplyFormatKinds(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		restart  bool
	}{
		{"json", "json", false},
		{"", "", false},
		{"%m", "%l %m", false},
		{"json", "%m", true},
		{"%m", "", true},
		{"", "json", true},
	} {
		_, sink, err := Open(Options{Format: tc.from})
		if err != nil {
			t.Fatal(err)
		}
		err = sink.Apply(Options{Format: tc.to})
		if (err != nil) != tc.restart {
			t.Errorf("%q to %q: %v, want restart %v", tc.from, tc.to, err, tc.restart)
		}
		sink.Close()
	}
}

// TestFormatAllocs: a record of a connection's logger, with its
// attributes applied, costs no allocation.
func TestFormatAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers under the race detector")
	}
	h, _ := newTestHandler(`%p %t %l [%i %s] (%c) %m\n`)
	h.st.w = io.Discard
	l := slog.New(h.WithAttrs([]slog.Attr{slog.String("client", cid), slog.String("addr", "127.0.0.1:40000"),
		slog.String("db", "app"), slog.String("user", "alice")}))
	l.Info("warm up")
	if n := testing.AllocsPerRun(100, func() {
		l.Info("client logged in", "login_ms", 3, "reason", "a b")
	}); n > 0 {
		t.Errorf("%v allocations per record, want 0", n)
	}
}

func FuzzFormat(f *testing.F) {
	f.Add(`%p %t %l [%i %s] (%c) %m\n`, "client logged in")
	f.Add(`tskv\tts=%t\tmsg=%M\n`, "a=b\tc\n")
	f.Add("%h:%r %u@%d %x %T %H %e %n %%", "two\nlines\r\n")
	f.Add("\\", "%")
	f.Add("%", "")
	f.Add("\n\n%m\n%l\\n", "m\n")
	f.Fuzz(func(t *testing.T, format, msg string) {
		fh, w := newTestHandler(format)
		l := slog.New(newFilter(fh, nil, slog.LevelDebug)).With("client", "c\nx", "addr", "1.2.3.4:5", "user", "u\r\n")
		l.Info(msg, "error", errors.New("e\nrr"), "marker", "fuzz_marker")
		l.WithGroup("g\n").Warn(msg, "k\n", msg)
		if len(w.recs) != 2 {
			t.Fatalf("%d writes, want 2: %q", len(w.recs), w.recs)
		}
		for _, rec := range w.recs {
			if strings.Count(rec, "\n") != 1 || !strings.HasSuffix(rec, "\n") {
				t.Errorf("format %q message %q: not one line: %q", format, msg, rec)
			}
		}
		if !strings.Contains(w.recs[0], "fuzz_marker") {
			t.Errorf("format %q message %q: the extra attribute is lost: %q", format, msg, w.recs[0])
		}
	})
}

// The benchmarks log a connection's record: Odyssey's usual format string
// against slog's text handler, and, with With, a connection's first record.
func benchLogger(b *testing.B, format string) *slog.Logger {
	var lv slog.LevelVar
	var h slog.Handler
	if format == "" {
		h = slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug})
	} else {
		h = newFormatHandler(newFormatState(io.Discard, format))
	}
	return slog.New(newFilter(h, nil, &lv))
}

func BenchmarkFormat(b *testing.B) {
	for _, bc := range []struct{ name, format string }{
		{"odyssey", `%p %t %l [%i %s] (%c) %m\n`},
		{"text", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := benchLogger(b, bc.format).With("client", cid, "addr", "127.0.0.1:40000").With("db", "app", "user", "alice")
			b.ReportAllocs()
			for b.Loop() {
				l.Info("client disconnected", "reason", "EOF")
			}
		})
		b.Run(bc.name+"/With", func(b *testing.B) {
			l := benchLogger(b, bc.format)
			b.ReportAllocs()
			for b.Loop() {
				l.With("client", cid, "addr", "127.0.0.1:40000").With("db", "app", "user", "alice").
					Info("client logged in", "login_ms", 3)
			}
		})
	}
}

func TestAppendTimestamp(t *testing.T) {
	for _, tm := range []time.Time{testTime, time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Now()} {
		if got, want := string(appendTimestamp(nil, tm)), tm.UTC().Format("2006-01-02T15:04:05Z"); got != want {
			t.Errorf("appendTimestamp(%v) = %q, want %q", tm, got, want)
		}
	}
}

// BenchmarkHandle is the handler's own cost for one record, without the
// Logger's (the caller's pc, the time, the record).
func BenchmarkHandle(b *testing.B) {
	with := []slog.Attr{slog.String("client", cid), slog.String("addr", "127.0.0.1:40000"),
		slog.String("db", "app"), slog.String("user", "alice")}
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "client disconnected", 0)
	r.AddAttrs(slog.String("reason", "EOF"))
	for _, bc := range []struct {
		name string
		h    slog.Handler
	}{
		{"odyssey", newFormatHandler(newFormatState(io.Discard, `%p %t %l [%i %s] (%c) %m\n`))},
		{"text", slog.NewTextHandler(io.Discard, nil)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := bc.h.WithAttrs(with)
			b.ReportAllocs()
			for b.Loop() {
				h.Handle(context.Background(), r)
			}
		})
	}
}

// TestFormatConcurrent logs from several goroutines while reloads change
// the format: every line is whole, in one format or the other.
func TestFormatConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	formats := []string{`A %i %m\n`, `B %l %m`}
	log, sink, err := Open(Options{File: path, Format: formats[0]})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			l := log.With("client", cid, "g", g)
			for i := range 200 {
				l.Info("line", "i", i)
			}
		}()
	}
	for i := range 50 {
		if err := sink.Apply(Options{File: path, Format: formats[i%2]}); err != nil {
			t.Error(err)
		}
	}
	for range 4 {
		<-done
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^(A ` + cid + ` line g=\d i=\d+|B info line client=` + cid + ` g=\d i=\d+)$`)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 800 {
		t.Errorf("%d lines, want 800", len(lines))
	}
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Errorf("line %q", l)
		}
	}
}
