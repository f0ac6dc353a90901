package ebms

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/beevik/etree"
)

// Signer signs outgoing messages: an RSA key and its certificate (written in ds:KeyInfo).
type Signer struct {
	Key  crypto.Signer // an *rsa.PrivateKey or another RSA crypto.Signer
	Cert *x509.Certificate
}

// ebMS 2.0 §4.1.3: the signature of the envelope leaves out what an intermediate MSH may change,
// the elements addressed to the next MSH. The transform is an XPath filter with this expression;
// this package evaluates it by its meaning (remove every element with such a SOAP:actor, with
// its descendants), not with a general XPath engine.
const xpathNextMSH = `not(ancestor-or-self::node()[@SOAP:actor="urn:oasis:names:tc:ebxml-msg:actor:nextMSH"] | ancestor-or-self::node()[@SOAP:actor="http://schemas.xmlsoap.org/soap/actor/next"])`

// SignEnvelope signs a SOAP envelope as ebMS 2.0 §4.1 asks: an enveloped ds:Signature as the
// last child of SOAP:Header, with a Reference URI="" (transforms: enveloped-signature, the XPath
// filter that leaves out next-MSH elements, inclusive C14N) and one Reference per payload part
// (URI "cid:…", digest over the part's bytes); C14N inclusive, rsa-sha256, sha256. It returns the
// signed envelope.
func SignEnvelope(envelope []byte, parts []Part, s *Signer) ([]byte, error) {
	if s == nil || s.Key == nil || s.Cert == nil {
		return nil, errors.New("ebms: ondertekenen vraagt een sleutel en een certificaat")
	}
	if _, isRSA := s.Key.Public().(*rsa.PublicKey); !isRSA {
		return nil, errors.New("ebms: ondertekenen kan alleen met een RSA-sleutel (rsa-sha256)")
	}
	doc, header, err := readEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(canonicalDocument(transformed(doc, nil, []string{ActorNextMSH, ActorSOAPNext})))

	sig := etree.NewElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", NamespaceDSig)
	si := sig.CreateElement("ds:SignedInfo")
	si.CreateElement("ds:CanonicalizationMethod").CreateAttr("Algorithm", AlgC14N)
	si.CreateElement("ds:SignatureMethod").CreateAttr("Algorithm", AlgRSASHA256)
	ref := si.CreateElement("ds:Reference")
	ref.CreateAttr("URI", "")
	tr := ref.CreateElement("ds:Transforms")
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", AlgEnveloped)
	xp := tr.CreateElement("ds:Transform")
	xp.CreateAttr("Algorithm", AlgXPath)
	xpe := xp.CreateElement("ds:XPath")
	xpe.CreateAttr("xmlns:SOAP", NamespaceSOAP)
	xpe.SetText(xpathNextMSH)
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", AlgC14N)
	ref.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", AlgSHA256)
	ref.CreateElement("ds:DigestValue").SetText(base64.StdEncoding.EncodeToString(digest[:]))
	for _, p := range parts {
		r := si.CreateElement("ds:Reference")
		r.CreateAttr("URI", "cid:"+p.ContentID)
		r.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", AlgSHA256)
		d := sha256.Sum256(p.Data)
		r.CreateElement("ds:DigestValue").SetText(base64.StdEncoding.EncodeToString(d[:]))
	}
	sv := sig.CreateElement("ds:SignatureValue")
	sig.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
		SetText(base64.StdEncoding.EncodeToString(s.Cert.Raw))
	header.AddChild(sig)

	h := sha256.Sum256(canonicalSubtree(si))
	value, err := s.Key.Sign(nil, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("ebms: ondertekenen mislukt: %w", err)
	}
	sv.SetText(base64.StdEncoding.EncodeToString(value))
	// Written so that a parser reads back exactly the values that were signed: a tab or line
	// end in an attribute as a character reference (a parser would turn a literal one into a
	// space), a carriage return in text as &#xD; (a parser would turn a literal one into \n).
	doc.WriteSettings.CanonicalAttrVal = true
	doc.WriteSettings.CanonicalText = true
	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("ebms: ondertekende envelop schrijven mislukt: %w", err)
	}
	return out, nil
}

// Verify checks the message's signature with one of certs (the sender's certificates from the
// CPA), covering the envelope and every payload. The error is an *Error with code
// SecurityFailure.
func (m *Message) Verify(certs ...*x509.Certificate) error {
	return VerifyEnvelope(m.Envelope, m.Payloads, certs...)
}

// VerifyEnvelope checks the ds:Signature in the SOAP:Header of envelope: SignedInfo
// canonicalized with inclusive C14N and signed with rsa-sha256 by one of certs; a Reference
// URI="" whose digest (sha256, after the enveloped-signature, ebMS XPath and C14N transforms)
// matches; and a matching cid: Reference for every part in parts. rsa-sha1 and sha1 are refused.
func VerifyEnvelope(envelope []byte, parts []Part, certs ...*x509.Certificate) error {
	fail := func(format string, args ...any) error {
		return newError(CodeSecurityFailure, "SOAP:Header/ds:Signature", format, args...)
	}
	// The bounded reader first (no DTD, depth and element limits): the signature code below
	// recurses over the tree.
	if _, err := parseTree(envelope); err != nil {
		return fail("de envelop is geweigerd: %v", err)
	}
	doc, header, err := readEnvelope(envelope)
	if err != nil {
		return fail("%v", err)
	}
	var sig *etree.Element
	for _, c := range header.ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == NamespaceDSig {
			if sig != nil {
				return fail("meer dan één ds:Signature in SOAP:Header")
			}
			sig = c
		}
	}
	if sig == nil {
		return fail("het bericht is niet ondertekend (geen ds:Signature in SOAP:Header)")
	}
	si := dsChild(sig, "SignedInfo")
	if si == nil {
		return fail("ds:SignedInfo ontbreekt")
	}
	if alg := dsAlg(dsChild(si, "CanonicalizationMethod")); alg != AlgC14N {
		return fail("canonicalisatie %q wordt niet ondersteund; alleen %s", alg, AlgC14N)
	}
	switch alg := dsAlg(dsChild(si, "SignatureMethod")); alg {
	case AlgRSASHA256:
	case AlgRSASHA1:
		return fail("ondertekening met rsa-sha1 wordt geweigerd; Digikoppeling eist rsa-sha256")
	default:
		return fail("ondertekenalgoritme %q wordt niet ondersteund; alleen rsa-sha256", alg)
	}
	sigValue, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(dsChild(sig, "SignatureValue").Text()), ""))
	if err != nil || len(sigValue) == 0 {
		return fail("ds:SignatureValue is onleesbaar")
	}
	sawEnvelope := false
	covered := map[string]bool{}
	for _, ref := range si.ChildElements() {
		if ref.Tag != "Reference" || ref.NamespaceURI() != NamespaceDSig {
			continue
		}
		switch dm := dsAlg(dsChild(ref, "DigestMethod")); dm {
		case AlgSHA256:
		case AlgSHA1:
			return fail("digest met sha1 wordt geweigerd; Digikoppeling eist sha256")
		default:
			return fail("digestalgoritme %q wordt niet ondersteund; alleen sha256", dm)
		}
		want, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(dsChild(ref, "DigestValue").Text()), ""))
		if err != nil {
			return fail("ds:DigestValue is onleesbaar")
		}
		uri := ref.SelectAttrValue("URI", "\x00")
		var got [32]byte
		switch {
		case uri == "":
			actors, err := referenceTransforms(ref)
			if err != nil {
				return fail("%v", err)
			}
			got = sha256.Sum256(canonicalDocument(transformed(doc, sig, actors)))
			sawEnvelope = true
		case strings.HasPrefix(uri, "cid:"):
			if dsChild(ref, "Transforms") != nil && len(dsChild(ref, "Transforms").ChildElements()) > 0 {
				return fail("transformaties op bijlage %s worden niet ondersteund", uri)
			}
			cid := uri[4:]
			var part *Part
			for i := range parts {
				if parts[i].ContentID == cid {
					part = &parts[i]
				}
			}
			if part == nil {
				return fail("de handtekening verwijst naar bijlage %s, die niet in het bericht zit", uri)
			}
			got = sha256.Sum256(part.Data)
			covered[cid] = true
		default:
			return fail("ds:Reference URI %q wordt niet ondersteund (alleen \"\" en cid:)", uri)
		}
		if !bytes.Equal(got[:], want) {
			if uri == "" {
				return fail("de envelop is gewijzigd na ondertekening (digest van de envelop klopt niet)")
			}
			return fail("bijlage %s is gewijzigd na ondertekening (digest klopt niet)", uri)
		}
	}
	if !sawEnvelope {
		return fail("de handtekening dekt de envelop niet (geen ds:Reference URI=\"\")")
	}
	for _, p := range parts {
		if !covered[p.ContentID] {
			return fail("bijlage cid:%s is niet ondertekend", p.ContentID)
		}
	}
	if len(certs) == 0 {
		return fail("geen certificaat om de handtekening mee te controleren (de CPA noemt er geen)")
	}
	h := sha256.Sum256(canonicalSubtree(si))
	for _, c := range certs {
		if pub, isRSA := c.PublicKey.(*rsa.PublicKey); isRSA && rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sigValue) == nil {
			return nil
		}
	}
	return fail("de handtekening klopt niet met het certificaat van de afzender uit de CPA")
}

var xpathActorRE = regexp.MustCompile(`@([A-Za-z_][\w.-]*):actor\s*=\s*["']([^"']*)["']`)

// referenceTransforms checks the transforms of the envelope's Reference and returns the actors
// whose elements the XPath filter removes. Accepted: enveloped-signature (required), the ebMS
// XPath filter (optional), inclusive C14N (optional, it is the default anyway).
func referenceTransforms(ref *etree.Element) ([]string, error) {
	var actors []string
	enveloped := false
	trs := dsChild(ref, "Transforms")
	if trs == nil {
		return nil, errors.New("de envelop-referentie heeft geen transformaties (enveloped-signature ontbreekt)")
	}
	for _, t := range trs.ChildElements() {
		switch alg := t.SelectAttrValue("Algorithm", ""); alg {
		case AlgEnveloped:
			enveloped = true
		case AlgC14N:
		case AlgXPath:
			x := dsChild(t, "XPath")
			if x == nil {
				return nil, errors.New("XPath-transformatie zonder ds:XPath")
			}
			expr := strings.Join(strings.Fields(x.Text()), " ")
			if !strings.HasPrefix(expr, "not(") {
				return nil, fmt.Errorf("XPath-transformatie %q wordt niet ondersteund; alleen die van ebMS 2.0 §4.1.3", expr)
			}
			for _, m := range xpathActorRE.FindAllStringSubmatch(expr, -1) {
				if uri := lookupPrefix(x, m[1]); uri != NamespaceSOAP {
					return nil, fmt.Errorf("XPath-transformatie: prefix %s is niet de SOAP-namespace", m[1])
				}
				actors = append(actors, m[2])
			}
			if len(actors) == 0 {
				return nil, fmt.Errorf("XPath-transformatie %q wordt niet ondersteund; alleen die van ebMS 2.0 §4.1.3", expr)
			}
		default:
			return nil, fmt.Errorf("transformatie %q wordt niet ondersteund", alg)
		}
	}
	if !enveloped {
		return nil, errors.New("de envelop-referentie mist de enveloped-signature-transformatie")
	}
	return actors, nil
}

// lookupPrefix resolves a prefix in the scope of el.
func lookupPrefix(el *etree.Element, prefix string) string {
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if a.Space == "xmlns" && a.Key == prefix {
				return a.Value
			}
		}
	}
	return ""
}

// transformed returns a copy of doc without the signature sig (the enveloped-signature
// transform; nil when signing) and without every element whose SOAP:actor is one of actors
// (the ebMS XPath filter).
func transformed(doc *etree.Document, sig *etree.Element, actors []string) *etree.Document {
	cp := doc.Copy()
	if sig != nil {
		// Find the same element in the copy by its path of child indexes.
		var path []int
		for e := sig; e.Parent() != nil; e = e.Parent() {
			path = append([]int{e.Index()}, path...)
		}
		var e etree.Token = &cp.Element
		for _, i := range path {
			e = e.(*etree.Element).Child[i]
		}
		if el, isEl := e.(*etree.Element); isEl && el.Parent() != nil {
			el.Parent().RemoveChild(el)
		}
	}
	if len(actors) > 0 {
		removeActors(cp.Root(), actors)
	}
	return cp
}

func removeActors(el *etree.Element, actors []string) {
	if el == nil {
		return
	}
	for _, c := range el.ChildElements() {
		drop := false
		for _, a := range c.Attr {
			if a.Key == "actor" && a.Space != "" && a.NamespaceURI() == NamespaceSOAP {
				for _, x := range actors {
					drop = drop || a.Value == x
				}
			}
		}
		if drop {
			el.RemoveChild(c)
			continue
		}
		removeActors(c, actors)
	}
}

// readEnvelope parses an envelope with etree and finds its SOAP:Header.
func readEnvelope(envelope []byte) (*etree.Document, *etree.Element, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.Entity = nil
	if err := doc.ReadFromBytes(normalizeAttrWhitespace(envelope)); err != nil {
		return nil, nil, fmt.Errorf("de envelop is geen goed gevormde XML: %v", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "Envelope" || root.NamespaceURI() != NamespaceSOAP {
		return nil, nil, errors.New("geen SOAP 1.1 Envelope")
	}
	for _, c := range root.ChildElements() {
		if c.Tag == "Header" && c.NamespaceURI() == NamespaceSOAP {
			return doc, c, nil
		}
	}
	return nil, nil, errors.New("SOAP:Header ontbreekt")
}

func dsChild(el *etree.Element, local string) *etree.Element {
	if el == nil {
		return nil
	}
	for _, c := range el.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == NamespaceDSig {
			return c
		}
	}
	return nil
}

func dsAlg(el *etree.Element) string {
	if el == nil {
		return ""
	}
	return el.SelectAttrValue("Algorithm", "")
}

// signatureReferences returns the ds:Reference elements of the signature in envelope, each
// written with its ds namespace declared, for a signed Acknowledgment (ebMS 2.0 §7.3.2).
func signatureReferences(envelope []byte) ([]byte, error) {
	_, header, err := readEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	var sig *etree.Element
	for _, c := range header.ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == NamespaceDSig {
			sig = c
		}
	}
	si := dsChild(sig, "SignedInfo")
	if si == nil {
		return nil, nil
	}
	var out bytes.Buffer
	for _, ref := range si.ChildElements() {
		if ref.Tag != "Reference" || ref.NamespaceURI() != NamespaceDSig {
			continue
		}
		renameDS(ref)
		cp := ref.Copy()
		cp.CreateAttr("xmlns:ds", NamespaceDSig)
		d := etree.NewDocument()
		d.SetRoot(cp)
		b, err := d.WriteToBytes()
		if err != nil {
			return nil, err
		}
		out.Write(b)
	}
	return out.Bytes(), nil
}

// renameDS gives every element in the signature namespace the prefix ds (children first, so
// their namespaces still resolve through the unchanged ancestors).
func renameDS(el *etree.Element) {
	for _, c := range el.ChildElements() {
		renameDS(c)
	}
	if el.NamespaceURI() == NamespaceDSig {
		el.Space = "ds"
	}
}

// readEnvelopeAny parses any XML document with etree (for tests of the canonical form).
func readEnvelopeAny(data []byte) (*etree.Document, *etree.Element, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, nil, err
	}
	return doc, doc.Root(), nil
}

// normalizeAttrWhitespace does what XML 1.0 §3.3.3 asks of a parser and Go's encoding/xml does
// not: a literal tab, line feed, carriage return (or CR LF) in an attribute value becomes one
// space. Character references (&#9;) stay, the parser decodes them. Without this a signature
// over an attribute with a literal line end, valid for every other XML-DSig implementation,
// would not verify here.
func normalizeAttrWhitespace(data []byte) []byte {
	if !bytes.ContainsAny(data, "\t\n\r") {
		return data
	}
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		c := data[i]
		if c != '<' {
			out = append(out, c)
			i++
			continue
		}
		skipTo := ""
		switch {
		case bytes.HasPrefix(data[i:], []byte("<!--")):
			skipTo = "-->"
		case bytes.HasPrefix(data[i:], []byte("<![CDATA[")):
			skipTo = "]]>"
		case bytes.HasPrefix(data[i:], []byte("<?")):
			skipTo = "?>"
		}
		if skipTo != "" {
			end := bytes.Index(data[i:], []byte(skipTo))
			if end < 0 {
				return append(out, data[i:]...)
			}
			end += i + len(skipTo)
			out = append(out, data[i:end]...)
			i = end
			continue
		}
		// A tag: copy up to its '>', turning whitespace inside quoted values into spaces.
		var quote byte
		for i < len(data) {
			c := data[i]
			switch {
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case quote != 0 && c == quote:
				quote = 0
			case quote != 0 && (c == '\t' || c == '\n' || c == '\r'):
				if c == '\r' && i+1 < len(data) && data[i+1] == '\n' {
					i++
				}
				c = ' '
			}
			out = append(out, c)
			i++
			if quote == 0 && c == '>' {
				break
			}
		}
	}
	return out
}
