package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"knooppunt/storage"
	"knooppunt/storage/storagetest"
)

// flakyFiles fails every Open of an uploaded file while fail is set, the way a disk that
// hiccups does: the engine must retry, not reject.
type flakyFiles struct {
	storage.Files
	fail atomic.Bool
}

func (f *flakyFiles) Open(name string) (storage.Reader, error) {
	if f.fail.Load() && strings.HasPrefix(name, "test/") {
		return nil, fmt.Errorf("open %s: %w", name, syscall.EIO)
	}
	return f.Files.Open(name)
}

// The scheduler's back-off runs on the hub's clock: a failed upload is retried after 1 s, then
// 2 s, doubling, as that clock counts them, so a test (or a node with another clock) moves it
// without waiting. The scheduler is driven by hand: dispatch, the worker's result, finish.
func TestSchedulerBackOffUsesTheHubClock(t *testing.T) {
	dir := t.TempDir()
	disk, err := storage.OpenDisk(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	files := &flakyFiles{Files: disk}
	files.fail.Store(true)
	e := idleEngine(t, dir, files)
	h, clk := e.h, e.clk
	gem := e.principal("0363")
	u := e.put(gem, IWmo, "los.xml", envelope("WMO301", "0363", "12345678", newRef(), ""))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	s := newScheduler(h, 1)
	if err := s.refill(); err != nil {
		t.Fatal(err)
	}
	finished := make(chan done, 1)
	// attempt dispatches the upload, which must start now, and hands its result to finish.
	attempt := func() error {
		t.Helper()
		if wait := s.dispatch(ctx, &wg, finished); wait != 0 || !s.running[u.ID] {
			t.Fatalf("at %s the upload did not start (next retry in %s)", clk.Now(), wait)
		}
		d := <-finished
		s.finish(d)
		return d.err
	}
	// waiting checks that the upload is not started and is due in exactly want.
	waiting := func(want time.Duration) {
		t.Helper()
		if wait := s.dispatch(ctx, &wg, finished); wait != want || len(s.running) != 0 {
			t.Fatalf("at %s: next retry in %s (running %v), want %s", clk.Now(), wait, s.running, want)
		}
	}

	if err := attempt(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("first attempt: %v, want the disk's EIO", err)
	}
	waiting(time.Second)
	clk.Add(time.Second - time.Millisecond)
	waiting(time.Millisecond)
	clk.Add(time.Millisecond)
	if err := attempt(); err == nil {
		t.Fatal("second attempt succeeded while the disk still fails")
	}
	waiting(2 * time.Second) // doubled
	files.fail.Store(false)
	clk.Add(2 * time.Second)
	if err := attempt(); err != nil {
		t.Fatalf("third attempt: %v", err)
	}
	if len(s.queued) != 0 || len(s.retry) != 0 {
		t.Fatalf("after success: queued %v, retry %v", s.queued, s.retry)
	}
	if got, err := h.Upload(gem, u.ID); err != nil || got.Status != Afgeleverd {
		t.Fatalf("upload after the retries: %v %+v", err, got)
	}

	// The back-off doubles up to 5 minutes and stays there.
	r := retryState{}
	s.retry[1] = r
	for range 12 {
		s.running[1], s.busy["x"] = true, 1
		s.finish(done{id: 1, org: "x", err: syscall.EIO})
	}
	if r = s.retry[1]; r.delay != 5*time.Minute || !r.at.Equal(clk.Now().Add(5*time.Minute)) {
		t.Fatalf("after 12 failures: %+v", r)
	}
}

// idleEngine opens a hub with a fake clock, files (nil: the default store) and two
// organisations, without running its engine: the test drives what it needs itself.
func idleEngine(t *testing.T, dir string, files storage.Files) *testEngine {
	t.Helper()
	clk := storagetest.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, amsterdam))
	h, err := Open(Config{DataDir: dir, Files: files, Clock: clk, Log: slog.New(slog.DiscardHandler), OIN: testHubOIN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	for _, o := range []string{"0363", "12345678"} {
		if _, err := h.CreateOrg(System, o, "Organisatie "+o); err != nil {
			t.Fatal(err)
		}
	}
	return &testEngine{t: t, h: h, clk: clk, dir: dir}
}
