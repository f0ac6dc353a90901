package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A commit's rename is durable only after an fsync of its directory that started after the
// rename. Shared fsyncs must never hand a caller one that was already running when it came.
func TestDirSyncStartsAfterEveryCaller(t *testing.T) {
	var clock atomic.Int64
	type span struct {
		dir        string
		start, end int64
	}
	var mu sync.Mutex
	var syncs []span
	failAt := int64(-1)
	s := &dirSyncs{sync: func(dir string) error {
		start := clock.Add(1)
		time.Sleep(time.Millisecond)
		end := clock.Add(1)
		mu.Lock()
		defer mu.Unlock()
		syncs = append(syncs, span{dir, start, end})
		if len(syncs) == 3 {
			failAt = start
			return errors.New("schijf weg")
		}
		return nil
	}}
	const callers = 64
	type call struct {
		dir         string
		arrive, ret int64
		err         error
	}
	calls := make([]call, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			time.Sleep(time.Duration(i%8) * 300 * time.Microsecond)
			dir := "/d"
			if i%16 == 15 {
				dir = "/e" // another directory: its own syncs
			}
			calls[i].dir = dir
			calls[i].arrive = clock.Add(1)
			calls[i].err = s.syncAfter(dir)
			calls[i].ret = clock.Add(1)
		})
	}
	wg.Wait()
	if len(syncs) >= callers {
		t.Errorf("%d fsyncs for %d callers: none shared", len(syncs), callers)
	}
	failed := 0
	for i, c := range calls {
		// The first fsync of its directory to start after it came is the one it waits for.
		covered := false
		var by span
		for _, s := range syncs {
			if s.dir == c.dir && s.start > c.arrive && (!covered || s.start < by.start) {
				covered, by = true, s
			}
		}
		covered = covered && by.end < c.ret
		if !covered {
			t.Errorf("caller %d (arrived %d, returned %d) had no fsync that started after it", i, c.arrive, c.ret)
		}
		if c.err != nil {
			failed++
			if by.start != failAt {
				// The first sync after it is what it waited for; only that one's failure is its own.
				t.Errorf("caller %d got %v from a sync that did not fail", i, c.err)
			}
		}
	}
	if failed == 0 {
		t.Error("the failed fsync reached no caller")
	}
	if len(s.dirs) != 0 {
		t.Errorf("%d directories still tracked after every caller returned", len(s.dirs))
	}
	t.Logf("%d callers, %d fsyncs, %d saw the failure", callers, len(syncs), failed)
}

// Files committed at once into one directory share its fsyncs, and each is there after.
func TestCommitsShareDirectorySync(t *testing.T) {
	d, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	d.dirs.sync = func(dir string) error {
		n.Add(1)
		time.Sleep(2 * time.Millisecond) // as long as a disk write
		return syncDir(dir)
	}
	const files = 40
	var wg sync.WaitGroup
	for i := range files {
		wg.Go(func() {
			w, err := d.Create(filepath.ToSlash(filepath.Join("dlv", "7", fmt.Sprintf("%d.zip", i))))
			if err != nil {
				t.Error(err)
				return
			}
			fmt.Fprintf(w, "bestand %d", i)
			if err := w.Commit(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range files {
		if got := string(readAll(t, d, fmt.Sprintf("dlv/7/%d.zip", i))); got != fmt.Sprintf("bestand %d", i) {
			t.Errorf("dlv/7/%d.zip: %q", i, got)
		}
	}
	if n.Load() >= files {
		t.Errorf("%d directory fsyncs for %d commits", n.Load(), files)
	}
	t.Logf("%d commits, %d directory fsyncs", files, n.Load())
}
