package ebms

import (
	"bytes"
	"testing"
	"time"
)

// BenchmarkInbound is the format work of one inbound message on the hub: parse, check against
// the CPA, build the Acknowledgment. The door's target is 1,000 messages/s on two cores.
func BenchmarkInbound(b *testing.B) {
	cpa, _ := testCPA(b, CPASpec{Hub: fuzzHub, Partner: fuzzPartner, Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
	bd, _ := cpa.Binding(PartyID{Type: PartyTypeOIN, Value: partnerOIN}, "", Service{Value: GGKService}, ActionDi01)
	payload := bytes.Repeat([]byte("<regel>gegevens</regel>\n"), 400) // ~10 kB envelope
	out, _ := BuildUserMessage(bd.UserMessage("b1@partner", Part{Data: payload}, msgNow), nil)
	b.SetBytes(int64(len(out.Body)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := ParseMessage(out.ContentType, out.Body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Check(m, cpa, msgNow); err != nil {
			b.Fatal(err)
		}
		if _, err := BuildAcknowledgment(&m.Header, nil, Reply{Timestamp: msgNow}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignVerify is the extra work of a signed profile: sign an Acknowledgment and verify
// a signed user message.
func BenchmarkSignVerify(b *testing.B) {
	id := identity(b, hubOIN)
	cpa, _ := testCPA(b, CPASpec{Profile: ProfileReliableMessagingSigned, Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
	bd, _ := cpa.Binding(PartyID{Type: PartyTypeOIN, Value: hubOIN}, "", Service{Value: GGKService}, ActionDi01)
	out, _ := BuildUserMessage(bd.UserMessage("s1@hub", Part{Data: bytes.Repeat([]byte("x"), 10000)}, msgNow), id.signer())
	m, err := ParseMessage(out.ContentType, out.Body)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := m.Verify(id.cert); err != nil {
			b.Fatal(err)
		}
		if _, err := BuildAcknowledgment(&m.Header, nil, Reply{Timestamp: msgNow, Signer: id.signer()}); err != nil {
			b.Fatal(err)
		}
	}
}
