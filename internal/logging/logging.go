// Package logging builds the process logger from the config, to stdout
// and/or log_file, debug level with log_debug. log_format "json" logs JSON
// (slog's JSONHandler); any other log_format is an Odyssey format string
// with placeholders such as %t, %l, %i and %m (see format.go); an empty one
// gives slog's key=value text. The log file can be reopened for rotation
// (SIGUSR1).
package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
)

// Options say where and how to log.
type Options struct {
	File   string // "" = no file
	Stdout bool
	// Format is log_format: "json" for JSON, "" for slog's key=value text,
	// anything else an Odyssey format string ("%p %t %l [%i %s] (%c) %m\n").
	Format string
	Debug  bool
}

// Sink is the writer behind the logger: stdout and/or a reopenable file.
// Each log record is one Write, so the lock keeps records whole.
type Sink struct {
	mu     sync.Mutex
	path   string
	file   *os.File
	stdout bool
	level  slog.LevelVar // the process logger's level (rules may lower it, see WithDebug)
	format string        // Options.Format
	fs     *formatState  // the format string's handlers' state; nil for json and ""
}

// Open builds a logger and the sink it writes to; the caller closes the sink.
func Open(opts Options) (*slog.Logger, *Sink, error) {
	s := &Sink{path: opts.File, stdout: opts.Stdout}
	if opts.File != "" {
		if err := s.Reopen(); err != nil {
			return nil, nil, err
		}
	}
	s.format = opts.Format
	s.level.Set(levelOf(opts.Debug))
	// The handler itself passes everything; levelFilter decides, so that a
	// rule with log_debug can lower the level for its clients only.
	hopts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var h slog.Handler
	switch kindOf(opts.Format) {
	case "json":
		h = slog.NewJSONHandler(s, hopts)
	case "text":
		h = slog.NewTextHandler(s, hopts)
	default:
		s.fs = newFormatState(s, opts.Format)
		h = newFormatHandler(s.fs)
	}
	return slog.New(newFilter(h, nil, &s.level)), s, nil
}

// kindOf names the handler a log_format needs.
func kindOf(format string) string {
	switch format {
	case "json":
		return "json"
	case "":
		return "text"
	}
	return "a format string"
}

func levelOf(debug bool) slog.Level {
	if debug {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// Apply changes where, at which level and, for a format string, in which
// format the running logger writes (a config reload). Whether the format is
// JSON, slog text or a format string is fixed at start: a change between
// them is reported as an error and the rest still applies.
func (s *Sink) Apply(opts Options) error {
	s.level.Set(levelOf(opts.Debug))
	s.mu.Lock()
	s.stdout = opts.Stdout
	pathChanged := s.path != opts.File
	s.path = opts.File
	if pathChanged && opts.File == "" && s.file != nil {
		s.file.Close()
		s.file = nil
	}
	was, now := kindOf(s.format), kindOf(opts.Format)
	if was == now && s.fs != nil && opts.Format != s.format {
		s.format = opts.Format
		s.fs.format.Store(compile(opts.Format)) // records being written keep the old one
	}
	s.mu.Unlock()
	var err error
	if pathChanged && opts.File != "" {
		err = s.Reopen()
	}
	if was != now {
		err = errors.Join(err, fmt.Errorf("changing log_format from %s to %s needs a restart; the old format stays", was, now))
	}
	return err
}

// levelFilter drops records below min. It also defers the work of
// Logger.With: every handler here formats the attributes at With time,
// and every connection makes a logger with its id while most never log a
// line (measured under pgbench -C: 3% of the pooler's CPU). The attributes
// wait in pending until the first record that passes the level.
type levelFilter struct {
	base    slog.Handler // the handler without pending
	pending []slog.Attr
	min     slog.Leveler

	once sync.Once
	h    slog.Handler // base with pending, made once
}

func newFilter(base slog.Handler, pending []slog.Attr, min slog.Leveler) *levelFilter {
	return &levelFilter{base: base, pending: pending, min: min}
}

// handler is base with the pending attributes applied.
func (f *levelFilter) handler() slog.Handler {
	f.once.Do(func() {
		f.h = f.base
		if len(f.pending) > 0 {
			f.h = f.base.WithAttrs(f.pending)
		}
	})
	return f.h
}

func (f *levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min.Level() && f.base.Enabled(ctx, l)
}

func (f *levelFilter) Handle(ctx context.Context, r slog.Record) error {
	return f.handler().Handle(ctx, r)
}

func (f *levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return newFilter(f.base, append(f.pending[:len(f.pending):len(f.pending)], attrs...), f.min)
}

func (f *levelFilter) WithGroup(name string) slog.Handler {
	return newFilter(f.handler().WithGroup(name), nil, f.min)
}

// WithDebug returns a logger like l that also logs debug records (a rule's
// log_debug). Loggers not made by Open are returned unchanged.
func WithDebug(l *slog.Logger) *slog.Logger {
	if f, ok := l.Handler().(*levelFilter); ok && f.min.Level() > slog.LevelDebug {
		return slog.New(newFilter(f.base, f.pending, slog.LevelDebug))
	}
	return l
}

// Write sends one record to every destination.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stdout {
		os.Stdout.Write(p)
	}
	if s.file != nil {
		s.file.Write(p)
	}
	return len(p), nil
}

// Reopen closes and reopens the log file (after logrotate moved it).
// The file is created with the lock held, so that once it exists every
// record goes to it: a record written between its creation and the swap
// would otherwise land in the rotated file, after a watcher (logrotate's
// postrotate, a test) saw the new one appear.
func (s *Sink) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" {
		return nil
	}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	if s.file != nil {
		s.file.Close()
	}
	s.file = f
	return nil
}

// Close closes the log file.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}

var _ io.Writer = (*Sink)(nil)
