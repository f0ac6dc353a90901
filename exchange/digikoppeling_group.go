package exchange

import (
	"sync"

	"knooppunt/storage"
)

// Group commit of the outbound queue's records (issue 12: ≥ 1,000 messages/s out). Every
// send writes twice, durably: its attempt before the bytes leave (so a kill -9 means one more
// attempt under the same MessageId, never a lost one) and its outcome after. With a
// transaction each, 32 sends under way cost 64 transactions per round and their decoding and
// conflict checks dominated. Writes that arrive while one group is being committed wait and
// go together in the next: one synced transaction for many attempts and outcomes, each
// caller answered only once its write is durable, as kv.Update does.

// sendGroupMax bounds one group's transaction well below storage.MaxTxnBytes (a send record
// with a signal or Fo01 payload is a few kB).
const sendGroupMax = 64

// sendGroupCommitters is how many groups are committed at once: while one waits for the
// disk, the next is being gathered and written.
const sendGroupCommitters = 2

type txGroup struct {
	mu      sync.Mutex
	queue   []*txReq
	running int
}

type txReq struct {
	fn   func(storage.Txn) error
	done chan error
}

// groupUpdate is kv.Update shared with concurrent callers: fn runs in one transaction with
// theirs, after the writes of those before it in the group, and the call returns once that
// transaction is durable. fn may run more than once (a conflict, or a group that failed for
// another's fn), so it must have no effect outside t, as for kv.Update. An error of fn is
// returned to its caller alone; the rest of its group is committed without it.
func (h *Hub) groupUpdate(fn func(storage.Txn) error) error {
	r := &txReq{fn: fn, done: make(chan error, 1)}
	g := &h.sendTx
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.running < sendGroupCommitters {
		g.running++
		// Ends when the queue is empty; every request it takes is answered.
		go h.runTxGroup()
	}
	g.mu.Unlock()
	return <-r.done
}

func (h *Hub) runTxGroup() {
	g := &h.sendTx
	for {
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		n := min(len(g.queue), sendGroupMax)
		batch := g.queue[:n:n]
		g.queue = append([]*txReq(nil), g.queue[n:]...)
		g.mu.Unlock()
		h.commitTxGroup(batch)
	}
}

// commitTxGroup commits batch in one transaction; a request whose fn fails is answered with
// its own transaction's result, and the others are committed without it.
func (h *Hub) commitTxGroup(batch []*txReq) {
	for len(batch) > 0 {
		if len(batch) == 1 {
			batch[0].done <- h.kv.Update(batch[0].fn)
			return
		}
		failed := -1
		err := h.kv.Update(func(t storage.Txn) error {
			failed = -1
			for i, r := range batch {
				if err := r.fn(t); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if err == nil {
			for _, r := range batch {
				r.done <- nil
			}
			return
		}
		if failed < 0 {
			// The commit itself failed (too big, kept conflicting, the disk): each on its
			// own, so each caller gets the answer its write alone gets.
			var wg sync.WaitGroup
			for _, r := range batch {
				wg.Go(func() { r.done <- h.kv.Update(r.fn) })
			}
			wg.Wait()
			return
		}
		r := batch[failed]
		r.done <- h.kv.Update(r.fn)
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
}
