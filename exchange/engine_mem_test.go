package exchange

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// vmKB reads a VmRSS or VmHWM line of /proc/self/status, in KB.
func vmKB(tb testing.TB, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	tb.Skip("no " + field)
	return 0
}

// peakGrowth runs fn and reports how far the peak RSS rose above the RSS before it.
func peakGrowth(b *testing.B, fn func()) {
	// Hand freed memory back first, so that processing cannot reuse it unseen.
	debug.FreeOSMemory()
	// Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skip("cannot reset the peak RSS: ", err)
	}
	before := vmKB(b, "VmRSS")
	anon, file := vmKB(b, "RssAnon"), vmKB(b, "RssFile")
	fn()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.Logf("before %d KB, anon %d->%d KB, file %d->%d KB, heap sys %d MB", before, anon, vmKB(b, "RssAnon"), file, vmKB(b, "RssFile"), ms.HeapSys>>20)
	b.ReportMetric(float64(vmKB(b, "VmHWM")-before)/1024, "MB-peak-RSS-growth")
}

// storeUpload writes an upload straight into the file store, streaming, so building it
// costs no memory.
func storeUpload(b *testing.B, e *testEngine, name string, write func(w *bufio.Writer)) (string, int64) {
	blob := "test/" + name
	w, err := e.h.files.Create(blob)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	write(bw)
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	size := w.Size()
	if err := w.Commit(); err != nil {
		b.Fatal(err)
	}
	return blob, size
}

// BenchmarkPeakRSS1GBZip processes a 1 GB ZIP of 40,000 envelopes of about 26 KB.
func BenchmarkPeakRSS1GBZip(b *testing.B) {
	e := newEngine(b, "")
	gem := e.principal("0363")
	payload := sizedEnvelope("WMO301", "0363", "12345678", "REF", 26<<10)
	for b.Loop() {
		b.StopTimer()
		blob, size := storeUpload(b, e, fmt.Sprintf("big%d.zip", blobSeq.Add(1)), func(w *bufio.Writer) {
			zw := zip.NewWriter(w)
			for i := range benchEntries {
				f, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("b%05d.xml", i), Method: zip.Store})
				if err != nil {
					b.Fatal(err)
				}
				f.Write(bytes.Replace(payload, []byte(">REF<"), []byte(">"+newRef()+"<"), 1))
			}
			zw.Close()
		})
		b.StartTimer()
		peakGrowth(b, func() {
			u, err := e.h.accept(gem, IWmo, "groot.zip", blob, size, "", nil)
			if err != nil {
				b.Fatal(err)
			}
			if u = e.wait(gem, u.ID); u.Status != Afgeleverd {
				b.Fatalf("%s %+v %+v", u.Status, u.Counts, u.Fouten)
			}
		})
		b.ReportMetric(float64(size)/1e6, "MB-upload")
	}
}

// BenchmarkPeakRSS25MBEnvelope processes one envelope of just under 25 MiB.
func BenchmarkPeakRSS25MBEnvelope(b *testing.B) {
	e := newEngine(b, "")
	gem := e.principal("0363")
	for b.Loop() {
		b.StopTimer()
		env := sizedEnvelope("WMO301", "0363", "12345678", newRef(), 25<<20-2048)
		blob, size := storeUpload(b, e, fmt.Sprintf("big%d.xml", blobSeq.Add(1)), func(w *bufio.Writer) { w.Write(env) })
		env = nil
		b.StartTimer()
		peakGrowth(b, func() {
			u, err := e.h.accept(gem, IWmo, "groot.xml", blob, size, "", nil)
			if err != nil {
				b.Fatal(err)
			}
			if u = e.wait(gem, u.ID); u.Status != Afgeleverd {
				b.Fatalf("%s %+v", u.Status, u.Fouten)
			}
		})
	}
}

var benchEntries = 40_000
