package exchange

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"knooppunt/storage"
)

// logFixture is a berichtenlog of org for IWmo written straight into the store the way
// putNewMessage writes it: n messages a minute apart, newest last, with fields that vary.
func logFixture(t testing.TB, e *testEngine, org string, n int, mk func(i int, m *Message)) []Message {
	t.Helper()
	start := e.clk.Now().Add(-time.Duration(n) * time.Minute)
	var all []Message
	const batch = 2000
	for i := 0; i < n; i += batch {
		kept := len(all)
		err := e.h.kv.Update(func(tx storage.Txn) error {
			all = all[:kept] // a conflict runs this again: keep each message once
			for j := i; j < min(i+batch, n); j++ {
				m := Message{ID: msgID(500_000+uint64(j/100_000), j%100_000), Product: IWmo, Functie: "WMO301",
					Referentie: fmt.Sprintf("ref-%07d", j), Zender: org, Uploader: org, Ontvanger: "12345678", Mailbox: "12345678",
					ReceivedAt: start.Add(time.Duration(j) * time.Minute), Status: MsgAfgeleverd}
				mk(j, &m)
				if err := setJSON(tx, key(kMessage, m.ID), m); err != nil {
					return err
				}
				orgs := []string{org}
				if m.Status == MsgAfgekeurd {
					orgs = []string{m.Uploader}
				}
				if err := putLogEntries(tx, m, orgs); err != nil {
					return err
				}
				if len(all) < 100_000 {
					all = append(all, m)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return all
}

// mixed gives the fixture's messages varied functies, directions, counterparts, statuses and
// crossRefnummers.
func mixed(org string) func(i int, m *Message) {
	return func(i int, m *Message) {
		if i%3 == 1 {
			m.Functie, m.Zender, m.Uploader, m.Ontvanger, m.Mailbox = "WMO302", "87654321", "87654321", org, org
			m.CrossRef = fmt.Sprintf("ref-%07d", i-1)
		}
		switch i % 7 {
		case 2:
			m.Status = MsgGelezen
		case 5:
			m.Status = MsgWachtRoute
		}
		if i%11 == 4 && m.Zender == org {
			m.Ontvanger, m.Mailbox = "CAK", "CAK"
		}
	}
}

func TestBerichtenlogFilters(t *testing.T) {
	e := newEngine(t, "")
	const org = "0363"
	p := e.principal(org)
	all := logFixture(t, e, org, 600, mixed(org))
	newest := slices.Clone(all)
	slices.Reverse(newest)
	at := func(i int) time.Time { return all[i].ReceivedAt }
	filters := map[string]MessageFilter{
		"geen":         {},
		"functie":      {Functie: "WMO302"},
		"richting":     {Direction: "in"},
		"tegenpartij":  {Counterpart: "CAK"},
		"status":       {Status: string(MsgWachtRoute)},
		"datum":        {From: at(100), To: at(349)},
		"tot":          {To: at(200)},
		"samen":        {Functie: "WMO301", Status: string(MsgGelezen), From: at(50)},
		"ref":          {Referentie: "ref-0000300"}, // the heen and its retour (crossRefnummer)
		"ref_en_datum": {Referentie: "ref-0000300", From: at(301)},
		"ref_onbekend": {Referentie: "ref-00003"},
		"niets":        {Functie: "WMO305"},
	}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			var want []Message
			for _, m := range newest {
				if (f.From.IsZero() || !m.ReceivedAt.Before(f.From)) && (f.To.IsZero() || !m.ReceivedAt.After(f.To)) && f.match(m, org) {
					want = append(want, m)
				}
			}
			if name != "niets" && name != "ref_onbekend" && len(want) == 0 {
				t.Fatal("the fixture has no match")
			}
			for _, limit := range []int{0, 7, 100} {
				var got []Message
				for off := 0; ; off += limit {
					f.Offset, f.Limit = off, limit
					l, err := e.h.MessageList(context.Background(), p, IWmo, f)
					if err != nil {
						t.Fatal(err)
					}
					if l.Total != len(want) || l.AtLeast {
						t.Fatalf("limit %d offset %d: total %d (at least %v), want %d", limit, off, l.Total, l.AtLeast, len(want))
					}
					got = append(got, l.Messages...)
					if limit == 0 || len(l.Messages) < limit {
						break
					}
				}
				if len(got) != len(want) {
					t.Fatalf("limit %d: %d messages, want %d", limit, len(got), len(want))
				}
				for i := range got {
					if got[i].ID != want[i].ID {
						t.Fatalf("limit %d: message %d is %d, want %d", limit, i, got[i].ID, want[i].ID)
					}
				}
			}
		})
	}
	// Another organisation sees none of it.
	if l, err := e.h.MessageList(context.Background(), e.principal("0060"), IWmo, MessageFilter{Functie: "WMO301", Limit: 10}); err != nil || l.Total != 0 {
		t.Fatalf("0060: %+v %v", l, err)
	}
}

// A count past MessageCountCap stops once the page is full and says so.
func TestBerichtenlogCappedTotal(t *testing.T) {
	e := newEngine(t, "")
	const org, n = "0363", 2*MessageCountCap + 1500
	p := e.principal(org)
	logFixture(t, e, org, n, func(i int, m *Message) {
		if i%2 == 0 {
			m.Status = MsgGelezen
		}
	})
	for _, c := range []struct {
		f       MessageFilter
		total   int
		atLeast bool
	}{
		{MessageFilter{Limit: 100}, n, false}, // the log's counter
		{MessageFilter{Status: string(MsgGelezen), Limit: 100}, MessageCountCap, true},
		{MessageFilter{Status: string(MsgGelezen), Limit: 100, Offset: 9_950}, 10_050, true},
		{MessageFilter{Status: string(MsgGelezen), Limit: 100, Offset: 10_700}, n / 2, false}, // past the end: counted to it
		{MessageFilter{Status: string(MsgGelezen)}, n / 2, false},                             // all: counted
		{MessageFilter{Status: string(MsgAfgeleverd), Limit: 10}, MessageCountCap, true},
		{MessageFilter{From: e.clk.Now().Add(-time.Duration(n) * time.Minute), Limit: 10}, MessageCountCap, true},
		{MessageFilter{From: e.clk.Now().Add(-100 * time.Minute), Limit: 10}, 100, false},
	} {
		l, err := e.h.MessageList(context.Background(), p, IWmo, c.f)
		if err != nil {
			t.Fatal(err)
		}
		want := min(c.f.Limit, max(c.total-c.f.Offset, 0))
		if c.f.Limit == 0 {
			want = c.total
		}
		if l.Total != c.total || l.AtLeast != c.atLeast || len(l.Messages) != want {
			t.Errorf("%+v: total %d at least %v, %d messages; want %d %v %d", c.f, l.Total, l.AtLeast, len(l.Messages), c.total, c.atLeast, want)
		}
	}
}

// Status changes reach the summary in both organisations' logs, and purge removes every
// index entry the message had.
func TestBerichtenlogSummaryFollowsStatus(t *testing.T) {
	e := newEngine(t, "")
	gem, zorg := e.principal("0363"), e.principal("12345678")
	ref := newRef()
	e.process(gem, IWmo, "heen.xml", envelope("WMO301", "0363", "12345678", ref, ""))
	e.process(zorg, IWmo, "retour.xml", envelope("WMO302", "12345678", "0363", newRef(), ref))
	count := func(p *Principal, f MessageFilter) int {
		t.Helper()
		f.Limit = 10
		l, err := e.h.MessageList(context.Background(), p, IWmo, f)
		if err != nil {
			t.Fatal(err)
		}
		return l.Total
	}
	gelezen := MessageFilter{Functie: "WMO301", Status: string(MsgGelezen)}
	if count(gem, gelezen)+count(zorg, gelezen) != 0 {
		t.Fatal("gelezen before reading")
	}
	if n := count(gem, MessageFilter{Referentie: ref}); n != 2 {
		t.Fatalf("ref %s in the gemeente's log: %d, want heen and retour", ref, n)
	}
	var names []string
	for name := range e.inbox(zorg, IWmo) {
		names = append(names, name)
	}
	if err := e.h.SetGelezen(zorg, IWmo, names, true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*Principal{gem, zorg} {
		if count(p, gelezen) != 1 || count(p, MessageFilter{Functie: "WMO301", Status: string(MsgAfgeleverd)}) != 0 {
			t.Fatalf("%s: summary not updated", p.Org.Code)
		}
	}
	if count(gem, MessageFilter{Direction: "uit", Counterpart: "12345678", Functie: "WMO301"}) != 1 ||
		count(zorg, MessageFilter{Direction: "in", Counterpart: "0363", Functie: "WMO301"}) != 1 ||
		count(zorg, MessageFilter{Direction: "uit", Functie: "WMO301"}) != 0 {
		t.Fatal("direction or counterpart wrong")
	}
	// 168 hours after gelezen the file expires: verlopen, in both logs.
	e.clk.Add(GelezenBewaartijd + time.Minute)
	if err := e.h.sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	verlopen := MessageFilter{Functie: "WMO301", Status: string(MsgVerlopen)}
	if count(gem, verlopen) != 1 || count(zorg, verlopen) != 1 {
		t.Fatal("verlopen not in the summary")
	}
	// Purge: past retention nothing of either message is left in any index.
	e.clk.Add(Bewaartijd)
	if err := e.h.sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := e.h.kv.View(func(tx storage.Txn) error {
		for _, prefix := range []string{kLog, kRecvRef, kLogXRef, kLogV} {
			if err := tx.Scan([]byte(prefix), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
				return false, fmt.Errorf("left after purge: %q", k)
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkBerichtenlogFiltered opens the first page (100) of a filtered berichtenlog of
// 1,000,000 entries (issue 4: any screen within 100 ms). The rare filters walk the whole
// index: their matches are spread over the log.
func BenchmarkBerichtenlogFiltered(b *testing.B) {
	e := newEngine(b, "")
	const org, n = "0363", 1_000_000
	p := e.principal(org)
	seedStart := time.Now()
	all := logFixture(b, e, org, n, func(i int, m *Message) {
		switch {
		case i%5000 == 1: // 200 answers
			m.Functie, m.Zender, m.Uploader, m.Ontvanger, m.Mailbox = "WMO302", "12345678", "12345678", org, org
			m.CrossRef = fmt.Sprintf("ref-%07d", i-1)
		case i%9973 == 3: // 100 to the CAK
			m.Ontvanger, m.Mailbox = "CAK", "CAK"
		}
		switch {
		case i%10007 == 7: // 100 waiting
			m.Status = MsgWachtRoute
		case i%7 == 2:
			m.Status = MsgGelezen
		}
	})
	b.Logf("%d entries in %s", n, time.Since(seedStart).Round(time.Second))
	end := e.clk.Now()
	benchFilters(b, e, p, []namedFilter{
		{"geen", MessageFilter{}},
		{"functie_WMO302_200", MessageFilter{Functie: "WMO302"}},
		{"functie_WMO305_0", MessageFilter{Functie: "WMO305"}},
		{"functie_WMO301", MessageFilter{Functie: "WMO301"}},
		{"status_gelezen", MessageFilter{Status: string(MsgGelezen)}},
		{"status_wacht_100", MessageFilter{Status: string(MsgWachtRoute)}},
		{"tegenpartij_CAK_100", MessageFilter{Counterpart: "CAK"}},
		{"richting_in_200", MessageFilter{Direction: "in"}},
		{"datum_dag", MessageFilter{From: end.Add(-48 * time.Hour), To: end.Add(-24 * time.Hour)}},
		{"datum_maand_status", MessageFilter{From: end.Add(-60 * 24 * time.Hour), To: end.Add(-30 * 24 * time.Hour), Status: string(MsgGelezen)}},
		{"ref", MessageFilter{Referentie: all[len(all)/2].Referentie}},
		{"crossref", MessageFilter{Referentie: "ref-0500000"}},
	})
}

type namedFilter struct {
	name string
	f    MessageFilter
}

// benchFilters times the first page of 100 of each filter on p's berichtenlog of iWmo and
// reports how many entries match.
func benchFilters(b *testing.B, e *testEngine, p *Principal, cases []namedFilter) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c.f.Limit = 100
			var l MessageList
			for b.Loop() {
				var err error
				if l, err = e.h.MessageList(context.Background(), p, IWmo, c.f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(l.Total), "total")
		})
	}
}
