package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"knooppunt/storage"
)

// The configured limits hold for the whole hub, not per node: on a store that several nodes
// share, every admission slot is also a record in the store (slot/), and a slot is only taken
// when the store holds fewer than MaxUploads live records (and the organisation fewer than its
// share). The count and the insert run in one serializable transaction, so two nodes taking
// the last slot at once conflict and one of them counts again. The gate in admission.go stays
// in front of it on every node: the order of arrival, an organisation's share and the wait
// are decided there, and the store only adds the other nodes' slots.
//
// On Badger the hub is one process and its gate counts every slot already: no records are
// written. Writing them cost 0.2 ms per upload there, growing with the deleted records that
// the scan has to pass until Badger compacts them (BENCHMARKS.md, issue 14).
//
// A record lives as long as its holder: it names the node instance, and a slot of an
// instance whose heartbeat stopped (knooppunten.go) is not counted and is removed by the next
// take, so a node killed with kill -9 frees its slots after NodeStale, as it frees its claims.
//
// Cost on the hot path: one small transaction per upload, the take. The record goes with the
// upload's own transactions after that: accept moves it to slot/u/<upload> (claimAccepted),
// the final transaction of whichever node finishes the upload removes it (dropClaim), and a
// node that takes the upload over names itself in it (claimUpload). Only an upload that
// never becomes one (cut off, refused, staged under a temporary name) costs a second
// transaction, to give the slot back.
//
// A waiting client learns that a slot came free on another node from that node's events
// (remoteEvents: the final status of an upload), and otherwise by looking again, with
// back-off up to sharedPollMax: a slot given back without an upload (a cut-off transfer)
// sends no event.

// sharedPollMax is the longest a client waiting for a slot held at another node goes without
// looking at the store again.
const sharedPollMax = 500 * time.Millisecond

// slotRecord is the value of a slot/ record: its holder and the organisation it counts for.
// holder's fields come first, so leave (knooppunten.go) reads it as a holder.
type slotRecord struct {
	holder
	Org string `json:"organisatie"`
}

// sharedSlots counts admission slots in the store.
type sharedSlots struct {
	kv       storage.KV
	node     *node
	clock    Clock
	log      *slog.Logger
	capacity int
	perOrg   int
	workers  int           // uploads this node processes at once (Config.Workers)
	seq      atomic.Uint64 // numbers this instance's slot records
	waiting  atomic.Int32  // clients that hold a slot here and wait for one in the store

	mu    sync.Mutex
	queue []*slotWaiter // the clients taking a slot in the store, in arrival order
}

// slotWaiter is a client taking a slot in the store; wake holds at most one signal that a
// slot may have come free.
type slotWaiter struct{ wake chan struct{} }

func newSharedSlots(kv storage.KV, n *node, clock Clock, capacity, workers int, log *slog.Logger) *sharedSlots {
	return &sharedSlots{kv: kv, node: n, clock: clock, log: log, capacity: capacity, perOrg: max(1, capacity/2), workers: workers}
}

// A node holds at most its share of the hub's slots: the capacity divided over the live
// nodes (rounded up), and never fewer than its own workers. An upload is processed by the node
// that took it in (claims.go), so slots piled up at one node are uploads queued behind its
// busy workers while another node's workers have nothing to do. That is what happened at the
// start of the two-node load test (issue 14): the clients of the node whose logins finished
// first took all 16 slots within 0.2 s, the other node got its first upload 0.8 s later,
// and half of the first uploads waited a whole round of the busy node's workers (up to 2.4 s
// from close to Bezig). The share is policy, not a guarantee: it is judged from the node
// records read in a snapshot, so for a moment after a node starts or dies a node may hold a
// slot more or fewer; the hub-wide limits are counted in the serializable transaction as
// before. A node alone (the others dead or stopped) has all the slots.
func (ss *sharedSlots) nodeShare(t storage.Txn) (int, error) {
	recs, err := readNodes(t)
	if err != nil {
		return 0, err
	}
	n := ss.node
	live := 1 // this node, also before its first heartbeat is in the store
	for _, r := range recs {
		if r.Instance == n.rec.Instance {
			continue
		}
		// A record not judged yet counts as alive, as it does for claims (takeable).
		dead, err := n.takeable(t, r.Instance)
		if err != nil {
			return 0, err
		}
		if !dead {
			live++
		}
	}
	return max((ss.capacity+live-1)/live, ss.workers), nil
}

// nudge says a slot may have come free: the first waiting client without a signal yet looks
// again. One client per freed slot, not all of them: every look is a read of the store, and
// waking the whole line at each of the other node's events made the waiting clients most of
// the database's transactions in the two-node load test (issue 14). A client that finds the
// slot gone to another node waits again; one that is held back only by its organisation's
// share passes the signal on; the rest look again on their own after at most sharedPollMax.
func (ss *sharedSlots) nudge() {
	if ss == nil || ss.waiting.Load() == 0 {
		return
	}
	ss.wakeAfter(nil)
}

// wakeAfter signals the first client after w (nil: from the start) that has no signal pending.
func (ss *sharedSlots) wakeAfter(w *slotWaiter) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	q := ss.queue
	if w != nil {
		if i := slices.Index(q, w); i >= 0 {
			q = q[i+1:]
		}
	}
	for _, o := range q {
		select {
		case o.wake <- struct{}{}:
			return
		default: // signalled already: it will look; the next one may take another slot
		}
	}
}

func (ss *sharedSlots) join() *slotWaiter {
	w := &slotWaiter{wake: make(chan struct{}, 1)}
	ss.mu.Lock()
	ss.queue = append(ss.queue, w)
	ss.mu.Unlock()
	return w
}

// leave takes w out of the line; a signal it did not use goes to the next client.
func (ss *sharedSlots) leave(w *slotWaiter) {
	ss.mu.Lock()
	if i := slices.Index(ss.queue, w); i >= 0 {
		ss.queue = slices.Delete(ss.queue, i, i+1)
	}
	ss.mu.Unlock()
	select {
	case <-w.wake:
		ss.wakeAfter(nil)
	default:
	}
}

// take waits until s (a slot of this node's gate, for org) also has its record in the store,
// at most until deadline (ErrBusy) or until ctx ends. waited tells whether it had to wait.
func (ss *sharedSlots) take(ctx context.Context, s *slot, org string, deadline time.Time) (waited bool, err error) {
	delay := 10 * time.Millisecond
	// In the line before the first look, so that a slot freed meanwhile is not missed.
	w := ss.join()
	defer ss.leave(w)
	for {
		k, ok, room, err := ss.tryTake(org)
		if errors.Is(err, storage.ErrConflict) {
			// Many nodes taking at once, every retry lost: the slots are busy; wait and look again.
			ok, room, err = false, false, nil
		}
		if err != nil {
			return waited, fmt.Errorf("plaats voor een aanlevering vastleggen: %w", err)
		}
		if ok {
			s.rec = k
			return waited, nil
		}
		if room {
			ss.wakeAfter(w) // full for org only: another organisation's client may take it
		}
		if !waited {
			waited = true
			ss.waiting.Add(1)
			defer ss.waiting.Add(-1)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return waited, ErrBusy
		}
		timer := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			timer.Stop()
			return waited, ctx.Err()
		case <-w.wake:
		case <-timer.C:
			delay = min(2*delay, sharedPollMax)
		}
		timer.Stop()
	}
}

// tryTake writes a slot record for org when the store holds fewer live ones than the
// capacity and org fewer than its share; it removes the records of dead instances on the way.
//
// room tells, when no slot was taken, whether the store had room for another organisation.
func (ss *sharedSlots) tryTake(org string) (k []byte, ok, room bool, err error) {
	// First a look in a snapshot, which locks nothing: when the live slots are all taken
	// there, a client that waits (most of them, under load) need not take part in the
	// serializable count, which would only conflict with the takes and releases that are
	// happening. A slot freed after the snapshot is seen at the next look (nudge or poll).
	// The node's share is judged here too, outside the serializable transaction: the node
	// records change at every heartbeat, and reading them there would conflict with each beat.
	full := false
	share := 0
	err = ss.kv.View(func(t storage.Txn) error {
		var err error
		if share, err = ss.nodeShare(t); err != nil {
			return err
		}
		c, err := ss.count(t, org, false)
		full = c.total >= ss.capacity || c.org >= ss.perOrg || c.node >= share
		room = c.total < ss.capacity && c.node < share
		return err
	})
	if err != nil || full {
		return nil, false, room, err
	}
	n := ss.node
	k = key(kSlot, "t", n.rec.Instance, ss.seq.Add(1))
	rec := slotRecord{holder: n.self(ss.clock.Now().UTC()), Org: org}
	err = ss.kv.UpdateLazy(func(t storage.Txn) error {
		ok = false
		c, err := ss.count(t, org, true)
		room = c.total < ss.capacity && c.node < share
		if err != nil || c.total >= ss.capacity || c.org >= ss.perOrg || c.node >= share {
			return err
		}
		ok = true
		return setJSON(t, k, rec)
	})
	return k, ok, room, err
}

// slotCount is what count found: live slot records in all, of one organisation, and held by
// this node.
type slotCount struct{ total, org, node int }

// count returns the live slot records in t, in all, of org and of this node, and with purge
// deletes those of dead instances (kill -9, a node that stopped beating).
func (ss *sharedSlots) count(t storage.Txn, org string, purge bool) (c slotCount, err error) {
	n := ss.node
	live := map[string]bool{}
	var gone [][]byte
	err = t.Scan([]byte(kSlot), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
		var r slotRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("plaats %q lezen: %w", k, err)
		}
		alive, ok := live[r.Instance]
		if !ok {
			alive = true
			if r.Instance != n.rec.Instance {
				dead, err := n.takeable(t, r.Instance)
				if err != nil {
					return false, err
				}
				alive = !dead
			}
			live[r.Instance] = alive
		}
		if !alive {
			gone = append(gone, append([]byte(nil), k...))
			return true, nil
		}
		c.total++
		if r.Org == org {
			c.org++
		}
		if r.Instance == n.rec.Instance {
			c.node++
		}
		return true, nil
	})
	if err != nil || !purge {
		return c, err
	}
	for _, k := range gone {
		if err := t.Delete(k); err != nil {
			return slotCount{}, err
		}
	}
	return c, nil
}

// drop removes the record of a slot given back without becoming an upload.
func (ss *sharedSlots) drop(k []byte) {
	err := ss.kv.UpdateLazy(func(t storage.Txn) error { return t.Delete(k) })
	if err != nil {
		// It stays counted until this node stops or is judged dead.
		ss.log.Warn("plaats voor een aanlevering teruggeven", "plaats", string(k), "err", err)
	}
}

// bindSlot moves the store record of the slot parked under blob to upload id, inside the
// transaction t that accepts the upload: from here on the upload's own transactions carry it.
func (a *admission) bindSlot(t storage.Txn, blob string, id uint64) error {
	a.mu.Lock()
	s := a.handed[blob]
	a.mu.Unlock()
	if s == nil || s.rec == nil {
		return nil
	}
	v, err := t.Get(s.rec)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // judged dead and removed meanwhile: nothing to carry
	}
	if err != nil {
		return err
	}
	if err := t.Delete(s.rec); err != nil {
		return err
	}
	// Until t commits this is a guess; unhand undoes it when accepting failed.
	s.moved.Store(true)
	return t.Set(key(kSlot, "u", id), v)
}

// rebindSlot names this node in the slot record of upload id that it takes over from a dead
// node, in the claim's transaction t: the slot stays counted until the upload is final.
func (h *Hub) rebindSlot(t storage.Txn, id uint64) error {
	k := key(kSlot, "u", id)
	var r slotRecord
	err := getJSON(t, k, &r)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	r.holder = h.node.self(h.clock.Now().UTC())
	return setJSON(t, k, r)
}

// dropUploadSlot removes the slot record of upload id in its final transaction t.
func dropUploadSlot(t storage.Txn, id uint64) error { return t.Delete(key(kSlot, "u", id)) }

// With several nodes on one store, an upload handed in at this node may be processed by
// another (whichever claims it first). The slot it took here must then be given back when
// that node finishes it, or this node's gate would fill with slots nobody releases and shut
// for good. The other node's events say when to look (remoteEvents); the store says whether
// the upload is final.

// holds tells whether any slot waits for an upload to finish.
func (a *admission) holds() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.handed) > 0 || len(a.uploads) > 0
}

// finishedElsewhere gives back the slot of an upload (id, written as blob) that another node
// finished.
func (a *admission) finishedElsewhere(id uint64, blob string) {
	a.mu.Lock()
	s, ok := a.uploads[id]
	delete(a.uploads, id)
	if !ok {
		s = a.handed[blob]
	}
	delete(a.handed, blob)
	a.mu.Unlock()
	s.release()
}

// uploadSettledElsewhere is called for another node's event about upload id: when the upload
// is final, the slot this node took for it (if any) is given back. A client here waiting for a
// slot in the store looks again: the final transaction removed that upload's record.
//
// Only a final status frees a slot, and another node sends several events per upload
// (received, started, finished): the others wake nobody.
func (h *Hub) uploadSettledElsewhere(id uint64) {
	ss := h.admission.shared
	if id == 0 {
		ss.nudge() // a reconnect: events may have been missed
		return
	}
	holds := h.admission.holds()
	if !holds && (ss == nil || ss.waiting.Load() == 0) {
		return
	}
	var u Upload
	err := h.kv.View(func(t storage.Txn) error { return getJSON(t, key(kUpload, id), &u) })
	if err != nil {
		ss.nudge() // gone or unreadable: nothing this node can give back for it; look anyway
		return
	}
	if !u.Status.Final() {
		return
	}
	ss.nudge()
	if holds {
		h.admission.finishedElsewhere(id, u.Blob)
	}
}
