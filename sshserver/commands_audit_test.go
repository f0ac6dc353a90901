package sshserver

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"knooppunt/exchange"
)

func TestAuditCommandsOverSSH(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t)
	beheer := th.keys["beheer"]
	// Some history: a login and a refused listing.
	th.sftp(t, "ameland", "ls /ieb\n")

	out, errOut, code := th.ssh("beheer", beheer, "audit", "verify")
	if code != exitOK || !strings.Contains(out, "auditlog intact: ") || !strings.Contains(out, "kop: ") {
		t.Fatalf("audit verify: exit %d\n%s%s", code, out, errOut)
	}
	// The head it prints is an anchor for a later check.
	anchor := strings.Fields(out[strings.Index(out, "kop: "):])[1]
	out, errOut, code = th.ssh("beheer", beheer, "audit", "verify", "--anker", anchor, "--json")
	var check exchange.AuditCheck
	if code != exitOK || json.Unmarshal([]byte(out), &check) != nil || !check.Intact() || check.AnchorOK == nil || check.Entries == 0 {
		t.Fatalf("audit verify --anker --json: exit %d %+v\n%s%s", code, check, out, errOut)
	}

	out, errOut, code = th.ssh("beheer", beheer, "audit", "export", "--van", "2")
	if code != exitOK {
		t.Fatalf("audit export: exit %d %s", code, errOut)
	}
	var prev exchange.AuditEntry
	n := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e exchange.AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d is no JSON: %v: %s", n+1, err, sc.Text())
		}
		if n == 0 && e.Seq != 2 || n > 0 && (e.Seq != prev.Seq+1 || e.Prev != prev.Hash) {
			t.Fatalf("line %d breaks the chain: %+v after %+v", n+1, e, prev)
		}
		prev, n = e, n+1
	}
	if n < 3 {
		t.Fatalf("export has %d lines:\n%s", n, out)
	}
	if !strings.Contains(out, `"account":"ameland"`) || !strings.Contains(out, `"pad":"/ieb"`) {
		t.Errorf("export lacks the refused listing:\n%s", out)
	}

	// Only the beheerder: a gebruikersbeheerder and a gebruiker are refused with exit 3.
	for _, acct := range []string{"gemeente", "ameland"} {
		for _, cmd := range [][]string{{"audit", "verify"}, {"audit", "export"}} {
			out, errOut, code := th.ssh(acct, th.keys[acct], cmd...)
			if code != exitDenied || out != "" || !strings.Contains(errOut, "beheerder") {
				t.Errorf("%s %v: exit %d, stdout %q, stderr %q", acct, cmd, code, out, errOut)
			}
		}
	}
	for _, args := range [][]string{{"audit", "export", "--van", "nul"}, {"audit", "export", "--van", "0"}, {"audit", "verify", "--anker", "12"}, {"audit", "verify", "extra"}} {
		_, errOut, code := th.ssh("beheer", beheer, args...)
		if code != exitUsage || !strings.Contains(errOut, "gebruik: audit") {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
	assertAudited(t, th.hub, "ameland", "audit export", "", "geen toestemming")
}
