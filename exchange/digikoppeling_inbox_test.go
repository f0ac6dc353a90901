package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"knooppunt/exchange/ebms"
	"knooppunt/storage"
)

// inItemFor is the message ReceiveEbMS would hand in for an envelope of org's.
func (e *testEngine) inItemFor(org, cpa, mid string, env []byte) *inItem {
	e.t.Helper()
	o, err := e.h.Org(org)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := e.h.GetCPA(System, cpa)
	if err != nil {
		e.t.Fatal(err)
	}
	_, envl := e.h.peekEnvelope(env, IWmo)
	now := e.clk.Now()
	return &inItem{ctx: context.Background(), p: &Principal{Account: Account{Name: "digikoppeling"}, Org: o, partner: true},
		product: IWmo, name: "ebms-" + fileNameOf(mid) + ".xml", data: env, oin: o.OIN, mid: mid,
		in:  &EbMSIn{MessageID: mid, ConversationID: "conv-" + mid, CPA: cpa, OIN: o.OIN, Action: "ggk_Di01", Referentie: envl.Referentie, Zender: envl.ZenderOrg, ZenderApp: envl.ZenderApp},
		rec: received{At: now, Until: now.Add(time.Hour), AckSyncSent: true}, c: c, sync: true, done: make(chan inResult, 1)}
}

// fo01Sends are the queued Fo01s, by their crossRefnummer.
func (e *testEngine) fo01Sends() map[string]Send {
	e.t.Helper()
	out := map[string]Send{}
	err := e.h.kv.View(func(t storage.Txn) error {
		return t.Scan([]byte(kSend), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
			var s Send
			if err := json.Unmarshal(v, &s); err != nil {
				return false, err
			}
			if s.Kind == sendFo01 {
				i := bytes.Index(s.Payload, []byte("<StUF:crossRefnummer>"))
				j := bytes.Index(s.Payload, []byte("</StUF:crossRefnummer>"))
				if i < 0 || j < i {
					return false, fmt.Errorf("Fo01 zonder crossRefnummer: %s", s.Payload)
				}
				out[string(s.Payload[i+len("<StUF:crossRefnummer>"):j])] = s
			}
			return true, nil
		})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// TestInboundBatchIsOneAanlevering: messages handed in together (the group commit of
// concurrent Digikoppeling messages) are one aanlevering of the sender: every accepted
// envelope reaches its recipient byte for byte, each rejected one gets a Fo01 of its own
// with its own crossRefnummer and conversation, every message is recorded for duplicate
// elimination under that aanlevering, and a MessageId twice in one batch is processed once.
func TestInboundBatchIsOneAanlevering(t *testing.T) {
	e := newEngine(t, "")
	cpa := e.importCPA("0363")
	var items []*inItem
	var good [][]byte
	bad := map[string]string{} // referentienummer -> MessageId
	for i := range 6 {
		ref, ontvanger := newRef(), "12345678"
		if i%3 == 1 {
			ontvanger = "11111111" // unknown: rejected
		}
		env := envelope("WMO301", "0363", ontvanger, ref, "")
		mid := fmt.Sprintf("m%d@partner.test", i)
		if ontvanger == "12345678" {
			good = append(good, env)
		} else {
			bad[ref] = mid
		}
		items = append(items, e.inItemFor("0363", cpa, mid, env))
	}
	twice := e.inItemFor("0363", cpa, "m0@partner.test", items[0].data)
	e.h.handInGroup(append(items, twice))
	for i, it := range items {
		if r := <-it.done; r.err != nil || r.dup {
			t.Fatalf("message %d: %+v", i, r)
		}
	}
	if r := <-twice.done; !r.dup {
		t.Fatalf("the same MessageId twice in a batch: %+v", r)
	}

	gem := e.principal("0363")
	ups, n, err := e.h.Uploads(context.Background(), gem, IWmo, ListOptions{Limit: 10})
	if err != nil || n != 1 {
		t.Fatalf("%d aanleveringen (%v), want 1", n, err)
	}
	u := e.wait(gem, ups[0].ID)
	if u.Status != Afgekeurd || u.Counts.Correct != len(good) || u.Counts.Incorrect != len(bad) || u.Door != DoorDigikoppeling ||
		len(u.EbMSBatch) != len(items) || !strings.HasSuffix(u.Name, ".zip") {
		t.Fatalf("aanlevering %+v", u)
	}
	for _, it := range items {
		rec, ok, err := e.h.receivedBefore(it.oin, it.mid)
		if err != nil || !ok || rec.Upload != u.ID {
			t.Fatalf("%s not recorded for duplicate elimination: %+v %v %v", it.mid, rec, ok, err)
		}
	}
	var got [][]byte
	for _, files := range e.inbox(e.principal("12345678"), IWmo) {
		for _, b := range files {
			got = append(got, b)
		}
	}
	if len(got) != len(good) {
		t.Fatalf("%d envelopes in ophalen, want %d", len(got), len(good))
	}
	for _, g := range good {
		found := false
		for _, b := range got {
			found = found || bytes.Equal(b, g)
		}
		if !found {
			t.Fatalf("envelope not delivered byte for byte:\n%s", g)
		}
	}
	fo := e.fo01Sends()
	if len(fo) != len(bad) {
		t.Fatalf("%d Fo01s, want %d: %v", len(fo), len(bad), fo)
	}
	for ref, mid := range bad {
		s, ok := fo[ref]
		if !ok || s.ConversationID != "conv-"+mid || s.CPA != cpa {
			t.Fatalf("Fo01 for %s (%s): %+v", ref, mid, s)
		}
	}
}

// TestInboundBatchWithEarlierDuplicate: a batch holding a message that was made durable
// before (a retry that raced its first try) is handed in message by message: the duplicate
// is recognised and not processed again, the others are each their own aanlevering.
func TestInboundBatchWithEarlierDuplicate(t *testing.T) {
	e := newEngine(t, "")
	cpa := e.importCPA("0363")
	first := e.inItemFor("0363", cpa, "eerder@partner.test", envelope("WMO301", "0363", "12345678", newRef(), ""))
	if r := e.h.handInOne(first); r.err != nil || r.dup {
		t.Fatalf("first: %+v", r)
	}
	again := e.inItemFor("0363", cpa, "eerder@partner.test", first.data)
	a := e.inItemFor("0363", cpa, "a@partner.test", envelope("WMO301", "0363", "12345678", newRef(), ""))
	b := e.inItemFor("0363", cpa, "b@partner.test", envelope("WMO301", "0363", "12345678", newRef(), ""))
	e.h.handInGroup([]*inItem{a, again, b})
	if r := <-again.done; !r.dup {
		t.Fatalf("duplicate: %+v", r)
	}
	for _, it := range []*inItem{a, b} {
		if r := <-it.done; r.err != nil || r.dup {
			t.Fatalf("%s: %+v", it.mid, r)
		}
	}
	ups, n, err := e.h.Uploads(context.Background(), e.principal("0363"), IWmo, ListOptions{Limit: 10})
	if err != nil || n != 3 {
		t.Fatalf("%d aanleveringen (%v), want 3", n, err)
	}
	for _, u := range ups {
		if u = e.wait(e.principal("0363"), u.ID); u.Status != Afgeleverd || u.EbMS == nil || len(u.EbMSBatch) != 0 {
			t.Fatalf("aanlevering %+v", u)
		}
	}
	if got := e.inbox(e.principal("12345678"), IWmo); len(got) != 3 {
		t.Fatalf("%d files in ophalen, want 3", len(got))
	}
}

// TestPurgeSendsAndMessageIds: an ended send (bevestigd, mislukt) is kept for Bewaartijd
// after it ended and then forgotten with its indexes, a pending one never; a received
// MessageId is kept for its duplicate-elimination window and then forgotten, after which the
// same MessageId would be a new message.
func TestPurgeSendsAndMessageIds(t *testing.T) {
	e := newEngine(t, "")
	cpa := e.importCPA("0363")
	now := e.clk.Now()
	mk := func(id uint64) Send {
		return Send{ID: id, Kind: sendFo01, Org: "0363", Product: IWmo, CPA: cpa, Action: "Fo01", MessageID: fmt.Sprintf("s%d@knooppunt.test", id),
			Payload: []byte("<x/>"), State: SendWachtend, NextTry: now, Created: now}
	}
	for _, id := range []uint64{901, 902, 903} {
		if err := e.h.kv.Update(func(tx storage.Txn) error { return putSend(tx, nil, mk(id)) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.h.endSend(901, SendBevestigd, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.h.endSend(902, SendMislukt, "HTTP 400"); err != nil {
		t.Fatal(err)
	}
	exists := func(k []byte) bool {
		err := e.h.kv.View(func(tx storage.Txn) error { _, err := tx.Get(k); return err })
		return err == nil
	}
	if err := e.h.purgeSends(now.Add(Bewaartijd - time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{901, 902, 903} {
		if !exists(key(kSend, id)) {
			t.Fatalf("send %d purged before its time", id)
		}
	}
	if err := e.h.purgeSends(now.Add(Bewaartijd + time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{901, 902} {
		if exists(key(kSend, id)) || exists(key(kSendMID, mk(id).MessageID)) {
			t.Fatalf("ended send %d not purged", id)
		}
	}
	if !exists(key(kSend, uint64(903))) || !exists(key(kSendMID, mk(903).MessageID)) {
		t.Fatal("a pending send was purged")
	}
	var left int
	e.h.kv.View(func(tx storage.Txn) error {
		return tx.Scan([]byte(kSendDone), storage.ScanOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) { left++; return true, nil })
	})
	if left != 0 {
		t.Fatalf("%d done-index keys left", left)
	}

	it := e.inItemFor("0363", cpa, "eens@partner.test", envelope("WMO301", "0363", "12345678", newRef(), ""))
	if r := e.h.handInOne(it); r.err != nil {
		t.Fatal(r.err)
	}
	if err := e.h.purgeReceived(it.rec.Until.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := e.h.receivedBefore(it.oin, it.mid); !ok {
		t.Fatal("MessageId forgotten inside its window")
	}
	if err := e.h.purgeReceived(it.rec.Until.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := e.h.receivedBefore(it.oin, it.mid); ok {
		t.Fatal("MessageId kept after its window")
	}
}

// TestHeldDeliveriesQueuedTogether: several delivery files held on a Digikoppeling route
// without a CPA are queued in one go (queueHeld batches them) once the route has a CPA: every
// message gets one send, each is sent and bevestigd once.
func TestHeldDeliveriesQueuedTogether(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	post := func(_ context.Context, c CPA, ct string, body []byte) (PostResult, error) {
		m, err := ebms.ParseMessage(ct, body)
		if err != nil {
			return PostResult{Status: 400}, nil
		}
		mu.Lock()
		seen[m.Header.MessageID]++
		mu.Unlock()
		ack, _ := ebms.BuildAcknowledgment(&m.Header, nil, ebms.Reply{})
		return PostResult{Status: 200, ContentType: ack.ContentType, Body: ack.Body}, nil
	}
	e := newEngineWith(t, "", Config{Digikoppeling: &DigikoppelingConfig{Post: post, Host: "test"}})
	old := Route{Org: "12345678", Product: IWmo, Exchange: "WMO 301/302", Via: Digikoppeling, Status: Actief}
	if err := e.h.kv.Update(func(tx storage.Txn) error { return setJSON(tx, key(kRoute, old.Org, IWmo, old.Exchange), old) }); err != nil {
		t.Fatal(err)
	}
	const files, per = 5, 3
	for i := range files {
		var fs []file
		for j := range per {
			fs = append(fs, file{fmt.Sprintf("b%d.xml", j), envelope("WMO301", "0363", "12345678", newRef(), "")})
		}
		if u := e.process(e.principal("0363"), IWmo, fmt.Sprintf("wacht%d.zip", i), zipOf(t, fs...)); u.Status != Afgeleverd {
			t.Fatalf("upload %+v", u)
		}
	}
	zorg := e.principal("12345678", Productbeheerder)
	if err := e.h.SetRoute(zorg, IWmo, "WMO 301/302", Digikoppeling, Actief, e.importCPA("12345678")); err != nil {
		t.Fatal(err)
	}
	e.h.kickSender()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ms, _, _ := e.h.Messages(context.Background(), zorg, IWmo, MessageFilter{})
		done := 0
		for _, m := range ms {
			if m.Status == MsgBevestigd {
				done++
			}
		}
		if done == files*per {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bevestigd", done, files*per)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != files*per {
		t.Fatalf("%d MessageIds posted, want %d", len(seen), files*per)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s posted %d times", id, n)
		}
	}
}

// TestMisluktDeliveriesReleasedTogether: messages of several delivery files that ended
// mislukt on a Digikoppeling route are all released to the recipient's ophalen/ when the route
// goes back to Portaal (releaseSends commits several files per transaction), each once.
func TestMisluktDeliveriesReleasedTogether(t *testing.T) {
	post := func(context.Context, CPA, string, []byte) (PostResult, error) { return PostResult{Status: 400}, nil }
	e := newEngineWith(t, "", Config{Digikoppeling: &DigikoppelingConfig{Post: post, Host: "test"}})
	zorg := e.principal("12345678", Productbeheerder)
	if err := e.h.SetRoute(zorg, IWmo, "WMO 301/302", Digikoppeling, Actief, e.importCPA("12345678")); err != nil {
		t.Fatal(err)
	}
	const files, per = 20, 2
	var refs []string
	for i := range files {
		var fs []file
		for j := range per {
			ref := newRef()
			refs = append(refs, ref)
			fs = append(fs, file{fmt.Sprintf("b%d.xml", j), envelope("WMO301", "0363", "12345678", ref, "")})
		}
		if u := e.process(e.principal("0363"), IWmo, fmt.Sprintf("uit%d.zip", i), zipOf(t, fs...)); u.Status != Afgeleverd {
			t.Fatalf("upload %+v", u)
		}
	}
	count := func(st MessageStatus) int {
		ms, _, _ := e.h.Messages(context.Background(), zorg, IWmo, MessageFilter{})
		k := 0
		for _, m := range ms {
			if m.Status == st {
				k++
			}
		}
		return k
	}
	for deadline := time.Now().Add(20 * time.Second); count(MsgMislukt) != files*per; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d mislukt", count(MsgMislukt), files*per)
		}
	}
	if err := e.h.SetRoute(zorg, IWmo, "WMO 301/302", Portaal, Actief, ""); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ds, _, err := e.h.Inbox(context.Background(), zorg, IWmo, InboxOptions{Limit: 1000, Referenties: true})
		if err != nil {
			t.Fatal(err)
		}
		clear(seen)
		for _, d := range ds {
			for _, r := range d.Referenties {
				seen[r]++
			}
		}
		if len(seen) == len(refs) || time.Now().After(deadline) {
			break
		}
	}
	for _, r := range refs {
		if seen[r] != 1 {
			t.Fatalf("message %s %d times in ophalen (%d of %d there)", r, seen[r], len(seen), len(refs))
		}
	}
}

// TestSendsEndedBeforeTheDoneIndexArePurged: sends that ended before idx/senddone existed
// had no entry in it and were kept for ever; the first sweep indexes them once (and marks the
// store), after which they are purged like any other.
func TestSendsEndedBeforeTheDoneIndexArePurged(t *testing.T) {
	e := newEngine(t, "")
	cpa := e.importCPA("0363")
	now := e.clk.Now()
	old := func(id uint64, st SendState) Send {
		return Send{ID: id, Kind: sendFo01, Org: "0363", Product: IWmo, CPA: cpa, Action: "Fo01", MessageID: fmt.Sprintf("o%d@knooppunt.test", id),
			Payload: []byte("<x/>"), State: st, Created: now, Done: now}
	}
	// Written as the code before the index did: the record and its MessageId, no done entry,
	// and no marker (a fresh store's first sweep sets it).
	if err := e.h.kv.Update(func(tx storage.Txn) error {
		if err := tx.Delete([]byte(kSendDoneIndexed)); err != nil {
			return err
		}
		for _, s := range []Send{old(801, SendBevestigd), old(802, SendMislukt)} {
			if err := setJSON(tx, key(kSend, s.ID), s); err != nil {
				return err
			}
			if err := tx.Set(key(kSendMID, s.MessageID), be64(s.ID)); err != nil {
				return err
			}
		}
		pending := old(803, SendWachtend)
		pending.Done, pending.NextTry = time.Time{}, now
		return putSend(tx, nil, pending)
	}); err != nil {
		t.Fatal(err)
	}
	exists := func(k []byte) bool {
		return e.h.kv.View(func(tx storage.Txn) error { _, err := tx.Get(k); return err }) == nil
	}
	if err := e.h.purgeSends(now.Add(Bewaartijd - time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !exists(key(kSend, uint64(801))) || !exists(key(kSendDone, now, uint64(801))) || !exists([]byte(kSendDoneIndexed)) {
		t.Fatal("an old ended send was not indexed (or purged before its time)")
	}
	if exists(key(kSendDone, time.Time{}, uint64(803))) {
		t.Fatal("a pending send got a done entry")
	}
	if err := e.h.purgeSends(now.Add(Bewaartijd + time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{801, 802} {
		if exists(key(kSend, id)) || exists(key(kSendMID, old(id, SendBevestigd).MessageID)) {
			t.Errorf("old ended send %d not purged", id)
		}
	}
	if !exists(key(kSend, uint64(803))) {
		t.Error("a pending send was purged")
	}
}
