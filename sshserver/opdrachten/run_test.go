package opdrachten

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"knooppunt/exchange"
)

// demoHub is a real hub with the demo organisations and accounts.
func demoHub(t testing.TB) *exchange.Hub {
	t.Helper()
	dir := t.TempDir()
	hub, err := exchange.Open(exchange.Config{DataDir: dir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	if _, err := hub.SeedDemo(filepath.Join(dir, "demo")); err != nil {
		t.Fatal(err)
	}
	return hub
}

// principal is the demo account name as it logs in.
func principal(t testing.TB, hub *exchange.Hub, name string) *exchange.Principal {
	t.Helper()
	a, err := hub.Account(name)
	if err != nil {
		t.Fatal(err)
	}
	var org exchange.Org
	if a.Org != "" {
		if org, err = hub.Org(a.Org); err != nil {
			t.Fatal(err)
		}
	}
	return &exchange.Principal{Account: a, Org: org, Remote: "test"}
}

// run is Run as the server calls it, with the streams in buffers.
func run(hub *exchange.Hub, p *exchange.Principal, env Env, argv ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	env.Hub, env.Principal, env.Stdout, env.Stderr = hub, p, &out, &errOut
	code = Run(context.Background(), env, argv)
	return out.String(), errOut.String(), code
}

func audited(hub *exchange.Hub, account, action, path string) bool {
	found := false
	hub.AuditLog(0, func(e exchange.AuditEntry) bool {
		found = e.Account == account && e.Action == action && e.Path == path
		return !found
	})
	return found
}

// TestRunThroughEnv: what a command needs of the session comes through Env alone. A refused
// read is audited, a binary backup is refused on a terminal and without stdin for --sinds -,
// and what a command prints cannot steer the terminal.
func TestRunThroughEnv(t *testing.T) {
	hub := demoHub(t)
	ameland, beheer := principal(t, hub, "ameland"), principal(t, hub, exchange.AdminAccount)

	// A read of something not there: exit 1, "fout:" on stderr, and the probe in the audit log.
	out, errOut, code := run(hub, ameland, Env{}, "verslag", "999")
	if code != ExitError || out != "" || !strings.HasPrefix(errOut, "fout: ") {
		t.Fatalf("verslag 999: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !audited(hub, "ameland", "opdracht", "verslag 999") {
		t.Fatal("the refused read is not in the audit log")
	}
	// A change that is refused is audited by exchange, not twice here.
	if _, errOut, code := run(hub, ameland, Env{}, "org", "add", "1234", "Nieuw"); code != ExitDenied || !strings.Contains(errOut, "fout: ") {
		t.Fatalf("org add as gebruiker: exit %d, stderr %q", code, errOut)
	}
	if audited(hub, "ameland", "opdracht", "org add 1234 Nieuw") {
		t.Fatal("a refused change was audited as a refused read")
	}

	// A backup is binary: not on a terminal, and nothing on stdout.
	out, errOut, code = run(hub, beheer, Env{Terminal: true}, "backup")
	if code != ExitUsage || out != "" || !strings.Contains(errOut, "zonder terminal") {
		t.Fatalf("backup on a terminal: exit %d, stdout %d bytes, stderr %q", code, len(out), errOut)
	}
	out, errOut, code = run(hub, beheer, Env{}, "backup", "--sinds", "-")
	if code != ExitError || out != "" || !strings.Contains(errOut, "geen stdin") {
		t.Fatalf("backup --sinds - without stdin: exit %d, stdout %d bytes, stderr %q", code, len(out), errOut)
	}
	// With a manifest that is not one: a clear error, and no backup written.
	out, errOut, code = run(hub, beheer, Env{Stdin: strings.NewReader("geen manifest")}, "backup", "--sinds", "-")
	if code == ExitOK || out != "" || !strings.HasPrefix(errOut, "fout: ") {
		t.Fatalf("backup --sinds - with a bad manifest: exit %d, stdout %d bytes, stderr %q", code, len(out), errOut)
	}

	// cpa import reads Env.Stdin; empty stdin is a usage error that says how.
	if _, errOut, code := run(hub, beheer, Env{Stdin: strings.NewReader("")}, "cpa", "import"); code != ExitUsage || !strings.Contains(errOut, "cpa import < cpa.xml") {
		t.Fatalf("cpa import with empty stdin: exit %d, stderr %q", code, errOut)
	}

	// An organisation name with an escape sequence is shown, not obeyed, as text and as JSON.
	if _, errOut, code := run(hub, beheer, Env{}, "org", "add", "7777", "Evil\x1b]0;x\x07Org"); code != ExitOK {
		t.Fatalf("org add: exit %d, stderr %q", code, errOut)
	}
	for _, argv := range [][]string{{"org", "list"}, {"org", "list", "--json"}} {
		out, _, code := run(hub, beheer, Env{}, argv...)
		if code != ExitOK || !strings.Contains(out, "7777") || strings.ContainsAny(out, "\x1b\x07") {
			t.Fatalf("%v: exit %d, output %q", argv, code, out)
		}
	}

	// Hints name the address the connection came in on.
	out, _, _ = run(hub, ameland, Env{Listen: "[::1]:2222"}, "help")
	if !strings.HasPrefix(out, "Opdrachten (ssh -p 2222 ameland@[::1] OPDRACHT …):") {
		t.Fatalf("help: %q", strings.SplitN(out, "\n", 2)[0])
	}
}
