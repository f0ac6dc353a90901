package stuf

import (
	"bytes"
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
