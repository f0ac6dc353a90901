package stuf

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Build writes a ggk0210 envelope around payload, for tests and fixtures of every
// package. Empty fields get a valid default: root Di01 (Du01 when CrossRef is set), berichtcode
// matching the root, applicaties "Applicatie" and "GGk", a random UUID v4 referentienummer, a
// fixed tijdstip, functie WMO301/WMO302, versions 0001/0000/0003/0002 and an xmlBestand
// (tekstBestand when Kind says so, named Bestandsnaam or "bericht.txt"). Given values are
// written as they are, XML-escaped, so a test can build an invalid envelope too.
func Build(e Envelope, payload []byte) []byte {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&e.Root, map[bool]string{false: "Di01", true: "Du01"}[e.CrossRef != ""])
	def(&e.Berichtcode, e.Root)
	def(&e.ZenderApp, "Applicatie")
	def(&e.OntvangerApp, "GGk")
	def(&e.Referentie, newUUIDv4())
	def(&e.Tijdstip, "20250101120000")
	def(&e.Functie, map[bool]string{false: "WMO301", true: "WMO302"}[e.Root == "Du01"])
	def(&e.ApplicatieVersie, "0001")
	def(&e.ApplicatieSubversie, "0000")
	def(&e.FunctieVersie, "0003")
	def(&e.FunctieSubversie, "0002")
	def(&e.Kind, "xmlBestand")
	if e.Kind == "tekstBestand" {
		def(&e.Bestandsnaam, "bericht.txt")
	}

	root := "envelopHeenbericht-ggk_Di01"
	if e.Root == "Du01" {
		root = "envelopRetourbericht-ggk_Du01"
	}
	var b bytes.Buffer
	b.Grow(base64.StdEncoding.EncodedLen(len(payload)) + 1500)
	esc := func(s string) string {
		var w bytes.Buffer
		_ = xml.EscapeText(&w, []byte(s)) // writing to a bytes.Buffer cannot fail
		return w.String()
	}
	el := func(indent, name, v string) {
		fmt.Fprintf(&b, "%s<%s>%s</%s>\n", indent, name, esc(v), name)
	}
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	fmt.Fprintf(&b, "<GGK:%s xmlns:StUF=%q xmlns:GGK=%q>\n", root, namespaceStUF, namespaceGGK)
	b.WriteString("\t<GGK:stuurgegevens>\n")
	el("\t\t", "StUF:berichtcode", e.Berichtcode)
	for _, s := range [][3]string{{"zender", e.ZenderOrg, e.ZenderApp}, {"ontvanger", e.OntvangerOrg, e.OntvangerApp}} {
		fmt.Fprintf(&b, "\t\t<StUF:%s>\n", s[0])
		el("\t\t\t", "StUF:organisatie", s[1])
		el("\t\t\t", "StUF:applicatie", s[2])
		fmt.Fprintf(&b, "\t\t</StUF:%s>\n", s[0])
	}
	el("\t\t", "StUF:referentienummer", e.Referentie)
	el("\t\t", "StUF:tijdstipBericht", e.Tijdstip)
	if e.Root == "Du01" {
		el("\t\t", "StUF:crossRefnummer", e.CrossRef)
	}
	el("\t\t", "StUF:functie", e.Functie)
	b.WriteString("\t</GGK:stuurgegevens>\n\t<GGK:parameters>\n")
	el("\t\t", "GGK:applicatieVersie", e.ApplicatieVersie)
	el("\t\t", "GGK:applicatieSubversie", e.ApplicatieSubversie)
	el("\t\t", "GGK:functieVersie", e.FunctieVersie)
	el("\t\t", "GGK:functieSubversie", e.FunctieSubversie)
	b.WriteString("\t\t<GGK:bericht>\n\t\t\t<GGK:" + e.Kind)
	if e.Kind == "tekstBestand" {
		fmt.Fprintf(&b, " bestandsnaam=\"%s\"", esc(e.Bestandsnaam))
	}
	b.WriteString(">")
	enc := base64.StdEncoding.EncodeToString(payload)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteByte('\n')
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("</GGK:" + e.Kind + ">\n\t\t</GGK:bericht>\n\t</GGK:parameters>\n</GGK:" + root + ">\n")
	return b.Bytes()
}

// newUUIDv4 returns a random version 4 UUID in the lower-case form the envelope requires
// (google/uuid writes lower case).
func newUUIDv4() string { return uuid.NewString() }

// BuildBericht writes an iWmo/iJw 3.2 message with only its Header, in the shape of the 3.2
// examples, for tests and fixtures: functie WMO301 or JW301 picks the namespace, berichtCode,
// afzender and ontvanger are written as given (XML-escaped).
func BuildBericht(functie, berichtCode, afzender, ontvanger string) []byte {
	product, basis := "iwmo", "iwmo"
	if len(functie) > 2 && functie[:2] == "JW" {
		product, basis = "ijw", "ijw"
	}
	esc := func(s string) string {
		var w bytes.Buffer
		_ = xml.EscapeText(&w, []byte(s))
		return w.String()
	}
	p := strings.ToLower(functie)
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	fmt.Fprintf(&b, "<%s:Bericht xmlns:%s=\"http://www.istandaarden.nl/%s/3_2/basisschema/schema\" xmlns:%s=\"http://www.istandaarden.nl/%s/3_2/%s/schema\">\n", p, basis, product, p, product, p)
	fmt.Fprintf(&b, "\t<%s:Header>\n", p)
	for _, f := range [][2]string{{"BerichtCode", berichtCode}, {"BerichtVersie", "3"}, {"BerichtSubversie", "2"}, {"Afzender", afzender}, {"Ontvanger", ontvanger}} {
		fmt.Fprintf(&b, "\t\t<%s:%s>%s</%s:%s>\n", p, f[0], esc(f[1]), p, f[0])
	}
	fmt.Fprintf(&b, "\t\t<%s:BerichtIdentificatie>\n\t\t\t<%s:Identificatie>123456789012</%s:Identificatie>\n\t\t\t<%s:Dagtekening>2026-01-01</%s:Dagtekening>\n\t\t</%s:BerichtIdentificatie>\n", p, basis, basis, basis, basis, p)
	fmt.Fprintf(&b, "\t</%s:Header>\n</%s:Bericht>\n", p, p)
	return b.Bytes()
}
