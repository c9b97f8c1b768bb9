package integration

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// logClientID is the id the pooler gives a client.
var logClientID = regexp.MustCompile(`\bc[0-9a-f]{12}\b`)

// logRejectConf routes only database "app": other databases are rejected.
const logRejectConf = `
database "app" {
	user default {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size 2
	}
}
`

// logIDOf returns the client id in a pooler error sent to a client.
func logIDOf(t *testing.T, err error) string {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("not a server error: %v", err)
	}
	id := logClientID.FindString(pe.Message)
	if id == "" || !strings.HasPrefix(pe.Message, "odyssey: "+id+": ") {
		t.Fatalf("error message %q does not start with odyssey: <client id>:", pe.Message)
	}
	return id
}

// logLinesWith returns the lines of text holding every one of words.
func logLinesWith(text string, words ...string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		ok := l != ""
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// TestLogSessionAndQueryText: log_session and log_query lines in the text
// log, each with the client id.
func TestLogSessionAndQueryText(t *testing.T) {
	p := startPooler(t, baseConf+"log_session yes\nlog_query yes\n"+logRejectConf)
	ctx := ctxTimeout(t, 30*time.Second)
	c := p.connect(plainUser, plainUser, "")
	mustExec(t, c, "select 'text_log_marker_1'")
	login := logLinesWith(p.logs.String(), `msg="client logged in"`)
	if len(login) != 1 {
		t.Fatalf("want one login line, got %q", login)
	}
	id := logClientID.FindString(login[0])
	if id == "" || !strings.Contains(login[0], "client="+id) {
		t.Fatalf("login line without client id: %q", login[0])
	}
	for _, w := range []string{"db=" + plainUser, "user=" + plainUser} {
		if !strings.Contains(login[0], w) {
			t.Errorf("login line lacks %s: %q", w, login[0])
		}
	}
	// The query is logged before it is forwarded: it is there by now.
	if q := logLinesWith(p.logs.String(), "text_log_marker_1", "client="+id); len(q) != 1 {
		t.Errorf("want one query line with client=%s, got %q", id, q)
	}
	c.Close(ctx)
	waitFor(t, 10*time.Second, "the disconnect line", func() bool {
		return len(logLinesWith(p.logs.String(), `msg="client disconnected"`, "client="+id)) == 1
	})
}

// TestLogSessionAndQueryOff: with log_session no and log_query no there are
// no login or query lines; a rule's log_query yes turns query logging on
// for that rule only.
func TestLogSessionAndQueryOff(t *testing.T) {
	p := startPooler(t, baseConf+"log_session no\nlog_query no\n"+`
database "app" {
	user default {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size 2
	}
}
database "otherdb" {
	user default {
		authentication "none"
		storage "pg"
		pool "transaction"
		pool_size 2
		log_query yes
	}
}
`)
	c := p.connect(plainUser, plainUser, "")
	mustExec(t, c, "select 'quiet_marker'")
	logs := p.logs.String()
	if l := logLinesWith(logs, "client logged in"); len(l) != 0 {
		t.Errorf("log_session no, yet: %q", l)
	}
	if l := logLinesWith(logs, "quiet_marker"); len(l) != 0 {
		t.Errorf("log_query no, yet: %q", l)
	}
	o := p.connect(plainUser, otherDB, "")
	mustExec(t, o, "select 'rule_log_query_marker'")
	if l := logLinesWith(p.logs.String(), "rule_log_query_marker"); len(l) != 1 {
		t.Errorf("rule log_query yes: want one query line, got %q", l)
	}
}

// TestLogClientIDInErrors: an error the pooler sends a client names the
// client's id, and the log line about it names the same id: before login
// (no route) and after (protocol violation).
func TestLogClientIDInErrors(t *testing.T) {
	p := startPooler(t, baseConf+"log_session yes\n"+logRejectConf)
	_, err := p.tryConnect(plainUser, "nosuchdb", "", nil)
	if err == nil {
		t.Fatal("connected to a database without a route")
	}
	if sqlState(err) != "3D000" {
		t.Errorf("got %v, want 3D000", err)
	}
	id := logIDOf(t, err)
	waitFor(t, 10*time.Second, "a log line about "+id, func() bool {
		return len(logLinesWith(p.logs.String(), "client="+id, "3D000")) > 0
	})

	r := p.raw(t)
	r.write(startupPacket(proto30, "user", plainUser, "database", plainUser))
	r.readGreeting()
	r.write([]byte{'Y', 0, 0, 0, 4})
	e := r.readUntilClosed(5 * time.Second)
	if e == nil || e.Code != "08P01" {
		t.Fatalf("got %s, want 08P01", startupErrText(e))
	}
	id2 := logClientID.FindString(e.Message)
	if id2 == "" || !strings.HasPrefix(e.Message, "odyssey: "+id2+": ") {
		t.Fatalf("error message %q does not start with odyssey: <client id>:", e.Message)
	}
	if len(logLinesWith(p.logs.String(), `msg="client logged in"`, "client="+id2)) != 1 {
		t.Errorf("no login line for %s", id2)
	}
	waitFor(t, 10*time.Second, "the disconnect line of "+id2, func() bool {
		return len(logLinesWith(p.logs.String(), `msg="client disconnected"`, "client="+id2, "08P01")) == 1
	})
}

// odysseyBinary builds ./cmd/odyssey into a temp dir.
func odysseyBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "odyssey")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/odyssey-go/odyssey/cmd/odyssey").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// odysseyProc is the odyssey binary running a test config.
type odysseyProc struct {
	cmd    *exec.Cmd
	port   int
	dir    string
	out    *logBuffer
	done   chan struct{}
	waited error
}

func startOdysseyProc(t *testing.T, bin, conf string) *odysseyProc {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "odyssey.conf")
	if err := os.WriteFile(path, []byte(expand(conf, port, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &odysseyProc{port: port, dir: dir, out: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, path)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.waited = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("odyssey output:\n%s", p.out.String())
		}
	})
	waitFor(t, 10*time.Second, "odyssey to accept connections", func() bool {
		select {
		case <-p.done:
			t.Fatalf("odyssey exited: %v\n%s", p.waited, p.out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return p
}

// pooler returns a *pooler for the process's port, for the connect helpers.
func (o *odysseyProc) pooler(t *testing.T) *pooler {
	return &pooler{t: t, port: o.port, dir: o.dir, logs: &logBuffer{}}
}

// logRecord is one JSON log line.
type logRecord map[string]any

func (r logRecord) str(key string) string {
	s, _ := r[key].(string)
	return s
}

// readJSONLog parses every line of path as one JSON object; a line that is
// not one fails the test. Duplicate keys in an object are reported too:
// they make a record ambiguous for log processors.
func readJSONLog(t *testing.T, path string) []logRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		var rec logRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("%s:%d is not a JSON object (%v): %q", path, n, err, line)
			continue
		}
		if dup := jsonDuplicateKey(line); dup != "" {
			t.Errorf("%s:%d has key %q twice: %s", path, n, dup, line)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("%s:%d has no %q: %s", path, n, k, line)
			}
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonDuplicateKey returns a key that appears twice in one object of the
// JSON text, or "".
func jsonDuplicateKey(text string) string {
	dec := json.NewDecoder(strings.NewReader(text))
	type frame struct {
		object bool
		keys   map[string]bool
		expect bool // next string token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.object {
					top.expect = true // the container was a value
				}
				stack = append(stack, &frame{object: v == '{', keys: map[string]bool{}, expect: v == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
			}
		default:
			if top != nil && top.object {
				if top.expect {
					k, _ := v.(string)
					if top.keys[k] {
						return k
					}
					top.keys[k] = true
					top.expect = false
				} else {
					top.expect = true
				}
			}
		}
	}
}

func logFind(recs []logRecord, match func(logRecord) bool) []logRecord {
	var out []logRecord
	for _, r := range recs {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

// TestLogJSONFileAndReopen runs the binary with log_format "json" and
// log_file: every line is a JSON object; a rejected client's id is in its
// error and in the log; log_session and log_query lines are there; SIGUSR1
// reopens the file after it was renamed.
func TestLogJSONFileAndReopen(t *testing.T) {
	bin := odysseyBinary(t)
	proc := startOdysseyProc(t, bin, `
log_format "json"
log_to_stdout no
log_file "{{DIR}}/odyssey.log"
log_session yes
log_query yes
listen {
	host "127.0.0.1"
	port {{PORT}}
}
storage "pg" {
	type "remote"
	host "{{PGHOST}}"
	port {{PGPORT}}
}
`+logRejectConf)
	logPath := filepath.Join(proc.dir, "odyssey.log")
	p := proc.pooler(t)
	ctx := ctxTimeout(t, 30*time.Second)

	// A rejected client.
	_, err := p.tryConnect(plainUser, "nosuchdb", "", nil)
	if err == nil {
		t.Fatal("connected to a database without a route")
	}
	rejected := logIDOf(t, err)

	// A client that logs in, queries and leaves.
	c := p.connect(plainUser, plainUser, "")
	mustExec(t, c, "select 'json_log_marker'")
	c.Close(ctx)

	var recs []logRecord
	waitFor(t, 10*time.Second, "the log lines", func() bool {
		data, _ := os.ReadFile(logPath)
		return strings.Contains(string(data), rejected) &&
			strings.Contains(string(data), "json_log_marker") &&
			strings.Contains(string(data), "client disconnected")
	})
	recs = readJSONLog(t, logPath)

	about := logFind(recs, func(r logRecord) bool { return r.str("client") == rejected })
	if len(about) == 0 {
		t.Errorf("no log record with client %q", rejected)
	}
	for _, r := range about {
		if !strings.Contains(fmt.Sprint(r), "3D000") && !strings.Contains(fmt.Sprint(r), "not found") {
			t.Errorf("record about %s does not say why: %v", rejected, r)
		}
	}

	queries := logFind(recs, func(r logRecord) bool { return strings.Contains(r.str("query"), "json_log_marker") })
	if len(queries) != 1 {
		t.Fatalf("want one query record, got %v", queries)
	}
	id := queries[0].str("client")
	if !logClientID.MatchString(id) {
		t.Fatalf("query record without client id: %v", queries[0])
	}
	if got := logFind(recs, func(r logRecord) bool { return r.str("client") == id && r.str("msg") == "client logged in" }); len(got) != 1 {
		t.Errorf("want one login record for %s, got %v", id, got)
	}
	if got := logFind(recs, func(r logRecord) bool { return r.str("client") == id && r.str("msg") == "client disconnected" }); len(got) != 1 {
		t.Errorf("want one disconnect record for %s, got %v", id, got)
	}

	// Rotation: rename, SIGUSR1, the new file appears and gets new lines.
	rotated := logPath + ".1"
	if err := os.Rename(logPath, rotated); err != nil {
		t.Fatal(err)
	}
	proc.cmd.Process.Signal(syscall.SIGUSR1)
	waitFor(t, 10*time.Second, "a new log file after SIGUSR1", func() bool {
		_, err := os.Stat(logPath)
		return err == nil
	})
	c2 := p.connect(plainUser, plainUser, "")
	mustExec(t, c2, "select 'after_rotate_marker'")
	inNew := pollUntil(10*time.Second, func() bool {
		data, _ := os.ReadFile(logPath)
		return strings.Contains(string(data), "after_rotate_marker")
	})
	old, _ := os.ReadFile(rotated)
	if !inNew {
		cur, _ := os.ReadFile(logPath)
		t.Fatalf("no new lines in the reopened log file after 10s; marker in the rotated file: %v\nnew file:\n%s",
			strings.Contains(string(old), "after_rotate_marker"), cur)
	}
	if strings.Contains(string(old), "after_rotate_marker") {
		t.Error("the rotated file still gets new lines")
	}
	if !strings.Contains(string(old), "json_log_marker") {
		t.Error("the rotated file lost its lines")
	}
	readJSONLog(t, logPath)
	readJSONLog(t, rotated)
	if out := proc.out.String(); out != "" {
		t.Errorf("log_to_stdout no, yet the process printed: %q", out)
	}
}
