package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBusy: the hub has as many uploads in hand as it can finish promptly, and a client waited
// for room longer than Config.UploadWait.
var ErrBusy = errors.New("het knooppunt is bezet")

// DefaultUploadWait is how long an upload waits for admission when Config.UploadWait is 0.
const DefaultUploadWait = 2 * time.Minute

// DefaultMaxUploads is the admission capacity for a number of workers: twice as many
// uploads as are processed at once, so every worker has the next upload already received
// while it works, and no more, so an upload never queues behind more than one round.
func DefaultMaxUploads(workers int) int { return 2 * workers }

// admission bounds the uploads the hub has in hand: being written, received and queued, or
// being processed. An upload takes a slot before its first byte (StartUpload) or when a
// staged file is renamed into an upload (RenameUpload), and gives it back when it is
// Afgeleverd or Afgekeurd, or when it ends without becoming an upload (cut off, refused,
// staged under a temporary name). When every slot is taken the client waits before it
// hands anything in, instead of handing it in and then waiting behind a queue that grows
// faster than the engine empties it: what was accepted is finished within a round of the
// workers.
//
// Waiters are served in arrival order, except that one organisation holds at most half the
// slots (at least one): a waiter of an organisation at its share lets the next one pass, so
// one organisation's burst cannot keep the others out.
//
// The gate is shut only while the engine runs (Run): then something empties the backlog.
// A hub that does not process (a command-line tool, a test without the engine) takes uploads
// without waiting; the engine counts them when it starts.
type admission struct {
	capacity int
	perOrg   int
	wait     time.Duration
	log      *slog.Logger
	observe  func(wait time.Duration, outcome string) // nil: nobody listens
	// shared counts the slots in the store, for the whole hub (admission_shared.go); nil
	// until Open sets it, and in tests of the gate alone.
	shared *sharedSlots

	mu      sync.Mutex
	active  bool
	gen     uint64 // counts starts and stops: a slot of another run is no longer counted
	held    int
	byOrg   map[string]int
	waiters []*waiter
	handed  map[string]*slot // blob -> slot of a file being recorded as an upload
	uploads map[uint64]*slot // upload id -> slot, until the engine has finished it
}

type waiter struct {
	org   string
	ready chan *slot // one value: the slot, or nil when the gate opened because the engine stopped
}

// slot is one unit of admission. Releasing it twice, or releasing nil, does nothing.
type slot struct {
	a    *admission
	org  string
	gen  uint64
	once sync.Once
	rec  []byte // its record in the store (admission_shared.go); nil when it has none
	// moved: the record went to the accepted upload, whose final transaction removes it.
	moved atomic.Bool
}

func newAdmission(capacity int, wait time.Duration, log *slog.Logger) *admission {
	return &admission{
		capacity: capacity,
		perOrg:   max(1, capacity/2),
		wait:     wait,
		log:      log,
		byOrg:    map[string]int{},
		handed:   map[string]*slot{},
		uploads:  map[uint64]*slot{},
	}
}

// start shuts the gate for a run of the engine.
func (a *admission) start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reset()
	a.active = true
}

// stop opens the gate: nothing empties the backlog any more, so waiters go through, and their
// uploads wait in the queue for the next start.
func (a *admission) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.waiters {
		w.ready <- nil
	}
	a.waiters = nil
	a.reset()
	a.active = false
}

func (a *admission) reset() {
	a.gen++
	a.held = 0
	clear(a.byOrg)
	clear(a.handed)
	clear(a.uploads)
}

// acquire waits for a slot for org, at most a.wait; nil (and no error) while the gate is open.
// With a store shared by several nodes the slot is then also taken in the store, within the
// same wait: the limit holds for the whole hub.
func (a *admission) acquire(ctx context.Context, org string) (*slot, error) {
	began := time.Now()
	s, waited, err := a.acquireHere(ctx, org, began)
	if err == nil && s != nil && a.shared != nil {
		var w bool
		w, err = a.shared.take(ctx, s, org, began.Add(a.wait))
		waited = waited || w
		if err != nil {
			s.release()
			s = nil
		}
	}
	if waited {
		a.waited(began, err)
	}
	return s, err
}

// acquireHere waits for a slot of this process's gate; waited tells whether it had to.
func (a *admission) acquireHere(ctx context.Context, org string, began time.Time) (*slot, bool, error) {
	a.mu.Lock()
	if !a.active {
		a.mu.Unlock()
		return nil, false, nil
	}
	// Every waiter left is held back by the total or by its organisation's share (grant runs
	// at each release), so taking a free slot here jumps no one who could have used it.
	if a.held < a.capacity && a.byOrg[org] < a.perOrg {
		s := a.take(org)
		a.mu.Unlock()
		return s, false, nil
	}
	w := &waiter{org: org, ready: make(chan *slot, 1)}
	a.waiters = append(a.waiters, w)
	inHand, waiting := a.held, len(a.waiters)
	a.mu.Unlock()
	a.log.Debug("aanlevering wacht op ruimte", "organisatie", org, "in_behandeling", inHand, "wachtend", waiting)

	timer := time.NewTimer(a.wait - time.Since(began))
	defer timer.Stop()
	var err error
	select {
	case s := <-w.ready:
		return s, true, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = ErrBusy
	}
	a.mu.Lock()
	i := slices.Index(a.waiters, w)
	if i >= 0 {
		a.waiters = slices.Delete(a.waiters, i, i+1)
	}
	a.mu.Unlock()
	if i < 0 {
		// Granted while giving up: use it unless the client is gone.
		s := <-w.ready
		if ctx.Err() == nil {
			return s, true, nil
		}
		s.release()
	}
	return nil, true, err
}

// waited tells the observer how a wait for a slot ended.
func (a *admission) waited(began time.Time, err error) {
	if a.observe == nil {
		return
	}
	outcome := "toegelaten" // also when the gate opened because the engine stopped
	switch {
	case errors.Is(err, ErrBusy):
		outcome = "bezet"
	case err != nil:
		outcome = "afgebroken"
	}
	a.observe(time.Since(began), outcome)
}

// stats returns the slots in hand at this node, the clients waiting here (for this node's
// gate or for a slot in the store) and the capacity.
func (a *admission) stats() (held, waiting, capacity int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	waiting = len(a.waiters)
	if a.shared != nil {
		waiting += int(a.shared.waiting.Load())
	}
	return a.held, waiting, a.capacity
}

// take counts a slot for org; the caller holds a.mu.
func (a *admission) take(org string) *slot {
	a.held++
	a.byOrg[org]++
	return &slot{a: a, org: org, gen: a.gen}
}

// grant hands freed slots to waiters in arrival order, passing over those whose organisation
// holds its share; the caller holds a.mu.
func (a *admission) grant() {
	for i := 0; i < len(a.waiters) && a.held < a.capacity; {
		w := a.waiters[i]
		if a.byOrg[w.org] >= a.perOrg {
			i++
			continue
		}
		a.waiters = slices.Delete(a.waiters, i, i+1)
		w.ready <- a.take(w.org)
	}
}

func (s *slot) release() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		a := s.a
		if s.rec != nil && !s.moved.Load() {
			a.shared.drop(s.rec)
		}
		defer a.shared.nudge()
		a.mu.Lock()
		defer a.mu.Unlock()
		if s.gen != a.gen {
			return
		}
		a.held--
		if a.byOrg[s.org]--; a.byOrg[s.org] <= 0 {
			delete(a.byOrg, s.org)
		}
		a.grant()
	})
}

// hand parks s under the blob that is about to be recorded as an upload, before the record
// is written: the engine may see the upload before accept returns, and must find its slot
// rather than count it a second time.
func (a *admission) hand(s *slot, blob string) {
	if s == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.gen == a.gen {
		a.handed[blob] = s
	}
}

// unhand takes a parked slot back when recording the upload failed; its owner releases it.
// Its store record did not move with the upload after all (bindSlot).
func (a *admission) unhand(blob string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.handed[blob]; s != nil {
		s.moved.Store(false)
	}
	delete(a.handed, blob)
}

// track ties a queued upload to its slot when the engine picks it up: the slot its file was
// written under, or, for an upload queued before this run (a restart, or while the engine
// did not run), a new one. Those count even past the capacity, so new uploads wait until
// the backlog is below it: they would otherwise only queue behind it.
func (a *admission) track(id uint64, blob, org string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.active {
		return
	}
	if s, ok := a.handed[blob]; ok {
		delete(a.handed, blob)
		a.uploads[id] = s
		return
	}
	if _, ok := a.uploads[id]; !ok {
		a.uploads[id] = a.take(org)
	}
}

// finished gives back the slot of an upload the engine is done with.
func (a *admission) finished(id uint64) {
	a.mu.Lock()
	s := a.uploads[id]
	delete(a.uploads, id)
	a.mu.Unlock()
	s.release()
}

// admit waits for a slot for p's organisation before the upload at path may begin.
func (h *Hub) admit(ctx context.Context, p *Principal, path string) (*slot, error) {
	s, err := h.admission.acquire(ctx, p.Org.Code)
	switch {
	case errors.Is(err, ErrBusy):
		err = fmt.Errorf("%w: er worden op dit moment veel aanleveringen verwerkt en %s is niet aangenomen; probeer het over enkele minuten opnieuw", ErrBusy, path)
		h.log.Warn("aanlevering niet toegelaten: knooppunt bezet", "pad", path, "account", p.Account.Name, "gewacht", h.admission.wait)
	case err != nil:
		err = fmt.Errorf("wachten op ruimte voor %s afgebroken: %w", path, err)
	}
	return s, err
}
