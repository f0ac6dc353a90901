package exchange

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"knooppunt/storage"
)

// Run processes queued uploads until ctx ends: first it recovers from an earlier stop (every
// upload that is not final is redone from its last committed step, and delivery files no
// record points to are removed), then it runs the worker pool, retention, the berichtenlog
// counts' fold and the store's garbage collection. Every goroutine it starts has ended when it returns.
func (h *Hub) Run(ctx context.Context) error {
	h.admission.start()
	defer h.admission.stop()
	// The heartbeat begins first, so that the uploads this node accepts (and claims) are seen
	// as held by a live node, and outlives the workers: their last commits check claims it
	// keeps alive, and only then does the node leave (knooppunten.go).
	beatCtx, stopBeat := context.WithCancel(context.WithoutCancel(ctx))
	beatDone := make(chan struct{})
	go func() { defer close(beatDone); h.heartbeatLoop(beatCtx) }()
	defer func() { stopBeat(); <-beatDone; h.leave() }()
	if err := h.removeOrphans(); err != nil {
		return fmt.Errorf("herstel na herstart: %w", err)
	}
	// Status history that a crash left half written (see historie.go); a failure here is not
	// fatal: the delivery records are right, and every retention sweep tries again.
	if err := h.finishAllHistory(); err != nil {
		h.log.Error("herstel na herstart", "err", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if h.leaseSoon(ctx, "integriteit") {
			h.CheckFiles(ctx)
		}
	})
	wg.Go(func() { h.gcKV(ctx, 10*time.Minute) })
	wg.Go(func() { h.retentionLoop(ctx, time.Minute) })
	wg.Go(func() { h.foldLogCountsLoop(ctx, logCountFoldEvery) })
	wg.Go(func() { h.countFilesLoop(ctx, 15*time.Minute) })
	wg.Go(func() { h.sendLoop(ctx, sendPoll) })
	err := newScheduler(h, h.cfg.Workers).run(ctx)
	wg.Wait()
	return err
}

// DefaultWorkers is how many uploads are processed at once by default: processing mostly
// waits for the disk, and uploads waiting together share their fsyncs, so several per CPU.
func DefaultWorkers() int { return 4 * runtime.GOMAXPROCS(0) }

// scheduler hands queued uploads to workers, fairly per organisation: an organisation with
// nothing in progress goes first, then the one served longest ago; within an organisation
// the oldest upload goes first. A huge upload therefore occupies one worker while other
// organisations' small uploads pass it on the others.
type scheduler struct {
	h       *Hub
	workers int
	queued  map[uint64]string // upload id -> organisation, not yet handed out
	running map[uint64]bool
	busy    map[string]int    // organisation -> uploads in progress
	served  map[string]uint64 // organisation -> tick of its last hand-out
	tick    uint64
	retry   map[uint64]retryState
}

func newScheduler(h *Hub, workers int) *scheduler {
	return &scheduler{h: h, workers: workers, queued: map[uint64]string{}, running: map[uint64]bool{},
		busy: map[string]int{}, served: map[string]uint64{}, retry: map[uint64]retryState{}}
}

type retryState struct {
	at    time.Time
	delay time.Duration
}

type done struct {
	id  uint64
	org string
	err error
}

func (s *scheduler) run(ctx context.Context) error {
	finished := make(chan done)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if err := s.refill(); err != nil {
			s.h.log.Error("wachtrij lezen", "err", err)
		}
		next := s.dispatch(ctx, &wg, finished)
		if next > 0 {
			timer.Reset(next)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.h.wake:
		case <-timer.C:
		case d := <-finished:
			s.finish(d)
			// Drain what else ended, so the next dispatch sees every free worker.
			for more := true; more; {
				select {
				case d := <-finished:
					s.finish(d)
				default:
					more = false
				}
			}
		}
	}
}

func (s *scheduler) finish(d done) {
	delete(s.running, d.id)
	s.busy[d.org]--
	if errors.Is(d.err, errClaimLost) {
		// Another node has it: this one lets go; refill leaves it alone while that node lives.
		s.h.log.Info("aanlevering losgelaten: een ander knooppunt verwerkt haar", "upload", d.id, "knooppunt", s.h.node.rec.Name)
		delete(s.retry, d.id)
		delete(s.queued, d.id)
		s.h.admission.finished(d.id)
		return
	}
	if d.err == nil {
		delete(s.retry, d.id)
		delete(s.queued, d.id)
		s.h.admission.finished(d.id)
		return
	}
	// A failed upload keeps its slot while it waits for its retry: it is still work in hand.
	r := s.retry[d.id]
	r.delay = min(max(2*r.delay, time.Second), 5*time.Minute)
	r.at = s.h.clock.Now().Add(r.delay)
	s.retry[d.id] = r
	s.h.log.Error("aanlevering verwerken mislukt; later opnieuw", "upload", d.id, "opnieuw_over", r.delay, "err", d.err)
}

// refill picks up uploads queued since the last look; the queue keys survive restarts.
func (s *scheduler) refill() error {
	var fresh []uint64
	err := s.h.kv.View(func(t storage.Txn) error {
		fresh = fresh[:0]
		elsewhere, err := s.h.claimedElsewhere(t)
		if err != nil {
			return err
		}
		return t.Scan([]byte(kQueue), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			id, err := idFromKey(k)
			if err != nil {
				return false, err
			}
			if _, ok := s.queued[id]; !ok && !elsewhere[id] {
				fresh = append(fresh, id)
			}
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	for _, id := range fresh {
		var u Upload
		err := s.h.kv.View(func(t storage.Txn) error { return getJSON(t, key(kUpload, id), &u) })
		if err != nil {
			return fmt.Errorf("aanlevering %d in wachtrij: %w", id, err)
		}
		s.queued[id] = u.Org
		s.h.admission.track(id, u.Blob, u.Org)
	}
	return nil
}

// dispatch starts uploads on free workers and tells when the next retry is due (0: none).
// Retries are due by the hub's clock, so a test drives the back-off by moving it; run's timer
// only wakes the scheduler to look again.
func (s *scheduler) dispatch(ctx context.Context, wg *sync.WaitGroup, finished chan<- done) time.Duration {
	var wait time.Duration
	for len(s.running) < s.workers {
		now := s.h.clock.Now()
		var cands []uint64
		for id := range s.queued {
			if s.running[id] {
				continue
			}
			if r, ok := s.retry[id]; ok && r.at.After(now) {
				if d := r.at.Sub(now); wait == 0 || d < wait {
					wait = d
				}
				continue
			}
			cands = append(cands, id)
		}
		if len(cands) == 0 {
			return wait
		}
		sort.Slice(cands, func(i, j int) bool {
			a, b := s.queued[cands[i]], s.queued[cands[j]]
			if s.busy[a] != s.busy[b] {
				return s.busy[a] < s.busy[b]
			}
			if s.served[a] != s.served[b] {
				return s.served[a] < s.served[b]
			}
			return cands[i] < cands[j]
		})
		id := cands[0]
		org := s.queued[id]
		s.tick++
		s.served[org] = s.tick
		s.busy[org]++
		s.running[id] = true
		// Workers that would sit idle help parse this upload's entries.
		par := 1
		if len(cands) == 1 {
			par = min(1+s.workers-len(s.running), runtime.GOMAXPROCS(0))
		}
		wg.Go(func() {
			s.h.processing.Add(1)
			err := errClaimLost
			if ok, cerr := s.h.claimUpload(id); cerr != nil {
				err = cerr
			} else if ok {
				err = s.h.process(ctx, id, par)
			}
			s.h.processing.Add(-1)
			if ctx.Err() != nil && err != nil {
				err = nil // stopping, not failing: the queue key keeps it for the next start
			}
			select {
			case finished <- done{id: id, org: org, err: err}:
			case <-ctx.Done():
			}
		})
	}
	return wait
}

// progress is how far an unfinished upload got; it is committed with each batch, so a redo
// skips what is already decided and stays exactly once.
type progress struct {
	Next      int        `json:"volgende"` // first entry index not yet decided
	Groups    []groupKey `json:"groepen"`  // delivery groups in order of first appearance
	Counts    Counts     `json:"aantallen"`
	Decided   bool       `json:"beslist"`    // every entry is decided
	Delivered bool       `json:"afgeleverd"` // delivery records are committed
	At        time.Time  `json:"tijd"`       // processing time: names the delivery files
}

// groupKey names one delivery file of an upload: one recipient mailbox and functie.
type groupKey struct {
	Mailbox  string `json:"postbus"`
	Functie  string `json:"functie"`
	Exchange string `json:"uitwisseling"`
	Hold     bool   `json:"wacht"`
}

func loadProgress(t storage.Txn, id uint64) (progress, error) {
	var p progress
	err := getJSON(t, key(kProgress, id), &p)
	if errors.Is(err, storage.ErrNotFound) {
		return progress{}, nil
	}
	return p, err
}
