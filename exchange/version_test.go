package exchange

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"knooppunt/storage"
)

func setVersion(t *testing.T, dir string, v int) {
	t.Helper()
	db, err := storage.OpenBadger(dir+"/db", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx storage.Txn) error {
		if v < 0 {
			return tx.Delete([]byte(kVersion))
		}
		return tx.Set([]byte(kVersion), []byte(strconv.Itoa(v)))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func TestStoreVersion(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	h, err := Open(Config{DataDir: dir, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CreateOrg(System, "0363", "Gemeente Amsterdam"); err != nil {
		t.Fatal(err)
	}
	var v int
	h.kv.View(func(tx storage.Txn) error { v, _, err = readVersion(tx); return err })
	h.Close()
	if v != StoreVersion || strings.Contains(logs.String(), "bijgewerkt") {
		t.Fatalf("new store: version %d, log %s", v, logs.String())
	}

	// A store from before versions existed is migrated once, and says so once.
	setVersion(t, dir, -1)
	for range 2 {
		h, err := Open(Config{DataDir: dir, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Org("0363"); err != nil {
			t.Fatalf("after migration: %v", err)
		}
		h.Close()
	}
	if n := strings.Count(logs.String(), "opslag bijgewerkt"); n != 1 {
		t.Fatalf("migration logged %d times:\n%s", n, logs.String())
	}

	// A newer store is refused, untouched, with a message that says what to do.
	setVersion(t, dir, StoreVersion+1)
	_, err = Open(Config{DataDir: dir, Log: log})
	if !errors.Is(err, ErrStoreTooNew) || !strings.Contains(err.Error(), "nieuwere knooppunt-versie") {
		t.Fatalf("newer store: %v", err)
	}
	db, _ := storage.OpenBadger(dir+"/db", slog.New(slog.DiscardHandler))
	db.View(func(tx storage.Txn) error { v, _, err = readVersion(tx); return err })
	db.Close()
	if v != StoreVersion+1 {
		t.Fatalf("refused store changed to version %d", v)
	}
}

// A backup of a store from a newer binary is refused before anything is written.
func TestRestoreRefusesANewerStore(t *testing.T) {
	e := newEngine(t, "")
	if err := e.h.kv.Update(func(tx storage.Txn) error {
		return tx.Set([]byte(kVersion), []byte(strconv.Itoa(StoreVersion+1)))
	}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := e.h.Backup(context.Background(), System, &buf, nil); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "x")
	_, err := RestoreBackup(context.Background(), &buf, Config{DataDir: dir, Log: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, ErrStoreTooNew) || !strings.Contains(err.Error(), "nieuwere knooppunt-versie") {
		t.Fatalf("restore of a newer store: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("refused restore left %s", dir)
	}
}
