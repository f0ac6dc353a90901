package ebms

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var msgNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// renderTemplate fills the Thymeleaf placeholders of the reference messages: the partner
// (fromPartyId) sends a ggk_Di01 to the hub (toPartyId) under cpaID.
func renderTemplate(src []byte, cpaID string) []byte {
	s := string(src)
	for old, nw := range map[string]string{
		`th:eb:type="${partyType}"`:       `eb:type="` + PartyTypeOIN + `"`,
		`th:eb:type="${serviceType}"`:     `eb:type="` + GGKServiceType + `"`,
		`th:eb:type="type"`:               `eb:type="type"`,
		` th:each="cid: ${cids}"`:         ``,
		`th:xlink:href="${'cid:' + cid}"`: `xlink:href="cid:payload-1"`,
		`[[${fromPartyId}]]`:              partnerOIN,
		`[[${toPartyId}]]`:                hubOIN,
		`[[${fromRole}]]`:                 "Deelnemer",
		`[[${toRole}]]`:                   "Knooppunt",
		`[[${cpaId}]]`:                    cpaID,
		`[[${service}]]`:                  GGKService,
		`[[${action}]]`:                   ActionDi01,
		`[[${uuid}]]`:                     "4b6a1f0e-0000-4000-8000-000000000001",
		`[[${refToMessageId}]]`:           "4b6a1f0e-0000-4000-8000-000000000000",
		`[[${timestamp}]]`:                msgNow.Add(-time.Minute).Format(time.RFC3339),
		`[[${timeToLive}]]`:               msgNow.Add(time.Hour).Format(time.RFC3339),
	} {
		s = strings.ReplaceAll(s, old, nw)
	}
	return []byte(s)
}

// wrapMultipart wraps an envelope and a payload part "payload-1" as multipart/related.
func wrapMultipart(envelope []byte, payload []byte) (string, []byte) {
	out := packageMessage("x@test", envelope, []Part{{ContentID: "payload-1", ContentType: "application/xml", Data: payload}})
	return out.ContentType, out.Body
}

func errCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "not an *Error: " + err.Error()
}

// TestReferenceMessages parses every ebMS message of the reference set and checks it against a
// generated CPA that fits the valid one (reliable messaging, mshSignalsOnly, unsigned): the valid
// ones pass, each invalid one is refused with its ebMS error code.
func TestReferenceMessages(t *testing.T) {
	dir := referenceDir(t, "ebms/soap")
	cpa, _ := testCPA(t, CPASpec{Profile: ProfileReliableMessaging, SyncReplyMode: "mshSignalsOnly",
		Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
	payload := []byte(`<envelop/>`)
	cases := []struct {
		file      string
		parseCode string // error code of ParseMessage, "" when it parses
		checkCode string // error code of Check, "" when it passes
		kind      Kind
	}{
		{"EbMSMessage.xml", "", "", KindUserMessage},
		{"EbMSMessageWithAttachments.xml", "", "", KindUserMessage},
		{"EbMSPing.xml", "", "-", KindPing},
		{"EbMSMessageStatus.xml", "", "", KindStatusRequest},
		{"EbMSPingXXE.xml", CodeOtherXML, "", 0},
		{"EbMSMessageInvalidAckRequestedActor.xml", CodeValueNotRecognized, "", 0},
		{"EbMSMessageInvalidAckRequestedSigned.xml", "", CodeInconsistent, KindUserMessage},
		{"EbMSMessageInvalidAckRequestedVersion.xml", CodeValueNotRecognized, "", 0},
		{"EbMSMessageInvalidManifestVersion.xml", CodeValueNotRecognized, "", 0},
		{"EbMSMessageInvalidMessageHeaderVersion.xml", CodeValueNotRecognized, "", 0},
		{"EbMSMessageInvalidRefToMessageId.xml", CodeValueNotRecognized, "", 0},
		{"EbMSMessageInvalidSyncReplyActor.xml", CodeValueNotRecognized, "", 0},
		{"EbMSMessageInvalidSyncReplyVersion.xml", CodeValueNotRecognized, "", 0},
		{"EbMSMessageInvalidToPartyType.xml", "", CodeInconsistent, KindUserMessage},
		{"EbMSMessageMissingAckRequested.xml", "", CodeInconsistent, KindUserMessage},
		{"EbMSMessageMissingDuplicateElimination.xml", "", CodeInconsistent, KindUserMessage},
		{"EbMSMessageMissingFromPartyId.xml", CodeInconsistent, "", 0},
		{"EbMSMessageMissingFromRole.xml", "", CodeInconsistent, KindUserMessage},
		// Byte for byte the valid message (the Manifest is optional in ebMS); the StUF-GGk
		// actions need their payload, which Message.Payload refuses below.
		{"EbMSMessageMissingManifest.xml", "", "", KindUserMessage},
		{"EbMSMessageMissingReference.xml", CodeInconsistent, "", 0},
		{"EbMSMessageMissingSyncReply.xml", "", CodeInconsistent, KindUserMessage},
		{"EbMSMessageNextMshAckRequested.xml", CodeNotSupported, "", 0},
		{"EbMSMessageMessageOrder.xml", CodeNotSupported, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			env := renderTemplate(src, cpa.ID)
			ct, body := "text/xml; charset=UTF-8", env
			if bytes.Contains(env, []byte("cid:payload-1")) {
				ct, body = wrapMultipart(env, payload)
			}
			m, err := ParseMessage(ct, body)
			if got := errCode(err); got != tc.parseCode {
				t.Fatalf("ParseMessage: code %q (%v), want %q", got, err, tc.parseCode)
			}
			if err != nil {
				t.Logf("refused: %v", err)
				return
			}
			if m.Kind() != tc.kind {
				t.Errorf("Kind = %v, want %v", m.Kind(), tc.kind)
			}
			if tc.checkCode == "-" {
				return // a ping of another CPA
			}
			_, err = Check(m, cpa, msgNow)
			if got := errCode(err); got != tc.checkCode {
				t.Fatalf("Check: code %q (%v), want %q", got, err, tc.checkCode)
			}
			if err != nil {
				t.Logf("refused: %v", err)
				return
			}
			if m.Kind() == KindUserMessage {
				p, err := m.Payload()
				if bytes.Contains(env, []byte("cid:payload-1")) {
					if err != nil || !bytes.Equal(p.Data, payload) {
						t.Errorf("Payload = %q, %v", p.Data, err)
					}
				} else if errCode(err) != CodeInconsistent {
					t.Errorf("Payload without Manifest: %v", err)
				}
			}
		})
	}
	// Every reference message is covered (the others are the adapter's own API, not ebMS).
	files, _ := filepath.Glob(filepath.Join(dir, "EbMS*.xml"))
	if len(files) != len(cases) {
		t.Errorf("%d EbMS*.xml files, %d cases", len(files), len(cases))
	}
}

func TestReferenceMessageFields(t *testing.T) {
	dir := referenceDir(t, "ebms/soap")
	src, err := os.ReadFile(filepath.Join(dir, "EbMSMessageWithAttachments.xml"))
	if err != nil {
		t.Fatal(err)
	}
	ct, body := wrapMultipart(renderTemplate(src, "cpa-1"), []byte("data"))
	m, err := ParseMessage(ct, body)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Header
	if h.From.OIN() != partnerOIN || h.To.OIN() != hubOIN || h.From.Role != "Deelnemer" || h.To.Role != "Knooppunt" ||
		h.CPAID != "cpa-1" || h.Service != (Service{Type: GGKServiceType, Value: GGKService}) || h.Action != ActionDi01 ||
		h.MessageID != "4b6a1f0e-0000-4000-8000-000000000001@localhost" || !h.Timestamp.Equal(msgNow.Add(-time.Minute)) ||
		!h.TimeToLive.Equal(msgNow.Add(time.Hour)) || !h.DuplicateElimination || !m.SyncReply ||
		m.AckRequested == nil || m.AckRequested.Signed || len(m.Manifest) != 1 || m.Manifest[0].ContentID != "payload-1" {
		t.Errorf("parsed %+v", m)
	}
}

func TestMessageRefusals(t *testing.T) {
	cpa, _ := testCPA(t, CPASpec{Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
	b, err := cpa.Binding(PartyID{Type: PartyTypeOIN, Value: partnerOIN}, "", Service{Value: GGKService}, ActionDi01)
	if err != nil {
		t.Fatal(err)
	}
	u := b.UserMessage("m1@partner", Part{ContentID: "envelop", Data: []byte("<a/>")}, msgNow)
	good, err := BuildUserMessage(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseMessage(good.ContentType, good.Body); err != nil {
		t.Fatalf("good message refused: %v", err)
	}
	ttl := u
	ttl.TimeToLive = msgNow.Add(-time.Second)
	expired, _ := BuildUserMessage(ttl, nil)
	m, err := ParseMessage(expired.ContentType, expired.Body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Check(m, cpa, msgNow); errCode(err) != CodeTimeToLiveExpired {
		t.Errorf("expired TimeToLive: %v", err)
	}
	if _, err := Check(m, cpa, cpa.End.Add(time.Second)); err == nil {
		t.Errorf("message under an expired CPA accepted")
	}
	boundary := regexp.MustCompile(`boundary=([^;]+)`).FindStringSubmatch(good.ContentType)[1]
	cases := map[string]struct {
		ct, body, code string
	}{
		"wrong content type":      {"application/json", "{}", CodeMimeProblem},
		"multipart of json":       {strings.Replace(good.ContentType, "text/xml", "application/json", 1), string(good.Body), CodeMimeProblem},
		"missing part":            {good.ContentType, strings.Replace(string(good.Body), "Content-Id: <envelop>", "Content-Id: <other>", 1), CodeMimeProblem},
		"no parts":                {good.ContentType, "--" + boundary + "--\r\n", CodeMimeProblem},
		"garbage":                 {good.ContentType, "garbage", CodeMimeProblem},
		"not xml":                 {"text/xml", "hello", CodeOtherXML},
		"not soap":                {"text/xml", "<a/>", CodeOtherXML},
		"entity":                  {"text/xml", strings.Replace(string(good.Envelope), "<eb:Action>", "<eb:Action>&e;", 1), CodeOtherXML},
		"unknown must-understand": {"text/xml", strings.Replace(string(good.Envelope), "</SOAP:Header>", `<x:Y xmlns:x="urn:x" SOAP:mustUnderstand="1"/></SOAP:Header>`, 1), CodeNotSupported},
	}
	for name, tc := range cases {
		_, err := ParseMessage(tc.ct, []byte(tc.body))
		if errCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
	if _, err := ReadMessage(good.ContentType, bytes.NewReader(good.Body), int64(len(good.Body)-1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if _, err := ReadMessage(good.ContentType, bytes.NewReader(good.Body), int64(len(good.Body))); err != nil {
		t.Errorf("exactly the limit: %v", err)
	}
	// A CPA that demands signing refuses an unsigned message.
	signed, _ := testCPA(t, CPASpec{Profile: ProfileReliableMessagingSigned, Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
	m, _ = ParseMessage(good.ContentType, good.Body)
	if _, err := Check(m, signed, msgNow); errCode(err) != CodeSecurityFailure {
		t.Errorf("unsigned under a signing CPA: %v", err)
	}
	// The wrong direction: the partner may not claim the hub's role.
	wrong := u
	wrong.From.Role, wrong.To.Role = "Knooppunt", "Deelnemer"
	out, _ := BuildUserMessage(wrong, nil)
	m, _ = ParseMessage(out.ContentType, out.Body)
	if _, err := Check(m, cpa, msgNow); errCode(err) != CodeValueNotRecognized {
		t.Errorf("wrong role: %v", err)
	}
}

func TestUserMessageRoundTrip(t *testing.T) {
	for _, profile := range []string{ProfileBestEffort, ProfileReliableMessaging, ProfileReliableMessagingSigned} {
		cpa, _ := testCPA(t, CPASpec{Profile: profile, SyncReplyMode: "mshSignalsOnly", Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
		b, err := cpa.Binding(PartyID{Type: PartyTypeOIN, Value: hubOIN}, "", Service{Type: GGKServiceType, Value: GGKService}, ActionDu01)
		if err != nil {
			t.Fatal(err)
		}
		payload := []byte("<?xml version=\"1.0\"?>\r\n<GGK:envelop>\x00\xff binary &amp; bytes</GGK:envelop>\r\n")
		u := b.UserMessage("", Part{Data: payload}, msgNow)
		u.TimeToLive = msgNow.Add(time.Hour)
		var s *Signer
		if b.Signed() {
			s = identity(t, hubOIN).signer()
		}
		out, err := BuildUserMessage(u, s)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.ContentType, "multipart/related") || !strings.HasSuffix(out.MessageID, "@knooppunt") {
			t.Errorf("content type %s, id %s", out.ContentType, out.MessageID)
		}
		m, err := ParseMessage(out.ContentType, out.Body)
		if err != nil {
			t.Fatalf("%s: %v\n%s", profile, err, out.Body)
		}
		got, err := Check(m, cpa, msgNow)
		if err != nil {
			t.Fatalf("%s: Check: %v", profile, err)
		}
		if got.FromRole != "Knooppunt" || got.ToRole != "Deelnemer" {
			t.Errorf("roles %s → %s", got.FromRole, got.ToRole)
		}
		p, err := m.Payload()
		if err != nil || !bytes.Equal(p.Data, payload) {
			t.Errorf("%s: payload changed: %q, %v", profile, p.Data, err)
		}
		if m.Header.MessageID != out.MessageID || m.Header.ConversationID != out.MessageID {
			t.Errorf("ids %s / %s", m.Header.MessageID, m.Header.ConversationID)
		}
		if s != nil {
			if err := m.Verify(b.SenderSigningCert()); err != nil {
				t.Errorf("signature: %v", err)
			}
		}
	}
}

func TestSignals(t *testing.T) {
	cpa, _ := testCPA(t, CPASpec{SyncReplyMode: "mshSignalsOnly", Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
	b, _ := cpa.Binding(PartyID{Type: PartyTypeOIN, Value: partnerOIN}, "", Service{Value: GGKService}, ActionDi01)
	in, _ := BuildUserMessage(b.UserMessage("in-1@partner", Part{Data: []byte("x")}, msgNow), nil)
	msg, err := ParseMessage(in.ContentType, in.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := &msg.Header
	reply := Reply{Timestamp: msgNow}
	check := func(name string, out *Outgoing, err error, kind Kind) *Message {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.HasPrefix(out.ContentType, "text/xml") {
			t.Errorf("%s: content type %s", name, out.ContentType)
		}
		m, err := ParseMessage(out.ContentType, out.Body)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out.Body)
		}
		if m.Kind() != kind || m.Header.RefToMessageID != "in-1@partner" && kind != KindPing && kind != KindStatusRequest {
			t.Errorf("%s: kind %v ref %q", name, m.Kind(), m.Header.RefToMessageID)
		}
		if m.Header.From.OIN() != hubOIN || m.Header.To.OIN() != partnerOIN || m.Header.CPAID != cpa.ID {
			t.Errorf("%s: header %+v", name, m.Header)
		}
		if _, err := Check(m, cpa, msgNow); err != nil {
			t.Errorf("%s: Check: %v", name, err)
		}
		return m
	}
	out, err := BuildAcknowledgment(h, nil, reply)
	ack := check("ack", out, err, KindAcknowledgment)
	if ack.Acknowledgment.RefToMessageID != "in-1@partner" || !ack.Acknowledgment.Timestamp.Equal(msgNow) {
		t.Errorf("ack %+v", ack.Acknowledgment)
	}
	out, err = BuildMessageError(h, []*Error{newError(CodeInconsistent, "eb:MessageHeader/eb:CPAId", "CPA <onbekend> & verlopen")}, reply)
	me := check("error", out, err, KindMessageError)
	if l := me.ErrorList; l.HighestSeverity != SeverityError || len(l.Errors) != 1 || l.Errors[0].Code != CodeInconsistent ||
		l.Errors[0].Description != "CPA <onbekend> & verlopen" || l.Errors[0].Location != "eb:MessageHeader/eb:CPAId" {
		t.Errorf("error list %+v", l)
	}
	out, err = BuildPong(h, reply)
	check("pong", out, err, KindPong)
	out, err = BuildStatusResponse(h, "old@partner", StatusReceived, msgNow.Add(-time.Hour), reply)
	sr := check("status", out, err, KindStatusResponse)
	if sr.StatusResponse.MessageStatus != StatusReceived || sr.StatusResponse.RefToMessageID != "old@partner" || !sr.StatusResponse.Timestamp.Equal(msgNow.Add(-time.Hour)) {
		t.Errorf("status %+v", sr.StatusResponse)
	}
	from := Party{PartyIDs: []PartyID{{Type: PartyTypeOIN, Value: hubOIN}}}
	to := Party{PartyIDs: []PartyID{{Type: PartyTypeOIN, Value: partnerOIN}}}
	out, err = BuildPing(Signal{CPAID: cpa.ID, From: from, To: to, Timestamp: msgNow, SyncReply: true})
	ping := check("ping", out, err, KindPing)
	if !ping.SyncReply {
		t.Error("ping without SyncReply")
	}
	out, err = BuildStatusRequest(Signal{CPAID: cpa.ID, From: from, To: to, Timestamp: msgNow}, "old@partner")
	sq := check("status request", out, err, KindStatusRequest)
	if sq.StatusRequest.RefToMessageID != "old@partner" {
		t.Errorf("status request %+v", sq.StatusRequest)
	}
	fault := BuildSOAPFault("Client", "geen ebMS-bericht: <kapot>")
	if _, err := parseTree(fault); err != nil || !bytes.Contains(fault, []byte("&lt;kapot&gt;")) {
		t.Errorf("fault %s: %v", fault, err)
	}
}

func TestNewMessageID(t *testing.T) {
	a, b := NewMessageID("hub.example"), NewMessageID("")
	if a == b || !validMessageID(a) || !strings.HasSuffix(a, "@hub.example") || !strings.HasSuffix(b, "@knooppunt") {
		t.Errorf("%s %s", a, b)
	}
}

// TestSplitTextIsLinear: text cut into many pieces by comments costs linear time, not
// quadratic (a 25 MB body of "x<!---->" would otherwise take hours).
func TestSplitTextIsLinear(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`<SOAP:Envelope xmlns:SOAP="` + NamespaceSOAP + `"><SOAP:Header>`)
	for i := 0; i < 300_000; i++ {
		b.WriteString("x<!---->")
	}
	b.WriteString(`</SOAP:Header><SOAP:Body/></SOAP:Envelope>`)
	start := time.Now()
	_, err := ParseMessage("text/xml", b.Bytes())
	if errCode(err) != CodeInconsistent { // no MessageHeader
		t.Errorf("ParseMessage: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("2.4 MB of split text took %v", d)
	}
}
