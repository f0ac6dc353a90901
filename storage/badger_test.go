package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Sequence numbers are unique and growing, also across a restart, and a restart may skip.
func TestSequenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	seen := map[uint64]bool{}
	var last uint64
	for range 3 {
		b, err := OpenBadger(dir, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			n, err := b.Sequence("upload")
			if err != nil {
				t.Fatal(err)
			}
			if n <= last || seen[n] {
				t.Fatalf("sequence gave %d after %d", n, last)
			}
			if i == 0 && last == 0 && n != 1 {
				t.Fatalf("first value %d, want 1", n)
			}
			seen[n], last = true, n
		}
		if n, _ := b.Sequence("other"); n == 0 {
			t.Fatal("second counter starts at 0")
		}
		b.Close()
	}
}

// A transaction beyond what Badger takes at once fails with ErrTooBig, which says so in Dutch.
func TestTxnTooBig(t *testing.T) {
	b, err := OpenBadger(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	val := make([]byte, 512)
	err = b.Update(func(tx Txn) error {
		for i := range 20_000 {
			if err := tx.Set(fmt.Appendf(nil, "k/%08d", i), val); err != nil {
				return fmt.Errorf("schrijven: %w", err)
			}
		}
		return nil
	})
	if !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "te groot") {
		t.Fatalf("err = %v, want ErrTooBig", err)
	}
}
