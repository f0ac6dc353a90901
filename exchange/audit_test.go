package exchange

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"knooppunt/storage"
)

// acctRaw rewrites or deletes a stored key behind the hub's back, as an intruder with access
// to the data directory would.
func acctRaw(t testing.TB, h *Hub, k []byte, change func([]byte) []byte) {
	t.Helper()
	acctMust(t, h.kv.Update(func(tx storage.Txn) error {
		v, err := tx.Get(k)
		if err != nil {
			return err
		}
		if nv := change(v); nv != nil {
			return tx.Set(k, nv)
		}
		return tx.Delete(k)
	}))
}

func acctAuditN(t testing.TB, h *Hub, n int) {
	for i := range n {
		h.Audit(&Principal{Account: Account{Name: "jan"}, Org: Org{Code: "9999"}}, "put", fmt.Sprintf("/iwmo/aanleveren/%d.xml", i), "ok")
	}
}

func TestAuditChainIntact(t *testing.T) {
	h := acctHub(t)
	if n, err := h.VerifyAudit(); n != 0 || err != nil {
		t.Fatalf("empty log: %d %v", n, err)
	}
	// Concurrent writers still make one unbroken chain.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { acctAuditN(t, h, 25) })
	}
	wg.Wait()
	acctAuditN(t, h, 600) // more than one AuditLog page
	if n, err := h.VerifyAudit(); n != 0 || err != nil {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
	var seqs []uint64
	acctMust(t, h.AuditLog(650, func(e AuditEntry) bool {
		seqs = append(seqs, e.Seq)
		return len(seqs) < 3
	}))
	if fmt.Sprint(seqs) != "[650 651 652]" {
		t.Errorf("AuditLog(650) = %v", seqs)
	}
	var last AuditEntry
	acctMust(t, h.AuditLog(1, func(e AuditEntry) bool { last = e; return true }))
	if last.Seq != 700 || last.Account != "jan" || last.Org != "9999" || last.At.IsZero() || last.Prev == "" || len(last.Hash) != 64 {
		t.Errorf("last entry %+v", last)
	}
}

func TestAuditTamperDetected(t *testing.T) {
	for _, tc := range []struct {
		name   string
		seq    uint64
		change func([]byte) []byte
		want   uint64
	}{
		{"result rewritten", 3, func(v []byte) []byte {
			return bytes.Replace(v, []byte(`"resultaat":"ok"`), []byte(`"resultaat":"nee"`), 1)
		}, 3},
		{"not JSON", 4, func([]byte) []byte { return []byte("{") }, 4},
		{"entry removed", 2, func([]byte) []byte { return nil }, 2},
		{"last entry removed", 5, func([]byte) []byte { return nil }, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := acctHub(t)
			acctAuditN(t, h, 5)
			acctRaw(t, h, key(kAudit, tc.seq), tc.change)
			n, err := h.VerifyAudit()
			acctMust(t, err)
			if n != tc.want {
				t.Errorf("VerifyAudit = %d, want %d", n, tc.want)
			}
		})
	}
}

func TestAuditRewrittenWithNewHashDetected(t *testing.T) {
	// Recomputing the tampered entry's own hash does not help: the next entry's Prev no longer
	// matches.
	h := acctHub(t)
	acctAuditN(t, h, 4)
	var e AuditEntry
	acctMust(t, h.AuditLog(2, func(x AuditEntry) bool { e = x; return false }))
	e.Result = "geweigerd"
	hash, err := auditHash(e)
	acctMust(t, err)
	e.Hash = hash
	acctRaw(t, h, key(kAudit, uint64(2)), func([]byte) []byte {
		b, _ := json.Marshal(e)
		return b
	})
	if n, err := h.VerifyAudit(); n != 3 || err != nil {
		t.Errorf("VerifyAudit = %d, %v; want 3", n, err)
	}
}

func BenchmarkAudit(b *testing.B) {
	h := acctHub(b)
	p := &Principal{Account: Account{Name: "jan"}, Org: Org{Code: "9999"}, Remote: "192.0.2.1:1"}
	b.ReportAllocs()
	for b.Loop() {
		h.Audit(p, "put", "/iwmo/aanleveren/bericht.xml", "ok")
	}
}

func BenchmarkAuditParallel(b *testing.B) {
	h := acctHub(b)
	p := &Principal{Account: Account{Name: "jan"}, Org: Org{Code: "9999"}, Remote: "192.0.2.1:1"}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Audit(p, "put", "/iwmo/aanleveren/bericht.xml", "ok")
		}
	})
}
