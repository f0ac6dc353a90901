package sshserver

import (
	"slices"
	"strings"
	"testing"

	"knooppunt/sshserver/opdrachten"
)

// TestManageAccountsAndOrgs (issue 13, item 7), through OpenSSH ssh: roles of an existing
// account changed with +/-, an account deleted (its key no longer logs in), an organisation
// renamed and deleted, the refusals (a gebruikersbeheerder handing out beheerder, deleting
// oneself, an organisation with recent messages, a plain account renaming), and every
// change and refusal in the audit log.
func TestManageAccountsAndOrgs(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	keyFile, pub, _ := newKey(t)
	th.run(t, "gemeente", exitOK, "gebruiker", "add", "piet", "--key", pub, "--product", "iwmo")

	out := th.run(t, "gemeente", exitOK, "gebruiker", "rol", "piet", "+productbeheerder", "+gebruikersbeheerder")
	if !strings.Contains(out, "gebruikersbeheerder") || !strings.Contains(out, "productbeheerder") {
		t.Fatalf("gebruiker rol +: %q", out)
	}
	th.run(t, "gemeente", exitOK, "gebruiker", "rol", "piet", "-gebruikersbeheerder")
	var accts []opdrachten.AccountJSON
	th.runJSON(t, "gemeente", &accts, "gebruiker", "list")
	i := slices.IndexFunc(accts, func(a opdrachten.AccountJSON) bool { return a.Naam == "piet" })
	if i < 0 || !slices.Contains(accts[i].Rollen, "productbeheerder") || slices.Contains(accts[i].Rollen, "gebruikersbeheerder") {
		t.Fatalf("roles after +productbeheerder +gebruikersbeheerder -gebruikersbeheerder: %+v", accts)
	}
	if _, errOut, code := th.ssh("gemeente", th.keys["gemeente"], "gebruiker", "rol", "piet", "+beheerder"); code != exitDenied || !strings.Contains(errOut, "beheerder") {
		t.Errorf("a gebruikersbeheerder hands out beheerder: exit %d %q", code, errOut)
	}
	if _, errOut, code := th.ssh("gemeente", th.keys["gemeente"], "gebruiker", "rol", "piet", "productbeheerder"); code != exitUsage || !strings.Contains(errOut, "+ROL") {
		t.Errorf("a role without + or -: exit %d %q", code, errOut)
	}
	if _, errOut, code := th.ssh("gemeente", th.keys["gemeente"], "gebruiker", "verwijder", "gemeente"); code != exitDenied || !strings.Contains(errOut, "eigen account") {
		t.Errorf("deleting oneself: exit %d %q", code, errOut)
	}
	if _, errOut, code := th.ssh("ameland", th.keys["ameland"], "gebruiker", "verwijder", "piet"); code != exitDenied {
		t.Errorf("a plain account deletes another: exit %d %q", code, errOut)
	}

	// piet can log in until deleted, then not.
	if _, errOut, code := th.ssh("piet", keyFile, "whoami"); code != exitOK {
		t.Fatalf("piet before the delete: exit %d %q", code, errOut)
	}
	th.run(t, "gemeente", exitOK, "gebruiker", "verwijder", "piet")
	if _, _, code := th.ssh("piet", keyFile, "whoami"); code == exitOK {
		t.Errorf("a deleted account still logs in")
	}
	th.runJSON(t, "gemeente", &accts, "gebruiker", "list")
	if slices.ContainsFunc(accts, func(a opdrachten.AccountJSON) bool { return a.Naam == "piet" }) {
		t.Errorf("piet still listed: %+v", accts)
	}
	// The name is free again.
	th.run(t, "gemeente", exitOK, "gebruiker", "add", "piet", "--key", pub, "--product", "iwmo")

	// Organisations.
	th.run(t, "beheer", exitOK, "org", "add", "0363", "Gemeente", "Amsterdam")
	th.run(t, "beheer", exitOK, "org", "naam", "0363", "Gemeente", "Amsterdam-Centrum")
	if out := th.run(t, "beheer", exitOK, "org", "list"); !strings.Contains(out, "Gemeente Amsterdam-Centrum") {
		t.Errorf("org list after org naam:\n%s", out)
	}
	if _, _, code := th.ssh("ameland", th.keys["ameland"], "org", "naam", "0060", "Eiland"); code != exitDenied {
		t.Errorf("a plain account renames its organisation: exit %d", code)
	}
	th.run(t, "beheer", exitOK, "org", "verwijder", "0363")
	if out := th.run(t, "beheer", exitOK, "org", "list"); strings.Contains(out, "0363") {
		t.Errorf("org list after org verwijder:\n%s", out)
	}
	th.sendWMO301(t, "recent.zip", 1)
	if _, errOut, code := th.ssh("beheer", th.keys["beheer"], "org", "verwijder", "12345678"); code != exitError || !strings.Contains(errOut, "jonger zijn dan 60 dagen") || !strings.Contains(errOut, "verwijderen kan vanaf") {
		t.Errorf("deleting an organisation with a recent message: exit %d %q", code, errOut)
	}
	if _, errOut, code := th.ssh("beheer", th.keys["beheer"], "org", "verwijder", "CAK"); code != exitError || !strings.Contains(errOut, "accounts (cak)") {
		t.Errorf("deleting an organisation with accounts: exit %d %q", code, errOut)
	}

	for _, e := range [][4]string{
		{"gemeente", "roles change", "piet +productbeheerder,+gebruikersbeheerder", "ok"},
		{"gemeente", "roles change", "piet -gebruikersbeheerder", "ok"},
		{"gemeente", "roles change", "piet +beheerder", "geen toestemming"},
		{"gemeente", "account delete", "piet", "ok"},
		{"gemeente", "account delete", "gemeente", "geen toestemming"},
		{"beheer", "org naam", "0363 Gemeente Amsterdam-Centrum", "ok"},
		{"beheer", "org delete", "0363", "ok"},
		{"beheer", "org delete", "12345678", "jonger zijn dan 60 dagen"},
	} {
		assertAudited(t, th.hub, e[0], e[1], e[2], e[3])
	}
}
