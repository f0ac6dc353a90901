package exchange

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"knooppunt/storage"
)

const childDirEnv = "KNOOPPUNT_ENGINE_CHILD_DIR"

// TestEngineChild is the engine in a child process for TestKillAndRestart: it runs until it
// is killed.
func TestEngineChild(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("only as a child of TestKillAndRestart")
	}
	h, err := Open(Config{DataDir: dir, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	h.Run(context.Background())
}

var refPattern = regexp.MustCompile(`<StUF:referentienummer>([^<]+)<`)

// TestKillAndRestart kills the engine with SIGKILL at random moments while it processes, then
// lets it finish, and checks that every accepted envelope was delivered exactly once or
// rejected exactly once, and that every upload is final.
func TestKillAndRestart(t *testing.T) {
	badgerOnly(t, "its crash is a copy of DIR")
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	h, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range append(testOrgs, [2]string{"11111111", "Zorg 1"}, [2]string{"22222222", "Zorg 2"}, [2]string{"33333333", "Zorg 3"}) {
		if _, err := h.CreateOrg(System, o[0], o[1]); err != nil {
			t.Fatal(err)
		}
	}
	good, bad, ids := crashFixtures(t, h)
	h.Close()

	for i := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEngineChild$", "-test.v")
		cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		t.Logf("kill %d: %s", i+1, crashState(t, dir, ids))
	}

	e := newEngine(t, dir)
	gem := e.principal("0363")
	rejected := 0
	for _, id := range ids {
		u := e.wait(gem, id)
		rejected += u.Counts.Incorrect
		if u.Counts.Aangeleverd != u.Counts.Correct+u.Counts.Incorrect {
			t.Errorf("upload %d counts %+v", id, u.Counts)
		}
	}
	if rejected != bad {
		t.Errorf("rejected %d, want %d", rejected, bad)
	}
	seen := map[string]int{}
	files := 0
	for _, org := range []string{"12345678", "87654321", "11111111", "22222222", "33333333"} {
		p := e.principal(org)
		for name, entries := range e.inbox(p, IWmo) {
			files++
			for entry, data := range entries {
				m := refPattern.FindSubmatch(data)
				if m == nil {
					t.Fatalf("%s/%s: no referentienummer", name, entry)
				}
				seen[string(m[1])]++
			}
		}
	}
	for ref := range good {
		if seen[ref] != 1 {
			t.Errorf("%s delivered %d times", ref, seen[ref])
		}
	}
	if len(seen) != len(good) {
		t.Errorf("delivered %d distinct messages, want %d", len(seen), len(good))
	}
	blobs := 0
	e.h.files.Walk("dlv/", func(string, int64) error { blobs++; return nil })
	if blobs != files {
		t.Errorf("%d delivery files on disk, %d in ophalen/", blobs, files)
	}
}

// crashFixtures writes uploads into a fresh store and returns the referentienummers it expects
// to be delivered and how many entries it expects to be rejected.
func crashFixtures(t *testing.T, h *Hub) (good map[string]bool, bad int, ids []uint64) {
	good = map[string]bool{}
	gem := storedPrincipal(t, h, &Principal{Account: Account{Name: "gem", Org: "0363", Products: Products}, Org: Org{Code: "0363"}})
	aanbieders := []string{"12345678", "87654321", "11111111", "22222222", "33333333"}
	for u := range 4 {
		var files []zipFile
		n := 1200 + 300*u
		for i := range n {
			ref := newRef()
			switch {
			case i%97 == 5:
				files = append(files, zipFile{Name: fmt.Sprintf("fout%d.xml", i), Data: envelope("WMO399", "0363", aanbieders[i%5], ref, "")})
				bad++
			default:
				files = append(files, zipFile{Name: fmt.Sprintf("b%d.xml", i), Data: envelope("WMO301", "0363", aanbieders[i%5], ref, "")})
				good[ref] = true
			}
		}
		data := buildZip(t, files...)
		blob := fmt.Sprintf("test/crash%d", u)
		w, err := h.files.Create(blob)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		up, err := h.accept(gem, IWmo, fmt.Sprintf("crash%d.zip", u), blob, int64(len(data)), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, up.ID)
	}
	return good, bad, ids
}

// crashState tells how far the uploads got, to show that the kills hit work in progress.
func crashState(t *testing.T, dir string, ids []uint64) string {
	h, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var out []string
	for _, id := range ids {
		var u Upload
		var prog progress
		h.kv.View(func(tx storage.Txn) error {
			getJSON(tx, key(kUpload, id), &u)
			prog, _ = loadProgress(tx, id)
			return nil
		})
		out = append(out, fmt.Sprintf("%s(next %d, decided %v, delivered %v)", u.Status, prog.Next, prog.Decided, prog.Delivered))
	}
	return strings.Join(out, " ")
}
