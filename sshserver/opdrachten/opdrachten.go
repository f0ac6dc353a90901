package opdrachten

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// Exit codes of the commands.
const (
	ExitOK     = 0
	ExitError  = 1 // the command ran into an error
	ExitUsage  = 2 // the command line is wrong
	ExitDenied = 3 // the account may not do this
)

// Env is what a command needs from the door that runs it (the SSH server): the hub, who
// asks, and the session. It holds nothing of the server itself.
type Env struct {
	Hub       *exchange.Hub
	Principal *exchange.Principal
	Stdin     io.Reader // cpa import and backup --sinds - read from it; nil: no stdin
	// Stdout is the session itself: text goes out through exchange.TextWriter, JSON through
	// exchange.JSONWriter, a backup as it is.
	Stdout   io.Writer
	Stderr   io.Writer      // notes and errors, through exchange.TextWriter
	HostKeys []gossh.Signer // what 'hostkeys' shows
	Listen   string         // host:port the connection came in on, for hints that name it
	Terminal bool           // the session has a terminal: a backup (binary) is refused
	// Hangup closes the whole connection, for a backup whose reader stops reading; nil: no
	// such watch.
	Hangup func()
}

// Run runs the command argv names for env.Principal and returns its exit code; the result
// goes to env.Stdout, notes and the error to env.Stderr. ctx ends when the client goes away.
func Run(ctx context.Context, env Env, argv []string) int {
	// Names, envelope fields and audit entries come from outside: what a command prints must
	// not steer the terminal that shows it (issue 16).
	c := &cmdCtx{ctx: ctx, hub: env.Hub, p: env.Principal, in: env.Stdin, out: &exchange.TextWriter{W: env.Stdout},
		errOut: &exchange.TextWriter{W: env.Stderr}, raw: env.Stdout, hostKeys: env.HostKeys, listen: env.Listen,
		terminal: env.Terminal, hangup: env.Hangup}
	code, err := dispatch(c, argv)
	c.flushNotes()
	if err != nil {
		fmt.Fprintf(c.errOut, "fout: %v\n", err)
		auditRefusedRead(c, argv, err)
	}
	return code
}

// commands is every command the one parser knows, in the order 'help' shows them; each area's
// file holds its part of the table.
var commands = slices.Concat(whoamiCommands, aanleverenCommands, ophalenCommands, berichtenlogCommands, routerenCommands,
	orgCommands, withGebruiker(accountCommands), accountManageCommands, orgManageCommands, knooppuntCommands,
	digikoppelingCommands, auditCommands, backupCommands, nodesCommands)

// command is one command: `ssh beheer@hub org add 0363 Amsterdam`. The table of them is
// the only place a command is defined; one parser serves all.
type command struct {
	words   []string // "org", "add"
	args    string   // positional arguments, for the usage line
	minArgs int
	maxArgs int // -1: no limit
	flags   []flagSpec
	help    string
	run     func(c *cmdCtx, in *input) error
	alias   bool // an older name: it works, but 'help' shows the Dutch one
}

type flagSpec struct {
	name  string
	value string // placeholder in the usage line
	multi bool   // may be given more than once
	need  bool   // required
	key   bool   // the value is an SSH public key, which may arrive split over several words
	// boolean: a switch without a value (--nieuw)
	boolean bool
}

func (c *command) name() string { return strings.Join(c.words, " ") }

func (c *command) usage() string {
	var b strings.Builder
	b.WriteString(c.name())
	if c.args != "" {
		b.WriteString(" " + c.args)
	}
	for _, f := range c.flags {
		part := "--" + f.name
		if !f.boolean {
			part += " " + f.value
		}
		if f.multi {
			part += "…"
		}
		if !f.need {
			part = "[" + part + "]"
		}
		b.WriteString(" " + part)
	}
	return b.String()
}

// input is a parsed command line.
type input struct {
	args  []string
	flags map[string][]string
	json  bool // --json, which every command takes
}

func (in *input) flag(name string) string {
	if v := in.flags[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// oneOf is the value of option name among choices, typed in any case; the usage error lists
// the choices in lower case, as people type them.
func oneOf[T ~string](in *input, name string, choices ...T) (T, error) {
	v := strings.ToLower(in.flag(name))
	names := make([]string, len(choices))
	for i, ch := range choices {
		names[i] = strings.ToLower(string(ch))
		if v == names[i] {
			return ch, nil
		}
	}
	var none T
	return none, usagef("--%s %q: kies %s", name, in.flag(name), strings.Join(names, " of "))
}

// cmdCtx is what a command runs with.
type cmdCtx struct {
	ctx      context.Context // nil: context.Background
	hub      *exchange.Hub
	p        *exchange.Principal
	in       io.Reader // the session's stdin: cpa import reads the document from it
	out      io.Writer // text, through exchange.TextWriter: nothing in it steers the terminal
	errOut   io.Writer // notes beside the result, so stdout stays machine-readable
	raw      io.Writer // the session itself, for JSON through exchange.JSONWriter
	json     bool
	hostKeys []gossh.Signer
	notes    []string // written to errOut after the result, so a note never lands in a table
	listen   string   // host:port the hub is reached at, for hints that name it
	terminal bool     // the session has a terminal
	hangup   func()   // closes the connection; nil: nothing to close
}

// context is the session's context; a command run without a session (a test of its
// parsing, the fuzzer) has the background one.
func (c *cmdCtx) context() context.Context {
	if c.ctx == nil {
		return context.Background()
	}
	return c.ctx
}

// note keeps a line for errOut until the result is out.
func (c *cmdCtx) note(format string, a ...any) { c.notes = append(c.notes, fmt.Sprintf(format, a...)) }

func (c *cmdCtx) flushNotes() {
	if c.errOut != nil {
		for _, n := range c.notes {
			fmt.Fprintln(c.errOut, n)
		}
	}
	c.notes = nil
}

// readCommands only show something. Changes are audited by exchange, refused or not; a read
// that is refused (not allowed, or something of another organisation that is therefore not
// found) is audited here, so that probing shows up in the audit log too.
var readCommands = map[string]bool{
	"whoami": true, "producten": true, "aanleveringen": true, "verslag": true, "ophalen": true,
	"berichtenlog": true, "routes": true, "org list": true, "account list": true, "gebruiker list": true,
}

func auditRefusedRead(c *cmdCtx, argv []string, err error) {
	if !errors.Is(err, exchange.ErrDenied) && !errors.Is(err, exchange.ErrNotFound) {
		return
	}
	if cmd, _ := findCommand(argv); cmd != nil && readCommands[cmd.name()] {
		c.hub.Audit(c.p, "opdracht", strings.Join(argv, " "), err.Error())
	}
}

// jsonOut is where a command writes JSON: the session, with every character that would steer
// a terminal escaped as \uXXXX (the JSON means the same).
func (c *cmdCtx) jsonOut() io.Writer {
	if c.raw == nil {
		return exchange.JSONWriter{W: c.out}
	}
	return exchange.JSONWriter{W: c.raw}
}

// usageError is a wrong command line; its message says how to write it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// dispatch finds and runs the command argv names, and maps its error onto an exit code.
func dispatch(c *cmdCtx, argv []string) (int, error) {
	if len(argv) == 0 || argv[0] == "help" || argv[0] == "--help" || argv[0] == "-h" {
		var topic []string
		for _, w := range argv[min(1, len(argv)):] {
			if w != "--json" {
				topic = append(topic, w)
			}
		}
		if len(topic) > 0 {
			return helpTopic(c, topic)
		}
		if slices.Contains(argv, "--json") {
			if err := printHelpJSON(c.jsonOut(), c); err != nil {
				return ExitError, err
			}
			return ExitOK, nil
		}
		printHelp(c.out, c)
		return ExitOK, nil
	}
	cmd, rest := findCommand(argv)
	if cmd == nil {
		return ExitUsage, usageError{unknownCommand(argv)}
	}
	if slices.Contains(rest, "--help") || slices.Contains(rest, "-h") {
		fmt.Fprintf(c.out, "gebruik: %s\n  %s\n", cmd.usage(), cmd.help)
		return ExitOK, nil
	}
	in, err := parse(cmd, rest)
	if err == nil {
		c.json = in.json
		err = cmd.run(c, in)
	}
	var ue usageError
	switch {
	case err == nil:
		return ExitOK, nil
	case errors.As(err, &ue):
		return ExitUsage, fmt.Errorf("%s\ngebruik: %s", ue.msg, cmd.usage())
	case errors.Is(err, exchange.ErrDenied):
		return ExitDenied, err
	}
	return ExitError, err
}

func findCommand(argv []string) (*command, []string) {
	var best *command
	for i := range commands {
		c := &commands[i]
		if len(argv) >= len(c.words) && slices.Equal(argv[:len(c.words)], c.words) && (best == nil || len(c.words) > len(best.words)) {
			best = c
		}
	}
	if best == nil {
		return nil, nil
	}
	return best, argv[len(best.words):]
}

func unknownCommand(argv []string) string {
	var subs []string
	for _, c := range commands {
		if c.words[0] == argv[0] && !c.alias {
			subs = append(subs, c.usage())
		}
	}
	if len(subs) == 0 {
		// An old name (account, key, product): its subcommands under that name.
		for _, c := range commands {
			if c.words[0] == argv[0] {
				subs = append(subs, c.usage())
			}
		}
	}
	if len(subs) > 0 && len(argv) == 1 {
		return fmt.Sprintf("%q heeft een subopdracht nodig; kies uit:\n  %s", argv[0], strings.Join(subs, "\n  "))
	}
	if len(subs) > 0 {
		return fmt.Sprintf("onbekende opdracht %q; kies uit:\n  %s", strings.Join(argv[:min(2, len(argv))], " "), strings.Join(subs, "\n  "))
	}
	return fmt.Sprintf("onbekende opdracht %q; 'help' toont alle opdrachten", argv[0])
}

// commandAction is the action of exchange's policy that command c needs, by its words; ok is
// false for the commands everyone may run. A command a table adds later is classified by its
// first word, as a mailbox command unless it says otherwise.
func commandAction(c *command) (a exchange.Action, ok bool) {
	switch c.words[0] {
	case "whoami", "hostkeys", "versie", "help":
		return "", false
	case "audit":
		return exchange.ActionReadAudit, true
	case "backup":
		return exchange.ActionBackup, true
	case "nodes":
		return exchange.ActionReadNodes, true
	case "org":
		if c.name() == "org list" {
			return exchange.ActionReadOrgs, true
		}
		return exchange.ActionManageOrgs, true
	case "gebruiker", "account", "key", "product":
		return exchange.ActionManageAccts, true
	case "route":
		return exchange.ActionEditRoute, true
	case "routes":
		return exchange.ActionReadRoutes, true
	}
	return exchange.ActionFetch, true // the mailbox commands
}

// parse splits the words after the command into positional arguments and --flags (also
// --flag=value), in any order.
func parse(cmd *command, words []string) (*input, error) {
	in := &input{flags: map[string][]string{}}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "--json" {
			in.json = true
			continue
		}
		if !strings.HasPrefix(w, "--") {
			in.args = append(in.args, w)
			continue
		}
		name, value, hasValue := strings.Cut(w[2:], "=")
		j := slices.IndexFunc(cmd.flags, func(f flagSpec) bool { return f.name == name })
		if j < 0 {
			return nil, usagef("onbekende optie --%s", name)
		}
		f := cmd.flags[j]
		switch {
		case f.boolean && hasValue:
			return nil, usagef("--%s neemt geen waarde", name)
		case f.boolean:
			value = "ja"
		case !hasValue:
			if i+1 >= len(words) {
				return nil, usagef("--%s mist een waarde (%s)", name, f.value)
			}
			i++
			value = words[i]
		}
		if f.key {
			value, i = joinKey(value, words, i)
		}
		if len(in.flags[name]) > 0 && !f.multi {
			return nil, usagef("--%s mag maar één keer", name)
		}
		in.flags[name] = append(in.flags[name], value)
	}
	for _, f := range cmd.flags {
		if f.need && len(in.flags[f.name]) == 0 {
			return nil, usagef("--%s ontbreekt", f.name)
		}
	}
	if len(in.args) < cmd.minArgs || (cmd.maxArgs >= 0 && len(in.args) > cmd.maxArgs) {
		return nil, usagef("verkeerd aantal argumenten")
	}
	return in, nil
}

// joinKey puts a public key back together that the shell split into words (ssh joins a
// command's words with spaces, so quotes around a key are lost on the way): a bare key type
// takes the next word as its body and the words up to the next --flag as its comment.
func joinKey(value string, words []string, i int) (string, int) {
	if strings.ContainsRune(value, ' ') || !isKeyType(value) {
		return value, i
	}
	for i+1 < len(words) && !strings.HasPrefix(words[i+1], "--") {
		i++
		value += " " + words[i]
	}
	return value, i
}

func isKeyType(s string) bool {
	return strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "ecdsa-sha2-") || strings.HasPrefix(s, "sk-")
}
