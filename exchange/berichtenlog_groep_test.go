package exchange

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"knooppunt/storage"
)

// groupedFixture writes a berichtenlog of org the way the engine does: uploads of varied
// sizes, each with one receipt time, in transactions of up to batchSize messages, so most
// entries are members of large groups with varied summaries. Then some messages change
// status (addHistory) and some are purged (deleteLogEntries), the first member of a group
// among them.
func groupedFixture(t testing.TB, e *testEngine, org string, n int) {
	t.Helper()
	sizes := []int{1, 37, 1000, 1500, 3, 250, 2, 2400, 11}
	start := e.clk.Now().Add(-30 * 24 * time.Hour)
	i, u := 0, 0
	for i < n {
		size := min(sizes[u%len(sizes)], n-i)
		upload := uint64(700_000 + u)
		at := start.Add(time.Duration(u) * time.Hour)
		for lo := 0; lo < size; lo += batchSize {
			err := e.h.kv.Update(func(tx storage.Txn) error {
				b := newLogBatch()
				for j := lo; j < min(lo+batchSize, size); j++ {
					k := i + j
					m := Message{ID: msgID(upload, j), Product: IWmo, Functie: "WMO301", Referentie: fmt.Sprintf("gref-%07d", k),
						Zender: org, Uploader: org, Ontvanger: "12345678", Mailbox: "12345678", ReceivedAt: at, Status: MsgAfgeleverd}
					switch {
					case k%13 == 4:
						m.Functie, m.Zender, m.Uploader, m.Ontvanger, m.Mailbox = "WMO302", "87654321", "87654321", org, org
						m.CrossRef = fmt.Sprintf("gref-%07d", k-1)
					case k%17 == 5:
						m.Ontvanger, m.Mailbox = "CAK", "CAK"
					}
					if k%101 == 7 {
						m.Status = MsgWachtRoute
					}
					if k%211 == 9 {
						m.Status, m.Mailbox = MsgAfgekeurd, ""
					}
					if err := setJSON(tx, key(kMessage, m.ID), m); err != nil {
						return err
					}
					if err := b.putLogEntries(tx, m, m.logOrgs()); err != nil {
						return err
					}
				}
				return b.write(tx)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		i += size
		u++
	}
	// Status changes and purges, group by group as the engine does them.
	var ids, gone []uint64
	err := e.h.kv.View(func(tx storage.Txn) error {
		k := 0
		return tx.Scan([]byte(kMessage), storage.ScanOptions{KeysOnly: true}, func(key, _ []byte) (bool, error) {
			id, _ := idFromKey(key)
			switch {
			case k%7 == 2 || id&(1<<entryBits-1) == 0 && k%2 == 0:
				ids = append(ids, id)
			case k%29 == 3 || id&(1<<entryBits-1) == 0:
				gone = append(gone, id)
			}
			k++
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for c := range slices.Chunk(ids, 300) {
		if err := e.h.kv.Update(func(tx storage.Txn) error {
			return addHistory(tx, c, StatusEvent{At: e.clk.Now(), Status: MsgGelezen}, MsgAfgeleverd)
		}); err != nil {
			t.Fatal(err)
		}
	}
	for c := range slices.Chunk(ids[:len(ids)/3], 300) {
		if err := e.h.kv.Update(func(tx storage.Txn) error {
			return addHistory(tx, c, StatusEvent{At: e.clk.Now(), Status: MsgVerwijderd}, MsgGelezen)
		}); err != nil {
			t.Fatal(err)
		}
	}
	for c := range slices.Chunk(gone, 300) {
		if err := e.h.kv.Update(func(tx storage.Txn) error {
			for _, id := range c {
				m, found, err := txMessage(tx, id)
				if err != nil || !found {
					return err
				}
				if err := deleteLogEntries(tx, m); err != nil {
					return err
				}
				if err := tx.Delete(key(kMessage, id)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// logOf is org's berichtenlog read the slow way: every message record, newest first.
func logOf(t *testing.T, e *testEngine, org string) []Message {
	t.Helper()
	var all []Message
	err := e.h.kv.View(func(tx storage.Txn) error {
		return tx.Scan([]byte(kMessage), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
			var m Message
			if err := json.Unmarshal(v, &m); err != nil {
				return false, err
			}
			if slices.Contains(m.logOrgs(), org) {
				all = append(all, m)
			}
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(all, func(a, b Message) int {
		if c := b.ReceivedAt.Compare(a.ReceivedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return all
}

// TestBerichtenlogGroupsMatchEveryMessage lists a grouped berichtenlog (large groups, mixed
// summaries, changed statuses, purged members) with every filter, page and count, and
// compares each answer with the messages themselves: the same entries in the same order, the
// same totals, "at least" past MessageCountCap.
func TestBerichtenlogGroupsMatchEveryMessage(t *testing.T) {
	e := newEngine(t, "")
	const org = "0363"
	groupedFixture(t, e, org, MessageCountCap+2500)
	p := e.principal(org)
	all := logOf(t, e, org)
	times := []time.Time{}
	for _, m := range all {
		if len(times) == 0 || !times[len(times)-1].Equal(m.ReceivedAt) {
			times = append(times, m.ReceivedAt)
		}
	}
	mid := times[len(times)/2]
	filters := map[string]MessageFilter{
		"geen":            {},
		"functie":         {Functie: "WMO302"},
		"functie_veel":    {Functie: "WMO301"},
		"richting":        {Direction: "in"},
		"richting_uit":    {Direction: "uit"},
		"tegenpartij":     {Counterpart: "CAK"},
		"wacht":           {Status: string(MsgWachtRoute)},
		"gelezen":         {Status: string(MsgGelezen)},
		"verwijderd":      {Status: string(MsgVerwijderd)},
		"afgekeurd":       {Status: string(MsgAfgekeurd)},
		"afgeleverd":      {Status: string(MsgAfgeleverd)},
		"samen":           {Functie: "WMO301", Status: string(MsgGelezen), Direction: "uit"},
		"datum":           {From: mid, To: times[2]},
		"datum_status":    {From: times[len(times)-2], To: mid, Status: string(MsgVerwijderd)},
		"tot_tegenpartij": {To: mid, Counterpart: "12345678"},
		"ref":             {Referentie: "gref-000030"},
		"niets":           {Functie: "WMO305"},
	}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			var want []Message
			for _, m := range all {
				if (f.From.IsZero() || !m.ReceivedAt.Before(f.From)) && (f.To.IsZero() || !m.ReceivedAt.After(f.To)) && f.match(m, org) &&
					(f.Referentie == "" || len(want) < maxRefMatches) {
					want = append(want, m)
				}
			}
			if name != "niets" && len(want) == 0 {
				t.Fatal("the fixture has no match")
			}
			for _, pg := range [][2]int{{0, 0}, {100, 0}, {7, 0}, {50, 30}, {100, 999}, {100, 1000}, {3, 1499}, {100, 9_950}, {100, 10_700}, {10, len(want) - 5}} {
				f.Limit, f.Offset = pg[0], max(pg[1], 0)
				l, err := e.h.MessageList(context.Background(), p, IWmo, f)
				if err != nil {
					t.Fatal(err)
				}
				total, atLeast := len(want), false
				if enough := max(MessageCountCap, f.Offset+f.Limit); f.Limit > 0 && f.Referentie == "" && total > enough &&
					(f.narrows() || !f.From.IsZero() || !f.To.IsZero()) {
					total, atLeast = enough, true
				}
				if f.Limit == 0 && len(l.Messages) != len(want) {
					have := map[uint64]bool{}
					for _, m := range l.Messages {
						have[m.ID] = true
					}
					for _, m := range want {
						if !have[m.ID] {
							t.Errorf("missing %d (entry %d of upload %d): %+v", m.ID, m.ID&(1<<entryBits-1), m.ID>>(entryBits+1), m)
						}
					}
				}
				if l.Total != total || l.AtLeast != atLeast {
					t.Fatalf("limit %d offset %d: total %d (at least %v), want %d (%v)", f.Limit, f.Offset, l.Total, l.AtLeast, total, atLeast)
				}
				page := want[min(f.Offset, len(want)):]
				if f.Limit > 0 {
					page = page[:min(f.Limit, len(page))]
				}
				if len(l.Messages) != len(page) {
					t.Fatalf("limit %d offset %d: %d messages, want %d", f.Limit, f.Offset, len(l.Messages), len(page))
				}
				for i := range page {
					if l.Messages[i].ID != page[i].ID || l.Messages[i].Status != page[i].Status {
						t.Fatalf("limit %d offset %d: message %d is %d (%s), want %d (%s)", f.Limit, f.Offset, i, l.Messages[i].ID, l.Messages[i].Status, page[i].ID, page[i].Status)
					}
				}
			}
		})
	}
}

// A group record that cannot be read is an error that names it, not an empty log.
func TestBerichtenlogGroupUnreadable(t *testing.T) {
	for _, v := range [][]byte{{1}, {groupV2}, {groupV2, 2, 0, 1, 0}, {groupV2, 1, 0, 0}, {groupV2, 1, 0, 1, 9, 'x'}} {
		if ms, err := decodeGroup(5, v); err == nil {
			t.Errorf("%v: %v, want an error", v, ms)
		}
	}
	ms := []logMember{{5, logSum{"a", "b", "c", "d"}}, {9, logSum{"a", "b", "c", "d"}}, {300, logSum{"x", "", "c", "d"}}}
	got, err := decodeGroup(5, encodeGroup(5, ms))
	if err != nil || !slices.Equal(got, ms) {
		t.Fatalf("round trip: %v %v", got, err)
	}
}

// BenchmarkBerichtenlogGrouped opens the first page (100) of a filtered berichtenlog of
// 200,000 entries in the engine's groups (uploads of 1 to 2,400 messages, groups of up to
// 1,000), with rare values inside large groups: a filter reads a group for one member.
func BenchmarkBerichtenlogGrouped(b *testing.B) {
	e := newEngine(b, "")
	const org = "0363"
	seedStart := time.Now()
	groupedFixture(b, e, org, 200_000)
	b.Logf("200,000 entries in %s", time.Since(seedStart).Round(time.Second))
	p := e.principal(org)
	benchFilters(b, e, p, []namedFilter{
		{"geen", MessageFilter{}},
		{"functie_WMO302", MessageFilter{Functie: "WMO302"}},
		{"functie_WMO301", MessageFilter{Functie: "WMO301"}},
		{"status_verwijderd", MessageFilter{Status: string(MsgVerwijderd)}},
		{"status_afgekeurd", MessageFilter{Status: string(MsgAfgekeurd)}},
		{"status_wacht", MessageFilter{Status: string(MsgWachtRoute)}},
		{"tegenpartij_CAK", MessageFilter{Counterpart: "CAK"}},
		{"richting_in", MessageFilter{Direction: "in"}},
		{"samen", MessageFilter{Functie: "WMO301", Status: string(MsgGelezen), Direction: "uit"}},
		{"pagina_50", MessageFilter{Status: string(MsgGelezen), Offset: 5000}},
	})
}
