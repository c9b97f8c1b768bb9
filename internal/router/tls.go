package router

import (
	"github.com/odyssey-go/odyssey/internal/backend"
	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/tlsconf"
)

// SetTLS hands the router the process's TLS store, from which routes take
// their storages' TLS settings. The instance calls it on every router it
// builds, so that a reload re-reading the certificates (Store.Reload)
// reaches every router. A router never given one makes its own on first
// use, which reads the files then.
func (r *Router) SetTLS(s *tlsconf.Store) { r.tls.Store(s) }

// tlsStore returns the store, creating a private one if SetTLS was never
// called.
func (r *Router) tlsStore() *tlsconf.Store {
	if s := r.tls.Load(); s != nil {
		return s
	}
	r.tls.CompareAndSwap(nil, tlsconf.NewStore())
	return r.tls.Load()
}

// storageTLS returns the TLS client for a storage, nil for plain text.
func (r *Router) storageTLS(st *config.Storage) (*tlsconf.Client, error) {
	if st == nil {
		return nil, nil
	}
	return r.tlsStore().Client(st.TLS)
}

// learnable reports whether credentials proven by this route's clients
// are good for its servers: only when the servers log in as the same user.
func (rt *Route) learnable() bool { return rt.BackendUser == rt.User }

// LearnCredentials records what a client's successful authentication
// proved about its user: the SCRAM keys recovered from its proof, or the
// md5 hash its secret is, so that servers can log in without a password in
// the config (SCRAM passthrough, md5 passthrough). It does nothing when the
// route's servers log in as another user (storage_user).
func (rt *Route) LearnCredentials(c backend.Credentials) {
	if !rt.learnable() {
		return
	}
	rt.mu.Lock()
	if len(c.ClientKey) > 0 && len(c.ServerKey) > 0 {
		rt.learned.ClientKey, rt.learned.ServerKey = c.ClientKey, c.ServerKey
	}
	if c.MD5 != "" {
		rt.learned.MD5 = c.MD5
	}
	rt.mu.Unlock()
}
