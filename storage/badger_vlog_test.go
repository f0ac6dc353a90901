package storage

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// A kill right after Badger created a new value-log file leaves it empty; Badger then fails
// to open ("Create a new file") although the file holds nothing. OpenBadger opens it anyway.
func TestOpenAfterAnEmptyValueLog(t *testing.T) {
	dir := t.TempDir()
	b, err := OpenBadger(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(tx Txn) error { return tx.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	b.Close()
	vlogs, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if len(vlogs) == 0 {
		t.Fatal("no value log")
	}
	if err := os.WriteFile(filepath.Join(dir, "000099.vlog"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err = OpenBadger(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open with an empty value log: %v", err)
	}
	defer b.Close()
	b.View(func(tx Txn) error {
		if v, err := tx.Get([]byte("k")); err != nil || string(v) != "v" {
			t.Fatalf("k = %q, %v", v, err)
		}
		return nil
	})
}
