package ebms

import (
	"errors"
	"testing"
	"time"
)

// The fuzz targets use parties without certificates: generating RSA keys in every fuzz worker
// would take the whole fuzz time.
var (
	fuzzHub     = PartySpec{OIN: hubOIN, Endpoint: "https://hub.example/ebms"}
	fuzzPartner = PartySpec{OIN: partnerOIN, Endpoint: "https://partner.example/ebms"}
)

// FuzzParseMessage: whatever the body, ParseMessage returns a message or an *Error, never
// panics, and a message it returns passes Check or is refused with an *Error.
func FuzzParseMessage(f *testing.F) {
	cpa, _ := testCPA(f, CPASpec{Hub: fuzzHub, Partner: fuzzPartner, SyncReplyMode: "mshSignalsOnly", Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
	b, _ := cpa.Binding(PartyID{Type: PartyTypeOIN, Value: partnerOIN}, "", Service{Value: GGKService}, ActionDi01)
	u, _ := BuildUserMessage(b.UserMessage("f1@partner", Part{Data: []byte("<a/>")}, msgNow), nil)
	f.Add(u.ContentType, u.Body)
	ack, _ := BuildAcknowledgment(&MessageHeader{From: Party{PartyIDs: []PartyID{{Type: PartyTypeOIN, Value: partnerOIN}}}, To: Party{PartyIDs: []PartyID{{Type: PartyTypeOIN, Value: hubOIN}}}, CPAID: cpa.ID, MessageID: "a@b"}, nil, Reply{Timestamp: msgNow})
	f.Add(ack.ContentType, ack.Body)
	f.Add("text/xml", []byte(`<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		m, err := ParseMessage(contentType, body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not an *Error: %v", err)
			}
			return
		}
		var e *Error
		if _, err := Check(m, cpa, msgNow); err != nil && !errors.As(err, &e) {
			t.Fatalf("Check error is not an *Error: %v", err)
		}
	})
}

// FuzzParseCPA: ParseCPA and Check never panic.
func FuzzParseCPA(f *testing.F) {
	// A small seed: the fuzzer minimizes every new input, which takes the whole fuzz time for a
	// generated CPA of 10 kB.
	f.Add([]byte(`<c:CollaborationProtocolAgreement xmlns:c="` + NamespaceCPA + `" c:cpaid="x">
<c:Status c:value="agreed"/><c:Start>2020-01-01T00:00:00Z</c:Start><c:End>2030-01-01T00:00:00Z</c:End>
<c:PartyInfo><c:PartyId c:type="urn:osb:oin">1</c:PartyId><c:CollaborationRole><c:Role c:name="r"/><c:ServiceBinding>
<c:Service>s</c:Service><c:CanSend><c:ThisPartyActionBinding c:action="a"><c:ChannelId>d</c:ChannelId></c:ThisPartyActionBinding></c:CanSend>
</c:ServiceBinding></c:CollaborationRole><c:DeliveryChannel c:channelId="d" c:transportId="t" c:docExchangeId="e">
<c:MessagingCharacteristics c:syncReplyMode="none" c:ackRequested="always"/></c:DeliveryChannel>
<c:Transport c:transportId="t"><c:TransportReceiver><c:Endpoint c:uri="https://x/"/></c:TransportReceiver></c:Transport>
<c:DocExchange c:docExchangeId="e"><c:ebXMLSenderBinding><c:ReliableMessaging><c:Retries>3</c:Retries>
<c:RetryInterval>PT1M</c:RetryInterval></c:ReliableMessaging></c:ebXMLSenderBinding></c:DocExchange></c:PartyInfo>
<c:PartyInfo><c:PartyId c:type="urn:osb:oin">2</c:PartyId></c:PartyInfo></c:CollaborationProtocolAgreement>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCPA(data)
		if err != nil {
			return
		}
		_ = c.Check(hubOIN, msgNow)
		for _, p := range c.Parties {
			_ = p.Endpoint()
			_ = p.TLSCertificates()
		}
	})
}
