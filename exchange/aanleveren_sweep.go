package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"knooppunt/storage"
)

// PendingBewaartijd is how long a staged or cut-off file may wait in aanleveren/ for its
// rename or its `reput` before it is thrown away.
const PendingBewaartijd = 7 * 24 * time.Hour

// openSpools are the blobs of uploads being written right now. Until a spool's Close
// returns, its blob may be referenced by nothing in the store yet, and the sweep must not
// take it for litter.
type openSpools struct {
	mu    sync.Mutex
	blobs map[string]int
}

func (o *openSpools) add(blob string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.blobs == nil {
		o.blobs = map[string]int{}
	}
	o.blobs[blob]++
}

func (o *openSpools) done(blob string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.blobs[blob]--; o.blobs[blob] <= 0 {
		delete(o.blobs, blob)
	}
}

func (o *openSpools) has(blob string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.blobs[blob] > 0
}

// LitterGrace is how long bytes in aanleveren/ that nothing points to are left before the
// sweep removes them. Another node's upload writes its bytes to the shared file store first
// and its record a moment later, and this node does not see that node's open spools: without
// the wait, the sweep on this node threw away an upload another node had just accepted (the
// two-node load test of 5 Dec: one upload of 2,000 Afgekeurd, "het aangeleverde bestand is niet
// meer aanwezig"). It is far longer than the store's timeout, after which an unrecorded
// upload has failed and its bytes are litter indeed.
const LitterGrace = 15 * time.Minute

// litterSeen remembers since when each unreferenced blob was seen by this node's sweep; a
// node that takes the sweep over starts counting afresh, which only waits longer.
type litterSeen struct {
	mu    sync.Mutex
	first map[string]time.Time
}

// ripe tells which of the unreferenced blobs have been unreferenced for LitterGrace, and
// forgets the blobs that are no longer unreferenced.
func (l *litterSeen) ripe(now time.Time, unreferenced []string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := make(map[string]time.Time, len(unreferenced))
	var out []string
	for _, name := range unreferenced {
		first, ok := l.first[name]
		if !ok {
			first = now
		}
		if now.Sub(first) >= LitterGrace {
			out = append(out, name)
			continue
		}
		seen[name] = first
	}
	l.first = seen
	return out
}

// sweepAanleveren throws away pending files older than PendingBewaartijd, and bytes in
// aanleveren/ that nothing has pointed to for LitterGrace: left by a crash between writing a
// file and recording it, or by a pending record that was dropped.
func (h *Hub) sweepAanleveren(now time.Time) error {
	var expired []PendingFile
	var expiredKeys, oldKeys [][]byte
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan([]byte(kPending), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
			var f PendingFile
			if err := json.Unmarshal(v, &f); err != nil {
				return false, fmt.Errorf("wachtend bestand %s lezen: %w", k, err)
			}
			switch {
			case now.Sub(f.ModTime) > PendingBewaartijd:
				expired = append(expired, f)
				expiredKeys = append(expiredKeys, append([]byte(nil), k...))
			case bytes.Count(k[len(kPending):], []byte("/")) == 2 && f.Account != "":
				oldKeys = append(oldKeys, append([]byte(nil), k...)) // pend/<org>/<product>/<name>
			}
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	// Pending files recorded before they were per account move under their account.
	for _, k := range oldKeys {
		err := h.kv.Update(func(t storage.Txn) error {
			var f PendingFile
			if err := getJSON(t, k, &f); err != nil {
				return err
			}
			parts := strings.SplitN(string(k[len(kPending):]), "/", 3)
			if err := t.Delete(k); err != nil {
				return err
			}
			return setJSON(t, pendingKey(parts[0], Product(parts[1]), f.Account, f.Name), f)
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("wachtend bestand %s overzetten naar zijn account: %w", k, err)
		}
	}
	for i, f := range expired {
		if err := h.kv.Update(func(t storage.Txn) error { return t.Delete(expiredKeys[i]) }); err != nil {
			return fmt.Errorf("verlopen bestand in aanleveren/ opruimen: %w", err)
		}
		h.dropStaged(f.Blob)
		h.log.Info("wachtend bestand in aanleveren/ verlopen", "naam", f.Name, "account", f.Account, "sinds", f.ModTime)
		h.Audit(System, "aanleveren opruimen", f.Name, fmt.Sprintf("na %s niet hernoemd of hervat: verwijderd", PendingBewaartijd))
	}

	// Candidates first, open spools checked next, references last: a spool records its
	// blob before it stops counting as open, so a blob that is neither is litter.
	var candidates []string
	collect := func(name string) error {
		if !h.spools.has(name) {
			candidates = append(candidates, name)
		}
		return nil
	}
	if err := h.files.WalkUncommitted("aanleveren/", collect); err != nil {
		return fmt.Errorf("aanleveren/ nalopen: %w", err)
	}
	if err := h.files.Walk("aanleveren/", func(name string, _ int64) error { return collect(name) }); err != nil {
		return fmt.Errorf("aanleveren/ nalopen: %w", err)
	}
	if len(candidates) == 0 {
		return nil
	}
	referenced := map[string]bool{}
	err = h.kv.View(func(t storage.Txn) error {
		err := t.Scan([]byte(kPending), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
			var f PendingFile
			if err := json.Unmarshal(v, &f); err == nil {
				referenced[f.Blob] = true
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		// The queue is short and no door waits on the sweep: it runs to the end.
		return scanUploads(context.Background(), t, []byte(kQueue), false, func(u Upload) (bool, error) {
			referenced[u.Blob] = true
			return true, nil
		})
	})
	if err != nil {
		return fmt.Errorf("aanleveren/ nalopen: %w", err)
	}
	var unreferenced []string
	for _, name := range candidates {
		if !referenced[name] {
			unreferenced = append(unreferenced, name)
		}
	}
	for _, name := range h.litter.ripe(now, unreferenced) {
		if err := h.files.Remove(name); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("los bestand %s opruimen: %w", name, err)
		}
		h.log.Warn("los bestand in aanleveren/ opgeruimd (van een onderbroken of afgebroken schrijfactie)", "blob", name)
	}
	return nil
}
