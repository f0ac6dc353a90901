package exchange

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"knooppunt/storage"
)

// A berichtenlog's total (its telling) is a stored count, cnt/log/<org>/<product>, plus the
// changes not yet added to it, each a key of its own: cnt/logd/<org>/<product>/<random>
// holding a signed number. A transaction that adds a batch of messages to a log writes a new
// change key instead of reading and rewriting the count. On PostgreSQL every batch that read
// the count took a predicate lock on it and every other batch to the same aanbieder wrote
// it: a third of the batches' serialization conflicts in the two-node load test (issue 14,
// BENCHMARKS.md). The reader adds the changes up (logTotal); foldLogCounts, periodic and on
// one node at a time, adds them to the count and removes them, so that few are ever left.

// logCountFoldEvery is how often the changes are folded into the counts: in the load test a
// log gets a change per upload (100 messages), so a reader adds up at most a few hundred.
const logCountFoldEvery = 5 * time.Second

// logCountFoldChunk bounds a fold's transaction: Badger's ~10 MB, a short SERIALIZABLE one.
const logCountFoldChunk = 5000

// deltaIDLen is the length of a change key's unique part: random, so that no two
// transactions, on any node, ever write the same key (a collision would lose a change).
const deltaIDLen = 16

// logCounts gathers the changes to berichtenlog counts of one transaction, per log, so that a
// batch of a thousand messages writes one change per log instead of one per message.
type logCounts map[orgProduct]int64

// write stores each gathered change as a new key.
func (c logCounts) write(t storage.Txn) error {
	for op, n := range c {
		if n == 0 {
			continue
		}
		k := key(kLogDelta, op.org, op.product, "")
		k = append(k, make([]byte, deltaIDLen)...)
		if _, err := rand.Read(k[len(k)-deltaIDLen:]); err != nil {
			return fmt.Errorf("berichtenlogtelling: %w", err)
		}
		if err := storage.SetNew(t, k, be64(uint64(n))); err != nil {
			return err
		}
	}
	clear(c)
	return nil
}

// logTotal reads the number of entries in org's berichtenlog of product: the count and the
// changes not yet folded into it.
func logTotal(ctx context.Context, t storage.Txn, org string, product Product) (int, error) {
	var total int64
	v, err := t.Get(key(kLogCount, org, product))
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return 0, err
	default:
		total = counterValue(v)
	}
	err = scanCtx(ctx, t, key(kLogDelta, org, product, ""), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
		total += counterValue(v)
		return true, nil
	})
	return int(max(total, 0)), err
}

// counterValue reads a count or a change: signed, big-endian; anything shorter than 8 bytes
// counts as 0. A count is never negative, but a fold may add a removal's change before the
// addition it undoes (the changes' keys are random), so a stored count may be for a while.
func counterValue(v []byte) int64 {
	if len(v) < 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// addCount adds n to the count at k.
func addCount(t storage.Txn, k []byte, n int64) error {
	v, err := t.Get(k)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return t.Set(k, be64(uint64(counterValue(v)+n)))
}

// foldLogCountsLoop folds the counts' changes every interval, on one node at a time.
func (h *Hub) foldLogCountsLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !h.lease("tellingen") {
			continue
		}
		if err := h.foldLogCounts(ctx, logCountFoldChunk); err != nil && ctx.Err() == nil {
			h.log.Error("berichtenlogtellingen bijwerken", "err", err)
		}
	}
}

// foldLogCounts adds every change of a berichtenlog count to the count and removes it, in
// transactions of up to chunk changes. A change written meanwhile waits for the next fold;
// the readers' totals are the same before and after.
//
// The changes are read in a snapshot, not in the transaction that removes them: on PostgreSQL
// a SERIALIZABLE read of thousands of keys locks the whole table, and those locks outlive the
// commit for as long as any transaction that overlapped it runs, so that every upload's batch
// would conflict (measured: three times the conflicts of SetGelezen in the two-node load
// test). A change is only ever removed by a fold, so the snapshot's changes are all still
// there when no fold committed since: the fold's generation (cnt/fold), which every fold
// reads and raises, tells. A fold that finds it raised reads again.
func (h *Hub) foldLogCounts(ctx context.Context, chunk int) error {
	for {
		var gen []byte
		var done [][]byte
		sums := map[string]int64{} // count key -> change
		more := false
		err := h.kv.View(func(t storage.Txn) error {
			gen, done, more = nil, done[:0], false
			clear(sums)
			v, err := t.Get([]byte(kLogFold))
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			gen = bytes.Clone(v)
			return scanCtx(ctx, t, []byte(kLogDelta), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
				if len(done) == chunk {
					more = true
					return false, nil
				}
				done = append(done, bytes.Clone(k))
				// cnt/logd/<org>/<product>/<random>: the count is cnt/log/<org>/<product>.
				if len(k) >= len(kLogDelta)+deltaIDLen+1 {
					sums[kLogCount+string(k[len(kLogDelta):len(k)-deltaIDLen-1])] += counterValue(v)
				}
				return true, nil
			})
		})
		if err != nil || len(done) == 0 {
			return err
		}
		stale := false
		err = h.kv.Update(func(t storage.Txn) error {
			cur, err := t.Get([]byte(kLogFold))
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			if stale = !bytes.Equal(cur, gen); stale {
				return nil
			}
			counts := make([][]byte, 0, len(sums))
			for k := range sums {
				counts = append(counts, []byte(k))
			}
			if err := storage.Prefetch(t, counts); err != nil {
				return err
			}
			for k, n := range sums {
				if err := addCount(t, []byte(k), n); err != nil {
					return err
				}
			}
			for _, k := range done {
				if err := t.Delete(k); err != nil {
					return err
				}
			}
			return t.Set([]byte(kLogFold), be64(uint64(counterValue(cur)+1)))
		})
		if err != nil {
			return err
		}
		if !stale && !more {
			return nil
		}
	}
}
