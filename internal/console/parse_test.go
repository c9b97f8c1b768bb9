package console

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Command
	}{
		{"", Command{Kind: CmdEmpty}},
		{" ; ", Command{Kind: CmdEmpty}},
		{"-- nothing\n", Command{Kind: CmdEmpty}},
		{"SHOW POOLS", Command{Kind: CmdShow, Item: "pools"}},
		{"show pools;", Command{Kind: CmdShow, Item: "pools"}},
		{"Show Pools_Extended ;", Command{Kind: CmdShow, Item: "pools_extended"}},
		{"  SHOW\n\tSTATS  ", Command{Kind: CmdShow, Item: "stats"}},
		{"SHOW /* comment */ STATS -- trailing", Command{Kind: CmdShow, Item: "stats"}},
		{"SHOW CONFIG", Command{Kind: CmdShow, Item: "config"}},
		{"SHOW CONFIG workers", Command{Kind: CmdShow, Item: "config", Arg: "workers"}},
		{"SHOW CONFIG Workers;", Command{Kind: CmdShow, Item: "config", Arg: "workers"}},
		{"select * from clients", Command{Kind: CmdShow, Item: "clients"}},
		{"SHOW is_paused", Command{Kind: CmdShow, Item: "is_paused"}},
		{"KILL_CLIENT c3f1a2b4e890c", Command{Kind: CmdKillClient, Arg: "c3f1a2b4e890c"}},
		{"kill_client C3F1A2B4E890C;", Command{Kind: CmdKillClient, Arg: "c3f1a2b4e890c"}},
		{"KILL_CLIENT 'c3f1a2b4e890c'", Command{Kind: CmdKillClient, Arg: "c3f1a2b4e890c"}},
		{"RELOAD", Command{Kind: CmdReload}},
		{"pause;", Command{Kind: CmdPause}},
		{"Resume", Command{Kind: CmdResume}},
		{"DROP SERVERS", Command{Kind: CmdDropServers}},
		{"drop servers;", Command{Kind: CmdDropServers}},
		{"RECONNECT", Command{Kind: CmdReconnect}},
		{"RECONNECT appdb", Command{Kind: CmdReconnect, Arg: "appdb"}},
		{`RECONNECT "AppDB"`, Command{Kind: CmdReconnect, Arg: "AppDB"}},
		{"SHUTDOWN", Command{Kind: CmdShutdown}},
		{"shutdown wait_for_servers", Command{Kind: CmdShutdown, Arg: "wait_for_servers"}},
		{"SET key = value", Command{Kind: CmdSet, Key: "key", Value: "value"}},
		{"SET key TO value", Command{Kind: CmdSet, Key: "key", Value: "value"}},
		{"SET key = 'it''s'", Command{Kind: CmdSet, Key: "key", Value: "it's"}},
		{"SET key = 42", Command{Kind: CmdSet, Key: "key", Value: "42"}},
		{"SET key = -1", Command{Kind: CmdSet, Key: "key", Value: "-1"}},
		{"SET key TO DEFAULT", Command{Kind: CmdSet, Key: "key"}},
		{"set Extra.Float_Digits = 3;", Command{Kind: CmdSet, Key: "extra.float_digits", Value: "3"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "only SELECT * FROM"},
		{"SHOW", "expected what to show"},
		{"SHOW NOTHING", `unknown SHOW item "nothing"`},
		{"SHOW POOLS extra", "unexpected"},
		{"SHOW POOLS; SHOW STATS", "unexpected"},
		{"KILL_CLIENT", "expected a client id"},
		{"KILL_CLIENT c3f1", "invalid client id"},
		{"KILL_CLIENT c3f1a2b4e890cd", "invalid client id"},
		{"KILL_CLIENT s3f1a2b4e890c", "invalid client id"},
		{"KILL_CLIENT c3f1a2b4e890g", "invalid client id"},
		{"RELOAD extra", "unexpected"},
		{"PAUSE mydb", "unexpected"},
		{"RESUME extra", "unexpected"},
		{"SET", "expected a parameter name"},
		{"SET key", "expected = or TO"},
		{"SET key =", "expected a value"},
		{"DROP", "only DROP SERVERS"},
		{"DROP TABLE x", "only DROP SERVERS"},
		{"COMMIT", `unknown command "COMMIT"`},
		{"BEGIN", `unknown command "BEGIN"`},
		{"DISCARD ALL", `unknown command "DISCARD"`},
		{"SHOW 'pools'", "expected what to show"},
		{"SET k = 'open", "unterminated quoted string"},
		{`RECONNECT "db`, "unterminated quoted name"},
		{`RECONNECT ""`, "zero-length"},
		{"SHOW /* open", "unterminated /* comment"},
		{"SHOW POOLS !", "unexpected character"},
		{"show " + strings.Repeat("; ", 100), "too long"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q): error %v, want a ParseError", tt.in, err)
			continue
		}
		if !strings.Contains(pe.Msg, tt.want) {
			t.Errorf("Parse(%q): %q, want it to mention %q", tt.in, pe.Msg, tt.want)
		}
	}
}

// Every SHOW item the console knows parses, and String reads back.
func TestParseRoundTrip(t *testing.T) {
	var cmds []Command
	for item := range showItems {
		cmds = append(cmds, Command{Kind: CmdShow, Item: item})
	}
	cmds = append(cmds,
		Command{Kind: CmdShow, Item: "config", Arg: "Odd Key"},
		Command{Kind: CmdKillClient, Arg: "c0123456789ab"},
		Command{Kind: CmdSet, Key: "a.b", Value: "x'y"},
		Command{Kind: CmdSet, Key: "a"},
		Command{Kind: CmdReconnect, Arg: `we"ird`},
		Command{Kind: CmdShutdown, Arg: "wait_for_servers"},
		Command{Kind: CmdReload}, Command{Kind: CmdPause}, Command{Kind: CmdResume},
		Command{Kind: CmdDropServers})
	for _, c := range cmds {
		got, err := Parse(c.String())
		if err != nil || got != c {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", c.String(), got, err, c)
		}
	}
}
