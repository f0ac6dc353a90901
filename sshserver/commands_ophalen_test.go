package sshserver

import (
	"regexp"
	"slices"
	"testing"

	"knooppunt/sshserver/opdrachten"
)

// TestOphalenReferentiesAndVerwijder (issue 13, item 5), through OpenSSH ssh: ophalen --json
// gives each file's referentienummers, verwijder prints one that herstel takes, and herstel
// with it brings the file back.
func TestOphalenReferentiesAndVerwijder(t *testing.T) {
	needOpenSSH(t)
	th := startHub(t, withEngine)
	_, refs := th.sendWMO301(t, "refs.zip", 2)

	var files []opdrachten.DeliveryJSON
	th.runJSON(t, "aanbieder", &files, "ophalen")
	if len(files) != 1 {
		t.Fatalf("ophalen = %+v", files)
	}
	got := slices.Sorted(slices.Values(files[0].Referentienummers))
	if want := slices.Sorted(slices.Values(refs)); !slices.Equal(got, want) {
		t.Fatalf("ophalen --json referentienummers = %v, want %v", got, want)
	}
	name := files[0].Naam

	out := th.run(t, "aanbieder", exitOK, "verwijder", name)
	m := regexp.MustCompile(`herstel ([0-9a-f-]{36}) \(of een van de 1 andere`).FindStringSubmatch(out)
	if m == nil || !slices.Contains(refs, m[1]) {
		t.Fatalf("verwijder does not print a referentienummer for herstel: %q", out)
	}
	th.runJSON(t, "aanbieder", &files, "ophalen")
	if len(files) != 0 {
		t.Fatalf("ophalen after verwijder = %+v", files)
	}
	th.run(t, "aanbieder", exitOK, "herstel", m[1])
	th.runJSON(t, "aanbieder", &files, "ophalen")
	if len(files) != 1 || files[0].Naam != name {
		t.Fatalf("ophalen after herstel %s = %+v", m[1], files)
	}

	// verwijder --json lists them all.
	var removed []opdrachten.RemovedJSON
	th.runJSON(t, "aanbieder", &removed, "verwijder", name)
	if len(removed) != 1 || len(removed[0].Referentienummers) != 2 {
		t.Fatalf("verwijder --json = %+v", removed)
	}
}
