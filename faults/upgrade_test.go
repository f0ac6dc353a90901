package faults

import (
	"log/slog"
	"os/exec"
	"strings"
	"testing"

	"knooppunt/storage"
)

func setStoreVersion(t *testing.T, dir, v string) {
	t.Helper()
	db, err := storage.OpenBadger(dir+"/db", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx storage.Txn) error {
		if v == "" {
			return tx.Delete([]byte("meta/version"))
		}
		return tx.Set([]byte("meta/version"), []byte(v))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeAndDowngrade: a store from before versions is migrated by the binary at start,
// once and logged; a store from a newer binary is refused with a Dutch message that says what
// to do, and left as it was.
func TestUpgradeAndDowngrade(t *testing.T) {
	needBinary(t)
	dir := t.TempDir()
	setup, _ := seedWithBeheerder(t, dir, t.TempDir(), 1, 1)
	setStoreVersion(t, dir, "")
	for i := range 2 {
		srv := start(t, dir)
		c := dial(t, srv, dir, setup.Gemeenten[0])
		c.Close()
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		migrated := strings.Contains(srv.Log(), "opslag bijgewerkt")
		if migrated != (i == 0) {
			t.Fatalf("start %d: migration logged %v:\n%s", i+1, migrated, srv.Log())
		}
	}
	setStoreVersion(t, dir, "99")
	out, err := exec.Command(bin, "serve", "--data", dir, "--listen", "127.0.0.1:0").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 ||
		!strings.Contains(string(out), "heeft versie 99") || !strings.Contains(string(out), "nieuwere knooppunt-versie") {
		t.Fatalf("serve on a newer store: %v\n%s", err, out)
	}
	db, err := storage.OpenBadger(dir+"/db", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx storage.Txn) error {
		v, _ := tx.Get([]byte("meta/version"))
		if string(v) != "99" {
			t.Errorf("the refused store now says version %q", v)
		}
		return nil
	})
}
