package sshserver

// Issue 13, item 6: commands that count and say what they do. Each test drives the real
// server with OpenSSH's ssh.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/sshserver/opdrachten"
)

// refuseAs makes an Afgekeurd aanlevering of account in product without a transfer: a name
// the hub never takes.
func (th *testHub) refuseAs(t testing.TB, account string, product exchange.Product, name string) {
	t.Helper()
	if _, err := th.hub.StartUpload(context.Background(), th.principal(t, account), product, name, false); err == nil {
		t.Fatalf("%s accepted", name)
	}
}

// TestAantalIsATotal: --aantal N gives N rows over all products together, not N per product.
func TestAantalIsATotal(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	for _, n := range []string{"a.txt", "b.txt"} {
		th.refuseAs(t, "gemeente", exchange.IWmo, n)
		th.refuseAs(t, "gemeente", exchange.IJw, n)
	}
	var list []opdrachten.UploadJSON
	th.runJSON(t, "gemeente", &list, "aanleveringen", "--aantal", "3")
	if len(list) != 3 {
		t.Fatalf("aanleveringen --aantal 3 gave %d rows: %+v", len(list), list)
	}
	th.runJSON(t, "gemeente", &list, "aanleveringen", "--aantal", "0")
	if len(list) != 4 {
		t.Fatalf("aanleveringen --aantal 0 gave %d rows", len(list))
	}
}

// TestNotesComeAfterTheTable: the note that a list was cut short goes to stderr after the
// table, so in a terminal (stdout and stderr on one screen) it never lands in the header.
func TestNotesComeAfterTheTable(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	for _, n := range []string{"a.txt", "b.txt", "c.txt"} {
		th.refuseAs(t, "gemeente", exchange.IWmo, n)
	}
	args := append(th.sshOpts(th.keys["gemeente"]), "-p", th.port, "gemeente@127.0.0.1", "--", "aanleveringen", "--aantal", "2")
	cmd := exec.Command("ssh", args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	var both bytes.Buffer
	cmd.Stdout, cmd.Stderr = &both, &both
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, both.String())
	}
	lines := strings.Split(strings.TrimSpace(both.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || !strings.HasPrefix(lines[3], "let op: 2 van 3 aanleveringen getoond") {
		t.Fatalf("want header, 2 rows, then the note:\n%s", both.String())
	}
}

// TestHelpNamesTheRealAddress: help's example names the address and port the connection
// came in on, not a default 2222 or "knooppunt".
func TestHelpNamesTheRealAddress(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	out := th.run(t, "gemeente", exitOK, "help")
	if want := "ssh -p " + th.port + " gemeente@127.0.0.1 OPDRACHT"; !strings.Contains(out, want) {
		t.Fatalf("help lacks %q:\n%s", want, out)
	}
}

// TestHelpTopic: 'help OPDRACHT' shows that command; 'help gebruiker' every gebruiker
// subcommand; an unknown topic is a usage error.
func TestHelpTopic(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	out := th.run(t, "gemeente", exitOK, "help", "verslag")
	if !strings.HasPrefix(out, "gebruik: verslag ID|BESTANDSNAAM") || strings.Count(out, "gebruik:") != 1 {
		t.Fatalf("help verslag:\n%s", out)
	}
	out = th.run(t, "gemeente", exitOK, "help", "gebruiker")
	for _, w := range []string{"gebruik: gebruiker list", "gebruik: gebruiker add", "gebruik: gebruiker key add"} {
		if !strings.Contains(out, w) {
			t.Fatalf("help gebruiker lacks %q:\n%s", w, out)
		}
	}
	if out := th.run(t, "gemeente", exitOK, "help", "gebruiker", "add"); strings.Count(out, "gebruik:") != 1 {
		t.Fatalf("help gebruiker add:\n%s", out)
	}
	_, errOut, code := th.ssh("gemeente", th.keys["gemeente"], "help", "bestaatniet")
	if code != exitUsage || !strings.Contains(errOut, "geen opdracht \"bestaatniet\"") {
		t.Fatalf("help bestaatniet: exit %d %q", code, errOut)
	}
}

// TestHelpListsOnlyWhatTheAccountMayDo: an ordinary account sees its mailbox commands, not
// the administration; the beheerder sees the administration, not a mailbox it does not have.
func TestHelpListsOnlyWhatTheAccountMayDo(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	names := func(account string) []string {
		var help []opdrachten.HelpJSON
		th.runJSON(t, account, &help, "help")
		var out []string
		for _, h := range help {
			out = append(out, h.Opdracht)
		}
		return out
	}
	for _, tc := range []struct {
		account    string
		has, lacks []string
	}{
		{"aanbieder", []string{"aanleveringen", "verslag", "ophalen", "herstel", "routes", "whoami", "versie"}, []string{"org add", "org list", "gebruiker add", "audit verify", "route zet", "org samenwerking"}},
		{"gemeente", []string{"aanleveringen", "gebruiker add", "route zet", "org list"}, []string{"org add", "audit verify", "org samenwerking"}},
		{"beheer", []string{"org add", "org samenwerking", "gebruiker add", "audit verify", "versie"}, []string{"aanleveringen", "ophalen", "route zet"}},
	} {
		got := names(tc.account)
		for _, n := range tc.has {
			if !slices.Contains(got, n) {
				t.Errorf("help of %s lacks %q: %q", tc.account, n, got)
			}
		}
		for _, n := range tc.lacks {
			if slices.Contains(got, n) {
				t.Errorf("help of %s shows %q, which it may not use", tc.account, n)
			}
		}
	}
	if text := th.run(t, "aanbieder", exitOK, "help"); strings.Contains(text, "gebruiker add") || strings.Contains(text, "oude namen") {
		t.Fatalf("help text of aanbieder shows administration:\n%s", text)
	}
}

// TestSubcommandIsNamed: 'gebruiker' or 'account' alone says which subcommands exist.
func TestSubcommandIsNamed(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	for word, want := range map[string]string{"gebruiker": "gebruiker add", "account": "account add", "org": "org list"} {
		_, errOut, code := th.ssh("gemeente", th.keys["gemeente"], word)
		if code != exitUsage || !strings.Contains(errOut, "heeft een subopdracht nodig; kies uit") || !strings.Contains(errOut, want) {
			t.Errorf("%s alone: exit %d %q", word, code, errOut)
		}
	}
}

// TestHerstelOfAFileStillInOphalenSaysWhereItIs.
func TestHerstelOfAFileStillInOphalenSaysWhereItIs(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	_, refs := th.sendWMO301(t, "herstel.zip", 1)
	ds := th.inbox(t, "aanbieder", exchange.IWmo, false)
	if len(ds) != 1 {
		t.Fatalf("inbox %+v", ds)
	}
	_, errOut, code := th.ssh("aanbieder", th.keys["aanbieder"], "herstel", refs[0])
	if code != exitError || !strings.Contains(errOut, "staat nog in /iwmo/ophalen/"+ds[0].Name) || !strings.Contains(errOut, "herstellen is niet nodig") {
		t.Fatalf("herstel of a file in ophalen: exit %d %q", code, errOut)
	}
}

// TestJSONTimesAndVerslagKeys: every time in the JSON is RFC 3339, and a verslag in
// verslagen/*.json has exactly the keys of 'verslag --json'.
func TestJSONTimesAndVerslagKeys(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	u, _ := th.sendWMO301(t, "tijden.zip", 1)
	rfc := func(what, s string) {
		t.Helper()
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s %q is not RFC 3339", what, s)
		}
	}
	cmdOut := th.run(t, "gemeente", exitOK, "verslag", "tijden.zip", "--json")
	var v exchange.Verslag
	if err := json.Unmarshal([]byte(cmdOut), &v); err != nil {
		t.Fatal(err)
	}
	rfc("verslag ingeleverd_op", v.IngeleverdOp)
	rfc("verslag einde_verwerking", v.EindeVerwerking)
	var list []opdrachten.UploadJSON
	th.runJSON(t, "gemeente", &list, "aanleveringen")
	rfc("aanleveringen ontvangen_op", list[0].OntvangenOp)
	rfc("aanleveringen einde_verwerking", list[0].EindeVerwerking)
	var files []opdrachten.DeliveryJSON
	th.runJSON(t, "aanbieder", &files, "ophalen")
	rfc("ophalen publicatiedatum", files[0].Publicatiedatum)

	reports, err := th.hub.Reports(context.Background(), th.principal(t, "gemeente"), exchange.IWmo)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, r := range reports {
		if r.UploadID == u.ID && strings.HasSuffix(r.Name, ".json") {
			name = r.Name
		}
	}
	_, fileOut, err := th.hub.OpenReport(context.Background(), th.principal(t, "gemeente"), exchange.IWmo, name)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := keysOf(t, cmdOut), keysOf(t, string(fileOut)); !slices.Equal(a, b) {
		t.Fatalf("verslag --json keys %q, verslagen/%s keys %q", a, name, b)
	}
}
