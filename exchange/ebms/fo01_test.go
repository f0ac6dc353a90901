package ebms

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fo01Doc reads the parts of a Fo01 the tests compare.
type fo01Doc struct {
	XMLName       xml.Name `xml:"http://www.egem.nl/StUF/StUF0301 Fo01Bericht"`
	Stuurgegevens struct {
		Berichtcode string    `xml:"berichtcode"`
		Zender      StUFParty `xml:"zender"`
		Ontvanger   StUFParty `xml:"ontvanger"`
		Referentie  string    `xml:"referentienummer"`
		Tijdstip    string    `xml:"tijdstipBericht"`
		CrossRef    string    `xml:"crossRefnummer"`
	} `xml:"stuurgegevens"`
	Body struct {
		Code         string `xml:"code"`
		Plek         string `xml:"plek"`
		Omschrijving string `xml:"omschrijving"`
		Details      string `xml:"details"`
	} `xml:"body"`
}

func (p *StUFParty) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var v struct {
		Organisatie   string `xml:"organisatie"`
		Applicatie    string `xml:"applicatie"`
		Administratie string `xml:"administratie"`
		Gebruiker     string `xml:"gebruiker"`
	}
	if err := d.DecodeElement(&v, &start); err != nil {
		return err
	}
	*p = StUFParty(v)
	return nil
}

func TestFo01(t *testing.T) {
	zender := StUFParty{Organisatie: "54540051", Applicatie: "JW Applicatie", Administratie: "test", Gebruiker: "gebruiker1"}
	ontvanger := StUFParty{Organisatie: "IB", Applicatie: "GGK"}
	now := time.Date(2016, 4, 21, 12, 45, 34, 0, time.UTC)
	f := NewFo01(zender, ontvanger, "9c0f7b90-5c69-11e5-a837-0800200c9a66", "IB210", "Ontvangende organisatie onbekend. Organisatie 99999", "JW315-00010004 <&>", now)
	out := BuildFo01(f)
	var got fo01Doc
	if err := xml.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := got.Stuurgegevens
	if s.Berichtcode != "Fo01" || s.Zender != ontvanger || s.Ontvanger != zender || s.CrossRef != "9c0f7b90-5c69-11e5-a837-0800200c9a66" ||
		s.Tijdstip != "20160421144534" || len(s.Referentie) != 36 || s.Referentie == s.CrossRef {
		t.Errorf("stuurgegevens %+v", s)
	}
	if b := got.Body; b.Code != "IB210" || b.Plek != "client" || b.Omschrijving != "Ontvangende organisatie onbekend. Organisatie 99999" || b.Details != "JW315-00010004 <&>" {
		t.Errorf("body %+v", b)
	}
	if _, err := parseTree(out); err != nil {
		t.Error(err)
	}
	long := BuildFo01(Fo01{Code: "IB999", Omschrijving: strings.Repeat("é", 300)})
	if err := xml.Unmarshal(long, &got); err != nil || len([]rune(got.Body.Omschrijving)) != 200 {
		t.Errorf("omschrijving not cut to 200: %d, %v", len([]rune(got.Body.Omschrijving)), err)
	}
}

// TestFo01LikeReference compares the element structure with the reference example.
func TestFo01LikeReference(t *testing.T) {
	dir := referenceDir(t, "ggk0210/examples")
	ref, err := os.ReadFile(filepath.Join(dir, "Fo01.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var want fo01Doc
	if err := xml.Unmarshal(ref, &want); err != nil {
		t.Fatal(err)
	}
	s := want.Stuurgegevens
	f := Fo01{Zender: s.Zender, Ontvanger: s.Ontvanger, Referentie: s.Referentie, CrossRef: s.CrossRef,
		Tijdstip: time.Date(2016, 4, 21, 12, 45, 34, 0, time.UTC), Code: want.Body.Code, Plek: want.Body.Plek,
		Omschrijving: want.Body.Omschrijving, Details: want.Body.Details}
	var got fo01Doc
	if err := xml.Unmarshal(BuildFo01(f), &got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if names(t, BuildFo01(f)) != names(t, ref) {
		t.Errorf("element order differs:\n got %s\nwant %s", names(t, BuildFo01(f)), names(t, ref))
	}
}

// names lists the element names of a document in order, without detailsXML (optional).
func names(t *testing.T, data []byte) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(data)))
	var out []string
	skip := 0
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == "detailsXML" || skip > 0 {
				skip++
				continue
			}
			out = append(out, e.Name.Local)
		case xml.EndElement:
			if skip > 0 {
				skip--
			}
		}
	}
	return strings.Join(out, ",")
}

// TestFo01EveryFout: a message with several fouten gets them all in one Fo01: the first as
// the body's code, omschrijving and details (StUF's Foutbericht has room for one), the rest in
// detailsXML; the result is valid against StUF 03.01's schema (xmllint, when the reference
// set and xmllint are there).
func TestFo01EveryFout(t *testing.T) {
	f := NewFo01(StUFParty{Organisatie: "0363", Applicatie: "Wmo"}, StUFParty{Organisatie: "knooppunt", Applicatie: "GGk"},
		"9c0f7b90-5c69-11e5-a837-0800200c9a66", "IB005", "Gemeentecode onbekend", "ontvanger 1111", time.Date(2026, 1, 28, 17, 0, 0, 0, time.UTC))
	f.More = []FoutDetail{{Code: "IB023", Omschrijving: "Functie niet actief", Details: "route <uit> & weg"}, {Code: "IB016", Omschrijving: "Referentienummer niet uniek"}}
	out := BuildFo01(f)
	var got struct {
		Body struct {
			Code  string `xml:"code"`
			Extra []struct {
				Code         string `xml:"code"`
				Omschrijving string `xml:"omschrijving"`
				Details      string `xml:"details"`
			} `xml:"detailsXML>fouten>fout"`
		} `xml:"body"`
	}
	if err := xml.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Body.Code != "IB005" || len(got.Body.Extra) != 2 || got.Body.Extra[0].Code != "IB023" || got.Body.Extra[0].Details != "route <uit> & weg" ||
		got.Body.Extra[1].Code != "IB016" || got.Body.Extra[1].Omschrijving != "Referentienummer niet uniek" {
		t.Fatalf("fouten %+v\n%s", got.Body, out)
	}
	if _, err := parseTree(out); err != nil {
		t.Error(err)
	}
	xsd := filepath.Join(referenceDir(t, "ggk0210/xsd/0301"), "stuf0301.xsd")
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed")
	}
	for _, doc := range [][]byte{out, BuildFo01(Fo01{Code: "IB001", Omschrijving: "één fout", CrossRef: f.CrossRef, Zender: f.Zender, Ontvanger: f.Ontvanger})} {
		file := filepath.Join(t.TempDir(), "fo01.xml")
		if err := os.WriteFile(file, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		if res, err := exec.Command(xmllint, "--noout", "--schema", xsd, file).CombinedOutput(); err != nil {
			t.Fatalf("xmllint: %v\n%s\n%s", err, res, doc)
		}
	}
}
