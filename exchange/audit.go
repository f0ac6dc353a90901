package exchange

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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

func (h *Hub) appendAudit(e AuditEntry) {
	h.auditMu.Lock()
	defer h.auditMu.Unlock()
	e.At = h.clock.Now().UTC()
	// Lazy: the entry is durable with the next durable write (the upload's acceptance, a
	// delivery) or within a fraction of a second; waiting for the disk here, under auditMu,
	// would serialise every session's logins and transfers behind one fsync each.
	// The tip is one record that every node's appends read and write: nodes appending at the
	// same moment conflict, and the store's retries (then these) put them one after the other.
	var err error
	for range 5 {
		if err = h.appendAuditOnce(e); !errors.Is(err, storage.ErrConflict) {
			break
		}
	}
	if err != nil {
		h.log.Error("auditlog schrijven mislukt", "account", e.Account, "actie", e.Action, "pad", e.Path, "resultaat", e.Result, "err", err)
	}
}

func (h *Hub) appendAuditOnce(e AuditEntry) error {
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
		entry := e
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
		head, err := json.Marshal(auditTip{Seq: entry.Seq, Hash: entry.Hash})
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
