package opdrachten

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"knooppunt/exchange"
)

// mayUse tells whether help shows command c: what exchange's policy lets the account do now.
// It decides what help lists, nothing more; exchange checks every call itself.
func mayUse(c *command, cc *cmdCtx) bool {
	if cc == nil || cc.p == nil || cc.hub == nil {
		return true // no account (a test of the table): everything
	}
	a, ok := commandAction(c)
	return !ok || cc.hub.Can(cc.p, a)
}

// sshHint is how this account reaches the hub from where it connected: the address and port
// the connection came in on, not a default.
func sshHint(p *exchange.Principal, listen string) string {
	account := "ACCOUNT"
	if p != nil {
		account = p.Account.Name
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return "ssh " + account + "@knooppunt"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "22" {
		return "ssh " + account + "@" + host
	}
	return "ssh -p " + port + " " + account + "@" + host
}

func printHelp(w io.Writer, cc *cmdCtx) {
	fmt.Fprintf(w, "Opdrachten (%s OPDRACHT …):\n", sshHint(cc.p, cc.listen))
	var old []string
	for _, c := range commands {
		if !mayUse(&c, cc) {
			continue
		}
		if c.alias {
			old = append(old, c.usage())
			continue
		}
		fmt.Fprintf(w, "  %s\n      %s\n", c.usage(), c.help)
	}
	if len(old) > 0 {
		fmt.Fprintf(w, "De oude namen van de gebruiker-opdrachten werken ook:\n  %s\n", strings.Join(old, "\n  "))
	}
	fmt.Fprintln(w, "'help OPDRACHT' toont één opdracht. Elke opdracht kent --json: het resultaat als JSON op stdout, voor scripts.")
	fmt.Fprintln(w, "Exitcodes: 0 gelukt, 1 fout, 2 verkeerd gebruik, 3 geen toestemming.")
}

// helpTopic shows the commands topic names: 'help verslag', 'help gebruiker' (every
// gebruiker subcommand), 'help gebruiker add'.
func helpTopic(c *cmdCtx, topic []string) (int, error) {
	var found []command
	for _, cmd := range commands {
		if len(cmd.words) >= len(topic) && slices.Equal(cmd.words[:len(topic)], topic) && (!cmd.alias || topic[0] == cmd.words[0]) {
			found = append(found, cmd)
		}
	}
	if len(found) == 0 {
		return ExitUsage, usageError{fmt.Sprintf("geen opdracht %q; 'help' toont de opdrachten", strings.Join(topic, " "))}
	}
	for _, cmd := range found {
		fmt.Fprintf(c.out, "gebruik: %s\n  %s\n", cmd.usage(), cmd.help)
		if !mayUse(&cmd, c) {
			fmt.Fprintln(c.out, "  (uw account mag deze opdracht niet gebruiken)")
		}
	}
	return ExitOK, nil
}

type HelpJSON struct {
	Opdracht string `json:"opdracht"`
	Gebruik  string `json:"gebruik"`
	Uitleg   string `json:"uitleg"`
}

// printHelpJSON lists the commands for a script: 'help --json'.
func printHelpJSON(w io.Writer, cc *cmdCtx) error {
	out := []HelpJSON{}
	for _, c := range commands {
		if !c.alias && mayUse(&c, cc) {
			out = append(out, HelpJSON{c.name(), c.usage(), c.help})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
