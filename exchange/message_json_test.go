package exchange

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"knooppunt/exchange/codes"
)

// TestMessageJSONIsJSONMarshal: the stored message record is the bytes json.Marshal writes,
// for plain and awkward strings (escapes, HTML characters, invalid UTF-8, U+2028), times in
// any zone (odd offsets, seconds in the offset, years MarshalJSON refuses), omitted fields and
// a missing or empty history.
func TestMessageJSONIsJSONMarshal(t *testing.T) {
	// A field added to Message or StatusEvent must be added to messageJSON too.
	if n := reflect.TypeFor[Message]().NumField(); n != 17 {
		t.Fatalf("Message has %d fields; messageJSON writes 17: update it", n)
	}
	if n := reflect.TypeFor[StatusEvent]().NumField(); n != 5 {
		t.Fatalf("StatusEvent has %d fields; messageJSON writes 5: update it", n)
	}
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	strs := []string{"", "0363", "WMO301", "b0001.xml", "map/bestand met spatie.xml", `a"b`, `a\b`, "<x>&amp;", "tab\there", "nl\n", "\x00\x1f\x7f",
		"é", "\xff\xfe", "\u2028\u2029", "日本", "ref-123_ABC.~!@#$%^*()"}
	zones := []*time.Location{time.UTC, ams, time.FixedZone("", 5*3600+30*60), time.FixedZone("", -9*3600), time.FixedZone("", 3600+17),
		time.FixedZone("", 24*3600), time.FixedZone("", -23*3600-59*60)}
	times := []time.Time{{}, time.Now(), time.Date(2026, 12, 6, 3, 4, 5, 0, ams), time.Date(2026, 3, 29, 2, 30, 0, 123456789, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 1000, time.UTC)}
	rng := rand.New(rand.NewPCG(1, 2))
	str := func() string { return strs[rng.IntN(len(strs))] }
	tm := func() time.Time { return times[rng.IntN(len(times))].In(zones[rng.IntN(len(zones))]) }
	refused := 0
	for i := range 20000 {
		m := Message{ID: rng.Uint64() >> rng.IntN(64), Product: Product(str()), Functie: str(), Referentie: str(), CrossRef: str(),
			Zender: str(), Ontvanger: str(), Mailbox: str(), Uploader: str(), UploadID: rng.Uint64() >> rng.IntN(64),
			Entry: rng.IntN(100000) - 10, File: str(), Size: rng.Int64() >> rng.IntN(64), ReceivedAt: tm(),
			DeliveryID: uint64(rng.IntN(3)) * rng.Uint64(), Status: MessageStatus(str())}
		if i%4 == 0 {
			m.Size = -m.Size
		}
		switch i % 5 {
		case 0: // nil history
		case 1:
			m.History = []StatusEvent{}
		default:
			for range rng.IntN(4) {
				m.History = append(m.History, StatusEvent{At: tm(), Status: MessageStatus(str()), Code: codes.Code(str()), By: str(), Detail: str()})
			}
		}
		want, werr := json.Marshal(m)
		got, gerr := messageJSON(&m)
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("%+v:\n got %s (%v)\nwant %s (%v)", m, got, gerr, want, werr)
		}
		if werr != nil {
			refused++
		}
	}
	if refused == 0 {
		t.Error("no message with a time json.Marshal refuses: the test misses that case")
	}
}

// BenchmarkMessageJSON is the record of an accepted message, by hand and by encoding/json.
func BenchmarkMessageJSON(b *testing.B) {
	at := time.Date(2026, 12, 6, 3, 4, 5, 123456789, time.UTC)
	m := Message{ID: 1 << 40, Product: IWmo, Functie: "WMO301", Referentie: "2026-000123456", Zender: "0363", Ontvanger: "20000001",
		Uploader: "0363", UploadID: 1 << 40, Entry: 1234, File: "b1234.xml", Size: 4123, ReceivedAt: at, DeliveryID: 1<<40 + 3,
		Status: MsgAfgeleverd, History: []StatusEvent{{At: at, Status: MsgOntvangen}, {At: at, Status: MsgAfgeleverd}}}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			messageJSON(&m)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(m)
		}
	})
}
