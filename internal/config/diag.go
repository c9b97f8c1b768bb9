package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// maxErrors bounds how many errors one load collects. A badly broken or
// binary file would otherwise produce one error per byte; past this point
// the rest of the input is not worth reading.
const maxErrors = 100

// formatDiag renders a diagnostic as "file:line:col: message". Warnings get
// a "warning: " prefix so that `odyssey --test` output tells them apart from
// errors. A line of 0 means the problem concerns the file as a whole.
func formatDiag(d Diag) string {
	msg := d.Message
	if d.Warning {
		msg = "warning: " + msg
	}
	switch {
	case d.Pos.File == "" && d.Pos.Line == 0:
		return msg
	case d.Pos.Line == 0:
		return d.Pos.File + ": " + msg
	default:
		return d.Pos.File + ":" + strconv.Itoa(d.Pos.Line) + ":" +
			strconv.Itoa(d.Pos.Column) + ": " + msg
	}
}

// String renders "file:line:col" (or just the file when the line is unknown).
func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// LoadError is returned by Load and Parse when the configuration has at least
// one error. Diags holds every problem found, warnings included, in file
// order, so that a config check can print all of them at once.
type LoadError struct {
	Diags []Diag
}

// Error renders one diagnostic per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Diags))
	for i, d := range e.Diags {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Errors returns only the errors (not the warnings) of e.
func (e *LoadError) Errors() []Diag {
	var out []Diag
	for _, d := range e.Diags {
		if !d.Warning {
			out = append(out, d)
		}
	}
	return out
}

// diagList collects the problems of one load. Accepted-but-unimplemented
// keywords warn once per load, hence the set of keys already warned about.
type diagList struct {
	list   []Diag
	errors int
	warned map[string]bool
	files  map[string]int // file name -> order in which it was first read
}

func newDiagList() *diagList {
	return &diagList{warned: map[string]bool{}, files: map[string]int{}}
}

// full reports whether enough errors have been seen to stop reading.
func (l *diagList) full() bool { return l.errors >= maxErrors }

func (l *diagList) errorf(pos Position, format string, args ...any) {
	if l.full() {
		return
	}
	l.list = append(l.list, Diag{Pos: pos, Message: fmt.Sprintf(format, args...)})
	l.errors++
	if l.full() {
		l.list = append(l.list, Diag{
			Pos:     pos,
			Message: fmt.Sprintf("too many errors (%d), giving up", maxErrors),
		})
	}
}

// warnOnce records a warning unless one with the same key was already
// recorded during this load.
func (l *diagList) warnOnce(key string, pos Position, msg string) {
	if l.warned[key] {
		return
	}
	l.warned[key] = true
	l.list = append(l.list, Diag{Pos: pos, Message: msg, Warning: true})
}

// noteFile remembers the order in which files were read, for sorting.
func (l *diagList) noteFile(name string) {
	if _, ok := l.files[name]; !ok {
		l.files[name] = len(l.files)
	}
}

// sorted returns the diagnostics ordered by file (in reading order), line
// and column. Problems found while validating are reported after parsing
// is over; sorting puts them back where they belong.
func (l *diagList) sorted() []Diag {
	out := append([]Diag(nil), l.list...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		fa, fb := l.files[a.File], l.files[b.File]
		if fa != fb {
			return fa < fb
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return out
}

func (l *diagList) warnings() []Diag {
	var out []Diag
	for _, d := range l.sorted() {
		if d.Warning {
			out = append(out, d)
		}
	}
	return out
}
