package sshserver

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// Exit codes of the admin commands.
const (
	exitOK     = 0
	exitError  = 1 // the command ran into an error
	exitUsage  = 2 // the command line is wrong
	exitDenied = 3 // the account may not do this
)

// command is one admin command: `ssh beheer@hub org add 0363 Amsterdam`. The table of them is
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

// cmdCtx is what a command runs with.
type cmdCtx struct {
	hub      *exchange.Hub
	p        *exchange.Principal
	in       io.Reader // the session's stdin: cpa import reads the document from it
	out      io.Writer
	errOut   io.Writer // notes beside the result, so stdout stays machine-readable
	json     bool
	hostKeys []gossh.Signer
}

// usageError is a wrong command line; its message says how to write it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func (s *Server) runCommand(sess ssh.Session, p *exchange.Principal, argv []string) int {
	c := &cmdCtx{hub: s.hub, p: p, in: sess, out: sess, errOut: sess.Stderr(), hostKeys: s.cfg.HostKeys}
	code, err := dispatch(c, argv)
	if err != nil {
		fmt.Fprintf(sess.Stderr(), "fout: %v\n", err)
	}
	s.log.Info("opdracht", "account", p.Account.Name, "opdracht", strings.Join(argv, " "), "exitcode", code)
	return code
}

// dispatch finds and runs the command argv names, and maps its error onto an exit code.
func dispatch(c *cmdCtx, argv []string) (int, error) {
	if len(argv) == 0 || argv[0] == "help" || argv[0] == "--help" || argv[0] == "-h" {
		if slices.Contains(argv, "--json") {
			if err := printHelpJSON(c.out); err != nil {
				return exitError, err
			}
			return exitOK, nil
		}
		printHelp(c.out)
		return exitOK, nil
	}
	cmd, rest := findCommand(argv)
	if cmd == nil {
		return exitUsage, usageError{unknownCommand(argv)}
	}
	if slices.Contains(rest, "--help") || slices.Contains(rest, "-h") {
		fmt.Fprintf(c.out, "gebruik: %s\n  %s\n", cmd.usage(), cmd.help)
		return exitOK, nil
	}
	in, err := parse(cmd, rest)
	if err == nil {
		c.json = in.json
		err = cmd.run(c, in)
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK, nil
	case errors.As(err, &ue):
		return exitUsage, fmt.Errorf("%s\ngebruik: %s", ue.msg, cmd.usage())
	case errors.Is(err, exchange.ErrDenied):
		return exitDenied, err
	}
	return exitError, err
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
		if c.words[0] == argv[0] {
			subs = append(subs, c.usage())
		}
	}
	if len(subs) > 0 {
		return fmt.Sprintf("onbekende opdracht %q; kies uit:\n  %s", strings.Join(argv[:min(2, len(argv))], " "), strings.Join(subs, "\n  "))
	}
	return fmt.Sprintf("onbekende opdracht %q; 'help' toont alle opdrachten", argv[0])
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "Opdrachten (ssh ACCOUNT@knooppunt OPDRACHT …):")
	var old []string
	for _, c := range commands {
		if c.alias {
			old = append(old, c.usage())
			continue
		}
		fmt.Fprintf(w, "  %s\n      %s\n", c.usage(), c.help)
	}
	fmt.Fprintf(w, "De oude namen van de gebruiker-opdrachten werken ook:\n  %s\n", strings.Join(old, "\n  "))
	fmt.Fprintln(w, "Elke opdracht kent --json: het resultaat als JSON op stdout, voor scripts.")
	fmt.Fprintln(w, "Exitcodes: 0 gelukt, 1 fout, 2 verkeerd gebruik, 3 geen toestemming.")
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

func (c *cmdCtx) product(s string) (exchange.Product, error) {
	p, err := c.hub.Catalogue().ParseProduct(s)
	if err != nil {
		return "", usageError{err.Error()}
	}
	return p, nil
}

func (c *cmdCtx) table(header string, rows [][]string) {
	tw := newTable(c.out)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}
