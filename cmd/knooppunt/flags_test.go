package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSubcommandFlags pins what each offline subcommand answers to -h and to an option it
// does not know, now that they share one parser: audit and hostkeys in Dutch with their
// usage (help on stdout), backup, restore and status through the flag package on stderr.
func TestSubcommandFlags(t *testing.T) {
	for _, c := range []struct {
		args           []string
		exit           int
		stdout, stderr string // what the output must contain; "" must be empty
		stderrLacks    string
	}{
		{[]string{"audit", "verify", "-h"}, 0, "gebruik: knooppunt audit verify [--data DIR]", "", ""},
		{[]string{"audit", "export", "--bogus"}, 2, "", "fout: onbekende optie --bogus\ngebruik: knooppunt audit verify", "flag provided"},
		{[]string{"hostkeys", "--help"}, 0, "gebruik: knooppunt hostkeys [--data DIR | --database postgres://…]\n", "", ""},
		{[]string{"hostkeys", "--data"}, 2, "", "fout: optie --data heeft een waarde nodig, bijvoorbeeld --data=WAARDE\ngebruik: knooppunt hostkeys [--data DIR | --database postgres://…]\n", ""},
		{[]string{"backup", "-h"}, 0, "", "gegevensmap (KNOOPPUNT_DATA)", ""},
		{[]string{"backup", "--bogus"}, 2, "", "flag provided but not defined: -bogus", ""},
		{[]string{"restore", "--bogus"}, 2, "", "nieuwe, lege gegevensmap", ""},
		{[]string{"status", "--timeout", "x"}, 2, "", "invalid value \"x\" for flag -timeout", ""},
	} {
		var out, errOut bytes.Buffer
		exit := run(c.args, &out, &errOut)
		if exit != c.exit {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, exit, c.exit, errOut.String())
		}
		for _, w := range []struct{ name, got, want string }{{"stdout", out.String(), c.stdout}, {"stderr", errOut.String(), c.stderr}} {
			if w.want == "" && w.got != "" {
				t.Errorf("%v: %s %q, want nothing", c.args, w.name, w.got)
			}
			if !strings.Contains(w.got, w.want) {
				t.Errorf("%v: %s %q lacks %q", c.args, w.name, w.got, w.want)
			}
		}
		if c.stderrLacks != "" && strings.Contains(errOut.String(), c.stderrLacks) {
			t.Errorf("%v: stderr %q has %q", c.args, errOut.String(), c.stderrLacks)
		}
	}
}
