package storage

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// A blob removed while a backup holds a pin stays readable for the backup, with its
// checksum, and disappears once the pin is released.
func TestPinKeepsRemovedBlobsForTheCopy(t *testing.T) {
	d, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put(t, d, "dlv/1/0.zip", []byte("eerste"), false)
	release := d.Pin()
	if err := d.Remove("dlv/1/0.zip"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open("dlv/1/0.zip"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a removed blob: %v, want ErrNotFound", err)
	}
	r, sum, err := d.OpenPinned("dlv/1/0.zip")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if want := sha256.Sum256([]byte("eerste")); string(b) != "eerste" || string(sum) != string(want[:]) {
		t.Fatalf("pinned read %q (sum %x)", b, sum)
	}
	release()
	release() // twice is harmless
	if _, _, err := d.OpenPinned("dlv/1/0.zip"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after release: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(d.root, "attic")); !os.IsNotExist(err) {
		t.Fatalf("attic left behind: %v", err)
	}
	// Without a pin Remove deletes at once.
	put(t, d, "x", []byte("y"), false)
	d.Remove("x")
	if _, _, err := d.OpenPinned("x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unpinned remove: %v", err)
	}
}

func TestLoadBadgerSortedOnly(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	i := 0
	n, err := LoadBadger(dir, log, func() ([]byte, []byte, error) {
		if i == 10000 {
			return nil, nil, io.EOF
		}
		i++
		return fmt.Appendf(nil, "k/%08d", i), fmt.Appendf(nil, "v%d", i), nil
	})
	if err != nil || n != 10000 {
		t.Fatalf("load: %d, %v", n, err)
	}
	b, err := OpenBadger(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	b.View(func(t Txn) error {
		return t.Scan([]byte("k/"), ScanOptions{}, func(k, v []byte) (bool, error) { count++; return true, nil })
	})
	if err := b.Update(func(t Txn) error { return t.Set([]byte("k/new"), []byte("x")) }); err != nil {
		t.Fatalf("write after load: %v", err)
	}
	var got []byte
	b.View(func(t Txn) error { got, _ = t.Get([]byte("k/00000042")); return nil })
	b.Close()
	if count != 10000 || string(got) != "v42" {
		t.Fatalf("after load: %d records, k/42=%q", count, got)
	}
	// A second load into the same directory is refused; unsorted input too.
	if _, err := LoadBadger(dir, log, func() ([]byte, []byte, error) { return nil, nil, io.EOF }); err == nil {
		t.Fatal("load into a non-empty store accepted")
	}
	keys := []string{"b", "a"}
	_, err = LoadBadger(t.TempDir(), log, func() ([]byte, []byte, error) {
		if len(keys) == 0 {
			return nil, nil, io.EOF
		}
		k := keys[0]
		keys = keys[1:]
		return []byte(k), nil, nil
	})
	if err == nil {
		t.Fatal("unsorted load accepted")
	}
}
