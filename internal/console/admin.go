package console

import (
	"fmt"
	"strings"

	"github.com/odyssey-go/odyssey/internal/pgwire"
)

// SQLSTATEs of the admin commands' own errors.
const (
	codeUndefinedObject = "42704" // KILL_CLIENT of an unknown client, SHOW CONFIG of an unknown key
	codeConfigFile      = "F0000" // RELOAD of an invalid config
)

// admin runs a command that changes something and returns its
// CommandComplete tag. Every one is logged: they are rare and matter.
func (s *session) admin(cmd Command) (string, error) {
	inst := s.con.inst
	log := s.client.Log.With("command", cmd.String())
	switch cmd.Kind {
	case CmdKillClient:
		if !inst.Router().KillClient(cmd.Arg) && !s.con.kill(cmd.Arg) {
			return "", &pgwire.Error{Code: codeUndefinedObject, Message: fmt.Sprintf("client %s not found", cmd.Arg),
				Hint: "SHOW CLIENTS lists the client ids."}
		}
		log.Info("console: client killed", "victim", cmd.Arg)
		return "KILL_CLIENT", nil
	case CmdReload:
		log.Info("console: RELOAD command received")
		if err := inst.Reload(); err != nil {
			return "", &pgwire.Error{Code: codeConfigFile,
				Message: "reload failed, the running config is kept: " + firstLine(err.Error()),
				Hint:    "The pooler's log lists every problem."}
		}
		return "RELOAD", nil
	case CmdPause:
		log.Info("console: pausing")
		inst.Router().Pause()
		return "PAUSE", nil
	case CmdResume:
		log.Info("console: resuming")
		inst.Router().Resume()
		return "RESUME", nil
	case CmdDropServers:
		log.Info("console: dropping every server")
		inst.Router().DropServers()
		return "DROP SERVERS", nil
	case CmdReconnect:
		log.Info("console: reconnecting servers")
		if cmd.Arg == "" {
			inst.Router().DropServers()
		} else if !inst.Router().DropServersOf(cmd.Arg) {
			return "", &pgwire.Error{Code: pgwire.CodeInvalidCatalogName,
				Message: fmt.Sprintf("no pool for database %q", cmd.Arg)}
		}
		return "RECONNECT", nil
	case CmdSet:
		// Accepted and ignored, as in Odyssey: drivers send SETs on
		// connect and must not fail.
		return "SET", nil
	case CmdShutdown:
		log.Info("console: SHUTDOWN command received")
		inst.RequestShutdown()
		return "SHUTDOWN", nil
	}
	return "", fmt.Errorf("console: command kind %d has no handler", cmd.Kind)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
