package ebms

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// signedFixtures are envelopes of every shape the hub signs: a user message, an Acknowledgment,
// a MessageError (whose attributes of two namespaces test the C14N order), a StatusResponse.
func signedFixtures(t *testing.T, s *Signer) map[string]*Outgoing {
	t.Helper()
	cpa, _ := testCPA(t, CPASpec{Profile: ProfileReliableMessagingSigned, SyncReplyMode: "mshSignalsOnly", Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
	b, err := cpa.Binding(PartyID{Type: PartyTypeOIN, Value: hubOIN}, "", Service{Value: GGKService}, ActionDi01)
	if err != nil {
		t.Fatal(err)
	}
	u := b.UserMessage("u1@knooppunt", Part{ContentID: "envelop-1", Data: []byte("<GGK:x xmlns:GGK=\"urn:x\">é &amp; ü</GGK:x>")}, msgNow)
	u.RefToMessageID = "earlier@partner"
	h := &MessageHeader{From: u.To, To: u.From, CPAID: cpa.ID, ConversationID: "c1", MessageID: "in1@partner"}
	out := map[string]*Outgoing{}
	var e error
	if out["user message"], e = BuildUserMessage(u, s); e != nil {
		t.Fatal(e)
	}
	noPayload := u
	noPayload.Payloads = nil
	if out["user message without payload"], e = BuildUserMessage(noPayload, s); e != nil {
		t.Fatal(e)
	}
	if out["acknowledgment"], e = BuildAcknowledgment(h, nil, Reply{Timestamp: msgNow, Signer: s}); e != nil {
		t.Fatal(e)
	}
	if s != nil {
		// A signed Acknowledgment of a signed message carries that message's ds:References.
		if out["signed acknowledgment"], e = BuildAcknowledgment(h, out["user message"].Envelope, Reply{Timestamp: msgNow, Signer: s}); e != nil {
			t.Fatal(e)
		}
		if n := strings.Count(string(out["signed acknowledgment"].Envelope), "<ds:Reference "); n != 3 {
			t.Errorf("signed acknowledgment has %d ds:Reference, want 2 copied and 1 of its own", n)
		}
	}
	if out["message error"], e = BuildMessageError(h, []*Error{newError(CodeInconsistent, "eb:MessageHeader", "fout <1> & \"2\"\tmet\ttabs")}, Reply{Timestamp: msgNow, Signer: s}); e != nil {
		t.Fatal(e)
	}
	if out["status response"], e = BuildStatusResponse(h, "x@y", StatusNotRecognized, time.Time{}, Reply{Timestamp: msgNow, Signer: s}); e != nil {
		t.Fatal(e)
	}
	return out
}

func TestSignVerify(t *testing.T) {
	id := identity(t, hubOIN)
	other := identity(t, partnerOIN)
	for name, out := range signedFixtures(t, id.signer()) {
		m, err := ParseMessage(out.ContentType, out.Body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !m.Signed {
			t.Errorf("%s: not marked signed", name)
		}
		if err := m.Verify(id.cert); err != nil {
			t.Errorf("%s: %v\n%s", name, err, m.Envelope)
		}
		if err := m.Verify(other.cert); errCode(err) != CodeSecurityFailure {
			t.Errorf("%s: verified with another certificate: %v", name, err)
		}
		if err := m.Verify(other.cert, id.cert); err != nil {
			t.Errorf("%s: not verified with the right one of two certificates: %v", name, err)
		}
	}
}

func TestSignatureCoversWhatItShould(t *testing.T) {
	id := identity(t, hubOIN)
	out := signedFixtures(t, id.signer())["user message"]
	m, err := ParseMessage(out.ContentType, out.Body)
	if err != nil {
		t.Fatal(err)
	}
	env := string(m.Envelope)
	verify := func(envelope string, parts []Part) error {
		return VerifyEnvelope([]byte(envelope), parts, id.cert)
	}
	if err := verify(env, m.Payloads); err != nil {
		t.Fatal(err)
	}
	// Changed envelope, payload, or a payload the signature does not cover: refused.
	for name, tc := range map[string]struct {
		env   string
		parts []Part
	}{
		"action changed":   {strings.Replace(env, ActionDi01, ActionDu01, 1), m.Payloads},
		"payload changed":  {env, []Part{{ContentID: m.Payloads[0].ContentID, Data: append([]byte("x"), m.Payloads[0].Data...)}}},
		"payload missing":  {env, nil},
		"extra payload":    {env, append([]Part{{ContentID: "extra", Data: []byte("x")}}, m.Payloads...)},
		"no signature":     {string(out.Envelope[:bytes.Index(out.Envelope, []byte("<ds:Signature"))]) + "</SOAP:Header></SOAP:Envelope>", m.Payloads},
		"signature value":  {strings.Replace(env, "<ds:SignatureValue>", "<ds:SignatureValue>AAAA", 1), m.Payloads},
		"ack signed added": {strings.Replace(env, `eb:signed="false"`, `eb:signed="true"`, 1), m.Payloads},
		"rsa-sha1 claimed": {strings.Replace(env, AlgRSASHA256, AlgRSASHA1, 1), m.Payloads},
	} {
		if err := verify(tc.env, tc.parts); errCode(err) != CodeSecurityFailure {
			t.Errorf("%s: %v", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// What the ebMS XPath filter leaves out may change on the way: the SyncReply is addressed to
	// the next MSH.
	changed := strings.Replace(env, `<eb:SyncReply eb:version="2.0"`, `<eb:SyncReply eb:version="2.0" eb:extra="hop"`, 1)
	if changed == env {
		t.Fatal("fixture has no SyncReply")
	}
	if err := verify(changed, m.Payloads); err != nil {
		t.Errorf("change in a next-MSH element broke the signature: %v", err)
	}
}

// TestC14N checks the canonical form against cases of the C14N 1.0 recommendation's kind.
func TestC14N(t *testing.T) {
	for in, want := range map[string]string{
		`<?xml version="1.0"?><!-- c --><a b="2" a="1"><b/></a>`:     `<a a="1" b="2"><b></b></a>`,
		`<a xmlns:z="urn:z" xmlns:a="urn:a" z:x="1" a:y="2" b="3"/>`: `<a xmlns:a="urn:a" xmlns:z="urn:z" b="3" a:y="2" z:x="1"></a>`,
		// Attributes sort by namespace URI, not by prefix or local name.
		`<a xmlns:eb="urn:b" xmlns:soap="urn:a" eb:version="2" soap:mustUnderstand="1" eb:highestSeverity="Error"/>`: `<a xmlns:eb="urn:b" xmlns:soap="urn:a" soap:mustUnderstand="1" eb:highestSeverity="Error" eb:version="2"></a>`,
		`<a xmlns="urn:x"><b xmlns="urn:x"><c xmlns=""/></b></a>`:                                                    `<a xmlns="urn:x"><b><c xmlns=""></c></b></a>`,
		"<a t=\"x&#9;y&#10;\">&lt;&amp;&gt;\r\"'</a>":                                                                "<a t=\"x&#x9;y&#xA;\">&lt;&amp;&gt;\n\"'</a>",
		`<a><![CDATA[<x>]]></a>`: `<a>&lt;x&gt;</a>`,
	} {
		doc, _, err := readEnvelopeAny([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(canonicalDocument(doc)); got != want {
			t.Errorf("c14n(%s)\n got %s\nwant %s", in, got, want)
		}
	}
	// A subtree inherits the namespaces in scope and the xml: attributes.
	doc, _, _ := readEnvelopeAny([]byte(`<r xmlns:p="urn:p" xmlns="urn:d" xml:lang="nl"><p:s a="1"><t/></p:s></r>`))
	got := string(canonicalSubtree(doc.Root().ChildElements()[0]))
	if want := `<p:s xmlns="urn:d" xmlns:p="urn:p" a="1" xml:lang="nl"><t></t></p:s>`; got != want {
		t.Errorf("subtree\n got %s\nwant %s", got, want)
	}
}

func writePEM(t *testing.T, dir string, c *x509.Certificate, keyDER []byte) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if keyDER != nil {
		keyFile = filepath.Join(dir, "key.pem")
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

func xmlsec1(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmlsec1 not installed (Debian package xmlsec1); CI must install it")
		}
		t.Skip("xmlsec1 not installed (apt-get install xmlsec1)")
	}
	return path
}

// TestXMLSec1VerifiesOurSignatures: every envelope the hub signs (without attachments, as
// xmlsec1 cannot resolve cid: URIs) verifies with xmlsec1, an independent implementation of
// XML-DSig, C14N and the XPath transform.
func TestXMLSec1VerifiesOurSignatures(t *testing.T) {
	bin := xmlsec1(t)
	id := identity(t, hubOIN)
	dir := t.TempDir()
	certFile, _ := writePEM(t, dir, id.cert, nil)
	for name, out := range signedFixtures(t, id.signer()) {
		if strings.Contains(string(out.Envelope), `URI="cid:`) {
			continue // the cid: references are checked by our own code in TestSignVerify
		}
		file := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".xml")
		if err := os.WriteFile(file, out.Envelope, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--verify", "--pubkey-cert-pem", certFile, file)
		if b, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(b, []byte("\nOK\n")) {
			t.Errorf("%s: xmlsec1 refuses our signature: %v\n%s\n%s", name, err, b, out.Envelope)
		} else {
			t.Logf("%s: xmlsec1: %s", name, strings.TrimSpace(string(b)))
		}
		// And a change is caught by xmlsec1 too.
		bad := strings.Replace(string(out.Envelope), "<eb:CPAId>", "<eb:CPAId>X", 1)
		if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command(bin, "--verify", "--pubkey-cert-pem", certFile, file).CombinedOutput(); err == nil {
			t.Errorf("%s: xmlsec1 accepts a changed envelope:\n%s", name, b)
		}
	}
}

// TestWeVerifyXMLSec1Signatures: an envelope signed by xmlsec1 from an ebMS signature template
// verifies in our code, and a change to it does not.
func TestWeVerifyXMLSec1Signatures(t *testing.T) {
	bin := xmlsec1(t)
	id := identity(t, partnerOIN)
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(id.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writePEM(t, dir, id.cert, keyDER)
	cpa, _ := testCPA(t, CPASpec{SyncReplyMode: "mshSignalsOnly", Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
	b, _ := cpa.Binding(PartyID{Type: PartyTypeOIN, Value: partnerOIN}, "", Service{Value: GGKService}, ActionDi01)
	u := b.UserMessage("x1@partner", Part{}, msgNow)
	u.Payloads = nil
	unsigned, err := BuildUserMessage(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A template as another MSH writes one: its own prefixes (soap, ds default namespace).
	tmpl := strings.Replace(string(unsigned.Envelope), "</SOAP:Header>", `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
<SignedInfo>
<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<Reference URI="">
<Transforms>
<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
<Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">
<XPath xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">not(ancestor-or-self::node()[@SOAP-ENV:actor="urn:oasis:names:tc:ebxml-msg:actor:nextMSH"] | ancestor-or-self::node()[@SOAP-ENV:actor="http://schemas.xmlsoap.org/soap/actor/next"])</XPath>
</Transform>
<Transform Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
</Transforms>
<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
<DigestValue/>
</Reference>
</SignedInfo>
<SignatureValue/>
<KeyInfo><X509Data/></KeyInfo>
</Signature></SOAP:Header>`, 1)
	tmplFile := filepath.Join(dir, "template.xml")
	signedFile := filepath.Join(dir, "signed.xml")
	if err := os.WriteFile(tmplFile, []byte(tmpl), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--sign", "--privkey-pem", keyFile+","+certFile, "--output", signedFile, tmplFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xmlsec1 --sign: %v\n%s", err, out)
	}
	signed, err := os.ReadFile(signedFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMessage("text/xml", signed)
	if err != nil {
		t.Fatalf("ParseMessage of the xmlsec1-signed envelope: %v\n%s", err, signed)
	}
	if err := m.Verify(id.cert); err != nil {
		t.Fatalf("our code refuses xmlsec1's signature: %v\n%s", err, signed)
	}
	// The SyncReply (actor next) may change; the MessageHeader may not.
	if err := VerifyEnvelope(bytes.Replace(signed, []byte(`<eb:SyncReply eb:version="2.0"`), []byte(`<eb:SyncReply eb:version="2.0" eb:x="y"`), 1), nil, id.cert); err != nil {
		t.Errorf("next-MSH change: %v", err)
	}
	if err := VerifyEnvelope(bytes.Replace(signed, []byte("<eb:Action>"), []byte("<eb:Action>X"), 1), nil, id.cert); errCode(err) != CodeSecurityFailure {
		t.Errorf("changed action verified: %v", err)
	}
}

// TestCheckVerifiesSignatures: Check refuses a signed message whose signature does not verify
// with the sender's certificate in the CPA, whatever the CPA demands.
func TestCheckVerifiesSignatures(t *testing.T) {
	for _, profile := range []string{ProfileReliableMessagingSigned, ProfileReliableMessaging} {
		cpa, _ := testCPA(t, CPASpec{Profile: profile, Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
		b, _ := cpa.Binding(PartyID{Type: PartyTypeOIN, Value: partnerOIN}, "", Service{Value: GGKService}, ActionDi01)
		u := b.UserMessage("c1@partner", Part{ContentID: "p1", Data: []byte("<a/>")}, msgNow)
		for name, tc := range map[string]struct {
			signer *Signer
			tamper func([]byte) []byte
			ok     bool
		}{
			"right key":      {identity(t, partnerOIN).signer(), nil, true},
			"wrong key":      {identity(t, hubOIN).signer(), nil, false},
			"payload change": {identity(t, partnerOIN).signer(), func(b []byte) []byte { return bytes.Replace(b, []byte("<a/>"), []byte("<b/>"), 1) }, false},
		} {
			out, err := BuildUserMessage(u, tc.signer)
			if err != nil {
				t.Fatal(err)
			}
			body := out.Body
			if tc.tamper != nil {
				body = tc.tamper(body)
			}
			m, err := ParseMessage(out.ContentType, body)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Check(m, cpa, msgNow)
			if tc.ok && err != nil || !tc.ok && errCode(err) != CodeSecurityFailure {
				t.Errorf("%s/%s: %v", profile, name, err)
			}
		}
	}
}

// TestSignedCPAWithoutCertificate: a CPA that demands signing but names no certificate of the
// sender cannot verify anything, so it accepts nothing.
func TestSignedCPAWithoutCertificate(t *testing.T) {
	cpa, _ := testCPA(t, CPASpec{Profile: ProfileReliableMessagingSigned, Hub: fuzzHub, Partner: fuzzPartner, Start: msgNow.Add(-time.Hour), End: msgNow.AddDate(1, 0, 0)})
	b, _ := cpa.Binding(PartyID{Type: PartyTypeOIN, Value: partnerOIN}, "", Service{Value: GGKService}, ActionDi01)
	out, err := BuildUserMessage(b.UserMessage("n1@partner", Part{Data: []byte("<a/>")}, msgNow), identity(t, partnerOIN).signer())
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMessage(out.ContentType, out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Check(m, cpa, msgNow); errCode(err) != CodeSecurityFailure {
		t.Errorf("Check = %v", err)
	}
}
