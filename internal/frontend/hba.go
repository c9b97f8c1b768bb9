package frontend

import (
	"fmt"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/hba"
	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// checkHBA applies hba_file before anything else looks at the user:
// before routing, so that a rejection reads the same whether or not the
// user has a rule. No hba_file: everyone may go on to authenticate.
func (s *session) checkHBA(cfg *config.Config, db, user string) error {
	if cfg.HBA == nil {
		return nil
	}
	ci := s.connInfo()
	ok, line := cfg.HBA.Allowed(hba.Conn{Addr: ci.Addr, TLS: ci.TLS, Database: db, User: user})
	if ok {
		return nil
	}
	// PostgreSQL's words and SQLSTATE (28000, not 28P01: nothing says the
	// password was wrong), which drivers and their users know.
	host, enc := "[local]", "no encryption"
	if ci.Addr.IsValid() {
		host = ci.Addr.String()
	}
	if ci.TLS {
		enc = "SSL encryption"
	}
	what := fmt.Sprintf("host %q, user %q, database %q, %s", host, user, db, enc)
	if line == 0 {
		s.log.Info("no hba_file line matches the client")
		return pgwire.Fatal(pgwire.CodeInvalidAuthorization, "no pg_hba.conf entry for "+what)
	}
	s.log.Info("hba_file rejects the client", "hba_line", line)
	return pgwire.Fatal(pgwire.CodeInvalidAuthorization, "pg_hba.conf rejects connection for "+what)
}
