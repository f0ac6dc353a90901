package sshserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
	"knooppunt/sshserver/opdrachten"
)

// testCPA imports a CPA between the hub and org (which has its demo OIN) and returns its id.
func (th *testHub) testCPA(t *testing.T, org string) string {
	t.Helper()
	o, err := th.hub.Org(org)
	if err != nil || o.OIN == "" {
		t.Fatalf("organisatie %s zonder OIN: %v %+v", org, err, o)
	}
	doc, err := ebms.NewCPA(ebms.CPASpec{
		Hub:     ebms.PartySpec{OIN: th.hub.OIN(), Endpoint: "https://knooppunt.test/ebms"},
		Partner: ebms.PartySpec{OIN: o.OIN, Endpoint: "https://partner.test/ebms"},
		Start:   th.hub.Now().Add(-time.Hour).Truncate(time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := th.hub.ImportCPA(exchange.System, doc)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// sshIn runs a command over OpenSSH with stdin.
func (th *testHub) sshIn(t *testing.T, account string, stdin []byte, wantCode int, command ...string) (string, string) {
	t.Helper()
	args := append(th.sshOpts(th.keys[account]), "-p", th.port, account+"@127.0.0.1", "--")
	cmd := exec.Command("ssh", append(args, command...)...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != wantCode {
		t.Fatalf("%s %q: exit %d, want %d; stdout %q stderr %q", account, command, code, wantCode, o.String(), e.String())
	}
	return o.String(), e.String()
}

// TestOINAndCPACommandsOverSSH: org add --oin, org oin, org list shows the OIN; cpa import from
// stdin (refusals with their reason), cpa list/show/delete (refused while a route uses it), and
// only a beheerder imports.
func TestOINAndCPACommandsOverSSH(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	th.run(t, "beheer", exitOK, "org", "add", "0363", "Gemeente", "Amsterdam", "--oin", "00000001000000000363")
	if _, e := th.sshIn(t, "beheer", nil, exitError, "org", "oin", "0060", "123"); !strings.Contains(e, "20 cijfers") {
		t.Fatalf("bad OIN: %q", e)
	}
	var orgs []opdrachten.OrgJSON
	th.runJSON(t, "beheer", &orgs, "org", "list")
	found := false
	for _, o := range orgs {
		found = found || (o.Code == "0363" && o.OIN == "00000001000000000363")
	}
	if !found {
		t.Fatalf("org list: %+v", orgs)
	}
	o, _ := th.hub.Org("9999")
	spec := ebms.CPASpec{
		Hub:     ebms.PartySpec{OIN: th.hub.OIN(), Endpoint: "https://knooppunt.test/ebms"},
		Partner: ebms.PartySpec{OIN: o.OIN, Endpoint: "https://gemeente.test/ebms"},
		Start:   th.hub.Now().Add(-time.Hour).Truncate(time.Second),
	}
	doc, _ := ebms.NewCPA(spec)
	out, _ := th.sshIn(t, "beheer", doc, exitOK, "cpa", "import", "--json")
	var c opdrachten.CPAJSON
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.Organisatie != "9999" || c.Profiel != "osb-rm" {
		t.Fatalf("import: %v %q", err, out)
	}
	spec.Encryption, spec.ID = true, "versleuteld"
	enc, _ := ebms.NewCPA(spec)
	if _, e := th.sshIn(t, "beheer", enc, exitError, "cpa", "import"); !strings.Contains(e, "versleuteling") {
		t.Fatalf("encrypted: %q", e)
	}
	th.sshIn(t, "gemeente", doc, exitDenied, "cpa", "import")
	var list []opdrachten.CPAJSON
	th.runJSON(t, "beheer", &list, "cpa", "list")
	if len(list) != 1 || list[0].CPAID != c.CPAID {
		t.Fatalf("cpa list: %+v", list)
	}
	if s := th.run(t, "beheer", exitOK, "cpa", "show", c.CPAID); !strings.Contains(s, "https://gemeente.test/ebms") {
		t.Fatalf("cpa show: %q", s)
	}
	th.run(t, "gemeente", exitOK, "route", "zet", "WMO 301/302", "--via", "digikoppeling", "--status", "actief", "--cpa", c.CPAID, "--product", "iwmo")
	th.run(t, "gemeente", exitError, "route", "zet", "JW 301/302", "--via", "digikoppeling", "--status", "actief", "--product", "ijw")
	th.run(t, "beheer", exitError, "cpa", "delete", c.CPAID)
	th.run(t, "gemeente", exitOK, "route", "zet", "WMO 301/302", "--via", "portaal", "--status", "actief", "--cpa", "-", "--product", "iwmo")
	th.run(t, "beheer", exitOK, "cpa", "delete", c.CPAID)
}
