package stuf

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sameAsXML checks scanBerichtHeader against encoding/xml (readBerichtHeaderFrom) on the whole
// head and on every prefix it is given: where the fast path decides, encoding/xml reading the
// whole head decides the same, since BerichtHeader lets it look at a prefix only.
func sameAsXML(t *testing.T, head []byte, truncated bool, cut int) (done bool) {
	t.Helper()
	wantH, wantOK, wantProblem := readBerichtHeaderFrom(bytes.NewReader(head), truncated)
	for _, b := range [][]byte{head, head[:min(max(cut, 0), len(head))]} {
		h, ok, d := scanBerichtHeader(b)
		if !d {
			continue
		}
		if len(b) == len(head) {
			done = true
		}
		if h != wantH || ok != wantOK || wantProblem != "" {
			t.Fatalf("fast path on %d of %d bytes: %+v %v; encoding/xml: %+v %v %q\n%.300q", len(b), len(head), h, ok, wantH, wantOK, wantProblem, head)
		}
	}
	return done
}

func berichtVariants() map[string][]byte {
	base := string(BuildBericht("WMO301", "414", "0363", "12345678"))
	out := map[string][]byte{
		"wmo301":          []byte(base),
		"jw302":           BuildBericht("JW302", "437", "0384", "42420001"),
		"crlf":            []byte(strings.ReplaceAll(base, "\n", "\r\n")),
		"bom":             []byte("\xEF\xBB\xBF" + base),
		"no decl":         []byte(base[strings.Index(base, "\n")+1:]),
		"default ns":      []byte(strings.NewReplacer("wmo301:", "", "xmlns:wmo301=", "xmlns=").Replace(base)),
		"spaces in field": []byte(strings.Replace(base, ">0363<", ">  0363\n\t<", 1)),
		"crlf in field":   []byte(strings.Replace(base, ">0363<", ">03\r\n63<", 1)),
		"empty field":     []byte(strings.Replace(base, "<wmo301:Afzender>0363</wmo301:Afzender>", "<wmo301:Afzender/>", 1)),
		"nested in field": []byte(strings.Replace(base, ">0363<", "><wmo301:x>1</wmo301:x>0363<", 1)),
		"other ns field":  []byte(strings.Replace(base, "<wmo301:Afzender>0363</wmo301:Afzender>", "<iwmo:Afzender>0363</iwmo:Afzender><wmo301:Afzender>0363</wmo301:Afzender>", 1)),
		"twice":           []byte(strings.Replace(base, "<wmo301:Afzender>0363</wmo301:Afzender>", "<wmo301:Afzender>0363</wmo301:Afzender><wmo301:Afzender>1</wmo301:Afzender>", 1)),
		"missing":         []byte(strings.Replace(base, "<wmo301:Ontvanger>12345678</wmo301:Ontvanger>", "", 1)),
		"not header":      []byte(strings.Replace(base, "<wmo301:Header>", "<wmo301:Client/><wmo301:Header>", 1)),
		"comment":         []byte(strings.Replace(base, "<wmo301:Afzender>", "<!-- x --><wmo301:Afzender>", 1)),
		"entity":          []byte(strings.Replace(base, ">0363<", ">&#48;363<", 1)),
		"redeclared":      []byte(strings.Replace(base, "<wmo301:Header>", `<wmo301:Header xmlns:wmo301="urn:x">`, 1)),
		"mismatched end":  []byte(strings.Replace(base, "</wmo301:Afzender>", "</wmo301:Ontvanger>", 1)),
		"old version":     []byte(strings.ReplaceAll(base, "3_2", "2_4")),
		"other root":      []byte(strings.ReplaceAll(base, "Bericht", "Berichten")),
		"undeclared":      []byte(strings.ReplaceAll(base, "wmo301:", "w:")),
		"utf16 decl":      []byte(strings.Replace(base, "UTF-8", "UTF-16", 1)),
		"attr on header":  []byte(strings.Replace(base, "<wmo301:Header>", `<wmo301:Header a="1>2">`, 1)),
		"xsi":             []byte(strings.Replace(base, "xmlns:iwmo=", `xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="a b" xmlns:iwmo=`, 1)),
	}
	return out
}

// TestScanBerichtHeaderAgreesWithXML: on the usual payloads and on variants of every kind the
// fast path either decides as encoding/xml does or leaves it to encoding/xml, cut anywhere;
// and it does decide the usual ones, or it would be no faster.
func TestScanBerichtHeaderAgreesWithXML(t *testing.T) {
	for name, head := range berichtVariants() {
		for cut := 0; cut <= len(head); cut += 7 {
			sameAsXML(t, head, cut%2 == 0, cut)
		}
		done := sameAsXML(t, head, false, len(head))
		switch name {
		case "wmo301", "jw302", "crlf", "bom", "no decl", "default ns", "spaces in field", "empty field", "nested in field", "other ns field", "old version", "other root", "xsi", "attr on header":
			if !done {
				t.Errorf("%s: the fast path left a plain payload to encoding/xml", name)
			}
		}
	}
}

// FuzzScanBerichtHeader: wherever the fast path decides, on the whole head or on a prefix of
// it, encoding/xml reading the whole head decides the same.
func FuzzScanBerichtHeader(f *testing.F) {
	for _, head := range berichtVariants() {
		f.Add(head, false, 2046)
	}
	f.Add([]byte(`<a:Bericht xmlns:a="http://www.istandaarden.nl/ijw/3_3/jw301/schema"><a:Header><a:BerichtCode>1</a:BerichtCode><a:Afzender>2</a:Afzender><a:Ontvanger>3</a:Ontvanger></a:Header>`), true, 50)
	f.Fuzz(func(t *testing.T, head []byte, truncated bool, cut int) {
		sameAsXML(t, head, truncated, cut)
	})
}

// TestScanBerichtHeaderOfTheReferenceExamples: the iWmo/iJw 3.2 examples in ../shared
// (when present) are decided by the fast path, exactly as encoding/xml decides them.
func TestScanBerichtHeaderOfTheReferenceExamples(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/reference/istandaarden/*/examples/*.xml")
	if len(files) == 0 {
		t.Skip("no reference examples in ../shared")
	}
	fast := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if sameAsXML(t, b, false, 2046) {
			fast++
		}
	}
	t.Logf("%d of %d examples decided by the fast path", fast, len(files))
	if fast == 0 {
		t.Fatal("the fast path decided none of the reference examples")
	}
}

// TestBerichtHeaderThroughTheParser: Parser.BerichtHeader (the kept characters, decoded in two
// steps for the fast path, else lazily for encoding/xml) gives what encoding/xml gives on the
// payload's first 16 KB, for every variant, with leading whitespace, padding after the Header
// and random bytes.
func TestBerichtHeaderThroughTheParser(t *testing.T) {
	payloads := [][]byte{make([]byte, 5000), []byte("   \n\t  "), []byte("x<Bericht/>")}
	rand.Read(payloads[0])
	// Text before the root with a control character in it, and random binary of every kind
	// of length: left alone without encoding/xml (controlBeforeMarkup), as encoding/xml would.
	wmo := BuildBericht("WMO301", "414", "0363", "12345678")
	for _, pre := range []string{"x\x01", "\x00", "\xef\xbb\xbf \x1f", "  \t\x02", "ab\x7f\x03", "\xff\xfe\x01", "&amp;\x01", "]]>\x01"} {
		payloads = append(payloads, append([]byte(pre), wmo...), append([]byte(pre+"abc"), bytes.Repeat([]byte("y"), 17<<10)...))
	}
	for _, n := range []int{1, 2, 47, 48, 49, 100, 4000, payloadHeadLen, payloadHeadLen + 1, 20000} {
		for range 20 {
			b := make([]byte, n)
			rand.Read(b)
			payloads = append(payloads, b, append([]byte("<"), b...), append([]byte("x"), b...))
		}
	}
	for _, v := range berichtVariants() {
		payloads = append(payloads, v, append([]byte(strings.Repeat(" ", 47)), v...), append([]byte(strings.Repeat("\n", 60)), v...),
			append(bytes.Clone(v), bytes.Repeat([]byte("<x>y</x>"), 3000)...))
	}
	for i, payload := range payloads {
		var ep Parser
		if _, rej := ep.Parse(bytes.NewReader(Build(Envelope{ZenderOrg: "0363", OntvangerOrg: "12345678"}, payload))); rej != nil {
			t.Fatalf("%d: %v", i, rej)
		}
		h, ok, problem := ep.BerichtHeader()
		wh, wok, wproblem := readBerichtHeaderFrom(bytes.NewReader(payload[:min(len(payload), payloadHeadLen)]), len(payload) > payloadHeadLen)
		if h != wh || ok != wok || problem != wproblem {
			t.Fatalf("%d (%.40q): %+v %v %q, encoding/xml: %+v %v %q", i, payload, h, ok, problem, wh, wok, wproblem)
		}
	}
}

// TestBinaryPayloadLeftAloneWithoutEncodingXML: a binary payload (a control character before
// any '<' in its first bytes) is left alone without building an encoding/xml Decoder, which
// allocates: the check then costs no allocation at all.
func TestBinaryPayloadLeftAloneWithoutEncodingXML(t *testing.T) {
	payload := make([]byte, 4000)
	rand.Read(payload)
	payload[5] = 0x01
	for i := range 5 {
		if payload[i] == '<' || (payload[i] < 0x20 && payload[i] != '\t' && payload[i] != '\n' && payload[i] != '\r') {
			payload[i] = 'x'
		}
	}
	var ep Parser
	if _, rej := ep.Parse(bytes.NewReader(Build(Envelope{ZenderOrg: "0363", OntvangerOrg: "12345678"}, payload))); rej != nil {
		t.Fatal(rej)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, ok, problem := ep.BerichtHeader(); ok || problem != "" {
			t.Fatalf("checked (%q), want left alone", problem)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per check of a binary payload, want 0 (encoding/xml was asked)", allocs)
	}
}
