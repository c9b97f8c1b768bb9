//go:build ignore

// report reads the `go test -json` streams that run.sh saved and prints, per
// suite and target, the counts of passed, failed and skipped tests and the
// tests that fail through the pooler but pass directly.
//
//	go run report.go -dir RESULTS_DIR
//
// RESULTS_DIR holds runs.tsv (suite, target, json file, exit code, seconds,
// pooler log lines, whether the pooler died) and the json files; NAME.json
// may be followed by NAME.rerunN.json, reruns of the packages whose test
// binary hung or panicked, without the tests that did. Besides the summary on
// stdout it writes summary.json and, per run, NAME.log (the test output as go
// test -v prints it) and NAME.failures.txt (the output of every failed
// top-level test).
//
//	go run report.go -culprits NAME.json [NAME.rerun1.json ...]
//
// prints, for each package whose test binary died (a -timeout, a panic) in
// the last of the files that ran it, the package and a -skip pattern of the
// top-level tests that hung or panicked in any of them: what run.sh reruns.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// Statuses. failed() counts fail, timeout and noresult.
const (
	stPass     = "pass"
	stFail     = "fail"
	stSkip     = "skip"
	stTimeout  = "timeout"  // running when the test binary's -timeout fired
	stNoResult = "noresult" // started, never finished (panic, crash, kill)
)

func failed(s string) bool { return s == stFail || s == stTimeout || s == stNoResult }

type testResult struct {
	Pkg, Name string
	Status    string
	Elapsed   float64
	Output    []string
}

type pkgResult struct {
	Pkg      string
	Status   string // pass, fail, skip, or "" when the stream ended first
	Output   []string
	TimedOut bool // the test binary's -timeout fired
}

// parsed is one go test -json stream, or several merged.
type parsed struct {
	tests   map[string]*testResult // key: pkg + " " + test
	order   []string
	pkgs    map[string]*pkgResult
	pkgList []string
	raw     []string // lines that were not JSON
}

type run struct {
	Suite, Target, JSON string
	Exit                int
	Seconds             int
	LogFrom, LogTo      int
	PoolerDied          bool
	Reruns              []string // packages rerun after a hang or panic

	parsed
	Counts Counts
}

// Counts are what one run got.
type Counts struct {
	TopPass, TopFail, TopSkip int
	AllPass, AllFail, AllSkip int
	Timeouts                  []string // tests running when a -timeout fired
	NoResult                  []string // tests started that never finished
	PkgFailures               []string // packages that failed with no failed test
}

func key(pkg, test string) string { return pkg + " " + test }

func top(test string) string {
	if i := strings.IndexByte(test, '/'); i >= 0 {
		return test[:i]
	}
	return test
}

var (
	timeoutRe = regexp.MustCompile(`^panic: test timed out after`)
	runningRe = regexp.MustCompile(`^\s+(Test\S*|Example\S*|Fuzz\S*) \(`)
)

func parseFile(path string) (*parsed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &parsed{tests: map[string]*testResult{}, pkgs: map[string]*pkgResult{}}
	pkg := func(p string) *pkgResult {
		pr := r.pkgs[p]
		if pr == nil {
			pr = &pkgResult{Pkg: p}
			r.pkgs[p] = pr
			r.pkgList = append(r.pkgList, p)
		}
		return pr
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			r.raw = append(r.raw, string(line))
			continue
		}
		if e.Package == "" {
			continue
		}
		if e.Test == "" {
			pr := pkg(e.Package)
			switch e.Action {
			case "output", "build-output":
				pr.Output = append(pr.Output, e.Output)
			case "pass", "fail", "skip":
				pr.Status = e.Action
			case "build-fail":
				pr.Status = stFail
			}
			continue
		}
		pkg(e.Package)
		k := key(e.Package, e.Test)
		t := r.tests[k]
		if t == nil {
			t = &testResult{Pkg: e.Package, Name: e.Test, Status: stNoResult}
			r.tests[k] = t
			r.order = append(r.order, k)
		}
		switch e.Action {
		case "output":
			t.Output = append(t.Output, e.Output)
		case "pass", "fail", "skip":
			t.Status = e.Action
			t.Elapsed = e.Elapsed
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// A -timeout panic names the tests that were running; test2json leaves
	// them without a result (or, in newer Go, failed): call them timeouts.
	for _, p := range r.pkgList {
		pr := r.pkgs[p]
		all := pr.Output
		for _, k := range r.order {
			if t := r.tests[k]; t.Pkg == p {
				all = append(all, t.Output...)
			}
		}
		in := false
		named := false
		for _, l := range all {
			if timeoutRe.MatchString(l) {
				in = true
				pr.TimedOut = true
				continue
			}
			if !in {
				continue
			}
			if m := runningRe.FindStringSubmatch(l); m != nil {
				if t := r.tests[key(p, m[1])]; t != nil && t.Status != stPass && t.Status != stSkip {
					t.Status = stTimeout
					named = true
				}
				continue
			}
			if strings.HasPrefix(strings.TrimSpace(l), "running tests:") {
				continue
			}
			if strings.TrimSpace(l) != "" {
				in = false
			}
		}
		if !pr.TimedOut || named {
			continue
		}
		// Examples run alone and the panic names none: the unfinished test
		// whose output holds the panic is the one.
		for _, k := range r.order {
			t := r.tests[k]
			if t.Pkg != p || t.Status != stNoResult {
				continue
			}
			for _, l := range t.Output {
				if timeoutRe.MatchString(l) {
					t.Status = stTimeout
					break
				}
			}
		}
	}
	return r, nil
}

// culprits says whether the test binary of pkg died (hung or panicked) and
// which top-level tests did it: those running when -timeout fired, and those
// that failed with a panic.
func (r *parsed) culprits(pkg string) (died bool, names []string) {
	pr := r.pkgs[pkg]
	if pr == nil || pr.Status == stPass || pr.Status == stSkip {
		return false, nil
	}
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[top(n)] {
			seen[top(n)] = true
			names = append(names, top(n))
		}
	}
	died = pr.TimedOut
	for _, k := range r.order {
		t := r.tests[k]
		if t.Pkg != pkg {
			continue
		}
		switch t.Status {
		case stTimeout:
			died = true
			add(t.Name)
		case stNoResult:
			died = true
		case stFail:
			for _, l := range t.Output {
				if strings.HasPrefix(l, "panic: ") && !timeoutRe.MatchString(l) {
					died = true
					add(t.Name)
					break
				}
			}
		}
	}
	return died, names
}

// merge adds a rerun: a test keeps the result it had unless it had none; a
// package takes the rerun's status.
func (r *parsed) merge(o *parsed) {
	for _, k := range o.order {
		t := o.tests[k]
		if old, ok := r.tests[k]; ok {
			if old.Status == stNoResult {
				r.tests[k] = t
			}
			continue
		}
		r.tests[k] = t
		r.order = append(r.order, k)
	}
	for _, p := range o.pkgList {
		op := o.pkgs[p]
		pr := r.pkgs[p]
		if pr == nil {
			r.pkgs[p] = op
			r.pkgList = append(r.pkgList, p)
			continue
		}
		pr.Status = op.Status
		pr.TimedOut = op.TimedOut
		pr.Output = append(append(pr.Output, "##### rerun\n"), op.Output...)
	}
	r.raw = append(r.raw, o.raw...)
}

// readRun reads NAME.json and its reruns NAME.rerunN.json in order.
func readRun(r *run, dir string) error {
	files := []string{filepath.Join(dir, r.JSON)}
	base := strings.TrimSuffix(r.JSON, ".json")
	for i := 1; ; i++ {
		f := filepath.Join(dir, fmt.Sprintf("%s.rerun%d.json", base, i))
		if _, err := os.Stat(f); err != nil {
			break
		}
		files = append(files, f)
	}
	for i, f := range files {
		p, err := parseFile(f)
		if err != nil {
			return err
		}
		if i == 0 {
			r.parsed = *p
			continue
		}
		r.Reruns = append(r.Reruns, p.pkgList...)
		r.merge(p)
	}
	return nil
}

// tally counts the results of each top-level test in a go test -json
// stream that may run a test several times (-count).
type tally struct{ run, pass, fail, skip int }

func readTallies(path string) map[string]*tally {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]*tally{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" || strings.Contains(e.Test, "/") {
			continue
		}
		k := key(e.Package, e.Test)
		if out[k] == nil {
			out[k] = &tally{}
		}
		switch e.Action {
		case "run":
			out[k].run++
		case "pass":
			out[k].pass++
		case "fail":
			out[k].fail++
		case "skip":
			out[k].skip++
		}
	}
	return out
}

func (t *tally) String() string {
	if t == nil {
		return "no result"
	}
	n := t.pass + t.fail + t.skip
	s := fmt.Sprintf("failed %d/%d", t.fail, n)
	if t.fail == 0 && t.pass > 0 {
		s = fmt.Sprintf("passed %d/%d", t.pass, n)
	}
	if t.skip > 0 {
		s += fmt.Sprintf(", skipped %d", t.skip)
	}
	if t.hung() > 0 {
		s += ", then hung (-timeout) or died"
	}
	return s
}

// hung is how many times the test started and never finished.
func (t *tally) hung() int {
	if t == nil {
		return 0
	}
	return t.run - t.pass - t.fail - t.skip
}

// confirmNote says how a pooler-only failure did when run again alone
// (run.sh's CONFIRM step): SUITE-TARGET.confirm.json through the pooler,
// SUITE-direct.confirm-TARGET.json directly.
func confirmNote(pooler, direct map[string]*tally, k string) string {
	if pooler == nil {
		return ""
	}
	tp := pooler[k]
	note := "run again alone: through the pooler " + tp.String()
	if direct != nil {
		note += ", directly " + direct[k].String()
	}
	switch {
	case tp == nil:
	case tp.hung() > 0 && tp.fail == 0:
		note += " -> hangs when run alone"
	case tp.fail == 0:
		note += " -> only in the full run (flaky, or needs the other tests)"
	case tp.pass > 0:
		note += " -> flaky through the pooler"
	}
	return note
}

// printConfirmList implements -confirm-list: the pooler-only failures to run
// again alone, as "suite target package -run-pattern" lines. Hung and
// unfinished tests are left out (they would only hang again).
func printConfirmList(runs []*run, dir string) {
	direct := map[string]*run{}
	for _, r := range runs {
		if r.Target == "direct" {
			direct[r.Suite] = r
		}
	}
	for _, r := range runs {
		d := direct[r.Suite]
		if r.Target == "direct" || d == nil {
			continue
		}
		byPkg := map[string][]string{}
		var pkgs []string
		for _, f := range compare(d, r).PoolerOnly {
			if f.Status != stFail {
				continue
			}
			if byPkg[f.pkg] == nil {
				pkgs = append(pkgs, f.pkg)
			}
			byPkg[f.pkg] = append(byPkg[f.pkg], regexp.QuoteMeta(f.name))
		}
		for _, p := range pkgs {
			fmt.Printf("%s\t%s\t%s\t^(%s)$\n", r.Suite, r.Target, p, strings.Join(byPkg[p], "|"))
		}
	}
}

// printCulprits implements -culprits.
func printCulprits(files []string) error {
	var all []*parsed
	for _, f := range files {
		p, err := parseFile(f)
		if err != nil {
			return err
		}
		all = append(all, p)
	}
	var pkgs []string
	last := map[string]*parsed{}
	for _, p := range all {
		for _, pkg := range p.pkgList {
			if last[pkg] == nil {
				pkgs = append(pkgs, pkg)
			}
			last[pkg] = p
		}
	}
	for _, pkg := range pkgs {
		if died, _ := last[pkg].culprits(pkg); !died {
			continue
		}
		var names []string
		seen := map[string]bool{}
		for _, p := range all {
			_, n := p.culprits(pkg)
			for _, x := range n {
				if !seen[x] {
					seen[x] = true
					names = append(names, x)
				}
			}
		}
		if _, n := last[pkg].culprits(pkg); len(n) == 0 {
			continue // it died, but no test to blame: a rerun would do the same
		}
		for i, n := range names {
			names[i] = regexp.QuoteMeta(n)
		}
		fmt.Printf("%s\t^(%s)$\n", pkg, strings.Join(names, "|"))
	}
	return nil
}

func (r *run) count() {
	c := &r.Counts
	failedTests := map[string]bool{}
	for _, k := range r.order {
		t := r.tests[k]
		isTop := !strings.Contains(t.Name, "/")
		switch {
		case t.Status == stPass:
			c.AllPass++
			if isTop {
				c.TopPass++
			}
		case t.Status == stSkip:
			c.AllSkip++
			if isTop {
				c.TopSkip++
			}
		default:
			c.AllFail++
			if isTop {
				c.TopFail++
			}
			failedTests[t.Pkg] = true
			switch t.Status {
			case stTimeout:
				c.Timeouts = append(c.Timeouts, short(t.Pkg)+"."+t.Name)
			case stNoResult:
				c.NoResult = append(c.NoResult, short(t.Pkg)+"."+t.Name)
			}
		}
	}
	for _, p := range r.pkgList {
		pr := r.pkgs[p]
		if (pr.Status == stFail || pr.Status == "") && !failedTests[p] {
			why := pkgReason(pr)
			c.PkgFailures = append(c.PkgFailures, short(p)+" ("+why+")")
		}
	}
}

// pkgReason says in a few words why a package failed with no failed test.
func pkgReason(pr *pkgResult) string {
	if pr.Status == "" {
		return "no result: the run was cut short"
	}
	for _, l := range pr.Output {
		s := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(s, "FAIL") || strings.HasPrefix(s, "ok ") || s == "PASS" || s == "":
			continue
		case strings.HasPrefix(s, "#"):
			return "build failed"
		}
		return "after the tests: " + clip(s, 150)
	}
	return "exit status non-zero"
}

var prefixes = []struct{ path, name string }{
	{"github.com/jackc/pgx/v5", "pgx"},
	{"github.com/lib/pq", "pq"},
}

func short(pkg string) string {
	for _, p := range prefixes {
		if pkg == p.path {
			return p.name
		}
		if strings.HasPrefix(pkg, p.path+"/") {
			return strings.TrimPrefix(pkg, p.path+"/")
		}
	}
	return pkg
}

func shortAll(pkgs []string) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, short(p))
	}
	return out
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

var (
	fileLineRe = regexp.MustCompile(`^\s*[\w.-]+\.go:\d+: (.*)`)
	testifyRe  = regexp.MustCompile(`^\s*Error:\s+(.*)`)
	labelRe    = regexp.MustCompile(`^\s*(Error Trace|Error|Test|Messages):`)
)

// excerpt picks the line that best says why a test failed.
func excerpt(lines []string) string {
	for i, l := range lines {
		if m := testifyRe.FindStringSubmatch(l); m != nil {
			msg := m[1]
			for j := i + 1; j < len(lines) && j < i+4; j++ {
				n := strings.TrimSpace(lines[j])
				if n == "" || labelRe.MatchString(lines[j]) || strings.HasPrefix(n, "---") || strings.HasPrefix(n, "===") {
					break
				}
				msg += " " + n
			}
			return clip(msg, 220)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "panic:") {
			return clip(l, 220)
		}
	}
	for i, l := range lines {
		if m := fileLineRe.FindStringSubmatch(l); m != nil && !strings.HasPrefix(strings.TrimSpace(m[1]), "Error Trace") {
			// t.Errorf("wrong error\nhave: %s\nwant: %s"): the lines that
			// follow, indented deeper, belong to it.
			msg := m[1]
			for j := i + 1; j < len(lines) && j <= i+3; j++ {
				n := lines[j]
				if !strings.HasPrefix(n, "        ") || fileLineRe.MatchString(n) {
					break
				}
				msg += " " + strings.TrimSpace(n)
			}
			return clip(msg, 260)
		}
	}
	return ""
}

// topOutput is a top-level test's output with its subtests', in order.
func (r *run) topOutput(pkg, name string) []string {
	var out []string
	for _, k := range r.order {
		t := r.tests[k]
		if t.Pkg == pkg && top(t.Name) == name {
			out = append(out, t.Output...)
		}
	}
	return out
}

// failedSubtests lists the failed subtests of a top-level test.
func (r *run) failedSubtests(pkg, name string) []string {
	var out []string
	for _, k := range r.order {
		t := r.tests[k]
		if t.Pkg == pkg && top(t.Name) == name && t.Name != name && failed(t.Status) {
			out = append(out, strings.TrimPrefix(t.Name, name+"/")+statusNote(t.Status))
		}
	}
	return out
}

func statusNote(s string) string {
	switch s {
	case stTimeout:
		return " [hung: -timeout]"
	case stNoResult:
		return " [no result]"
	}
	return ""
}

func (r *run) status(pkg, test string) string {
	if t := r.tests[key(pkg, test)]; t != nil {
		return t.Status
	}
	if pr := r.pkgs[pkg]; pr != nil && pr.Status == stSkip {
		return stSkip
	}
	return "absent"
}

func (r *run) writeLogs(dir string) error {
	base := strings.TrimSuffix(r.JSON, ".json")
	lf, err := os.Create(filepath.Join(dir, base+".log"))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(lf)
	// Reconstruct the -v output, package by package.
	for _, p := range r.pkgList {
		fmt.Fprintf(w, "##### %s\n", p)
		for _, k := range r.order {
			if t := r.tests[k]; t.Pkg == p {
				for _, l := range t.Output {
					w.WriteString(l)
				}
			}
		}
		for _, l := range r.pkgs[p].Output {
			w.WriteString(l)
		}
	}
	if len(r.raw) > 0 {
		fmt.Fprintf(w, "##### lines that were not go test -json\n%s\n", strings.Join(r.raw, "\n"))
	}
	w.Flush()
	lf.Close()

	ff, err := os.Create(filepath.Join(dir, base+".failures.txt"))
	if err != nil {
		return err
	}
	w = bufio.NewWriter(ff)
	for _, k := range r.order {
		t := r.tests[k]
		if strings.Contains(t.Name, "/") || !failed(t.Status) {
			continue
		}
		fmt.Fprintf(w, "===== %s.%s (%s)\n", short(t.Pkg), t.Name, t.Status)
		for _, l := range r.topOutput(t.Pkg, t.Name) {
			w.WriteString(l)
		}
		w.WriteString("\n")
	}
	for _, pf := range r.Counts.PkgFailures {
		fmt.Fprintf(w, "===== package %s\n", pf)
	}
	for _, p := range r.pkgList {
		if pr := r.pkgs[p]; pr.Status == stFail {
			fmt.Fprintf(w, "===== package output of %s\n", p)
			for _, l := range pr.Output {
				w.WriteString(l)
			}
		}
	}
	w.Flush()
	return ff.Close()
}

// Diff is what a pooler target got compared with the direct run.
type Diff struct {
	PoolerOnly      []Finding // failed through the pooler, passed directly
	NotRunDirectly  []Finding // failed through the pooler, skipped or absent directly
	FailBoth        int       // failed both ways
	PassPoolerOnly  []string  // passed (or skipped) through the pooler, failed directly
	PkgFailuresOnly []string  // package-level failures only through the pooler
	Slower          []string  // passed both ways, but much slower through the pooler
	NotRun          []string  // ran directly, never started through the pooler
}

// Finding is one top-level test.
type Finding struct {
	Test       string   // pkg.TestName
	Status     string   // through the pooler
	Direct     string   // directly
	Subtests   []string `json:",omitempty"`
	Excerpt    string   `json:",omitempty"`
	AllSubtest int      `json:",omitempty"` // failed subtests in all
	Note       string   `json:",omitempty"`
	Confirm    string   `json:",omitempty"` // the test run again alone

	pkg, name string
}

// knownForPgbouncer holds the lib/pq tests that skip themselves, or some
// of their subtests, when run through PgBouncer (pqtest.SkipPgbouncer):
// "pkg.TestName" as short() prints it.
var knownForPgbouncer = map[string]bool{}

var funcRe = regexp.MustCompile(`^func ((?:Test|Example)\w*)\(`)

func readPgbouncerSkips(dir string) {
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, filepath.Dir(path))
		pkg := "pq"
		if rel != "." {
			pkg = filepath.ToSlash(rel)
		}
		cur := ""
		for _, l := range strings.Split(string(b), "\n") {
			if m := funcRe.FindStringSubmatch(l); m != nil {
				cur = m[1]
			} else if strings.HasPrefix(l, "func ") {
				cur = ""
			}
			if cur != "" && (strings.Contains(l, "SkipPgbouncer(") || strings.Contains(l, "Pgbouncer()")) {
				knownForPgbouncer[pkg+"."+cur] = true
			}
		}
		return nil
	})
}

type slowTest struct {
	name           string
	direct, pooler float64
}

func compare(direct, r *run) Diff {
	var d Diff
	var slow []slowTest
	for _, k := range r.order {
		t := r.tests[k]
		if strings.Contains(t.Name, "/") {
			continue
		}
		ds := direct.status(t.Pkg, t.Name)
		if !failed(t.Status) {
			if failed(ds) {
				d.PassPoolerOnly = append(d.PassPoolerOnly, short(t.Pkg)+"."+t.Name)
			}
			if dt := direct.tests[k]; t.Status == stPass && dt != nil && dt.Status == stPass &&
				t.Elapsed-dt.Elapsed >= 3 && t.Elapsed >= 3*dt.Elapsed {
				slow = append(slow, slowTest{short(t.Pkg) + "." + t.Name, dt.Elapsed, t.Elapsed})
			}
			continue
		}
		if failed(ds) {
			d.FailBoth++
			continue
		}
		subs := r.failedSubtests(t.Pkg, t.Name)
		f := Finding{Test: short(t.Pkg) + "." + t.Name, Status: t.Status, Direct: ds, pkg: t.Pkg, name: t.Name,
			Excerpt: excerpt(r.topOutput(t.Pkg, t.Name)), AllSubtest: len(subs)}
		if len(subs) > 8 {
			subs = append(subs[:8], fmt.Sprintf("... %d more", len(subs)-8))
		}
		f.Subtests = subs
		if strings.HasPrefix(r.Suite, "pq") && knownForPgbouncer[f.Test] {
			f.Note = "lib/pq skips it, or part of it, for PgBouncer"
		}
		if ds == stPass {
			d.PoolerOnly = append(d.PoolerOnly, f)
		} else {
			d.NotRunDirectly = append(d.NotRunDirectly, f)
		}
	}
	for _, k := range direct.order {
		t := direct.tests[k]
		if !strings.Contains(t.Name, "/") && t.Status != stSkip && r.tests[k] == nil {
			d.NotRun = append(d.NotRun, short(t.Pkg)+"."+t.Name)
		}
	}
	sort.SliceStable(slow, func(i, j int) bool {
		return slow[i].pooler-slow[i].direct > slow[j].pooler-slow[j].direct
	})
	for _, s := range slow {
		d.Slower = append(d.Slower, fmt.Sprintf("%s %.1fs (direct %.1fs)", s.name, s.pooler, s.direct))
	}
	// "pkg (why)": the same package failing directly for another reason
	// does not count as a pooler-only failure.
	pkgOf := func(s string) string { return strings.SplitN(s, " (", 2)[0] }
	directPkgFail := map[string]bool{}
	for _, p := range direct.Counts.PkgFailures {
		directPkgFail[pkgOf(p)] = true
	}
	for _, p := range r.Counts.PkgFailures {
		if !directPkgFail[pkgOf(p)] {
			d.PkgFailuresOnly = append(d.PkgFailuresOnly, p)
		}
	}
	return d
}

func main() {
	dir := flag.String("dir", "", "results directory written by run.sh")
	culprits := flag.Bool("culprits", false, "print the packages to rerun and the tests to skip")
	pqSrc := flag.String("pqsrc", "", "lib/pq sources, to mark the tests it skips for PgBouncer")
	confirmList := flag.Bool("confirm-list", false, "with -dir: print the pooler-only failures to run again alone")
	flag.Parse()
	if *pqSrc != "" {
		readPgbouncerSkips(*pqSrc)
	}
	if *culprits {
		if err := printCulprits(flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: go run report.go -dir RESULTS_DIR [-confirm-list] | -culprits FILE...")
		os.Exit(2)
	}
	runs, err := readRuns(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *confirmList {
		var ok []*run
		for _, r := range runs {
			if err := readRun(r, *dir); err == nil {
				r.count()
				ok = append(ok, r)
			}
		}
		printConfirmList(ok, *dir)
		return
	}
	type suiteOut struct {
		Suite string
		Runs  []*run
		Diffs map[string]Diff
	}
	var suites []*suiteOut
	bySuite := map[string]*suiteOut{}
	for _, r := range runs {
		if err := readRun(r, *dir); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", r.JSON, err)
			continue
		}
		r.count()
		if err := r.writeLogs(*dir); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", r.JSON, err)
		}
		s := bySuite[r.Suite]
		if s == nil {
			s = &suiteOut{Suite: r.Suite, Diffs: map[string]Diff{}}
			bySuite[r.Suite] = s
			suites = append(suites, s)
		}
		s.Runs = append(s.Runs, r)
	}

	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	p := func(format string, a ...any) { fmt.Fprintf(out, format, a...) }

	p("Driver suites: direct to PostgreSQL vs through the pooler\n")
	p("(top = top-level tests; all = top-level tests and subtests; failed includes hung and unfinished)\n\n")
	p("%-10s %-12s %6s | %5s %5s %5s | %6s %5s %5s | %s\n", "suite", "target", "secs", "top✓", "top✗", "top-", "all✓", "all✗", "all-", "notes")
	for _, s := range suites {
		for _, r := range s.Runs {
			c := r.Counts
			var notes []string
			if r.Exit == 124 || r.Exit == 137 {
				notes = append(notes, "RUN_TIMEOUT: killed")
			}
			if r.PoolerDied {
				notes = append(notes, "POOLER DIED")
			}
			if n := len(c.Timeouts); n > 0 {
				notes = append(notes, fmt.Sprintf("%d hung", n))
			}
			if n := len(c.NoResult); n > 0 {
				notes = append(notes, fmt.Sprintf("%d unfinished", n))
			}
			if n := len(c.PkgFailures); n > 0 {
				notes = append(notes, fmt.Sprintf("%d package failures", n))
			}
			if len(r.Reruns) > 0 {
				notes = append(notes, "reran "+strings.Join(shortAll(r.Reruns), ", ")+" without the hung/panicked tests")
			}
			if len(r.raw) > 0 && c.AllPass+c.AllFail+c.AllSkip == 0 {
				notes = append(notes, "no test ran: see "+strings.TrimSuffix(r.JSON, ".json")+".log/.stderr")
			}
			p("%-10s %-12s %6d | %5d %5d %5d | %6d %5d %5d | %s\n", r.Suite, r.Target, r.Seconds,
				c.TopPass, c.TopFail, c.TopSkip, c.AllPass, c.AllFail, c.AllSkip, strings.Join(notes, ", "))
		}
	}

	for _, s := range suites {
		var direct *run
		for _, r := range s.Runs {
			if r.Target == "direct" {
				direct = r
			}
		}
		for _, r := range s.Runs {
			c := r.Counts
			if r.Target == "direct" {
				p("\n== %s direct: %d top-level tests failed directly (baseline; see %s.failures.txt)\n",
					s.Suite, c.TopFail, strings.TrimSuffix(r.JSON, ".json"))
				listFailed(p, r, 25)
				continue
			}
			if direct == nil {
				p("\n== %s %s: no direct run to compare with; failed top-level tests:\n", s.Suite, r.Target)
				listFailed(p, r, 1000)
				continue
			}
			d := compare(direct, r)
			pt := readTallies(filepath.Join(*dir, r.Suite+"-"+r.Target+".confirm.json"))
			dt := readTallies(filepath.Join(*dir, r.Suite+"-direct.confirm-"+r.Target+".json"))
			for i := range d.PoolerOnly {
				f := &d.PoolerOnly[i]
				if f.Status == stFail {
					f.Confirm = confirmNote(pt, dt, key(f.pkg, f.name))
				}
			}
			s.Diffs[r.Target] = d
			p("\n== %s %s: %d fail only through the pooler", s.Suite, r.Target, len(d.PoolerOnly))
			p(" (+%d not run directly, %d fail both ways, %d pass only through the pooler, %d not started through the pooler)\n",
				len(d.NotRunDirectly), d.FailBoth, len(d.PassPoolerOnly), len(d.NotRun))
			if r.PoolerDied {
				p("   !! the pooler process died during this run (restarted for the next)\n")
			}
			if r.LogTo > r.LogFrom {
				p("   pooler log: odyssey-%s.log lines %d-%d\n", r.Target, r.LogFrom+1, r.LogTo)
			}
			for _, f := range d.PoolerOnly {
				printFinding(p, f)
			}
			for _, pf := range d.PkgFailuresOnly {
				p("   %s [package-level failure]\n", pf)
			}
			if len(d.NotRunDirectly) > 0 {
				p("   -- failed through the pooler, skipped or absent directly:\n")
				for _, f := range d.NotRunDirectly {
					printFinding(p, f)
				}
			}
			if len(d.PassPoolerOnly) > 0 {
				p("   -- passed through the pooler but failed directly (flaky?): %s\n", strings.Join(d.PassPoolerOnly, ", "))
			}
			if n := len(d.NotRun); n > 0 {
				show := d.NotRun
				if n > 10 {
					show = show[:10]
				}
				p("   -- ran directly, but never started through the pooler (%d): %s", n, strings.Join(show, ", "))
				if n > 10 {
					p(", ...")
				}
				p("\n")
			}
			if n := len(d.Slower); n > 0 {
				show := d.Slower
				if n > 8 {
					show = show[:8]
				}
				p("   -- passed, but at least 3x and 3s slower through the pooler (%d): %s", n, strings.Join(show, ", "))
				if n > 8 {
					p(", ...")
				}
				p("\n")
			}
		}
	}

	// summary.json for scripts.
	type jsonRun struct {
		Suite, Target string
		Seconds, Exit int
		PoolerDied    bool
		Counts        Counts
		Diff          *Diff `json:",omitempty"`
	}
	var js []jsonRun
	for _, s := range suites {
		for _, r := range s.Runs {
			jr := jsonRun{Suite: r.Suite, Target: r.Target, Seconds: r.Seconds, Exit: r.Exit, PoolerDied: r.PoolerDied, Counts: r.Counts}
			if d, ok := s.Diffs[r.Target]; ok {
				jr.Diff = &d
			}
			js = append(js, jr)
		}
	}
	if b, err := json.MarshalIndent(js, "", "  "); err == nil {
		os.WriteFile(filepath.Join(*dir, "summary.json"), append(b, '\n'), 0o644)
	}
}

func printFinding(p func(string, ...any), f Finding) {
	note := ""
	switch f.Status {
	case stTimeout:
		note = " [HUNG: -timeout fired]"
	case stNoResult:
		note = " [NO RESULT: crash or kill]"
	}
	direct := ""
	if f.Direct != stPass {
		direct = " (direct: " + f.Direct + ")"
	}
	if f.Note != "" {
		direct += " [" + f.Note + "]"
	}
	p("   %s%s%s\n", f.Test, note, direct)
	if len(f.Subtests) > 0 {
		p("       failed subtests (%d): %s\n", f.AllSubtest, strings.Join(f.Subtests, "; "))
	}
	if f.Excerpt != "" {
		p("       %s\n", f.Excerpt)
	}
	if f.Confirm != "" {
		p("       (%s)\n", f.Confirm)
	}
}

func listFailed(p func(string, ...any), r *run, max int) {
	var names []string
	for _, k := range r.order {
		t := r.tests[k]
		if !strings.Contains(t.Name, "/") && failed(t.Status) {
			names = append(names, short(t.Pkg)+"."+t.Name+statusNote(t.Status))
		}
	}
	sort.Strings(names)
	for i, n := range names {
		if i == max {
			p("   ... %d more\n", len(names)-max)
			break
		}
		p("   %s\n", n)
	}
	for _, pf := range r.Counts.PkgFailures {
		p("   %s [package-level failure]\n", pf)
	}
}

func readRuns(dir string) ([]*run, error) {
	b, err := os.ReadFile(filepath.Join(dir, "runs.tsv"))
	if err != nil {
		return nil, err
	}
	var runs []*run
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 || len(f) < 8 {
			continue
		}
		atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
		runs = append(runs, &run{Suite: f[0], Target: f[1], JSON: f[2], Exit: atoi(f[3]), Seconds: atoi(f[4]),
			LogFrom: atoi(f[5]), LogTo: atoi(f[6]), PoolerDied: f[7] == "yes"})
	}
	return runs, nil
}
