package exchange

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"knooppunt/storage"
)

func TestCheckAuditCountsAndFindsTheBrokenLink(t *testing.T) {
	h := acctWorld(t)
	beheer := acctAs(t, h, "beheer")
	acctAuditN(t, h, 20)
	c, err := h.CheckAudit(beheer, nil)
	acctMust(t, err)
	if !c.Intact() || c.Entries < 20 || c.HeadSeq != c.Entries || len(c.HeadHash) != 64 {
		t.Fatalf("intact log: %+v", c)
	}
	// An insider edits entry 7 in place.
	acctRaw(t, h, key(kAudit, uint64(7)), func(v []byte) []byte {
		return bytes.Replace(v, []byte(`"resultaat":"ok"`), []byte(`"resultaat":"niets gebeurd"`), 1)
	})
	c, err = h.CheckAudit(System, nil)
	acctMust(t, err)
	if c.Intact() || c.FirstBroken != 7 {
		t.Errorf("edited entry 7: %+v", c)
	}
}

// rewriteAudit changes entry seq and recomputes the chain after it, as someone would who
// can write the data directory and knows how the chain is made.
func rewriteAudit(t testing.TB, h *Hub, seq uint64) {
	t.Helper()
	acctMust(t, h.kv.Update(func(tx storage.Txn) error {
		var prev string
		for s := uint64(1); ; s++ {
			v, err := tx.Get(key(kAudit, s))
			if errors.Is(err, storage.ErrNotFound) {
				head, _ := json.Marshal(auditTip{Seq: s - 1, Hash: prev})
				return tx.Set([]byte(kAuditTip), head)
			}
			if err != nil {
				return err
			}
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if s == seq {
				e.Result = "herschreven"
			}
			if s >= seq {
				e.Prev = prev
				if e.Hash, err = auditHash(e); err != nil {
					return err
				}
				b, _ := json.Marshal(e)
				if err := tx.Set(key(kAudit, s), b); err != nil {
					return err
				}
			}
			prev = e.Hash
		}
	}))
}

func TestCheckAuditAnchorCatchesARebuiltChain(t *testing.T) {
	h := acctWorld(t)
	acctAuditN(t, h, 10)
	before, err := h.CheckAudit(System, nil)
	acctMust(t, err)
	anchor := AuditAnchor{Seq: before.HeadSeq, Hash: before.HeadHash}
	acctAuditN(t, h, 5)
	c, err := h.CheckAudit(System, &anchor)
	acctMust(t, err)
	if !c.Intact() || c.AnchorOK == nil || !*c.AnchorOK {
		t.Fatalf("untouched log with anchor: %+v", c)
	}

	rewriteAudit(t, h, 3)
	c, err = h.CheckAudit(System, nil)
	acctMust(t, err)
	if !c.Intact() {
		t.Fatalf("a rebuilt chain is consistent in itself, the check says %+v", c)
	}
	c, err = h.CheckAudit(System, &anchor)
	acctMust(t, err)
	if c.Intact() || c.AnchorOK == nil || *c.AnchorOK || c.FirstBroken != 0 {
		t.Errorf("rebuilt chain against the anchor noted before: %+v", c)
	}
}

func TestAuditExportAndCheckAreForTheBeheerder(t *testing.T) {
	h := acctWorld(t)
	acctAuditN(t, h, 5)
	for _, name := range []string{"jan", "gb"} {
		_, err := h.CheckAudit(acctAs(t, h, name), nil)
		acctWant(t, err, ErrDenied, "beheerder")
		err = h.ExportAudit(acctAs(t, h, name), 1, func(AuditEntry) error { t.Fatal("entry exported"); return nil })
		acctWant(t, err, ErrDenied, "beheerder")
	}
	var got []AuditEntry
	acctMust(t, h.ExportAudit(acctAs(t, h, "beheer"), 3, func(e AuditEntry) error { got = append(got, e); return nil }))
	if len(got) == 0 || got[0].Seq != 3 {
		t.Fatalf("export from 3: %+v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Prev != got[i-1].Hash || got[i].Seq != got[i-1].Seq+1 {
			t.Fatalf("export breaks the chain at %d", got[i].Seq)
		}
	}
	// The refusals and the export are in the log themselves.
	if !auditHas(t, h, "jan", "audit export", "geen toestemming") || !auditHas(t, h, "beheer", "audit export", "") {
		t.Error("export not audited")
	}
	stop := errors.New("stop")
	err := h.ExportAudit(System, 1, func(AuditEntry) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("export stopped by its writer: %v", err)
	}
}

func TestParseAuditAnchor(t *testing.T) {
	hash := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	if a, err := ParseAuditAnchor("42:" + hash); err != nil || a.Seq != 42 || a.Hash != hash {
		t.Errorf("ParseAuditAnchor = %+v, %v", a, err)
	}
	for _, bad := range []string{"", "42", "0:" + hash, "x:" + hash, "42:" + hash[:63], "42:" + hash[:63] + "G"} {
		if _, err := ParseAuditAnchor(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseAuditAnchor(%q) = %v", bad, err)
		}
	}
}
