package exchange

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPayloadHeadDecodesTheStartOfThePayload: what the parser keeps is the payload's first
// bytes exactly, for every length of the last base64 group, and never more than the bound.
func TestPayloadHeadDecodesTheStartOfThePayload(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 100, payloadHeadLen - 1, payloadHeadLen, payloadHeadLen + 1, 1 << 20} {
		payload := make([]byte, n)
		rand.Read(payload)
		var ep EnvelopeParser
		if _, rej := ep.Parse(bytes.NewReader(BuildEnvelope(Envelope{ZenderOrg: "9999", OntvangerOrg: "12345678"}, payload))); rej != nil {
			t.Fatalf("%d: %v", n, rej)
		}
		h := &ep.p.head
		want := payload[:min(n, payloadHeadLen)]
		if !bytes.Equal(h.buf[:h.n], want) || h.truncated != (n > payloadHeadLen) {
			t.Fatalf("%d bytes: kept %d (truncated %v), want the first %d", n, h.n, h.truncated, len(want))
		}
	}
}

// TestReadBerichtHeaderOfTheReferenceExamples reads the header of every iWmo/iJw 3.2 example
// in ../shared/reference (when present) through an envelope, and of generated ones.
func TestReadBerichtHeaderOfTheReferenceExamples(t *testing.T) {
	cat := NewCatalogue()
	type sample struct {
		name    string
		payload []byte
	}
	samples := []sample{{"WMO301", BuildBericht("WMO301", "414", "0384", "42420001")}, {"JW302", BuildBericht("JW302", "437", "0384", "42420001")}}
	files, _ := filepath.Glob("../../shared/reference/istandaarden/*/examples/*.xml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, sample{strings.TrimSuffix(filepath.Base(f), ".xml"), b})
	}
	t.Logf("%d samples, %d from the reference", len(samples), len(files))
	for _, s := range samples {
		f, ok := cat.FunctieAnywhere(s.name)
		if !ok {
			t.Fatalf("%s: no functie", s.name)
		}
		var ep EnvelopeParser
		if _, rej := ep.Parse(bytes.NewReader(BuildEnvelope(Envelope{ZenderOrg: "0384", OntvangerOrg: "42420001"}, s.payload))); rej != nil {
			t.Fatalf("%s: %v", s.name, rej)
		}
		ph := readPayloadHeader(&ep)
		if ph == nil || ph.problem != "" {
			t.Fatalf("%s: header not read: %+v", s.name, ph)
		}
		if ph.h.BerichtCode != strconv.Itoa(f.BerichtCode) ||
			len(ph.h.Afzender) < 4 || len(ph.h.Ontvanger) < 4 {
			t.Errorf("%s: %+v, want BerichtCode %d", s.name, ph.h, f.BerichtCode)
		}
	}
}

func TestReadBerichtHeaderLeavesOtherPayloadsAlone(t *testing.T) {
	for _, p := range []string{"", "<bericht/>", "geen xml", "<Bericht xmlns=\"http://www.istandaarden.nl/iwmo/2_4/wmo301/schema\"><Header/></Bericht>",
		"<Bericht xmlns=\"urn:iets\"><Header><BerichtCode>414</BerichtCode></Header></Bericht>", "<?xml version=\"1.0\" encoding=\"UTF-16\"?><a/>"} {
		if _, ok, problem := readBerichtHeader([]byte(p), false); ok {
			t.Errorf("%q: checked (%s), want left alone", p, problem)
		}
	}
	for p, want := range map[string]string{
		`<w:Bericht xmlns:w="http://www.istandaarden.nl/iwmo/3_2/wmo301/schema"><w:Client/></w:Bericht>`:                                                                                              "niet Header",
		`<w:Bericht xmlns:w="http://www.istandaarden.nl/iwmo/3_2/wmo301/schema"><w:Header><w:BerichtCode>414</w:BerichtCode><w:Afzender>1</w:Afzender></w:Header></w:Bericht>`:                        "Ontvanger ontbreekt",
		`<w:Bericht xmlns:w="http://www.istandaarden.nl/iwmo/3_2/wmo301/schema"><w:Header><w:Afzender>1</w:Afzender><w:Afzender>2</w:Afzender></w:Header></w:Bericht>`:                                "twee keer",
		`<w:Bericht xmlns:w="http://www.istandaarden.nl/iwmo/3_2/wmo301/schema"><w:Header><w:BerichtCode>414`:                                                                                         "houdt op",
		`<Bericht xmlns="http://www.istandaarden.nl/ijw/3_3/jw301/schema"><Header><BerichtCode>436</BerichtCode><Afzender>0384</Afzender><Ontvanger>42420001</Ontvanger></Header><Client/></Bericht>`: "",
	} {
		_, ok, problem := readBerichtHeader([]byte(p), false)
		if !ok || !strings.Contains(problem, want) || (want == "") != (problem == "") {
			t.Errorf("%.60q: ok %v problem %q, want %q", p, ok, problem, want)
		}
	}
}

// BenchmarkPayloadCheck is the cost the check adds to one envelope: reading the header of a
// WMO301 from what the parser kept (the base64 decoding happens during the parse).
func BenchmarkPayloadCheck(b *testing.B) {
	var ep EnvelopeParser
	env := BuildEnvelope(Envelope{ZenderOrg: "9999", OntvangerOrg: "12345678"}, BuildBericht("WMO301", "414", "9999", "12345678"))
	if _, rej := ep.Parse(bytes.NewReader(env)); rej != nil {
		b.Fatal(rej)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ph := readPayloadHeader(&ep); ph == nil || ph.problem != "" {
			b.Fatal("no header")
		}
	}
}

// BenchmarkParseWithPayloadHead is a whole parse of the same envelope, for comparison.
func BenchmarkParseWithPayloadHead(b *testing.B) {
	var ep EnvelopeParser
	env := BuildEnvelope(Envelope{ZenderOrg: "9999", OntvangerOrg: "12345678"}, BuildBericht("WMO301", "414", "9999", "12345678"))
	b.ReportAllocs()
	for b.Loop() {
		if _, rej := ep.Parse(bytes.NewReader(env)); rej != nil {
			b.Fatal(rej)
		}
	}
}

// FuzzReadBerichtHeader: any decoded payload start, whole or cut off, gives a verdict (left
// alone, a header, or a reason) without panicking; a header it reads has the three fields.
func FuzzReadBerichtHeader(f *testing.F) {
	f.Add(BuildBericht("WMO301", "414", "9999", "12345678"), false)
	f.Add(BuildBericht("JW302", "437", "0384", "42420001"), true)
	f.Add([]byte(`<w:Bericht xmlns:w="http://www.istandaarden.nl/iwmo/3_2/wmo301/schema"><w:Header><w:Afzender>1</w:Afzender>`), true)
	f.Add([]byte("<bericht/>"), false)
	f.Fuzz(func(t *testing.T, head []byte, truncated bool) {
		h, ok, problem := readBerichtHeader(head, truncated)
		if !ok && problem != "" {
			t.Fatalf("left alone with a problem: %q", problem)
		}
		if ok && problem == "" && (h.BerichtCode == "" && h.Afzender == "" && h.Ontvanger == "") {
			t.Fatalf("a header without fields: %+v", h)
		}
	})
}
