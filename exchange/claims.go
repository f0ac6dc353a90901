package exchange

import (
	"encoding/json"
	"errors"
	"fmt"

	"knooppunt/storage"
)

// An upload is processed by exactly one node: the one whose claim (claim/<upload>) names it.
// The scheduler takes the claim before it starts the upload; the claim lives as long as the
// holder's heartbeat (knooppunten.go) and goes with the upload's final transaction. Every
// transaction that commits part of the processing (Bezig, a batch of verdicts, the delivery
// records, the final status) first reads the claim, and stops when it names another node. A
// node that takes the claim over writes it, and then reads the progress record (prog/) that
// every such transaction writes: serializable transactions make the old holder's commit
// either come before the takeover, and the new holder sees it, or fail, and on its retry the
// old holder finds the claim gone and stops. The new holder redoes the upload from the
// progress record the old one committed last, which is how a restart after kill -9 already
// redoes it exactly once.
//
// The claim is only read, not rewritten: the claims of the uploads in progress share an
// index page, and on PostgreSQL a rewrite by one upload's batch conflicted with every other
// batch that had read its own claim there. In the two-node load test nearly all the batches'
// serialization conflicts were that (BENCHMARKS.md, issue 14).
//
// On a store of one process (Badger) there is no one to share with: claims are not written.

// errClaimLost: another node holds the upload now (it took it over from this one, which it
// thought dead, or finished it). Not a failure of the upload: this node leaves it alone.
var errClaimLost = errors.New("de aanlevering wordt door een ander knooppunt verwerkt")

// claimUpload takes the claim of queued upload id for this node: when nobody holds it, this
// node does already, or its holder is dead. false: another node has it, or it left the queue.
func (h *Hub) claimUpload(id uint64) (bool, error) {
	n := h.node
	if n.exclusive {
		return true, nil
	}
	var took bool
	var from holder
	err := h.kv.Update(func(t storage.Txn) error {
		took, from = false, holder{}
		if _, err := t.Get(key(kQueue, id)); errors.Is(err, storage.ErrNotFound) {
			return nil // finished meanwhile (by whoever): a claim now would stay behind
		} else if err != nil {
			return err
		}
		err := getJSON(t, key(kClaim, id), &from)
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return err
		case from.Instance == n.rec.Instance:
			took = true
			return nil
		default:
			ok, err := n.takeable(t, from.Instance)
			if err != nil || !ok {
				return err
			}
		}
		took = true
		// The progress record the new holder redoes from, read here: an old holder's batch
		// still running writes it after this read, having read the claim before this write,
		// and one of the two transactions fails (see the top of this file).
		if _, err := t.Get(key(kProgress, id)); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if from.Instance != "" {
			// Taken over from a dead node: the upload's admission slot is this node's now.
			if err := h.rebindSlot(t, id); err != nil {
				return err
			}
		}
		return setJSON(t, key(kClaim, id), n.self(h.clock.Now().UTC()))
	})
	if err != nil {
		return false, fmt.Errorf("aanlevering %d toewijzen aan dit knooppunt: %w", id, err)
	}
	if took && from.Instance != "" && from.Instance != n.rec.Instance {
		h.log.Info("aanlevering overgenomen van een knooppunt zonder hartslag", "upload", id, "van", from.Node, "knooppunt", n.rec.Name)
	}
	return took, nil
}

// claimAccepted gives the upload id being accepted in t to this node: the node that took the
// client's bytes (and holds the upload's admission slot) processes it, and no other node that
// happens to look at the queue first takes it. The slot's record in the store (written as
// blob) moves to the upload, so that whichever node finishes it gives the slot back.
func (h *Hub) claimAccepted(t storage.Txn, id uint64, blob string) error {
	if err := h.admission.bindSlot(t, blob, id); err != nil {
		return err
	}
	if h.node.exclusive {
		return nil
	}
	return setJSON(t, key(kClaim, id), h.node.self(h.clock.Now().UTC()))
}

// holdClaim checks, inside the transaction t that commits part of upload id's processing,
// that this node still holds its claim: a takeover committed before t began is seen here, one
// committed meanwhile makes t's commit fail (it wrote what t read). errClaimLost when another
// node holds it.
func (h *Hub) holdClaim(t storage.Txn, id uint64) error {
	if h.node.exclusive {
		return nil
	}
	k := key(kClaim, id)
	v, err := t.Get(k)
	if errors.Is(err, storage.ErrNotFound) {
		return errClaimLost
	}
	if err != nil {
		return err
	}
	var c holder
	if err := json.Unmarshal(v, &c); err != nil {
		return fmt.Errorf("toewijzing van aanlevering %d lezen: %w", id, err)
	}
	if c.Instance != h.node.rec.Instance {
		return errClaimLost
	}
	return nil
}

// dropClaim is holdClaim for the upload's final transaction: the claim goes with it, and so
// does the upload's admission slot in the store (admission_shared.go).
func (h *Hub) dropClaim(t storage.Txn, id uint64) error {
	if err := h.holdClaim(t, id); err != nil {
		return err
	}
	if h.node.exclusive {
		return nil
	}
	if err := dropUploadSlot(t, id); err != nil {
		return err
	}
	return t.Delete(key(kClaim, id))
}

// claimedElsewhere returns the queued uploads that a live other node holds, read in t: the
// scheduler leaves them alone (nil on a store of one process).
func (h *Hub) claimedElsewhere(t storage.Txn) (map[uint64]bool, error) {
	n := h.node
	if n.exclusive {
		return nil, nil
	}
	out := map[uint64]bool{}
	err := t.Scan([]byte(kClaim), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
		id, err := idFromKey(k)
		if err != nil {
			return false, err
		}
		var c holder
		if err := json.Unmarshal(v, &c); err != nil {
			return false, fmt.Errorf("toewijzing %q lezen: %w", k, err)
		}
		if c.Instance != n.rec.Instance && n.alive(c.Instance) {
			out[id] = true
		}
		return true, nil
	})
	return out, err
}
