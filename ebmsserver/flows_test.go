package ebmsserver

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
	"knooppunt/exchange/stuf"
)

// TestDigikoppelingInSFTPOut: gemeente 9999 posts a WMO301 over Digikoppeling; the hub
// acknowledges it in the response (durable first), processes it as an aanlevering of 9999
// (door Digikoppeling) and the aanbieder finds it in ophalen/, byte for byte.
func TestDigikoppelingInSFTPOut(t *testing.T) {
	e := newEnv(t, envOpts{})
	env := envelope("WMO301", "9999", "12345678", "")
	out := e.gem.message(t, ebms.ActionDi01, env, e.clk.Now())
	status, ack := e.post(e.gem, out.ContentType, out.Body)
	if status != http.StatusOK || ack == nil || ack.Kind() != ebms.KindAcknowledgment || ack.Acknowledgment.RefToMessageID != out.MessageID {
		t.Fatalf("answer %d %+v", status, ack)
	}
	u := e.finalUpload(e.principal("gemeente"))
	if u.Status != exchange.Afgeleverd || u.Door != exchange.DoorDigikoppeling || u.EbMS == nil || u.EbMS.MessageID != out.MessageID {
		t.Fatalf("upload %+v", u)
	}
	got := e.inboxEnvelopes(e.principal("aanbieder"))
	if len(got) != 1 || !bytes.Equal(got[0], env) {
		t.Fatalf("ophalen: %d files", len(got))
	}
}

// TestDuplicateMessageID: the same message twice gets the same Acknowledgment and one upload.
func TestDuplicateMessageID(t *testing.T) {
	e := newEnv(t, envOpts{})
	out := e.gem.message(t, ebms.ActionDi01, envelope("WMO301", "9999", "12345678", ""), e.clk.Now())
	_, first := e.post(e.gem, out.ContentType, out.Body)
	_, second := e.post(e.gem, out.ContentType, out.Body)
	if first == nil || second == nil || first.Header.MessageID != second.Header.MessageID || second.Kind() != ebms.KindAcknowledgment {
		t.Fatalf("acks differ: %+v %+v", first, second)
	}
	e.finalUpload(e.principal("gemeente"))
	_, n, _ := e.h.Uploads(context.Background(), e.principal("gemeente"), exchange.IWmo, exchange.ListOptions{Limit: 10})
	if n != 1 {
		t.Fatalf("%d uploads", n)
	}
}

// TestWrongOIN: the aanbieder's certificate with the gemeente's From PartyId is refused with a
// MessageError, and nothing is processed.
func TestWrongOIN(t *testing.T) {
	e := newEnv(t, envOpts{})
	out := e.gem.message(t, ebms.ActionDi01, envelope("WMO301", "9999", "12345678", ""), e.clk.Now())
	status, m := e.post(e.zorg, out.ContentType, out.Body)
	if m == nil || m.Kind() != ebms.KindMessageError || m.ErrorList.Errors[0].Code != ebms.CodeSecurityFailure {
		t.Fatalf("answer %d %+v", status, m)
	}
	time.Sleep(200 * time.Millisecond)
	if _, n, _ := e.h.Uploads(context.Background(), e.principal("gemeente"), exchange.IWmo, exchange.ListOptions{Limit: 1}); n != 0 {
		t.Fatalf("%d uploads after a refused message", n)
	}
}

// TestExpiredCPA: past the CPA's End the message is refused with a MessageError.
func TestExpiredCPA(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.clk.Add(48 * time.Hour)
	out := e.gem.message(t, ebms.ActionDi01, envelope("WMO301", "9999", "12345678", ""), e.clk.Now())
	_, m := e.post(e.gem, out.ContentType, out.Body)
	if m == nil || m.Kind() != ebms.KindMessageError || !strings.Contains(m.ErrorList.Errors[0].Description, "niet geldig") {
		t.Fatalf("answer %+v", m)
	}
}

// TestPingAndStatus: Ping answers Pong; StatusRequest answers StatusResponse.
func TestPingAndStatus(t *testing.T) {
	e := newEnv(t, envOpts{})
	from := ebms.Party{PartyIDs: []ebms.PartyID{{Type: ebms.PartyTypeOIN, Value: gemOIN}}}
	to := ebms.Party{PartyIDs: []ebms.PartyID{{Type: ebms.PartyTypeOIN, Value: hubOIN}}}
	ping, err := ebms.BuildPing(ebms.Signal{CPAID: e.gem.cpaID, From: from, To: to, Timestamp: e.clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, m := e.post(e.gem, ping.ContentType, ping.Body); m == nil || m.Kind() != ebms.KindPong {
		t.Fatalf("ping: %+v", m)
	}
	out := e.gem.message(t, ebms.ActionDi01, envelope("WMO301", "9999", "12345678", ""), e.clk.Now())
	e.post(e.gem, out.ContentType, out.Body)
	sr, err := ebms.BuildStatusRequest(ebms.Signal{CPAID: e.gem.cpaID, From: from, To: to, Timestamp: e.clk.Now()}, out.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	_, m := e.post(e.gem, sr.ContentType, sr.Body)
	if m == nil || m.Kind() != ebms.KindStatusResponse || m.StatusResponse.RefToMessageID != out.MessageID ||
		(m.StatusResponse.MessageStatus != ebms.StatusReceived && m.StatusResponse.MessageStatus != ebms.StatusProcessed) {
		t.Fatalf("status: %+v", m)
	}
}

// TestSFTPInDigikoppelingOut: the aanbieder's route is Digikoppeling with its CPA; the
// gemeente uploads as over SFTP; the hub posts the envelope byte for byte to the aanbieder's
// endpoint and the synchronous Acknowledgment makes the message bevestigd.
func TestSFTPInDigikoppelingOut(t *testing.T) {
	e := newEnv(t, envOpts{})
	zorg := e.principal("aanbieder")
	if err := e.h.SetRoute(zorg, exchange.IWmo, "WMO 301/302", exchange.Digikoppeling, exchange.Actief, e.zorg.cpaID); err != nil {
		t.Fatal(err)
	}
	env := envelope("WMO301", "9999", "12345678", "")
	e.upload(e.principal("gemeente"), "uit.xml", env)
	eventually(t, "the message at the partner", func() bool { return len(e.zorg.received()) == 1 })
	m := e.zorg.received()[0]
	p, err := m.Payload()
	if err != nil || !bytes.Equal(p.Data, env) || m.Header.Action != ebms.ActionDi01 || m.Header.From.OIN() != hubOIN {
		t.Fatalf("sent %+v %v", m.Header, err)
	}
	eventually(t, "bevestigd", func() bool {
		ms, _, _ := e.h.Messages(context.Background(), zorg, exchange.IWmo, exchange.MessageFilter{})
		return len(ms) == 1 && ms[0].Status == exchange.MsgBevestigd
	})
	if got := e.inboxEnvelopes(zorg); len(got) != 0 {
		t.Fatalf("also in ophalen: %d", len(got))
	}
}

// TestPartnerDownThenBevestigd: the endpoint answers 503 twice; the hub retries on the CPA's
// RetryInterval (fake clock) with the same MessageId, then the message is bevestigd.
func TestPartnerDownThenBevestigd(t *testing.T) {
	e := newEnv(t, envOpts{})
	zorg := e.principal("aanbieder")
	if err := e.h.SetRoute(zorg, exchange.IWmo, "WMO 301/302", exchange.Digikoppeling, exchange.Actief, e.zorg.cpaID); err != nil {
		t.Fatal(err)
	}
	e.zorg.fail503.Store(2)
	e.upload(e.principal("gemeente"), "uit.xml", envelope("WMO301", "9999", "12345678", ""))
	for i := 0; i < 2; i++ {
		want := int32(1 - i)
		eventually(t, "a refused attempt", func() bool { return e.zorg.fail503.Load() == want })
		time.Sleep(100 * time.Millisecond)
		e.clk.Add(61 * time.Second)
	}
	eventually(t, "bevestigd", func() bool {
		ms, _, _ := e.h.Messages(context.Background(), zorg, exchange.IWmo, exchange.MessageFilter{})
		return len(ms) == 1 && ms[0].Status == exchange.MsgBevestigd
	})
	if got := e.zorg.received(); len(got) != 1 {
		t.Fatalf("partner got %d", len(got))
	}
	sends, _ := e.h.Sends(exchange.System, "12345678", 10)
	if len(sends) != 1 || sends[0].Attempts != 3 || sends[0].State != exchange.SendBevestigd || sends[0].MessageID != e.zorg.received()[0].Header.MessageID {
		t.Fatalf("sends %+v", sends)
	}
}

// TestFo01ForRejectedEnvelope: an envelope for an unknown recipient is afgekeurd; the hub
// answers the sender with a StUF Fo01 over Digikoppeling, crossRefnummer its referentienummer.
func TestFo01ForRejectedEnvelope(t *testing.T) {
	e := newEnv(t, envOpts{})
	ref := "4f1e9a3c-1b2d-4c5e-8f90-123456789abc"
	env := stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "87654321", Referentie: ref}, []byte("<x/>"))
	out := e.gem.message(t, ebms.ActionDi01, env, e.clk.Now())
	if _, ack := e.post(e.gem, out.ContentType, out.Body); ack == nil || ack.Kind() != ebms.KindAcknowledgment {
		t.Fatalf("no ack: %+v", ack)
	}
	u := e.finalUpload(e.principal("gemeente"))
	if u.Status != exchange.Afgekeurd {
		t.Fatalf("upload %+v", u)
	}
	eventually(t, "the Fo01 at the gemeente", func() bool { return len(e.gem.received()) == 1 })
	m := e.gem.received()[0]
	p, err := m.Payload()
	if err != nil || m.Header.Action != ebms.ActionFo01 || !bytes.Contains(p.Data, []byte("<StUF:crossRefnummer>"+ref)) || !bytes.Contains(p.Data, []byte(string(u.Fouten[0].Code))) {
		t.Fatalf("Fo01 %+v %v\n%s", m.Header, err, p.Data)
	}
}

// TestDu01RetourToSFTPSender: the gemeente sends a WMO301 over SFTP; the aanbieder answers
// with a WMO302 over Digikoppeling; the retour lands in the gemeente's ophalen/.
func TestDu01RetourToSFTPSender(t *testing.T) {
	e := newEnv(t, envOpts{})
	ref := "7a1e9a3c-1b2d-4c5e-8f90-123456789abc"
	e.upload(e.principal("gemeente"), "heen.xml", stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678", Referentie: ref}, []byte("<x/>")))
	if u := e.finalUpload(e.principal("gemeente")); u.Status != exchange.Afgeleverd {
		t.Fatalf("heen %+v", u)
	}
	retour := envelope("WMO302", "12345678", "9999", ref)
	out := e.zorg.message(t, ebms.ActionDu01, retour, e.clk.Now())
	if _, ack := e.post(e.zorg, out.ContentType, out.Body); ack == nil || ack.Kind() != ebms.KindAcknowledgment {
		t.Fatalf("no ack: %+v", ack)
	}
	if u := e.finalUpload(e.principal("aanbieder")); u.Status != exchange.Afgeleverd {
		t.Fatalf("retour %+v", u)
	}
	got := e.inboxEnvelopes(e.principal("gemeente"))
	if len(got) != 1 || !bytes.Equal(got[0], retour) {
		t.Fatalf("gemeente ophalen: %d", len(got))
	}
}

// TestAsyncAcknowledgments: with syncReplyMode none the hub answers a message with 204 and
// sends its Acknowledgment to the partner's endpoint as a message of its own; and a message
// the hub sends is bevestigd when the partner's Acknowledgment arrives on its own.
func TestAsyncAcknowledgments(t *testing.T) {
	e := newEnv(t, envOpts{syncReply: "none"})
	zorg := e.principal("aanbieder")
	if err := e.h.SetRoute(zorg, exchange.IWmo, "WMO 301/302", exchange.Digikoppeling, exchange.Actief, e.zorg.cpaID); err != nil {
		t.Fatal(err)
	}
	out := e.gem.message(t, ebms.ActionDi01, envelope("WMO301", "9999", "12345678", ""), e.clk.Now())
	if status, m := e.post(e.gem, out.ContentType, out.Body); status != http.StatusNoContent || m != nil {
		t.Fatalf("answer %d %+v", status, m)
	}
	eventually(t, "the Acknowledgment at the gemeente", func() bool { return len(e.gem.received()) == 1 })
	if a := e.gem.received()[0]; a.Kind() != ebms.KindAcknowledgment || a.Acknowledgment.RefToMessageID != out.MessageID {
		t.Fatalf("got %+v", a.Header)
	}
	eventually(t, "the message at the aanbieder", func() bool { return len(e.zorg.received()) == 1 })
	m := e.zorg.received()[0]
	ack, err := ebms.BuildAcknowledgment(&m.Header, nil, ebms.Reply{})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := e.post(e.zorg, ack.ContentType, ack.Body); status != http.StatusNoContent {
		t.Fatalf("ack answered %d", status)
	}
	eventually(t, "bevestigd", func() bool {
		ms, _, _ := e.h.Messages(context.Background(), zorg, exchange.IWmo, exchange.MessageFilter{})
		return len(ms) == 1 && ms[0].Status == exchange.MsgBevestigd
	})
}

// TestSignedProfile: under osb-rm-s the partner's signed message is verified against its
// certificate in the CPA, an unsigned one is refused, and the hub signs what it sends (the
// partner verifies it with the hub's certificate).
func TestSignedProfile(t *testing.T) {
	e := newEnv(t, envOpts{profile: ebms.ProfileReliableMessagingSigned})
	zorg := e.principal("aanbieder")
	if err := e.h.SetRoute(zorg, exchange.IWmo, "WMO 301/302", exchange.Digikoppeling, exchange.Actief, e.zorg.cpaID); err != nil {
		t.Fatal(err)
	}
	env := envelope("WMO301", "9999", "12345678", "")
	out := e.gem.message(t, ebms.ActionDi01, env, e.clk.Now())
	if !bytes.Contains(out.Body, []byte("ds:Signature")) && !bytes.Contains(out.Body, []byte("Signature")) {
		t.Fatal("the test partner did not sign")
	}
	if _, ack := e.post(e.gem, out.ContentType, out.Body); ack == nil || ack.Kind() != ebms.KindAcknowledgment {
		t.Fatalf("signed message: %+v", ack)
	}
	eventually(t, "the signed message at the aanbieder", func() bool { return len(e.zorg.received()) == 1 })
	m := e.zorg.received()[0]
	if !m.Signed {
		t.Fatal("the hub did not sign")
	}
	if err := m.Verify(e.hubTL.Leaf()); err != nil {
		t.Fatalf("hub signature: %v", err)
	}
	// Tampered: the payload changed after signing.
	bad := e.gem.message(t, ebms.ActionDi01, envelope("WMO301", "9999", "12345678", ""), e.clk.Now())
	i := bytes.Index(bad.Body, []byte("<StUF:functie>WMO301"))
	tampered := append([]byte(nil), bad.Body...)
	copy(tampered[i:], "<StUF:functie>WMO399")
	if _, m := e.post(e.gem, bad.ContentType, tampered); m == nil || m.Kind() != ebms.KindMessageError || m.ErrorList.Errors[0].Code != ebms.CodeSecurityFailure {
		t.Fatalf("tampered: %+v", m)
	}
}

// TestMisluktOpnieuwAndPortaal: an HTTP 400 ends a send as mislukt (with the reason in the
// berichtenlog); opnieuw sends it again with the same MessageId; a second mislukt message is
// released to ophalen/ when the route goes back to Portaal.
func TestMisluktOpnieuwAndPortaal(t *testing.T) {
	e := newEnv(t, envOpts{})
	zorg := e.principal("aanbieder")
	if err := e.h.SetRoute(zorg, exchange.IWmo, "WMO 301/302", exchange.Digikoppeling, exchange.Actief, e.zorg.cpaID); err != nil {
		t.Fatal(err)
	}
	e.zorg.fail400.Store(1)
	ref := "5b1e9a3c-1b2d-4c5e-8f90-123456789abc"
	e.upload(e.principal("gemeente"), "a.xml", stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678", Referentie: ref}, []byte("<x/>")))
	status := func(ref string) exchange.Message {
		ms, _, _ := e.h.Messages(context.Background(), zorg, exchange.IWmo, exchange.MessageFilter{Referentie: ref})
		if len(ms) != 1 {
			return exchange.Message{}
		}
		return ms[0]
	}
	eventually(t, "mislukt", func() bool { return status(ref).Status == exchange.MsgMislukt })
	if h := status(ref).History; !strings.Contains(h[len(h)-1].Detail, "HTTP 400") {
		t.Fatalf("reason: %+v", h)
	}
	if err := e.h.Resend(e.principal("gemeente"), exchange.IWmo, ref); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bevestigd after opnieuw", func() bool { return status(ref).Status == exchange.MsgBevestigd })
	sends, _ := e.h.Sends(exchange.System, "12345678", 10)
	if len(sends) != 1 || len(e.zorg.received()) != 1 || sends[0].MessageID != e.zorg.received()[0].Header.MessageID {
		t.Fatalf("sends %+v", sends)
	}
	if err := e.h.Resend(zorg, exchange.IWmo, ref); err == nil {
		t.Fatal("opnieuw of a bevestigd message")
	}

	e.zorg.fail400.Store(1)
	ref2 := "6c1e9a3c-1b2d-4c5e-8f90-123456789abc"
	env2 := stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678", Referentie: ref2}, []byte("<y/>"))
	e.upload(e.principal("gemeente"), "b.xml", env2)
	eventually(t, "second mislukt", func() bool { return status(ref2).Status == exchange.MsgMislukt })
	if err := e.h.SetRoute(zorg, exchange.IWmo, "WMO 301/302", exchange.Portaal, exchange.Actief, ""); err != nil {
		t.Fatal(err)
	}
	got := e.inboxEnvelopes(zorg)
	if len(got) != 1 || !bytes.Equal(got[0], env2) || status(ref2).Status != exchange.MsgAfgeleverd {
		t.Fatalf("released: %d files, %s", len(got), status(ref2).Status)
	}
}

// TestPartnerServerCertificateFromCPA: a partner endpoint whose server certificate is not the
// one in the CPA gets nothing: the hub stops in the handshake and keeps the message queued.
func TestPartnerServerCertificateFromCPA(t *testing.T) {
	e := newEnv(t, envOpts{})
	doc, err := ebms.NewCPA(ebms.CPASpec{
		ID:            "andere-cert",
		Hub:           ebms.PartySpec{OIN: hubOIN, Endpoint: "https://" + e.addr + Path, Cert: e.hubTL.Leaf()},
		Partner:       ebms.PartySpec{OIN: zorgOIN, Endpoint: e.zorg.srv.URL + Path, Cert: e.gem.leaf},
		SyncReplyMode: "mshSignalsOnly", Start: e.clk.Now().Add(-time.Hour).Truncate(time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.ImportCPA(exchange.System, doc); err != nil {
		t.Fatal(err)
	}
	zorg := e.principal("aanbieder")
	if err := e.h.SetRoute(zorg, exchange.IWmo, "WMO 301/302", exchange.Digikoppeling, exchange.Actief, "andere-cert"); err != nil {
		t.Fatal(err)
	}
	e.upload(e.principal("gemeente"), "uit.xml", envelope("WMO301", "9999", "12345678", ""))
	eventually(t, "a refused attempt", func() bool {
		sends, _ := e.h.Sends(exchange.System, "12345678", 10)
		return len(sends) == 1 && strings.Contains(sends[0].Reason, "niet het certificaat uit de CPA")
	})
	if n := len(e.zorg.received()); n != 0 {
		t.Fatalf("the endpoint got %d messages", n)
	}
}

// TestSignedAcknowledgment: when the CPA asks for signed Acknowledgments the hub signs its
// Acknowledgment, verifiable with the hub's certificate.
func TestSignedAcknowledgment(t *testing.T) {
	e := newEnv(t, envOpts{profile: ebms.ProfileReliableMessagingSigned, ackSigned: true})
	out := e.gem.message(t, ebms.ActionDi01, envelope("WMO301", "9999", "12345678", ""), e.clk.Now())
	_, ack := e.post(e.gem, out.ContentType, out.Body)
	if ack == nil || ack.Kind() != ebms.KindAcknowledgment || !ack.Signed {
		t.Fatalf("ack: %+v", ack)
	}
	if err := ack.Verify(e.hubTL.Leaf()); err != nil {
		t.Fatalf("ack signature: %v", err)
	}
}

// TestPortaalReleasesOnlyUnsent: of two messages in one delivery file one is bevestigd and one
// mislukt; back on Portaal only the mislukt one reaches ophalen/, in a file of its own.
func TestPortaalReleasesOnlyUnsent(t *testing.T) {
	e := newEnv(t, envOpts{})
	zorg := e.principal("aanbieder")
	if err := e.h.SetRoute(zorg, exchange.IWmo, "WMO 301/302", exchange.Digikoppeling, exchange.Actief, e.zorg.cpaID); err != nil {
		t.Fatal(err)
	}
	e.zorg.fail400.Store(1)
	envs := map[string][]byte{}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for i, ref := range []string{"1d1e9a3c-1b2d-4c5e-8f90-123456789abc", "2d1e9a3c-1b2d-4c5e-8f90-123456789abc"} {
		envs[ref] = stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678", Referentie: ref}, []byte("<x/>"))
		w, _ := zw.Create(fmt.Sprintf("b%d.xml", i))
		w.Write(envs[ref])
	}
	zw.Close()
	e.upload(e.principal("gemeente"), "twee.zip", zb.Bytes())
	states := func() map[exchange.MessageStatus]string {
		out := map[exchange.MessageStatus]string{}
		ms, _, _ := e.h.Messages(context.Background(), zorg, exchange.IWmo, exchange.MessageFilter{})
		for _, m := range ms {
			out[m.Status] = m.Referentie
		}
		return out
	}
	eventually(t, "one bevestigd, one mislukt", func() bool {
		st := states()
		return st[exchange.MsgBevestigd] != "" && st[exchange.MsgMislukt] != ""
	})
	failed := states()[exchange.MsgMislukt]
	if err := e.h.SetRoute(zorg, exchange.IWmo, "WMO 301/302", exchange.Portaal, exchange.Actief, ""); err != nil {
		t.Fatal(err)
	}
	got := e.inboxEnvelopes(zorg)
	if len(got) != 1 || !bytes.Equal(got[0], envs[failed]) {
		t.Fatalf("ophalen: %d envelopes", len(got))
	}
	if st := states(); st[exchange.MsgAfgeleverd] != failed || st[exchange.MsgBevestigd] == "" {
		t.Fatalf("states %v", st)
	}
}
