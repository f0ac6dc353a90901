package storage

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"knooppunt/storage/storagetest"
)

// Two transactions that read and write the same key at once: the one that loses is retried,
// and its serialization failure is counted under the caller of Update (this test function,
// with its file and line), not under a function of this package, with its reason; Close logs
// the counts.
func TestPostgresCountsConflictsPerCaller(t *testing.T) {
	url := storagetest.DatabaseURL(t)
	var logged bytes.Buffer
	var logMu sync.Mutex
	p, err := OpenPostgres(context.Background(), url, slog.New(slog.NewTextHandler(&lockedWriter{w: &logged, mu: &logMu}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	k := []byte("teller")
	if err := p.Update(func(tx Txn) error { return tx.Set(k, []byte{0}) }); err != nil {
		t.Fatal(err)
	}
	// first reads the key, then waits until second has read it, written it and committed.
	read := make(chan struct{})
	second := make(chan error, 1)
	tries := 0
	err = p.Update(func(tx Txn) error {
		tries++
		v, err := tx.Get(k)
		if err != nil {
			return err
		}
		if tries == 1 {
			close(read)
			go func() {
				second <- p.Update(func(tx Txn) error {
					v, err := tx.Get(k)
					if err != nil {
						return err
					}
					return tx.Set(k, []byte{v[0] + 1})
				})
			}()
			if err := <-second; err != nil {
				return err
			}
		}
		return tx.Set(k, []byte{v[0] + 1})
	})
	<-read
	if err != nil {
		t.Fatal(err)
	}
	if tries != 2 {
		t.Fatalf("the first transaction ran %d times, want 2 (once lost, once committed)", tries)
	}
	cs := p.Conflicts()
	if len(cs) != 1 || cs[0].N != 1 {
		t.Fatalf("conflicts %+v, want one", cs)
	}
	if !strings.Contains(cs[0].Label, "postgres_conflicts_test.go:") || !strings.Contains(cs[0].Label, "TestPostgresCountsConflictsPerCaller") ||
		!(strings.HasSuffix(cs[0].Label, " update") || strings.HasSuffix(cs[0].Label, " rw")) {
		t.Fatalf("conflict counted as %q, want this test's file, function and a reason", cs[0].Label)
	}
	var v []byte
	if err := p.View(func(tx Txn) (err error) { v, err = tx.Get(k); return err }); err != nil || v[0] != 2 {
		t.Fatalf("value %v (%v), want 2: both increments", v, err)
	}
	p.Close()
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logged.String(), "msg=transactieconflict aantal=1") {
		t.Fatalf("Close logged no conflict count:\n%s", logged.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
