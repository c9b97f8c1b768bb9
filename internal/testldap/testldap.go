// Package testldap runs a throwaway OpenLDAP server (Debian's slapd) for
// tests: a private directory with a generated slapd.conf and an mdb
// database, listening on a free port of 127.0.0.1, with the suffix
// dc=example,dc=org administered by cn=admin,dc=example,dc=org.
//
// slapd must be installed (apt-get install slapd ldap-utils; make test does
// it). A missing slapd is an error, never a reason to skip: a machine
// without it must not report LDAP tests as passed.
//
// slapd runs as the user running the tests (root included: slapd does not
// refuse it) and is killed and its directory removed by Stop.
package testldap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/odyssey-go/odyssey/internal/testpg"
)

const (
	// Suffix is the directory's base DN.
	Suffix = "dc=example,dc=org"
	// AdminDN and AdminPassword are the rootdn and its password.
	AdminDN       = "cn=admin," + Suffix
	AdminPassword = "admin-secret"
	// PeopleDN holds the users Add creates.
	PeopleDN = "ou=people," + Suffix

	readyTimeout = 30 * time.Second
	portAttempts = 5
)

// Server is a running slapd.
type Server struct {
	Host string // 127.0.0.1
	Port int
	URL  string // ldap://127.0.0.1:port

	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process exits
	log  *os.File

	stopOnce sync.Once
}

// Binary returns the path of slapd, or an error that says how to get it.
func Binary() (string, error) {
	if p, err := exec.LookPath("slapd"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/slapd", "/usr/local/sbin/slapd", "/usr/libexec/slapd"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("testldap: slapd (OpenLDAP) is not installed; the LDAP tests need it: " +
		"apt-get install -y slapd ldap-utils (as make test does when it runs as root, see scripts/test-deps.sh)")
}

// modulePath finds the directory with back_mdb.
func modulePath() string {
	for _, p := range []string{"/usr/lib/ldap", "/usr/lib/openldap", "/usr/lib64/openldap", "/usr/local/libexec/openldap"} {
		if _, err := os.Stat(filepath.Join(p, "back_mdb.so")); err == nil {
			return p
		}
	}
	return ""
}

// schemaDir finds the schema files.
func schemaDir() string {
	for _, p := range []string{"/etc/ldap/schema", "/etc/openldap/schema", "/usr/local/etc/openldap/schema"} {
		if _, err := os.Stat(filepath.Join(p, "core.schema")); err == nil {
			return p
		}
	}
	return "/etc/ldap/schema"
}

// Start runs a new slapd with the base entries (the suffix and
// ou=people) in place.
func Start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testldap-")
	if err != nil {
		return nil, fmt.Errorf("testldap: %w", err)
	}
	s := &Server{Host: "127.0.0.1", dir: dir}
	if err := s.launch(bin); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.seed(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// config returns slapd.conf for the server's directory.
func (s *Server) config() string {
	schemas := schemaDir()
	var b strings.Builder
	for _, f := range []string{"core", "cosine", "nis", "inetorgperson"} {
		fmt.Fprintf(&b, "include %s/%s.schema\n", schemas, f)
	}
	if mp := modulePath(); mp != "" {
		fmt.Fprintf(&b, "modulepath %s\nmoduleload back_mdb\n", mp)
	}
	fmt.Fprintf(&b, "pidfile %s\n", filepath.Join(s.dir, "slapd.pid"))
	fmt.Fprintf(&b, "argsfile %s\n", filepath.Join(s.dir, "slapd.args"))
	b.WriteString("database mdb\n")
	fmt.Fprintf(&b, "suffix %q\n", Suffix)
	fmt.Fprintf(&b, "rootdn %q\n", AdminDN)
	fmt.Fprintf(&b, "rootpw %s\n", AdminPassword)
	fmt.Fprintf(&b, "directory %s\n", filepath.Join(s.dir, "data"))
	b.WriteString("maxsize 16777216\n")
	// Anyone may search (as in most directories that do search+bind) and
	// bind; nobody but the root may read passwords.
	b.WriteString("access to attrs=userPassword by anonymous auth by self write by * none\n")
	b.WriteString("access to * by * read\n")
	return b.String()
}

// launch writes the config and starts slapd on a free port, retrying on
// another port if the chosen one was taken meanwhile.
func (s *Server) launch(bin string) error {
	if err := os.Mkdir(filepath.Join(s.dir, "data"), 0o700); err != nil {
		return fmt.Errorf("testldap: %w", err)
	}
	conf := filepath.Join(s.dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(s.config()), 0o600); err != nil {
		return fmt.Errorf("testldap: %w", err)
	}
	logFile, err := os.Create(filepath.Join(s.dir, "slapd.log"))
	if err != nil {
		return fmt.Errorf("testldap: %w", err)
	}
	s.log = logFile
	var lastErr error
	for range portAttempts {
		port, err := testpg.FreePort()
		if err != nil {
			return fmt.Errorf("testldap: %w", err)
		}
		s.Port = port
		s.URL = "ldap://" + net.JoinHostPort(s.Host, strconv.Itoa(port))
		// -d 0: stay in the foreground (so we own the process) with no
		// debug output; errors still go to stderr.
		cmd := exec.Command(bin, "-f", conf, "-h", s.URL+"/", "-d", "0")
		cmd.Stdout = logFile
		cmd.Stderr = logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("testldap: start %s: %w", bin, err)
		}
		s.cmd = cmd
		s.done = make(chan struct{})
		go func() {
			cmd.Wait()
			close(s.done)
		}()
		if lastErr = s.waitReady(); lastErr == nil {
			return nil
		}
		s.kill()
	}
	return fmt.Errorf("testldap: slapd did not start: %w\nslapd log:\n%s", lastErr, s.logTail())
}

// waitReady waits until slapd accepts a bind as the admin, or exits.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		select {
		case <-s.done:
			return errors.New("slapd exited")
		default:
		}
		c, err := s.Admin()
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(delay)
	}
}

// Admin returns a connection bound as the rootdn; the caller closes it.
func (s *Server) Admin() (*ldap.Conn, error) {
	c, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(10 * time.Second)
	if err := c.Bind(AdminDN, AdminPassword); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// seed adds the suffix entry and ou=people.
func (s *Server) seed() error {
	c, err := s.Admin()
	if err != nil {
		return fmt.Errorf("testldap: %w", err)
	}
	defer c.Close()
	root := ldap.NewAddRequest(Suffix, nil)
	root.Attribute("objectClass", []string{"dcObject", "organization"})
	root.Attribute("dc", []string{"example"})
	root.Attribute("o", []string{"Example"})
	people := ldap.NewAddRequest(PeopleDN, nil)
	people.Attribute("objectClass", []string{"organizationalUnit"})
	people.Attribute("ou", []string{"people"})
	for _, r := range []*ldap.AddRequest{root, people} {
		if err := c.Add(r); err != nil {
			return fmt.Errorf("testldap: add %s: %w", r.DN, err)
		}
	}
	return nil
}

// User describes an entry AddUser creates under ou=people.
type User struct {
	UID      string // the RDN: uid=<UID>,ou=people,...
	Password string
	// Mail and Groups are extra attributes, for ldapsearchattribute and
	// ldapsearchfilter tests (Groups are stored as businessCategory).
	Mail   string
	Groups []string
}

// DN returns the DN AddUser gives u.
func (u User) DN() string { return "uid=" + ldap.EscapeDN(u.UID) + "," + PeopleDN }

// AddUser creates an inetOrgPerson entry.
func (s *Server) AddUser(u User) error {
	c, err := s.Admin()
	if err != nil {
		return fmt.Errorf("testldap: %w", err)
	}
	defer c.Close()
	r := ldap.NewAddRequest(u.DN(), nil)
	r.Attribute("objectClass", []string{"inetOrgPerson"})
	r.Attribute("uid", []string{u.UID})
	r.Attribute("cn", []string{u.UID})
	r.Attribute("sn", []string{u.UID})
	r.Attribute("userPassword", []string{u.Password})
	if u.Mail != "" {
		r.Attribute("mail", []string{u.Mail})
	}
	if len(u.Groups) > 0 {
		r.Attribute("businessCategory", u.Groups)
	}
	if err := c.Add(r); err != nil {
		return fmt.Errorf("testldap: add %s: %w", u.DN(), err)
	}
	return nil
}

// Stop kills slapd and removes its directory. It is safe to call twice.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.kill()
		if s.log != nil {
			s.log.Close()
		}
		os.RemoveAll(s.dir)
	})
}

// kill stops the process and waits for it (slapd needs no graceful stop:
// the database is thrown away).
func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "slapd.log"))
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}
