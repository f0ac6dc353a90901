package exchange

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"knooppunt/storage"
)

// auditTip is the value at kAuditTip: the newest entry's seq and hash. It is written in the
// same transaction as that entry, so the chain and its head never disagree.
type auditTip struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// auditField keeps text from a client (a user name offered at login) short and printable:
// nothing in it steers a terminal that shows the audit log (Printable).
func auditField(s string) string {
	s = Printable(s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// auditHash chains an entry to the one before it: sha256 of the previous hash followed by the
// entry's JSON with Hash empty.
func auditHash(e AuditEntry) (string, error) {
	e.Hash = ""
	b, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	sum := sha256.New()
	sum.Write([]byte(e.Prev))
	sum.Write(b)
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// Audit records what p did (System: the hub itself) in the hash-chained audit log. A nil p
// is recorded as "(onbekend)", a name no account can take, never as the system. It never
// fails the caller: a write error is logged.
func (h *Hub) Audit(p *Principal, action, path, result string) {
	e := AuditEntry{Account: "(onbekend)", Action: action, Path: auditField(path), Result: auditField(result)}
	if p != nil {
		e.Account = p.Account.Name
		e.Org = p.Org.Code
		e.Remote = p.Remote
	}
	h.appendAudit(e)
}

// AuditAttempt records a login attempt refused before there is a principal, such as in the SSH
// public-key callback; user is the name the client offered.
func (h *Hub) AuditAttempt(user, remote, result string) {
	h.appendAudit(AuditEntry{Account: auditField(user), Remote: auditField(remote), Action: "login", Result: auditField(result)})
}

// AuditConn records something an authenticated connection asked for outside any session,
// such as port forwarding; user is the connection's account.
func (h *Hub) AuditConn(user, remote, action, path, result string) {
	h.appendAudit(AuditEntry{Account: auditField(user), Remote: auditField(remote), Action: action, Path: auditField(path), Result: auditField(result)})
}

// auditGroupMax bounds the entries one append transaction takes from the queue: a transaction
// stays small (a few hundred records) however many sessions wait.
const auditGroupMax = 256

// auditQueue holds the entries waiting for this node's next append transaction, in the order
// of their timestamps.
type auditQueue struct {
	mu      sync.Mutex
	pending []*auditReq
	groups  atomic.Int64 // append transactions committed: how many entries each took shows in tests
}

// auditReq is one entry on its way into the chain. done and err are written and read under
// Hub.auditMu only.
type auditReq struct {
	e    AuditEntry
	done bool
	err  error
}

// appendAudit adds e to the chain and returns once the transaction holding it committed. The
// appends of this node are one at a time (auditMu); whoever holds it writes every entry queued
// meanwhile in one transaction: one read and one write of the tip for the whole group instead
// of one each. The tip is one record that every node's appends read and write, so a
// transaction per entry made the nodes' appends conflict thousands of times in a load test.
func (h *Hub) appendAudit(e AuditEntry) {
	r := &auditReq{e: e}
	q := &h.audit
	q.mu.Lock()
	// Stamped when queued, under the queue's lock: the chain's order is the queue's order, so
	// the times in the chain never go back.
	r.e.At = h.clock.Now().UTC()
	q.pending = append(q.pending, r)
	q.mu.Unlock()

	h.auditMu.Lock()
	defer h.auditMu.Unlock()
	for !r.done {
		q.mu.Lock()
		group := slices.Clone(q.pending[:min(len(q.pending), auditGroupMax)])
		q.pending = slices.Delete(q.pending, 0, len(group))
		q.mu.Unlock()
		h.appendAuditGroup(group)
	}
	if r.err != nil {
		h.log.Error("auditlog schrijven mislukt", "account", r.e.Account, "actie", r.e.Action, "pad", r.e.Path, "resultaat", r.e.Result, "err", r.err)
	}
}

// appendAuditGroup writes group to the chain in one transaction and marks each entry done with
// the outcome. Lazy: the entries are durable with the next durable write (the upload's
// acceptance, a delivery) or within a fraction of a second; waiting for the disk here, under
// auditMu, would serialise every session's logins and transfers behind one fsync each.
// Nodes appending at the same moment still conflict on the tip; the store's retries (then
// these) put them one after the other.
func (h *Hub) appendAuditGroup(group []*auditReq) {
	var err error
	for range 5 {
		if err = h.appendAuditOnce(group); !errors.Is(err, storage.ErrConflict) {
			break
		}
	}
	if err == nil {
		h.audit.groups.Add(1)
	}
	for _, r := range group {
		r.done, r.err = true, err
	}
}

func (h *Hub) appendAuditOnce(group []*auditReq) error {
	return h.kv.UpdateLazy(func(t storage.Txn) error {
		var tip auditTip
		v, err := t.Get([]byte(kAuditTip))
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(v, &tip); err != nil {
				return fmt.Errorf("kop van het auditlog lezen: %w", err)
			}
		}
		for _, r := range group {
			entry := r.e
			entry.Seq = tip.Seq + 1
			entry.Prev = tip.Hash
			if entry.Hash, err = auditHash(entry); err != nil {
				return err
			}
			val, err := json.Marshal(entry)
			if err != nil {
				return err
			}
			if err := t.Set(key(kAudit, entry.Seq), val); err != nil {
				return err
			}
			tip = auditTip{Seq: entry.Seq, Hash: entry.Hash}
		}
		head, err := json.Marshal(tip)
		if err != nil {
			return err
		}
		return t.Set([]byte(kAuditTip), head)
	})
}

// auditPage is how many entries are read per transaction, so that a slow reader does not
// hold one read transaction open over the whole log.
const auditPage = 512

// scanAudit calls fn with each stored entry's seq (from its key) and raw value, in order.
func (h *Hub) scanAudit(fromSeq uint64, fn func(seq uint64, raw []byte) (bool, error)) error {
	type item struct {
		seq uint64
		raw []byte
	}
	next := fromSeq
	for {
		var page []item
		err := h.kv.View(func(t storage.Txn) error {
			page = page[:0]
			return t.Scan([]byte(kAudit), storage.ScanOptions{Start: key(kAudit, next)}, func(k, v []byte) (bool, error) {
				if len(k) != len(kAudit)+8 {
					return false, fmt.Errorf("auditlog lezen: ongeldige sleutel %q", k)
				}
				page = append(page, item{binary.BigEndian.Uint64(k[len(kAudit):]), v})
				return len(page) < auditPage, nil
			})
		})
		if err != nil {
			return err
		}
		for _, it := range page {
			more, err := fn(it.seq, it.raw)
			if err != nil || !more {
				return err
			}
		}
		if len(page) < auditPage {
			return nil
		}
		next = page[len(page)-1].seq + 1
	}
}

// AuditLog calls fn for each audit entry from seq fromSeq on, in order, until fn returns false.
func (h *Hub) AuditLog(fromSeq uint64, fn func(AuditEntry) bool) error {
	return h.scanAudit(fromSeq, func(seq uint64, raw []byte) (bool, error) {
		var e AuditEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return false, fmt.Errorf("auditlog lezen bij %d: %w", seq, err)
		}
		return fn(e), nil
	})
}

// VerifyAudit recomputes the hash chain and returns the seq of the first entry that was
// changed, removed or added out of order; 0 means the log is intact. An entry cut off the
// end shows as the seq after the last one left.
func (h *Hub) VerifyAudit() (uint64, error) {
	var (
		want   uint64 = 1
		prev   string
		broken uint64
	)
	err := h.scanAudit(1, func(seq uint64, raw []byte) (bool, error) {
		var e AuditEntry
		if json.Unmarshal(raw, &e) != nil || seq != want || e.Seq != want || e.Prev != prev {
			broken = want
			return false, nil
		}
		if hash, err := auditHash(e); err != nil || hash != e.Hash {
			broken = want
			return false, nil
		}
		want++
		prev = e.Hash
		return true, nil
	})
	if err != nil || broken != 0 {
		return broken, err
	}
	tip, err := h.auditHead()
	if err != nil {
		return 0, err
	}
	if tip.Seq != want-1 || tip.Hash != prev {
		return want, nil
	}
	return 0, nil
}
