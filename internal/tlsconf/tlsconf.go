// Package tlsconf turns the tls* keywords of listen and storage blocks into
// crypto/tls configurations, and keeps the certificates and keys they name
// current.
//
// A Store is process-wide and outlives config reloads. It hands out one
// *Server (listen side) or *Client (storage side) per distinct set of
// options; each holds its material behind an atomic pointer. Reload re-reads
// every file in use and swaps the pointers, so connections opened afterwards
// use the new certificate while open ones keep the one they were made with:
// nothing is dropped. A file that fails to load keeps the old material and
// makes Reload return an error naming it.
//
// Modes follow Odyssey on the listen side (verify_ca and verify_full both
// require a client certificate signed by tls_ca_file) and libpq on the
// storage side (prefer tries TLS first, allow tries plain text first,
// require encrypts without checking the server unless tls_ca_file is set,
// verify_ca checks the chain, verify_full also the host name).
package tlsconf

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/odyssey-go/odyssey/internal/config"
)

// Mode is the `tls` keyword.
type Mode int

const (
	Disable Mode = iota
	Allow
	Prefer
	Require
	VerifyCA
	VerifyFull
)

var modeNames = map[string]Mode{
	"": Disable, "disable": Disable, "allow": Allow, "prefer": Prefer,
	"require": Require, "verify_ca": VerifyCA, "verify_full": VerifyFull,
}

// ParseMode reads a `tls` value; empty means disable.
func ParseMode(s string) (Mode, error) {
	m, ok := modeNames[strings.ToLower(s)]
	if !ok {
		return Disable, fmt.Errorf("unknown tls mode %q", s)
	}
	return m, nil
}

func (m Mode) String() string {
	switch m {
	case Allow:
		return "allow"
	case Prefer:
		return "prefer"
	case Require:
		return "require"
	case VerifyCA:
		return "verify_ca"
	case VerifyFull:
		return "verify_full"
	default:
		return "disable"
	}
}

// Store owns the TLS material of the process. The zero value is not
// usable; call NewStore.
type Store struct {
	mu      sync.Mutex
	servers map[config.TLSOptions]*Server
	clients map[config.TLSOptions]*Client
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		servers: make(map[config.TLSOptions]*Server),
		clients: make(map[config.TLSOptions]*Client),
	}
}

// Server returns the listen-side TLS for o, loading its files on first
// use. It returns nil and no error when o disables TLS.
func (st *Store) Server(o config.TLSOptions) (*Server, error) {
	mode, err := ParseMode(o.Mode)
	if err != nil || mode == Disable {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if s := st.servers[o]; s != nil {
		return s, nil
	}
	m, err := loadServer(mode, o)
	if err != nil {
		return nil, err
	}
	s := &Server{Mode: mode, opts: o}
	s.cur.Store(m)
	st.servers[o] = s
	return s, nil
}

// Client returns the storage-side TLS for o, loading its files on first
// use. It returns nil and no error when o disables TLS.
func (st *Store) Client(o config.TLSOptions) (*Client, error) {
	mode, err := ParseMode(o.Mode)
	if err != nil || mode == Disable {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if c := st.clients[o]; c != nil {
		return c, nil
	}
	conf, err := loadClient(mode, o)
	if err != nil {
		return nil, err
	}
	c := &Client{Mode: mode}
	c.conf.Store(conf)
	st.clients[o] = c
	return c, nil
}

// Check loads the TLS material of every listen and storage block of cfg,
// so that a bad file stops a start or a reload instead of failing clients
// later. What it loads stays in the store for use. When everything loads,
// the store forgets the settings cfg no longer names, so that Reload does
// not keep re-reading (and complaining about) files of an old config.
// Connections made with forgotten material are not affected.
func (st *Store) Check(cfg *config.Config) error {
	var errs []error
	servers := map[config.TLSOptions]bool{}
	clients := map[config.TLSOptions]bool{}
	for _, l := range cfg.Listen {
		servers[l.TLS] = true
		if _, err := st.Server(l.TLS); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: listen tls: %w", l.Pos.File, l.Pos.Line, err))
		}
	}
	for _, s := range cfg.Storages {
		if s.Type != config.StorageRemote {
			continue
		}
		clients[s.TLS] = true
		if _, err := st.Client(s.TLS); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: storage %q tls: %w", s.Pos.File, s.Pos.Line, s.Name, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for o := range st.servers {
		if !servers[o] {
			delete(st.servers, o)
		}
	}
	for o := range st.clients {
		if !clients[o] {
			delete(st.clients, o)
		}
	}
	return nil
}

// Reload re-reads the certificates, keys and CA files of everything the
// store has handed out. Material that loads replaces the old for new
// connections; material that fails keeps the old and is reported. Open
// connections are not touched either way.
func (st *Store) Reload() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	var errs []error
	for o, s := range st.servers {
		m, err := loadServer(s.Mode, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("reload listen tls (cert %q): %w", o.CertFile, err))
			continue
		}
		s.cur.Store(m)
	}
	for o, c := range st.clients {
		conf, err := loadClient(c.Mode, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("reload storage tls (ca %q, cert %q): %w", o.CAFile, o.CertFile, err))
			continue
		}
		c.conf.Store(conf)
	}
	return errors.Join(errs...)
}

// Server is the TLS of one listen configuration.
type Server struct {
	Mode Mode
	opts config.TLSOptions
	cur  atomic.Pointer[Material]
}

// Material is one loaded server certificate with everything derived from
// it. It is immutable; Reload replaces it.
type Material struct {
	Config *tls.Config
	// Binding is the tls-server-end-point channel binding data of the
	// certificate (RFC 5929), for SCRAM-SHA-256-PLUS.
	Binding []byte
}

// Current returns the material for a new connection. Use the same
// Material for the handshake and for channel binding, so that a reload in
// between cannot make them disagree.
func (s *Server) Current() *Material { return s.cur.Load() }

// RequiresClientCert reports whether the handshake demands a verified
// client certificate (verify_ca, verify_full).
func (s *Server) RequiresClientCert() bool { return s.Mode >= VerifyCA }

// Client is the TLS of one storage configuration.
type Client struct {
	Mode Mode
	conf atomic.Pointer[tls.Config]
}

// Config returns a configuration for one connection to host (a name or an
// IP address, used for SNI and, with verify_full, for checking the
// certificate).
func (c *Client) Config(host string) *tls.Config {
	conf := c.conf.Load().Clone()
	conf.ServerName = host
	return conf
}

// loadServer builds the listen-side configuration.
func loadServer(mode Mode, o config.TLSOptions) (*Material, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("tls_cert_file and tls_key_file must be set")
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	minV, maxV, err := ParseProtocols(o.Protocols)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   minV,
		MaxVersion:   maxV,
		// Large results are the case to optimise: full-size records from
		// the first byte halve the record overhead of a fresh connection
		// and cost nothing in latency for PostgreSQL's request-reply flow.
		DynamicRecordSizingDisabled: true,
		// libpq never resumes sessions, and PostgreSQL sends no tickets
		// (SSL_OP_NO_TICKET): issuing them costs a seventh of each
		// handshake and a write, for nothing.
		SessionTicketsDisabled: true,
	}
	switch {
	case o.CAFile != "":
		pool, err := loadPool(o.CAFile)
		if err != nil {
			return nil, err
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.VerifyClientCertIfGiven
		if mode >= VerifyCA {
			conf.ClientAuth = tls.RequireAndVerifyClientCert
		}
	case mode >= VerifyCA:
		return nil, fmt.Errorf("tls %q needs tls_ca_file to check client certificates", mode)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
	}
	binding, err := EndPointBinding(cert.Leaf)
	if err != nil {
		return nil, err
	}
	return &Material{Config: conf, Binding: binding}, nil
}

// loadClient builds the storage-side configuration; ServerName is set per
// connection by Client.Config.
func loadClient(mode Mode, o config.TLSOptions) (*tls.Config, error) {
	minV, maxV, err := ParseProtocols(o.Protocols)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{MinVersion: minV, MaxVersion: maxV}
	if o.CertFile != "" || o.KeyFile != "" {
		if o.CertFile == "" || o.KeyFile == "" {
			return nil, errors.New("a client certificate needs both tls_cert_file and tls_key_file")
		}
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	var roots *x509.CertPool
	if o.CAFile != "" {
		if roots, err = loadPool(o.CAFile); err != nil {
			return nil, err
		}
	}
	conf.RootCAs = roots
	switch {
	case mode == VerifyFull:
		// crypto/tls checks the chain and ServerName.
	case mode == VerifyCA || (mode == Require && roots != nil):
		// libpq: require with a root certificate behaves as verify-ca.
		// crypto/tls has no "chain but not name" switch: skip its check
		// and verify the chain ourselves.
		conf.InsecureSkipVerify = true
		conf.VerifyConnection = verifyChain(roots)
	default:
		// allow, prefer, require without a CA: encryption only, as libpq.
		conf.InsecureSkipVerify = true
	}
	return conf, nil
}

// verifyChain checks the server's certificate chain against roots (the
// system pool when nil), ignoring the host name.
func verifyChain(roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: server sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			return fmt.Errorf("tls: verify server certificate: %w", err)
		}
		return nil
	}
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tls_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls_ca_file %q holds no PEM certificate", path)
	}
	return pool, nil
}

// protocolVersions maps the names tls_protocols accepts (libtls's, which
// Odyssey documents, with "." or "_" between digits) to versions.
var protocolVersions = map[string]uint16{
	"tlsv1": tls.VersionTLS10, "tlsv1.0": tls.VersionTLS10, "tlsv1_0": tls.VersionTLS10,
	"tlsv1.1": tls.VersionTLS11, "tlsv1_1": tls.VersionTLS11,
	"tlsv1.2": tls.VersionTLS12, "tlsv1_2": tls.VersionTLS12,
	"tlsv1.3": tls.VersionTLS13, "tlsv1_3": tls.VersionTLS13,
}

// protocolGroups are libtls's shorthands.
var protocolGroups = map[string][]uint16{
	"all":     {tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13},
	"legacy":  {tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13},
	"secure":  {tls.VersionTLS12, tls.VersionTLS13},
	"default": {tls.VersionTLS12, tls.VersionTLS13},
}

// ParseProtocols reads tls_protocols: versions and groups separated by
// commas, colons or spaces, a "!" in front removing one, e.g. "tlsv1.2,
// tlsv1.3" or "all,!tlsv1.0,!tlsv1.1". Empty means TLS 1.2 and 1.3. The
// result must be a contiguous range, since crypto/tls only has a minimum
// and a maximum.
func ParseProtocols(s string) (minV, maxV uint16, err error) {
	fields := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return r == ',' || r == ':' || r == ' ' || r == '\t'
	})
	if len(fields) == 0 {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	set := map[uint16]bool{}
	for _, f := range fields {
		neg := strings.HasPrefix(f, "!")
		name := strings.TrimPrefix(f, "!")
		vs, ok := protocolGroups[name]
		if !ok {
			v, ok := protocolVersions[name]
			if !ok {
				return 0, 0, fmt.Errorf("unknown TLS protocol %q in tls_protocols (use tlsv1.0 to tlsv1.3, all, secure)", f)
			}
			vs = []uint16{v}
		}
		for _, v := range vs {
			set[v] = !neg
		}
	}
	for v := uint16(tls.VersionTLS10); v <= tls.VersionTLS13; v++ {
		if !set[v] {
			continue
		}
		if minV == 0 {
			minV = v
		} else if maxV != v-1 {
			return 0, 0, fmt.Errorf("tls_protocols %q leaves a gap between versions, which is not supported", s)
		}
		maxV = v
	}
	if minV == 0 {
		return 0, 0, fmt.Errorf("tls_protocols %q enables no protocol", s)
	}
	return minV, maxV, nil
}

// EndPointBinding computes the tls-server-end-point channel binding data
// of a certificate (RFC 5929 section 4.1): its hash with the hash function
// of its signature algorithm, SHA-256 when that is MD5 or SHA-1. It is
// what PostgreSQL (be_tls_get_certificate_hash) and libpq compute.
func EndPointBinding(cert *x509.Certificate) ([]byte, error) {
	if cert == nil {
		return nil, errors.New("no certificate for channel binding")
	}
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	case x509.PureEd25519:
		// RFC 5929 defines no hash for Ed25519; PostgreSQL refuses channel
		// binding with such a certificate, and so do we.
		return nil, nil
	default:
		// SHA-256 signatures, and MD5 and SHA-1 as the RFC says.
		h = sha256.New()
	}
	h.Write(cert.Raw)
	return h.Sum(nil), nil
}
