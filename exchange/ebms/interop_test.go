package ebms

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// messyEnvelope is an ebMS envelope as another MSH may write it: CRLF line ends, comments,
// a default namespace, prefixes declared where used and redeclared, xml:lang, attributes in
// three namespaces, characters C14N escapes, an unused namespace (ns4) on the root.
const messyEnvelope = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<!-- voor -->\r\n" +
	"<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns4=\"http://www.w3.org/2000/09/xmldsig#\" xml:lang=\"nl\">\r\n" +
	"  <soap:Header>\r\n" +
	"    <MessageHeader xmlns=\"http://www.oasis-open.org/committees/ebxml-msg/schema/msg-header-2_0.xsd\" xmlns:eb=\"http://www.oasis-open.org/committees/ebxml-msg/schema/msg-header-2_0.xsd\" eb:version=\"2.0\" soap:mustUnderstand=\"1\">\r\n" +
	"      <From><PartyId eb:type=\"urn:osb:oin\">00000009876543210000</PartyId><Role>Deelnemer</Role></From>\r\n" +
	"      <To><PartyId eb:type=\"urn:osb:oin\">00000001234567890000</PartyId><Role>Knooppunt</Role></To>\r\n" +
	"      <CPAId>cpa &amp; &lt;1&gt; \"q\"</CPAId><!-- binnen -->\r\n" +
	"      <ConversationId>c1</ConversationId>\r\n" +
	"      <Service eb:type=\"urn:osb:services\">StUFOntvangAsynchroonGGK0210Service</Service>\r\n" +
	"      <Action>ggk_Di01</Action>\r\n" +
	"      <MessageData><MessageId>m1@partner</MessageId><Timestamp>2026-03-01T11:59:00Z</Timestamp></MessageData>\r\n" +
	"    </MessageHeader>\r\n" +
	"    <eb:SyncReply xmlns:eb=\"http://www.oasis-open.org/committees/ebxml-msg/schema/msg-header-2_0.xsd\" eb:version=\"2.0\" soap:actor=\"http://schemas.xmlsoap.org/soap/actor/next\" soap:mustUnderstand=\"1\"/>\r\n" +
	"    <x:Extra xmlns:x=\"urn:x\" x:b=\"1\" a=\"tab&#9;nl&#10;\" soap:actor=\"urn:oasis:names:tc:ebxml-msg:actor:toPartyMSH\">t&gt;</x:Extra>\r\n" +
	"  </soap:Header>\r\n" +
	"  <soap:Body/>\r\n" +
	"</soap:Envelope>\r\n"

const xmlsecTemplate = `<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">
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
</Signature>`

// interopEnvelopes are the envelopes of the both-ways xmlsec1 test: the messy one, and the
// reference set's valid messages when it is there.
func interopEnvelopes(t *testing.T) map[string]string {
	envs := map[string]string{
		"messy":         messyEnvelope,
		"messy literal": strings.Replace(messyEnvelope, `a="tab&#9;nl&#10;"`, "a=\"tab\tnl\r\nend\"", 1),
	}
	dir := filepath.Join("..", "..", "..", "shared", "reference", "ebms", "soap")
	for _, f := range []string{"EbMSMessage.xml", "EbMSMessageWithAttachments.xml", "EbMSMessageStatus.xml", "EbMSPing.xml"} {
		if src, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			envs[f] = string(renderTemplate(src, "cpa-1"))
		}
	}
	return envs
}

// insertBeforeHeaderEnd puts s before the envelope's closing Header tag, whatever its prefix.
func insertBeforeHeaderEnd(t *testing.T, env, s string) string {
	for _, p := range []string{"</soap:Header>", "</SOAP:Header>", "</SOAP-ENV:Header>"} {
		if i := strings.LastIndex(env, p); i >= 0 {
			return env[:i] + s + env[i:]
		}
	}
	t.Fatal("no Header end tag")
	return ""
}

func TestXMLSec1InteropOnForeignEnvelopes(t *testing.T) {
	bin := xmlsec1(t)
	dir := t.TempDir()
	id := identity(t, partnerOIN)
	keyDER, err := x509.MarshalPKCS8PrivateKey(id.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writePEM(t, dir, id.cert, keyDER)
	for name, env := range interopEnvelopes(t) {
		t.Run(name, func(t *testing.T) {
			// xmlsec1 signs, we verify.
			tmpl := filepath.Join(dir, "tmpl.xml")
			signedFile := filepath.Join(dir, "signed.xml")
			if err := os.WriteFile(tmpl, []byte(insertBeforeHeaderEnd(t, env, xmlsecTemplate)), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "--sign", "--privkey-pem", keyFile+","+certFile, "--output", signedFile, tmpl).CombinedOutput(); err != nil {
				t.Fatalf("xmlsec1 --sign: %v\n%s", err, out)
			}
			signed, err := os.ReadFile(signedFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyEnvelope(signed, nil, id.cert); err != nil {
				t.Errorf("we refuse xmlsec1's signature: %v\n%s", err, signed)
			}
			// We sign, xmlsec1 verifies.
			ours, err := SignEnvelope([]byte(env), nil, id.signer())
			if err != nil {
				t.Fatal(err)
			}
			oursFile := filepath.Join(dir, "ours.xml")
			if err := os.WriteFile(oursFile, ours, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "--verify", "--pubkey-cert-pem", certFile, oursFile).CombinedOutput(); err != nil || !strings.Contains(string(out), "\nOK\n") {
				t.Errorf("xmlsec1 refuses our signature: %v\n%s\n%s", err, out, ours)
			}
		})
	}
}

// TestAttributeWhitespace: a literal line end in an attribute value is a space to every XML
// parser; a signature made over the normalized value verifies here too.
func TestAttributeWhitespace(t *testing.T) {
	got := string(normalizeAttrWhitespace([]byte("<a b=\"x\r\ny\tz\" c='1\n2'>t\r\nu<!-- \"\n\" --><![CDATA[\"\n\"]]><?p \"\n\"?><d e=\"&#10;\"/></a>")))
	want := "<a b=\"x y z\" c='1 2'>t\r\nu<!-- \"\n\" --><![CDATA[\"\n\"]]><?p \"\n\"?><d e=\"&#10;\"/></a>"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	id := identity(t, partnerOIN)
	env := strings.Replace(messyEnvelope, `a="tab&#9;nl&#10;"`, "a=\"tab\tnl\n\"", 1)
	signed, err := SignEnvelope([]byte(env), nil, id.signer())
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyEnvelope(signed, nil, id.cert); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(signed), `a="tab nl "`) {
		t.Errorf("attribute not normalized:\n%s", signed)
	}
}
