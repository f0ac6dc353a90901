package opdrachten

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/help.golden from the current commands")

// helpLines are the command lines TestHelpTextsUnchanged runs: help in every form, each
// command's --help and 'help OPDRACHT', an unknown option, and each family's first word alone
// and with a wrong subcommand.
func helpLines() [][]string {
	lines := [][]string{nil, {"help"}, {"help", "--json"}, {"-h"}}
	seen := map[string]bool{}
	for _, c := range commands {
		w := c.words
		lines = append(lines, append(append([]string{}, w...), "--help"), append([]string{"help"}, w...),
			append(append([]string{}, w...), "--bestaatniet"))
		if !seen[w[0]] && len(w) > 1 {
			seen[w[0]] = true
			lines = append(lines, []string{w[0]}, []string{w[0], "xyz"}, []string{"help", w[0]})
		}
	}
	return append(lines, []string{"nee"}, []string{"help", "nee"})
}

// TestHelpTextsUnchanged pins every help text, usage line and answer to a wrong command line
// byte for byte, with the exit code. testdata/help.golden was written by the commands before
// they moved into this package (issue 11): a difference is a change that people and scripts
// see. After a deliberate change: go test ./sshserver/opdrachten/ -run TestHelpTextsUnchanged -update
func TestHelpTextsUnchanged(t *testing.T) {
	var got bytes.Buffer
	for _, argv := range helpLines() {
		var out, errOut bytes.Buffer
		c := &cmdCtx{out: &out, errOut: &errOut} // no account: help shows every command
		code, err := dispatch(c, argv)
		c.flushNotes()
		fmt.Fprintf(&got, "### %q -> %d err=%v\n%s--stderr--\n%s", argv, code, err, out.String(), errOut.String())
	}
	golden := filepath.Join("testdata", "help.golden")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		g, w := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := range max(len(g), len(w)) {
			if i >= len(g) || i >= len(w) || !bytes.Equal(g[i], w[i]) {
				t.Fatalf("help output differs from %s from line %d:\ngot  %q\nwant %q", golden, i+1, at(g, i), at(w, i))
			}
		}
	}
}

func at(lines [][]byte, i int) []byte {
	if i < len(lines) {
		return lines[i]
	}
	return nil
}
