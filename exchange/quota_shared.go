package exchange

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"knooppunt/storage"
)

// sharedStore tells whether other processes (nodes) may use kv at the same time: then
// counts that limit what all of them do together live in kv, not in this process's memory.
// A store that carries notifications between processes is such a store (PostgreSQL).
func sharedStore(kv storage.KV) bool {
	_, ok := kv.(storage.Notifier)
	return ok
}

// quotaGrant is how many bytes (at most a 64th of the quota) a node takes from an organisation's shared daily count at
// once, so that a file does not cost a database transaction per write: the bytes count as
// used from the moment they are taken; what the node does not write is given back when its
// last file of the organisation ends. A node that dies keeps its last grant counted, so the
// quota is never exceeded, at worst reached up to this much early.
const quotaGrant = 4 << 20

// reserveShared is reserve on a shared store; the caller holds o.mu. The store's count
// quota/<org>/<day> holds the bytes of finished files and the grants of every node.
func (q *quotaTracker) reserveShared(o *orgQuota, org string, now time.Time, n int64) error {
	day := quotaDay(now)
	if o.granted > 0 && o.grantDay != day {
		// A new day: what is left of yesterday's grant goes back, and today starts afresh.
		if err := q.giveBack(o, org); err != nil {
			return err
		}
	}
	if o.granted >= n {
		o.granted -= n
		o.inflight += n
		return nil
	}
	need := n - o.granted
	var used, took int64
	err := q.kv.Update(func(t storage.Txn) error {
		var err error
		if used, err = readQuota(t, org, day); err != nil {
			return err
		}
		took = 0
		if used+need > q.limit {
			return nil
		}
		took = min(max(need, min(quotaGrant, q.limit/64)), q.limit-used)
		return t.Set(quotaKey(org, day), binary.BigEndian.AppendUint64(nil, uint64(used+took)))
	})
	if err != nil {
		return fmt.Errorf("dagquotum van %s bijwerken: %w", org, err)
	}
	if took == 0 {
		// What this node holds unused does not count as sent.
		return q.refuse(org, now, day, used-o.granted)
	}
	o.granted += took - n
	o.grantDay = day
	o.inflight += n
	return nil
}

// settleShared ends a file on a shared store: its bytes were counted when they were taken;
// when the organisation has no file left in flight here, the rest of the grant goes back.
// The caller holds o.mu.
func (q *quotaTracker) settleShared(o *orgQuota, org string, n int64) error {
	o.inflight = max(o.inflight-n, 0)
	if o.inflight > 0 || o.granted == 0 {
		return nil
	}
	return q.giveBack(o, org)
}

// giveBack returns the unused grant to the count of the day it was taken on.
func (q *quotaTracker) giveBack(o *orgQuota, org string) error {
	back, day := o.granted, o.grantDay
	err := q.kv.Update(func(t storage.Txn) error {
		used, err := readQuota(t, org, day)
		if err != nil {
			return err
		}
		return t.Set(quotaKey(org, day), binary.BigEndian.AppendUint64(nil, uint64(max(used-back, 0))))
	})
	if err != nil {
		return fmt.Errorf("dagquotum van %s bijwerken: %w", org, err)
	}
	o.granted = 0
	return nil
}

// usedShared is what org has used today on a shared store, as every node counted it, less
// this node's unused grant. The caller holds o.mu.
func (q *quotaTracker) usedShared(o *orgQuota, org string, now time.Time) (int64, error) {
	day := quotaDay(now)
	var used int64
	err := q.kv.View(func(t storage.Txn) error {
		var err error
		used, err = readQuota(t, org, day)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("dagquotum van %s lezen: %w", org, err)
	}
	if o.grantDay == day {
		used -= o.granted
	}
	return max(used, 0), nil
}

func readQuota(t storage.Txn, org, day string) (int64, error) {
	v, err := t.Get(quotaKey(org, day))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(v) != 8:
		return 0, fmt.Errorf("ongeldige waarde %x", v)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}
