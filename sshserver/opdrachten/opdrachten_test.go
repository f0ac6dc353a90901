package opdrachten

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseKeepsKeysWhole(t *testing.T) {
	cmd, rest := findCommand(strings.Fields("account add jan --key ssh-ed25519 AAAAC3Nza jan@werkplek --product iwmo --key=ssh-rsa AAAAB3 --rol gebruiker"))
	in, err := parse(cmd, rest)
	if err != nil {
		t.Fatal(err)
	}
	if got := in.flags["key"]; len(got) != 2 || got[0] != "ssh-ed25519 AAAAC3Nza jan@werkplek" || got[1] != "ssh-rsa AAAAB3" {
		t.Fatalf("keys = %q", got)
	}
	if in.flag("product") != "iwmo" || in.flag("rol") != "gebruiker" || len(in.args) != 1 {
		t.Fatalf("parsed %+v", in)
	}
	var out bytes.Buffer
	if code, err := dispatch(&cmdCtx{out: &out}, []string{"account", "add", "--help"}); code != ExitOK || err != nil || !strings.Contains(out.String(), "gebruik: account add NAAM") {
		t.Fatalf("--help: %d %v %q", code, err, out.String())
	}
}

// The parser without a server: --json anywhere, switches, and a quoted exchange name.
func TestParseJSONAndSwitches(t *testing.T) {
	cmd, rest := findCommand([]string{"ophalen", "--json", "--nieuw", "--product", "iwmo"})
	in, err := parse(cmd, rest)
	if err != nil || !in.json || in.flag("nieuw") == "" || in.flag("product") != "iwmo" {
		t.Fatalf("parse = %+v, %v", in, err)
	}
	cmd, _ = findCommand([]string{"gebruiker", "key", "add"})
	if cmd == nil || cmd.name() != "gebruiker key add" || cmd.alias {
		t.Fatalf("gebruiker key add = %+v", cmd)
	}
	cmd, _ = findCommand([]string{"key", "add"})
	if cmd == nil || !cmd.alias {
		t.Fatalf("key add = %+v", cmd)
	}
	var out bytes.Buffer
	if code, err := dispatch(&cmdCtx{out: &out}, []string{"help"}); code != ExitOK || err != nil ||
		!strings.Contains(out.String(), "gebruiker add NAAM") || !strings.Contains(out.String(), "--json") {
		t.Fatalf("help: %d %v %q", code, err, out.String())
	}
}
