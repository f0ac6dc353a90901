package exchange

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"knooppunt/storage"
)

// AuditCheck is the outcome of CheckAudit.
type AuditCheck struct {
	// Entries is how many entries were checked: the log's length when the check began.
	Entries uint64 `json:"regels"`
	// FirstBroken is the seq of the first entry that was changed, removed or added out of
	// order; 0 when the chain is intact.
	FirstBroken uint64 `json:"eerste_breuk,omitempty"`
	// HeadSeq and HeadHash name the newest entry. Kept somewhere else (a ticket, a mail to
	// the security officer), they anchor the chain: someone who can write the data directory
	// can rebuild a whole chain, but not one that still ends in a hash noted before.
	HeadSeq  uint64 `json:"kop_seq"`
	HeadHash string `json:"kop_hash"`
	// AnchorOK tells whether the anchor given to CheckAudit still holds; nil without one.
	AnchorOK *bool `json:"anker_klopt,omitempty"`
}

// Intact tells whether the chain is unbroken and matches the anchor, if one was given.
func (c AuditCheck) Intact() bool { return c.FirstBroken == 0 && (c.AnchorOK == nil || *c.AnchorOK) }

// AuditAnchor is a seq and the hash its entry had when it was noted.
type AuditAnchor struct {
	Seq  uint64
	Hash string
}

// ParseAuditAnchor reads an anchor as 'audit verify' prints it: SEQ:HASH.
func ParseAuditAnchor(s string) (AuditAnchor, error) {
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || n == 0 || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "" {
		return AuditAnchor{}, fmt.Errorf("%w: anker %q is geen REGEL:HASH zoals 'audit verify' de kop toont (bijvoorbeeld 42:9f86…, 64 hexadecimale tekens)", ErrInvalid, s)
	}
	return AuditAnchor{Seq: n, Hash: hash}, nil
}

func mayReadAudit(t storage.Txn, by *Principal, what string) error {
	_, err := authorize(t, by, ActionReadAudit, "")
	return err
}

func (h *Hub) auditHead() (auditTip, error) {
	var tip auditTip
	err := h.kv.View(func(t storage.Txn) error {
		v, err := t.Get([]byte(kAuditTip))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(v, &tip)
	})
	if err != nil {
		return auditTip{}, fmt.Errorf("kop van het auditlog lezen: %w", err)
	}
	return tip, nil
}

// CheckAudit verifies the hash chain for a beheerder (or System: the CLI on the machine) and,
// with an anchor, that the entry it names still has the hash noted. The check is itself
// audited.
func (h *Hub) CheckAudit(by *Principal, anchor *AuditAnchor) (AuditCheck, error) {
	if err := h.kv.View(func(t storage.Txn) error { return mayReadAudit(t, by, "controleren") }); err != nil {
		h.Audit(by, "audit verify", "", err.Error())
		return AuditCheck{}, err
	}
	// The head is read first: entries added during the check are checked too, but the
	// count never claims more than was there when it began.
	tip, err := h.auditHead()
	if err != nil {
		return AuditCheck{}, err
	}
	c := AuditCheck{Entries: tip.Seq, HeadSeq: tip.Seq, HeadHash: tip.Hash}
	if c.FirstBroken, err = h.VerifyAudit(); err != nil {
		return AuditCheck{}, fmt.Errorf("auditlog controleren: %w", err)
	}
	if anchor != nil {
		ok := false
		err := h.AuditLog(anchor.Seq, func(e AuditEntry) bool {
			ok = e.Seq == anchor.Seq && e.Hash == anchor.Hash
			return false
		})
		if err != nil {
			return AuditCheck{}, fmt.Errorf("anker controleren: %w", err)
		}
		c.AnchorOK = &ok
	}
	result := fmt.Sprintf("intact, %d regels", c.Entries)
	switch {
	case c.FirstBroken != 0:
		result = fmt.Sprintf("GEBROKEN bij regel %d", c.FirstBroken)
	case !c.Intact():
		result = fmt.Sprintf("anker %d klopt niet", anchor.Seq)
	}
	h.Audit(by, "audit verify", "", result)
	return c, nil
}

// ExportAudit calls fn for each audit entry from seq from on, for a beheerder (or System), until fn returns false or an error. The export itself is audited after it.
func (h *Hub) ExportAudit(by *Principal, from uint64, fn func(AuditEntry) error) error {
	if err := h.kv.View(func(t storage.Txn) error { return mayReadAudit(t, by, "exporteren") }); err != nil {
		h.Audit(by, "audit export", "", err.Error())
		return err
	}
	var (
		n    uint64
		last uint64
		ferr error
	)
	err := h.AuditLog(max(from, 1), func(e AuditEntry) bool {
		if ferr = fn(e); ferr != nil {
			return false
		}
		n++
		last = e.Seq
		return true
	})
	if err == nil {
		err = ferr
	}
	result := fmt.Sprintf("%d regels vanaf %d (t/m %d)", n, max(from, 1), last)
	if err != nil {
		result = fmt.Sprintf("afgebroken na %d regels: %v", n, err)
	}
	h.Audit(by, "audit export", "", result)
	return err
}
