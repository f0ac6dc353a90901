package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"knooppunt/loadgen"
)

// TestDamagedFilesAreNotServed flips a byte in one delivered file and truncates another
// while the hub is down. At the next start both are reported, neither reaches a client (each
// download fails with a clear Dutch error), and everything else is still served.
func TestDamagedFilesAreNotServed(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	setup, err := loadgen.Seed(dir, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	srv := start(t, dir)
	gem := dial(t, srv, dir, setup.Gemeenten[0])
	envs := spread(30, setup.Aanbieders)
	if err := gem.Put("iwmo", "week5.zip", loadgen.BuildZip(setup.Gemeenten[0].Org, envs, loadgen.Payload(2000))); err != nil {
		t.Fatal(err)
	}
	for _, a := range setup.Aanbieders {
		waitInbox(t, dial(t, srv, dir, a), 1)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	blobs, _ := filepath.Glob(filepath.Join(dir, "files", "blobs", "dlv", "*", "*.zip"))
	if len(blobs) != 3 {
		t.Fatalf("%d afleverbestanden op schijf, verwacht 3: %v", len(blobs), blobs)
	}
	f, err := os.OpenFile(blobs[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	f.ReadAt(b, 100)
	f.WriteAt([]byte{b[0] ^ 0x20}, 100)
	f.Close()
	st, _ := os.Stat(blobs[1])
	if err := os.Truncate(blobs[1], st.Size()/2); err != nil {
		t.Fatal(err)
	}

	srv = start(t, dir)
	defer srv.Stop()
	if !srv.WaitLog("bestandscontrole klaar", 30*time.Second) {
		t.Fatalf("geen bestandscontrole bij de start:\n%s", srv.Log())
	}
	log := srv.Log()
	if n := strings.Count(log, "BESCHADIGD BESTAND"); n != 2 || !strings.Contains(log, "beschadigd_of_ontbrekend=2") {
		t.Fatalf("%d beschadigde bestanden gemeld, verwacht 2:\n%s", n, log)
	}
	served, refused := 0, 0
	got := map[string]bool{}
	for _, a := range setup.Aanbieders {
		c := dial(t, srv, dir, a)
		names := waitInbox(t, c, 1)
		data, err := c.Get("/iwmo/ophalen/" + names[0])
		if err != nil {
			if !strings.Contains(err.Error(), "beschadigd") || !strings.Contains(err.Error(), "beheerder") {
				t.Errorf("%s: fout zegt niet wat er is: %v", a.Name, err)
			}
			if len(data) != 0 {
				t.Errorf("%s: %d bytes van een beschadigd bestand geleverd", a.Name, len(data))
			}
			t.Logf("%s krijgt: %v", a.Name, err)
			refused++
			continue
		}
		refs, err := loadgen.RefsInZip(data)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		for _, r := range refs {
			got[r] = true
		}
		served++
	}
	if served != 1 || refused != 2 || len(got) != 10 {
		t.Fatalf("%d geleverd (%d berichten), %d geweigerd; verwacht 1 (10), 2", served, len(got), refused)
	}
	// The hub goes on: a new upload is delivered as usual.
	gem = dial(t, srv, dir, setup.Gemeenten[0])
	if err := gem.Put("iwmo", "week6.zip", loadgen.BuildZip(setup.Gemeenten[0].Org, spread(3, setup.Aanbieders), loadgen.Payload(500))); err != nil {
		t.Fatal(err)
	}
	for _, a := range setup.Aanbieders {
		waitInbox(t, dial(t, srv, dir, a), 2)
	}
}
