package stuf

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestEnvelopeParserReuse parses every mutant of the built envelope (and of the reference
// examples when ../shared exists) with one reused Parser, in an order that mixes
// accepted, refused and malformed documents: every verdict and every field equals a fresh
// Parse's, so no state leaks from one envelope into the next.
func TestEnvelopeParserReuse(t *testing.T) {
	docs := map[string]string{"built": string(Build(heen(), []byte("<Bericht/>")))}
	if _, err := os.Stat(filepath.Join("..", "..", "..", "shared", "reference", "ggk0210")); err == nil {
		dir := sharedGGK(t)
		for _, name := range []string{"envelopHeenbericht-ggk_Di01_v21-xml.xml", "envelopHeenbericht-ggk_Di01_v21-tekst.xml", "envelopRetourbericht-ggk_Du01-v21.xml"} {
			b, err := os.ReadFile(filepath.Join(dir, "examples", name))
			if err != nil {
				t.Fatal(err)
			}
			docs[name] = string(b)
		}
	}
	var ep Parser
	n, refused := 0, 0
	for name, doc := range docs {
		for _, m := range mutants(name, doc) {
			// Each mutant right after the unchanged document and after itself: the second parse
			// of the pair starts from whatever the first left behind.
			for _, d := range []string{doc, m.doc, m.doc} {
				want, wantRej := Parse(bytes.NewReader([]byte(d)))
				got, gotRej := ep.Parse(bytes.NewReader([]byte(d)))
				if got != want || (gotRej == nil) != (wantRej == nil) || gotRej != nil && *gotRej != *wantRej {
					t.Fatalf("%s: reused parser differs:\ngot  %+v %v\nwant %+v %v", m.what, got, gotRej, want, wantRej)
				}
				if wantRej != nil {
					refused++
				}
				n++
			}
		}
	}
	if n < 300 || refused == 0 {
		t.Fatalf("only %d documents, %d refused", n, refused)
	}
}

// BenchmarkEnvelopeParserReuse is BenchmarkParseEnvelope on one reused Parser, as the
// engine's checks use them.
func BenchmarkEnvelopeParserReuse(b *testing.B) {
	doc := benchEnvelope()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	r := bytes.NewReader(doc)
	var ep Parser
	for b.Loop() {
		r.Reset(doc)
		if _, rej := ep.Parse(r); rej != nil {
			b.Fatal(rej)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "envelopes/s")
}

// TestEnvelopeParserReuseManyValues: a reused Parser keeps a bounded table of repeated values;
// past its bound (distinct organisaties and applicaties in every envelope) every field is
// still the envelope's own.
func TestEnvelopeParserReuseManyValues(t *testing.T) {
	var ep Parser
	for i := range 3 * maxInterned {
		e := heen()
		e.ZenderOrg, e.ZenderApp = fmt.Sprintf("%08d", 10000000+i), fmt.Sprintf("App%d", i%(maxInterned+7))
		e.OntvangerOrg = fmt.Sprintf("%08d", 20000000+i%5)
		doc := Build(e, []byte("<Bericht/>"))
		want, wantRej := Parse(bytes.NewReader(doc))
		got, gotRej := ep.Parse(bytes.NewReader(doc))
		if wantRej != nil || gotRej != nil || got != want || got.ZenderOrg != e.ZenderOrg || got.ZenderApp != e.ZenderApp || got.OntvangerOrg != e.OntvangerOrg {
			t.Fatalf("%d: got %+v %v, want %+v %v", i, got, gotRej, want, wantRej)
		}
		if len(ep.intern) > maxInterned {
			t.Fatalf("%d: %d interned values, bound %d", i, len(ep.intern), maxInterned)
		}
	}
}
