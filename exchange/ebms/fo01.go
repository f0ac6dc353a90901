package ebms

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"time"

	"knooppunt/exchange/tijdzone"
)

// NamespaceStUF is the StUF 03.01 namespace of the Fo01 foutbericht.
const NamespaceStUF = "http://www.egem.nl/StUF/StUF0301"

// StUFParty is a StUF zender or ontvanger.
type StUFParty struct {
	Organisatie   string
	Applicatie    string
	Administratie string // optional
	Gebruiker     string // optional
}

// Fo01 is a StUF foutbericht (StUF:Fo01Bericht) as the GGk sends it for a rejected envelope,
// like reference/ggk0210/examples/Fo01.xml.
type Fo01 struct {
	Zender, Ontvanger StUFParty
	Referentie        string    // this Fo01's own referentienummer
	Tijdstip          time.Time // tijdstipBericht
	CrossRef          string    // the referentienummer of the rejected envelope
	Code              string    // the IB code, e.g. "IB210"
	Plek              string    // "client" (the sender's fault) or "server"
	Omschrijving      string    // the IB code's text
	Details           string    // optional, e.g. the file or element at fault
	// More are further fouten of the same message. StUF's Foutbericht has one code, plek and
	// omschrijving (stuf0301.xsd), so these go into its detailsXML, which takes any elements:
	// <fouten xmlns="urn:knooppunt:fo01"><fout><code/><omschrijving/><details/></fout>…</fouten>.
	More []FoutDetail
}

// FoutDetail is one more fout of a Fo01.
type FoutDetail struct {
	Code, Omschrijving, Details string
}

// NamespaceFouten is the namespace of the hub's list of further fouten in a Fo01's detailsXML.
const NamespaceFouten = "urn:knooppunt:fo01"

// NewFo01 answers a rejected envelope: zender and ontvanger swapped (the Fo01 goes from the
// envelope's ontvanger back to its zender), crossRefnummer the envelope's referentienummer, a
// fresh referentienummer, plek "client".
func NewFo01(envelopeZender, envelopeOntvanger StUFParty, envelopeReferentie, code, omschrijving, details string, now time.Time) Fo01 {
	return Fo01{
		Zender:       envelopeOntvanger,
		Ontvanger:    envelopeZender,
		Referentie:   newUUID(),
		Tijdstip:     now,
		CrossRef:     envelopeReferentie,
		Code:         code,
		Plek:         "client",
		Omschrijving: omschrijving,
		Details:      details,
	}
}

// BuildFo01 writes the Fo01 as XML bytes (UTF-8, with declaration). The tijdstipBericht is
// written in Dutch local time as StUF does (yyyyMMddHHmmss). Values are escaped; StUF's length
// limits (omschrijving 200, details 1000) are applied by cutting, so the Fo01 stays valid.
func BuildFo01(f Fo01) []byte {
	if f.Plek == "" {
		f.Plek = "client"
	}
	if f.Referentie == "" {
		f.Referentie = newUUID()
	}
	if f.Tijdstip.IsZero() {
		f.Tijdstip = time.Now()
	}
	var b bytes.Buffer
	el := func(indent, name, v string) {
		fmt.Fprintf(&b, "%s<StUF:%s>", indent, name)
		_ = xml.EscapeText(&b, []byte(v)) // a bytes.Buffer never fails
		fmt.Fprintf(&b, "</StUF:%s>\n", name)
	}
	party := func(name string, p StUFParty) {
		fmt.Fprintf(&b, "\t\t<StUF:%s>\n", name)
		el("\t\t\t", "organisatie", p.Organisatie)
		el("\t\t\t", "applicatie", p.Applicatie)
		if p.Administratie != "" {
			el("\t\t\t", "administratie", p.Administratie)
		}
		if p.Gebruiker != "" {
			el("\t\t\t", "gebruiker", p.Gebruiker)
		}
		fmt.Fprintf(&b, "\t\t</StUF:%s>\n", name)
	}
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
	fmt.Fprintf(&b, "<StUF:Fo01Bericht xmlns:StUF=%q>\n", NamespaceStUF)
	b.WriteString("\t<StUF:stuurgegevens>\n")
	el("\t\t", "berichtcode", "Fo01")
	party("zender", f.Zender)
	party("ontvanger", f.Ontvanger)
	el("\t\t", "referentienummer", f.Referentie)
	el("\t\t", "tijdstipBericht", f.Tijdstip.In(tijdzone.Amsterdam()).Format("20060102150405"))
	if f.CrossRef != "" {
		el("\t\t", "crossRefnummer", f.CrossRef)
	}
	b.WriteString("\t</StUF:stuurgegevens>\n\t<StUF:body>\n")
	el("\t\t", "code", f.Code)
	el("\t\t", "plek", f.Plek)
	el("\t\t", "omschrijving", cut(f.Omschrijving, 200))
	if f.Details != "" {
		el("\t\t", "details", cut(f.Details, 1000))
	}
	if len(f.More) > 0 {
		fmt.Fprintf(&b, "\t\t<StUF:detailsXML>\n\t\t\t<fouten xmlns=%q>\n", NamespaceFouten)
		plain := func(name, v string) {
			fmt.Fprintf(&b, "\t\t\t\t\t<%s>", name)
			_ = xml.EscapeText(&b, []byte(v)) // a bytes.Buffer never fails
			fmt.Fprintf(&b, "</%s>\n", name)
		}
		for _, m := range f.More {
			b.WriteString("\t\t\t\t<fout>\n")
			plain("code", m.Code)
			plain("omschrijving", m.Omschrijving)
			if m.Details != "" {
				plain("details", m.Details)
			}
			b.WriteString("\t\t\t\t</fout>\n")
		}
		b.WriteString("\t\t\t</fouten>\n\t\t</StUF:detailsXML>\n")
	}
	b.WriteString("\t</StUF:body>\n</StUF:Fo01Bericht>\n")
	return b.Bytes()
}

// cut shortens s to at most n characters.
func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
