package exchange

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"knooppunt/exchange/stuf"
)

// TestReadBerichtHeaderOfTheReferenceExamples reads the header of every iWmo/iJw 3.2 example
// in ../shared/reference (when present) through an envelope, and of generated ones.
func TestReadBerichtHeaderOfTheReferenceExamples(t *testing.T) {
	cat := NewCatalogue()
	type sample struct {
		name    string
		payload []byte
	}
	samples := []sample{{"WMO301", stuf.BuildBericht("WMO301", "414", "0384", "42420001")}, {"JW302", stuf.BuildBericht("JW302", "437", "0384", "42420001")}}
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
		var ep stuf.Parser
		if _, rej := ep.Parse(bytes.NewReader(stuf.Build(stuf.Envelope{ZenderOrg: "0384", OntvangerOrg: "42420001"}, s.payload))); rej != nil {
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
