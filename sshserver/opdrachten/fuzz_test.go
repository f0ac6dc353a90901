package opdrachten

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// FuzzCommand checks the command parser and the commands behind it, run by an ordinary
// gebruiker against a real hub: no panic, an exit code of 0-3, and a wrong command line
// always exits 2 with a usage line.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"help", "help --json", "whoami", "whoami --json", "org list", "org add 1234 Nieuw", "account add x --key ssh-ed25519 AAAA c --product iwmo",
		"aanleveringen --product iwmo --aantal 5", "aanleveringen --aantal -1", "aanleveringen --status Bezig --product=ijw",
		"verslag 1", "verslag x.zip --product iwmo", "ophalen --nieuw", "ophalen --nieuw=ja", "gelezen iwmo/x.zip",
		"verwijder a b c", "berichtenlog --van 2024-01-01 --tot 1969-12-31", "berichtenlog --van 99999-01-01", "herstel REF",
		"routes --product iwmo", "route zet WMO301 --via", "--json", "--", "-h", "org", "key add", "product grant x iwmo",
		"gebruiker add x --key", "audit verify", "audit export --van 18446744073709551615", "versie --json", "hostkeys --x",
	} {
		f.Add(s)
	}
	hub := demoHub(f)
	p := principal(f, hub, "ameland")
	f.Fuzz(func(t *testing.T, line string) {
		argv := strings.Split(line, " ")
		if line == "" {
			argv = nil
		}
		var out bytes.Buffer
		c := &cmdCtx{hub: hub, p: p, out: &out, errOut: io.Discard}
		code, err := dispatch(c, argv)
		if code < ExitOK || code > ExitDenied {
			t.Fatalf("%q: exit code %d", line, code)
		}
		if (code == ExitOK) != (err == nil) {
			t.Fatalf("%q: exit code %d with error %v", line, code, err)
		}
		cmd, rest := findCommand(argv)
		if cmd == nil {
			if len(argv) > 0 && !slices.Contains([]string{"help", "--help", "-h"}, argv[0]) && code != ExitUsage {
				t.Fatalf("%q: unknown command gave exit %d (%v), want %d", line, code, err, ExitUsage)
			}
			return
		}
		if slices.Contains(rest, "--help") || slices.Contains(rest, "-h") {
			return
		}
		if _, perr := parse(cmd, rest); perr != nil {
			var ue usageError
			if !errors.As(perr, &ue) {
				t.Fatalf("%q: parse error %v is no usage error", line, perr)
			}
			if code != ExitUsage || !strings.Contains(err.Error(), "gebruik: ") {
				t.Fatalf("%q: wrong command line gave exit %d (%v), want %d with a usage line", line, code, err, ExitUsage)
			}
		}
	})
}
