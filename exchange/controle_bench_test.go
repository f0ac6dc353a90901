package exchange

import (
	"bufio"
	"fmt"
	"testing"

	"knooppunt/exchange/stuf"
	"knooppunt/exchange/zipintake"
)

// BenchmarkCheckEnvelope is the parse and checks alone of BenchmarkThroughput's upload: the
// same 3,000 WMO301 envelopes of about 4 KB to 50 aanbieders in a deflated ZIP in the store,
// each entry inflated, parsed against the schema, its payload header read and the business
// rules applied (checker.check), one after another on one goroutine. No commit, no delivery:
// what issue 17 calls "parse + checks". "random" has BenchmarkThroughput's payloads (random
// bytes, which the payload check leaves alone at once); "wmo301" has a real WMO301 message
// as payload (stuf.BuildBericht, about 2 KB envelopes), whose Header the check reads.
func BenchmarkCheckEnvelope(b *testing.B) {
	b.Run("random", func(b *testing.B) {
		benchCheck(b, func(zender, ontvanger string) []byte {
			return sizedEnvelope("WMO301", zender, ontvanger, newRef(), 3600)
		})
	})
	b.Run("wmo301", func(b *testing.B) {
		benchCheck(b, func(zender, ontvanger string) []byte {
			return stuf.Build(stuf.Envelope{ZenderOrg: zender, OntvangerOrg: ontvanger, Referentie: newRef(), Functie: "WMO301"},
				stuf.BuildBericht("WMO301", "414", zender, ontvanger))
		})
	})
}

func benchCheck(b *testing.B, envelope func(zender, ontvanger string) []byte) {
	e := newEngine(b, "")
	var aanbieders []string
	for i := range 50 {
		code := fmt.Sprintf("%08d", 20000000+i)
		if _, err := e.h.CreateOrg(System, code, "Zorg "+code); err != nil {
			b.Fatal(err)
		}
		aanbieders = append(aanbieders, code)
	}
	const n = 3000
	files := make([]zipFile, n)
	for i := range files {
		files[i] = zipFile{Name: fmt.Sprintf("b%04d.xml", i), Data: envelope("0363", aanbieders[i%50])}
	}
	data := buildZip(b, files...)
	name, _ := storeUpload(b, e, "checkbench.zip", func(w *bufio.Writer) { w.Write(data) })
	blob, err := e.h.files.Open(name)
	if err != nil {
		b.Fatal(err)
	}
	defer blob.Close()
	u := &Upload{ID: 1, Org: "0363", Product: IWmo, Name: "bench.zip", ReceivedAt: e.h.clock.Now()}
	msgs := 0
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		c := e.h.newChecker(u)
		err := zipintake.ReadUpload(blob, blob.Size(), u.Name, e.h.limits(), func(en zipintake.Entry) error {
			v := c.check(en)
			if v.err != nil || v.fout != nil {
				return fmt.Errorf("%s: %v %v", en.Name, v.err, v.fout)
			}
			msgs++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	// CPU time is what a shared machine cannot inflate; the wall time per message is the
	// same work as seen by a clock.
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(msgs), "µs-CPU/msg")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(msgs), "µs/msg")
}
