// Package logging builds the process logger from the config: text or JSON
// (log_format "json"), to stdout and/or log_file, debug level with
// log_debug. The log file can be reopened for rotation (SIGUSR1).
package logging

import (
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
	JSON   bool
	Debug  bool
}

// Sink is the writer behind the logger: stdout and/or a reopenable file.
// Each log record is one Write, so the lock keeps records whole.
type Sink struct {
	mu     sync.Mutex
	path   string
	file   *os.File
	stdout bool
}

// Open builds a logger and the sink it writes to; the caller closes the sink.
func Open(opts Options) (*slog.Logger, *Sink, error) {
	s := &Sink{path: opts.File, stdout: opts.Stdout}
	if opts.File != "" {
		if err := s.Reopen(); err != nil {
			return nil, nil, err
		}
	}
	level := slog.LevelInfo
	if opts.Debug {
		level = slog.LevelDebug
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if opts.JSON {
		h = slog.NewJSONHandler(s, hopts)
	} else {
		h = slog.NewTextHandler(s, hopts)
	}
	return slog.New(h), s, nil
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
func (s *Sink) Reopen() error {
	if s.path == "" {
		return nil
	}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	s.mu.Lock()
	old := s.file
	s.file = f
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
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
