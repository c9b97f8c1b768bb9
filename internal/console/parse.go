package console

import (
	"fmt"
	"strings"
)

// Kind is what a console command does.
type Kind int

const (
	CmdEmpty       Kind = iota // nothing but whitespace, comments or ';'
	CmdShow                    // SHOW item [arg], SELECT * FROM item
	CmdKillClient              // KILL_CLIENT c0123456789ab
	CmdReload                  // RELOAD
	CmdPause                   // PAUSE
	CmdResume                  // RESUME
	CmdSet                     // SET key = value, SET key TO value
	CmdDropServers             // DROP SERVERS
	CmdReconnect               // RECONNECT [database] (PgBouncer)
	CmdShutdown                // SHUTDOWN [WAIT_FOR_SERVERS] (PgBouncer)
)

// Command is one parsed console command.
type Command struct {
	Kind Kind
	// Item is what SHOW shows, in lower case ("pools").
	Item string
	// Arg is SHOW CONFIG's key, KILL_CLIENT's client id, RECONNECT's
	// database, or SHUTDOWN's mode ("wait_for_servers"); "" when absent.
	Arg string
	// Key and Value are SET's (Value "" for DEFAULT).
	Key, Value string
}

// String renders the command in its canonical form, which Parse reads back
// as the same Command.
func (c Command) String() string {
	switch c.Kind {
	case CmdShow:
		return joinWords("SHOW", strings.ToUpper(c.Item), quoteIdent(c.Arg))
	case CmdKillClient:
		return "KILL_CLIENT " + c.Arg
	case CmdReload:
		return "RELOAD"
	case CmdPause:
		return "PAUSE"
	case CmdResume:
		return "RESUME"
	case CmdSet:
		v := "DEFAULT"
		if c.Value != "" {
			v = quoteLiteral(c.Value)
		}
		return "SET " + c.Key + " = " + v
	case CmdDropServers:
		return "DROP SERVERS"
	case CmdReconnect:
		return joinWords("RECONNECT", quoteIdent(c.Arg))
	case CmdShutdown:
		return joinWords("SHUTDOWN", strings.ToUpper(c.Arg))
	}
	return ""
}

func joinWords(words ...string) string {
	out := words[0]
	for _, w := range words[1:] {
		if w != "" {
			out += " " + w
		}
	}
	return out
}

// showItems are the things SHOW knows, with whether they take an argument.
var showItems = map[string]bool{
	"stats": false, "pools": false, "pools_extended": false, "databases": false,
	"clients": false, "servers": false, "lists": false, "errors": false,
	"errors_per_route": false, "version": false, "listen": false, "storages": false,
	"rules": false, "is_paused": false, "help": false, "config": true, "users": false,
	"server_prep_stmts": false,
}

// usage lists the valid commands, for errors and SHOW HELP.
var usage = []string{
	"SHOW STATS|POOLS|POOLS_EXTENDED|DATABASES|CLIENTS|SERVERS|LISTS|ERRORS|ERRORS_PER_ROUTE",
	"SHOW VERSION|LISTEN|STORAGES|RULES|IS_PAUSED|HELP|CONFIG [key]|USERS|SERVER_PREP_STMTS",
	"KILL_CLIENT <id>", "RELOAD", "PAUSE", "RESUME", "DROP SERVERS", "RECONNECT [db]",
	"SET key = value", "SHUTDOWN",
}

// ParseError is a command the console does not understand.
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return e.Msg }

func parseErrorf(format string, args ...any) error {
	return &ParseError{Msg: fmt.Sprintf(format, args...)}
}

// Parse reads one console command. Keywords are case-insensitive, a final
// ';' is optional, comments (-- and /* */) are ignored, and SELECT * FROM
// item is SHOW item, as in Odyssey.
func Parse(sql string) (Command, error) {
	toks, err := lex(sql)
	if err != nil {
		return Command{}, err
	}
	p := &parser{toks: toks}
	cmd, err := p.command()
	if err != nil {
		return Command{}, err
	}
	p.accept(tokSemicolon)
	if t := p.peek(); t.kind != tokEOF {
		return Command{}, parseErrorf("unexpected %s after the command", t)
	}
	return cmd, nil
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) accept(k tokKind) bool {
	if p.peek().kind == k {
		p.next()
		return true
	}
	return false
}

// keyword consumes the next token if it is the word kw (case-insensitive).
func (p *parser) keyword(kw string) bool {
	if t := p.peek(); t.kind == tokWord && strings.EqualFold(t.text, kw) {
		p.next()
		return true
	}
	return false
}

// word returns the next token's text, in lower case, if it is a word.
func (p *parser) word(what string) (string, error) {
	t := p.next()
	if t.kind != tokWord {
		return "", parseErrorf("expected %s, found %s", what, t)
	}
	return strings.ToLower(t.text), nil
}

// optName returns the next name, or "" at the end: a word folds to lower
// case, a "quoted name" keeps its case, as in SQL.
func (p *parser) optName() (string, error) {
	switch t := p.peek(); t.kind {
	case tokWord:
		p.next()
		return strings.ToLower(t.text), nil
	case tokQuotedIdent:
		p.next()
		return t.text, nil
	case tokEOF, tokSemicolon:
		return "", nil
	}
	return "", parseErrorf("unexpected %s", p.peek())
}

func (p *parser) command() (Command, error) {
	t := p.peek()
	switch {
	case t.kind == tokEOF || t.kind == tokSemicolon:
		return Command{Kind: CmdEmpty}, nil
	case t.kind != tokWord:
		return Command{}, parseErrorf("unexpected %s", t)
	}
	p.next()
	switch strings.ToLower(t.text) {
	case "show":
		return p.show()
	case "select":
		return p.selectFrom()
	case "kill_client":
		return p.killClient()
	case "reload":
		return Command{Kind: CmdReload}, nil
	case "pause":
		return Command{Kind: CmdPause}, nil
	case "resume":
		return Command{Kind: CmdResume}, nil
	case "set":
		return p.set()
	case "drop":
		if !p.keyword("servers") {
			return Command{}, parseErrorf("DROP: only DROP SERVERS is supported")
		}
		return Command{Kind: CmdDropServers}, nil
	case "reconnect":
		db, err := p.optName()
		return Command{Kind: CmdReconnect, Arg: db}, err
	case "shutdown":
		if p.keyword("wait_for_servers") {
			return Command{Kind: CmdShutdown, Arg: "wait_for_servers"}, nil
		}
		return Command{Kind: CmdShutdown}, nil
	}
	return Command{}, parseErrorf("unknown command %q", t.text)
}

func (p *parser) show() (Command, error) {
	item, err := p.word("what to show")
	if err != nil {
		return Command{}, err
	}
	takesArg, ok := showItems[item]
	if !ok {
		return Command{}, parseErrorf("unknown SHOW item %q", item)
	}
	cmd := Command{Kind: CmdShow, Item: item}
	if takesArg {
		cmd.Arg, err = p.optName()
	}
	return cmd, err
}

// selectFrom reads SELECT * FROM item, Odyssey's alias for SHOW item.
func (p *parser) selectFrom() (Command, error) {
	if !p.accept(tokStar) || !p.keyword("from") {
		return Command{}, parseErrorf("only SELECT * FROM <item> is supported")
	}
	item, err := p.word("what to show")
	if err != nil {
		return Command{}, err
	}
	if _, ok := showItems[item]; !ok {
		return Command{}, parseErrorf("unknown SHOW item %q", item)
	}
	return Command{Kind: CmdShow, Item: item}, nil
}

// killClient reads a client id: "c" and 12 hex digits, as the logs print
// them.
func (p *parser) killClient() (Command, error) {
	t := p.next()
	if t.kind != tokWord && t.kind != tokQuotedIdent && t.kind != tokString {
		return Command{}, parseErrorf("KILL_CLIENT: expected a client id, found %s", t)
	}
	if !validClientID(t.text) {
		return Command{}, parseErrorf("KILL_CLIENT: invalid client id %q (expected c and 12 hex digits)", t.text)
	}
	return Command{Kind: CmdKillClient, Arg: strings.ToLower(t.text)}, nil
}

func validClientID(id string) bool {
	if len(id) != 13 || (id[0] != 'c' && id[0] != 'C') {
		return false
	}
	for _, r := range id[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// set reads SET key [= | TO] value|DEFAULT; the key may be dotted.
func (p *parser) set() (Command, error) {
	key, err := p.word("a parameter name")
	if err != nil {
		return Command{}, err
	}
	for p.accept(tokDot) {
		part, err := p.word("a parameter name")
		if err != nil {
			return Command{}, err
		}
		key += "." + part
	}
	if !p.accept(tokEquals) && !p.keyword("to") {
		return Command{}, parseErrorf("SET: expected = or TO after %q", key)
	}
	cmd := Command{Kind: CmdSet, Key: key}
	t := p.next()
	switch {
	case t.kind == tokWord && strings.EqualFold(t.text, "default"):
	case t.kind == tokWord, t.kind == tokQuotedIdent, t.kind == tokString, t.kind == tokNumber:
		cmd.Value = t.text
	default:
		return Command{}, parseErrorf("SET %s: expected a value, found %s", key, t)
	}
	return cmd, nil
}
