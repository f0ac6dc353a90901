package zipintake

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode"

	"knooppunt/exchange/codes"
	"knooppunt/exchange/zipintake/ziptest"
)

// The test ZIPs come from ziptest, which zipintake's own tests share.
type zipFile = ziptest.File

var (
	buildZip      = ziptest.Build
	deflate       = ziptest.Deflate
	rawFile       = ziptest.RawFile
	envelopeBytes = ziptest.EnvelopeBytes
)

// got is what the walk saw of one entry.
type got struct {
	Entry
	data    []byte
	readErr error
}

func walk(t testing.TB, r io.ReaderAt, size int64, name string, lim Limits) ([]got, error) {
	t.Helper()
	var out []got
	err := ReadUpload(r, size, name, lim, func(e Entry) error {
		g := got{Entry: e}
		if e.Rejection == nil {
			g.data, g.readErr = readEntry(e)
		}
		out = append(out, g)
		return nil
	})
	return out, err
}

func readEntry(e Entry) ([]byte, error) {
	rc, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func codeOf(err error) codes.Code {
	var rej *codes.Rejection
	if errors.As(err, &rej) {
		return rej.Code
	}
	return ""
}

func wantRejection(t *testing.T, err error, code codes.Code) *codes.Rejection {
	t.Helper()
	var rej *codes.Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("error = %v, want a Rejection %s", err, code)
	}
	if rej.Code != code {
		t.Fatalf("rejection = %v, want %s", rej, code)
	}
	if rej.Detail == "" {
		t.Fatalf("rejection %s has no detail", code)
	}
	return rej
}

// entryCode is the code an entry ended with: refused up front or while reading.
func (g got) code() codes.Code {
	if g.Rejection != nil {
		return g.Rejection.Code
	}
	return codeOf(g.readErr)
}

// countingReaderAt counts the bytes read from an upload, to show reading stops early.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func TestReadUploadPlainXML(t *testing.T) {
	data := envelopeBytes(1)
	var entries []Entry
	err := ReadUpload(bytes.NewReader(data), int64(len(data)), "map/Bericht.XML", Limits{}, func(e Entry) error {
		entries = append(entries, e)
		return nil
	})
	if err != nil || len(entries) != 1 {
		t.Fatalf("ReadUpload = %v with %d entries, want one entry", err, len(entries))
	}
	e := entries[0]
	if e.Index != 0 || e.Name != "Bericht.XML" || e.Raw != nil || e.Rejection != nil || e.Size != int64(len(data)) {
		t.Fatalf("entry = %+v", e)
	}
	for range 2 {
		b, err := readEntry(e)
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("read = %q, %v", b, err)
		}
	}
}

func TestReadUploadPlainXMLTooLarge(t *testing.T) {
	data := bytes.Repeat([]byte("<a/>"), 300)
	gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "groot.xml", Limits{MaxEntry: 1000})
	if err != nil || len(gots) != 1 {
		t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
	}
	wantRejection(t, gots[0].Rejection, codes.IB003)
	if _, err := gots[0].Open(); codeOf(err) != codes.IB003 {
		t.Fatalf("Open = %v, want IB003", err)
	}
}

func TestReadUploadNeitherXMLNorZip(t *testing.T) {
	err := ReadUpload(bytes.NewReader([]byte("x")), 1, "IMG_0463.PNG", Limits{}, func(Entry) error {
		t.Fatal("fn called for a .png upload")
		return nil
	})
	rej := wantRejection(t, err, codes.KP002)
	if !strings.Contains(rej.Detail, "IMG_0463.PNG") {
		t.Fatalf("detail %q does not name the file", rej.Detail)
	}
}

func TestReadUploadMixed(t *testing.T) {
	inner := buildZip(t, zipFile{Name: "a.xml", Data: envelopeBytes(9)})
	var gz bytes.Buffer
	gzw := gzip.NewWriter(&gz)
	gzw.Write(envelopeBytes(8))
	gzw.Close()
	good1, good2 := envelopeBytes(1), envelopeBytes(2)
	wrongCRC := envelopeBytes(3)
	data := buildZip(t,
		zipFile{Name: "goed1.xml", Data: good1},
		zipFile{Name: "IMG_0463.PNG", Data: []byte("\x89PNG\r\n\x1a\n")},
		zipFile{Name: "sub/"},
		zipFile{Name: "sub/dir/goed2.XML", Data: good2, Method: zip.Store},
		zipFile{Name: "binnen.zip", Data: inner},
		zipFile{Name: "vermomd.xml", Data: inner},
		zipFile{Name: "ingepakt.xml", Data: gz.Bytes()},
		zipFile{Name: "geheim.xml", Data: []byte("versleuteld"), Flags: 0x1},
		rawFile("lzma.xml", 14, []byte("niet te lezen"), 0, 13),
		rawFile("crc.xml", zip.Store, wrongCRC, crc32.ChecksumIEEE(wrongCRC)+1, uint64(len(wrongCRC))),
		zipFile{Name: "goed1.xml", Data: good1}, // the same base name again
	)
	gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "gemengd.zip", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		code codes.Code
		data []byte
	}{
		{"goed1.xml", "", good1},
		{"IMG_0463.PNG", codes.KP002, nil},
		{"goed2.XML", "", good2},
		{"binnen.zip", codes.KP003, nil},
		{"vermomd.xml", codes.KP003, nil},
		{"ingepakt.xml", codes.KP003, nil},
		{"geheim.xml", codes.IB903, nil},
		{"lzma.xml", codes.IB901, nil},
		{"crc.xml", codes.IB901, nil},
		{"goed1.xml", "", good1},
	}
	if len(gots) != len(want) {
		t.Fatalf("%d entries, want %d (the folder is skipped)", len(gots), len(want))
	}
	for i, w := range want {
		g := gots[i]
		if g.Index != i || g.Name != w.name || g.code() != w.code {
			t.Errorf("entry %d = %d %q %v/%v, want %q %s", i, g.Index, g.Name, g.Rejection, g.readErr, w.name, w.code)
		}
		if g.Raw == nil {
			t.Errorf("entry %d has no Raw", i)
		}
		if w.code == "" && !bytes.Equal(g.data, w.data) {
			t.Errorf("entry %d read %q, want %q", i, g.data, w.data)
		}
		if g.Rejection != nil {
			if _, err := g.Open(); codeOf(err) != w.code {
				t.Errorf("Open of refused entry %d = %v", i, err)
			}
		}
	}
	if !strings.Contains(gots[1].Rejection.Detail, "IMG_0463.PNG") {
		t.Errorf("KP002 detail %q does not name the file", gots[1].Rejection.Detail)
	}
}

// The three bad ZIPs from the seed manual, rebuilt: each must leave nothing correct.
func TestReadUploadSeedZips(t *testing.T) {
	t.Run("zero_files_1000_x_1.zip", func(t *testing.T) {
		var files []zipFile
		for i := range 1000 {
			files = append(files, zipFile{Name: fmt.Sprintf("%d", i), Data: []byte{0}})
		}
		data := buildZip(t, files...)
		gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "zero_files_1000_x_1.zip", Limits{})
		if err != nil || len(gots) != 1000 {
			t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
		}
		for _, g := range gots {
			if g.code() != codes.KP002 {
				t.Fatalf("entry %q = %s, want KP002", g.Name, g.code())
			}
		}
	})
	zeros := make([]byte, 10_000_000)
	t.Run("zero_files_1_x_10000000.zip", func(t *testing.T) {
		data := buildZip(t, zipFile{Name: "0", Data: zeros})
		gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "zero_files_1_x_10000000.zip", Limits{})
		if err != nil || len(gots) != 1 || gots[0].code() != codes.KP002 {
			t.Fatalf("ReadUpload = %v, %+v", err, gots)
		}
	})
	t.Run("same with an .xml name", func(t *testing.T) {
		// Under 25 MB, but 10 MB of zeros deflate about 1,000:1: a bomb by ratio, told from
		// the header; with a header that hides it, told while reading.
		data := buildZip(t, zipFile{Name: "0.xml", Data: zeros})
		gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "nul.zip", Limits{})
		if err != nil || len(gots) != 1 {
			t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
		}
		wantRejection(t, gots[0].Rejection, codes.KP004)

		comp := deflate(t, zeros)
		data = buildZip(t, rawFile("0.xml", zip.Deflate, comp, crc32.ChecksumIEEE(zeros), 1000))
		gots, err = walk(t, bytes.NewReader(data), int64(len(data)), "nul.zip", Limits{})
		if err != nil || len(gots) != 1 {
			t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
		}
		wantRejection(t, gots[0].readErr, codes.KP004)
		if len(gots[0].data) > 2<<20 {
			t.Fatalf("read %d bytes before stopping", len(gots[0].data))
		}
	})
	t.Run("evil.zip", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		outside := filepath.Join(os.TempDir(), "evil.txt")
		_, statErr := os.Stat(outside)
		existed := statErr == nil
		names := []string{
			"../../../../../../../../tmp/evil.txt",
			"..\\..\\..\\..\\Windows\\evil.xml",
			"/etc/passwd.xml",
			"C:\\Users\\evil2.xml",
			"D:evil3.xml",
			"good/../../evil4.xml",
		}
		var files []zipFile
		for _, n := range names {
			files = append(files, zipFile{Name: n, Data: envelopeBytes(1)})
		}
		data := buildZip(t, files...)
		gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "evil.zip", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		wantNames := []string{"evil.txt", "evil.xml", "passwd.xml", "evil2.xml", "evil3.xml", "evil4.xml"}
		for i, g := range gots {
			if g.Name != wantNames[i] {
				t.Errorf("entry %d name %q, want %q", i, g.Name, wantNames[i])
			}
		}
		if gots[0].code() != codes.KP002 {
			t.Errorf("evil.txt = %s, want KP002", gots[0].code())
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("files appeared in the working folder: %v", left)
		}
		if _, err := os.Stat(outside); !existed && err == nil {
			t.Errorf("%s was written", outside)
		}
	})
}

func TestBaseName(t *testing.T) {
	for raw, want := range map[string]string{
		"bericht.xml":                        "bericht.xml",
		"../../../../tmp/evil.txt":           "evil.txt",
		"/etc/passwd":                        "passwd",
		`C:\Windows\System32\x.xml`:          "x.xml",
		"c:x.xml":                            "x.xml",
		"a/b/":                               "",
		"..":                                 "..",
		"rood\x1b[31m.xml":                   "rood?[31m.xml",
		"IMG\u202egnp.xml":                   "IMG?gnp.xml",
		"nul\x00.png.xml":                    "nul?.png.xml",
		"bad\xff\xfe.xml":                    "bad\uFFFD.xml",
		strings.Repeat("é", 200) + ".xml":    strings.Repeat("é", 127) + "…",
		"regel\r\nInjected: ja\u0085end.xml": "regel??Injected: ja?end.xml",
	} {
		if got := baseName(raw); got != want {
			t.Errorf("baseName(%q) = %q, want %q", raw, got, want)
		}
	}
}

// A 42.zip-style upload: archives in archives. None is ever opened, let alone unpacked.
func TestReadUploadNestedArchives(t *testing.T) {
	layer := buildZip(t, zipFile{Name: "0.dll", Data: make([]byte, 1<<16)})
	for range 3 {
		var files []zipFile
		for i := range 16 {
			files = append(files, zipFile{Name: fmt.Sprintf("lib %x.zip", i), Data: layer})
		}
		layer = buildZip(t, files...)
	}
	cr := &countingReaderAt{r: bytes.NewReader(layer)}
	gots, err := walk(t, cr, int64(len(layer)), "42.zip", Limits{})
	if err != nil || len(gots) != 16 {
		t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
	}
	for _, g := range gots {
		if g.code() != codes.KP003 {
			t.Fatalf("%q = %s, want KP003", g.Name, g.code())
		}
	}
	// The directory and the local headers only; the nested data is never read.
	if n := cr.n.Load(); n > 140<<10 {
		t.Fatalf("read %d bytes of a %d byte upload", n, len(layer))
	}
}

func TestReadUploadOverlapBomb(t *testing.T) {
	t.Run("all entries share one kernel", func(t *testing.T) {
		data := ziptest.OverlapBomb(t, 500)
		if zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data))); err != nil || len(zr.File) != 500 {
			t.Fatalf("test bomb is not a ZIP archive/zip accepts: %v", err)
		}
		gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "bom.zip", Limits{})
		if err != nil || len(gots) != 500 {
			t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
		}
		for _, g := range gots {
			if g.code() != codes.KP004 {
				t.Fatalf("%q = %s, want KP004", g.Name, g.code())
			}
		}
	})
	t.Run("one entry's data holds the next", func(t *testing.T) {
		inner := buildZip(t, zipFile{Name: "b.xml", Data: envelopeBytes(2)})
		// The stored entry a.xml wraps b.xml's local header and data; the central directory of
		// the outer archive points at both.
		zr, err := zip.NewReader(bytes.NewReader(inner), int64(len(inner)))
		if err != nil {
			t.Fatal(err)
		}
		bOff, _ := zr.File[0].DataOffset()
		bEnd := bOff + int64(zr.File[0].CompressedSize64)
		wrapped := inner[:bEnd]
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.CreateRaw(&zip.FileHeader{Name: "a.xml", Method: zip.Store, CRC32: crc32.ChecksumIEEE(wrapped),
			CompressedSize64: uint64(len(wrapped)), UncompressedSize64: uint64(len(wrapped))})
		w.Write(wrapped)
		zw.Close()
		// Add a record for b.xml, pointing inside a.xml's data, to the outer directory.
		outer := b.Bytes()
		zo, err := zip.NewReader(bytes.NewReader(outer), int64(len(outer)))
		if err != nil {
			t.Fatal(err)
		}
		aData, _ := zo.File[0].DataOffset()
		data := appendRecord(t, outer, zr.File[0], uint32(aData))
		gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "bom.zip", Limits{})
		if err != nil || len(gots) != 2 {
			t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
		}
		for _, g := range gots {
			if g.code() != codes.KP004 {
				t.Fatalf("%q = %s, want KP004", g.Name, g.code())
			}
		}
	})
}

// appendRecord adds a central directory record for f, with its local header at off, to a ZIP
// that has a plain (non-zip64) directory end.
func appendRecord(t *testing.T, zipData []byte, f *zip.File, off uint32) []byte {
	le := binary.LittleEndian
	end := len(zipData) - 22
	if le.Uint32(zipData[end:]) != 0x06054b50 {
		t.Fatal("no directory end")
	}
	dirEnd := len(zipData) - 22
	var rec bytes.Buffer
	for _, v := range []any{uint32(0x02014b50), uint16(20), uint16(20), f.Flags, f.Method, f.ModifiedTime, f.ModifiedDate,
		f.CRC32, uint32(f.CompressedSize64), uint32(f.UncompressedSize64), uint16(len(f.Name)), uint16(0), uint16(0),
		uint16(0), uint16(0), uint32(0), off} {
		binary.Write(&rec, le, v)
	}
	rec.WriteString(f.Name)
	out := append([]byte{}, zipData[:dirEnd]...)
	out = append(out, rec.Bytes()...)
	eocd := append([]byte{}, zipData[dirEnd:]...)
	le.PutUint16(eocd[8:], le.Uint16(eocd[8:])+1)
	le.PutUint16(eocd[10:], le.Uint16(eocd[10:])+1)
	le.PutUint32(eocd[12:], le.Uint32(eocd[12:])+uint32(rec.Len()))
	return append(out, eocd...)
}

// zeroKernel returns a deflate stream of gib GiB of zeros, built from one repeated flushed
// block so the test never compresses gigabytes: after a sync flush each block only refers
// back into a window of zeros.
func zeroKernel(t testing.TB, w io.Writer, gib int) int64 {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestCompression)
	mib := make([]byte, 1<<20)
	fw.Write(mib)
	fw.Flush()
	first := bytes.Clone(buf.Bytes())
	buf.Reset()
	fw.Write(mib)
	fw.Flush()
	next := bytes.Clone(buf.Bytes())
	buf.Reset()
	fw.Close()
	last := bytes.Clone(buf.Bytes())
	n, _ := w.Write(first)
	total := int64(n)
	for range gib<<10 - 1 {
		n, err := w.Write(next)
		if err != nil {
			t.Fatal(err)
		}
		total += int64(n)
	}
	n, _ = w.Write(last)
	return total + int64(n)
}

func TestReadUploadTenGigabytesOfZeros(t *testing.T) {
	build := func(t *testing.T, claimed uint64) (*os.File, int64) {
		p := filepath.Join(t.TempDir(), "bom.zip")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		kernelLen := zeroKernel(t, io.Discard, 10)
		bw := bufio.NewWriter(f)
		zw := zip.NewWriter(bw)
		w, err := zw.CreateRaw(&zip.FileHeader{Name: "nul.xml", Method: zip.Deflate,
			CompressedSize64: uint64(kernelLen), UncompressedSize64: claimed})
		if err != nil {
			t.Fatal(err)
		}
		zeroKernel(t, w, 10)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		return f, fi.Size()
	}
	t.Run("header tells the truth", func(t *testing.T) {
		f, size := build(t, 10<<30)
		cr := &countingReaderAt{r: f}
		gots, err := walk(t, cr, size, "bom.zip", Limits{})
		if err != nil || len(gots) != 1 {
			t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
		}
		wantRejection(t, gots[0].Rejection, codes.IB904)
		if n := cr.n.Load(); n > 256<<10 {
			t.Fatalf("read %d bytes of the %d byte upload", n, size)
		}
	})
	t.Run("header claims 1000 bytes", func(t *testing.T) {
		f, size := build(t, 1000)
		cr := &countingReaderAt{r: f}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		gots, err := walk(t, cr, size, "bom.zip", Limits{})
		runtime.ReadMemStats(&after)
		if err != nil || len(gots) != 1 {
			t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
		}
		wantRejection(t, gots[0].readErr, codes.KP004)
		if n := cr.n.Load(); n > 256<<10 {
			t.Fatalf("read %d bytes of the %d byte upload", n, size)
		}
		if len(gots[0].data) > 2<<20 {
			t.Fatalf("handed out %d bytes before stopping", len(gots[0].data))
		}
		// Everything allocated, not just what is live at the end, stays far below 128 MB.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
			t.Fatalf("allocated %d bytes", alloc)
		}
	})
}

func TestReadUploadLyingSizes(t *testing.T) {
	big := make([]byte, 2<<20)
	rand.NewChaCha8([32]byte{1}).Read(big)
	small := envelopeBytes(5)
	data := buildZip(t,
		rawFile("groot.xml", zip.Store, big, crc32.ChecksumIEEE(big), 100),
		rawFile("kort.xml", zip.Store, small, crc32.ChecksumIEEE(small), uint64(len(small))+7),
		rawFile("lang.xml", zip.Store, small, crc32.ChecksumIEEE(small), uint64(len(small))-7),
	)
	gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "leugen.zip", Limits{MaxEntry: 1 << 20})
	if err != nil || len(gots) != 3 {
		t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
	}
	// Measured on what is decompressed, whatever the header says.
	wantRejection(t, gots[0].readErr, codes.IB904)
	for _, g := range gots[1:] {
		if g.code() != codes.IB901 {
			t.Errorf("%s = %s, want IB901 (size does not match)", g.Name, g.code())
		}
	}
}

func TestReadUploadTotalLimit(t *testing.T) {
	mibZeros := make([]byte, 1<<20)
	kernel := deflate(t, mibZeros)
	crc := crc32.ChecksumIEEE(mibZeros)
	var files []zipFile
	for i := range 40 {
		files = append(files, rawFile(fmt.Sprintf("%02d.xml", i), zip.Deflate, kernel, crc, 1<<20))
	}
	data := buildZip(t, files...)
	t.Run("default: no more than 200 times the upload", func(t *testing.T) {
		// Each entry is at the ratio floor, so only the total stops them: 40 MiB from a
		// few kB is capped at max(25 MiB, 200 × size).
		gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "veel.zip", Limits{})
		if err != nil {
			t.Fatal(err)
		}
		ok := 0
		for _, g := range gots {
			switch g.code() {
			case "":
				ok++
			case codes.KP004:
			default:
				t.Fatalf("%s = %s", g.Name, g.code())
			}
		}
		if ok != 25 {
			t.Fatalf("%d entries read in full, want 25 (25 MiB)", ok)
		}
	})
	t.Run("opening twice counts once", func(t *testing.T) {
		var entries []Entry
		err := ReadUpload(bytes.NewReader(data), int64(len(data)), "veel.zip", Limits{MaxTotal: 3 << 20}, func(e Entry) error {
			entries = append(entries, e)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			for i, e := range entries {
				_, err := readEntry(e)
				if want := codes.Code(""); i >= 3 {
					want = codes.KP004
					if codeOf(err) != want {
						t.Fatalf("round %d entry %d: %v, want KP004", round, i, err)
					}
				} else if err != nil {
					t.Fatalf("round %d entry %d: %v", round, i, err)
				}
			}
		}
	})
}

func TestReadUploadTooManyEntries(t *testing.T) {
	var files []zipFile
	for i := range 101 {
		files = append(files, zipFile{Name: fmt.Sprintf("%d.xml", i), Data: envelopeBytes(i)})
	}
	files = append(files, zipFile{Name: "map/"})
	data := buildZip(t, files...)
	_, err := walk(t, bytes.NewReader(data), int64(len(data)), "veel.zip", Limits{MaxEntries: 100})
	wantRejection(t, err, codes.IB902)
	gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "veel.zip", Limits{MaxEntries: 101})
	if err != nil || len(gots) != 101 {
		t.Fatalf("with 101 allowed: %v, %d entries (folders are not counted)", err, len(gots))
	}
}

// archive/zip reads directory records until one fails, whatever count the directory end
// claims (it compares only 16 bits). A ZIP with 65,537 records that claims 1 passes
// archive/zip; the guard must refuse it before archive/zip holds every record in memory.
func TestReadUploadHiddenRecords(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range 65537 {
		if _, err := zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("%x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	zw.Close()
	data := buf.Bytes()
	// More than 65,535 records: the writer used a zip64 directory end; make it claim 1.
	le := binary.LittleEndian
	p := bytes.LastIndex(data, []byte("PK\x06\x06"))
	le.PutUint64(data[p+24:], 1)
	le.PutUint64(data[p+32:], 1)
	if zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data))); err != nil || len(zr.File) != 65537 {
		t.Fatalf("archive/zip: %v", err)
	}
	cr := &countingReaderAt{r: bytes.NewReader(data)}
	err := ReadUpload(cr, int64(len(data)), "verstopt.zip", Limits{MaxEntries: 10}, func(Entry) error {
		t.Fatal("fn called")
		return nil
	})
	wantRejection(t, err, codes.IB902)
	if n := cr.n.Load(); n > 200<<10 {
		t.Fatalf("read %d of %d bytes before refusing", n, len(data))
	}
}

func TestReadUploadEmptyAndBroken(t *testing.T) {
	good := buildZip(t, zipFile{Name: "a.xml", Data: envelopeBytes(1)}, zipFile{Name: "b.xml", Data: envelopeBytes(2)})
	brokenDir := bytes.Clone(good)
	p := bytes.LastIndex(brokenDir, []byte("PK\x01\x02"))
	brokenDir[p+2] = 9
	for _, tc := range []struct {
		name string
		data []byte
		code codes.Code
	}{
		{"empty", buildZip(t), codes.IB905},
		{"only folders", buildZip(t, zipFile{Name: "a/"}, zipFile{Name: "a/b/"}), codes.IB905},
		{"zero bytes", nil, codes.IB901},
		{"not a zip", []byte("<?xml version=\"1.0\"?><a/>"), codes.IB901},
		{"truncated at the end", good[:len(good)-1], codes.IB901},
		{"truncated halfway", good[:len(good)/2], codes.IB901},
		{"damaged directory", brokenDir, codes.IB901},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := walk(t, bytes.NewReader(tc.data), int64(len(tc.data)), "x.zip", Limits{})
			wantRejection(t, err, tc.code)
		})
	}
}

func TestReadUploadDamagedEntry(t *testing.T) {
	payload := bytes.Repeat(envelopeBytes(1), 50)
	data := buildZip(t, zipFile{Name: "a.xml", Data: payload}, zipFile{Name: "b.xml", Data: envelopeBytes(2)})
	zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	off, _ := zr.File[0].DataOffset()
	for i := off + 20; i < off+60; i++ {
		data[i] ^= 0x55
	}
	gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "x.zip", Limits{})
	if err != nil || len(gots) != 2 {
		t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
	}
	if gots[0].code() != codes.IB901 {
		t.Errorf("damaged entry = %v/%v, want IB901", gots[0].Rejection, gots[0].readErr)
	}
	if gots[1].code() != "" || !bytes.Equal(gots[1].data, envelopeBytes(2)) {
		t.Errorf("the other entry was lost: %v", gots[1].readErr)
	}
}

// Some ZIPs carry a prefix (a self-extracting stub); archive/zip reads them and so do we.
func TestReadUploadPrefixedZip(t *testing.T) {
	data := append([]byte("#!/bin/sh\nexit 0\n"), buildZip(t, zipFile{Name: "a.xml", Data: envelopeBytes(1)})...)
	gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "x.zip", Limits{})
	if err != nil || len(gots) != 1 || gots[0].code() != "" || !bytes.Equal(gots[0].data, envelopeBytes(1)) {
		t.Fatalf("ReadUpload = %v, %+v", err, gots)
	}
}

func TestReadUploadStopsOnCallbackError(t *testing.T) {
	data := buildZip(t, zipFile{Name: "a.xml", Data: envelopeBytes(1)}, zipFile{Name: "b.xml", Data: envelopeBytes(2)})
	stop := errors.New("stop")
	calls := 0
	err := ReadUpload(bytes.NewReader(data), int64(len(data)), "x.zip", Limits{}, func(Entry) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err = %v after %d calls", err, calls)
	}
}

// failingReaderAt serves the first ok reads and fails every one after.
type failingReaderAt struct {
	r     io.ReaderAt
	ok    int64
	calls atomic.Int64
}

var errDisk = errors.New("invoer/uitvoer-fout")

func (f *failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if f.calls.Add(1) > f.ok {
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}

// A failing disk is the hub's problem, not the sender's: wherever the reads start failing, the
// disk error comes back, never a rejection.
func TestReadUploadDiskError(t *testing.T) {
	payload := bytes.Repeat(envelopeBytes(1), 100)
	data := buildZip(t, zipFile{Name: "a.xml", Data: payload}, zipFile{Name: "b.xml", Data: payload})
	for ok := int64(0); ; ok++ {
		fr := &failingReaderAt{r: bytes.NewReader(data), ok: ok}
		err := ReadUpload(fr, int64(len(data)), "x.zip", Limits{}, func(e Entry) error {
			if e.Rejection != nil {
				return e.Rejection
			}
			_, err := readEntry(e)
			return err
		})
		if err == nil {
			if ok < 5 {
				t.Fatalf("succeeded with only %d reads", ok)
			}
			return
		}
		if !errors.Is(err, errDisk) || codeOf(err) != "" {
			t.Fatalf("failing after %d reads: %v, want the disk error", ok, err)
		}
	}
}

func TestReadUploadConcurrentOpen(t *testing.T) {
	var files []zipFile
	for i := range 20 {
		files = append(files, zipFile{Name: fmt.Sprintf("%d.xml", i), Data: envelopeBytes(i)})
	}
	data := buildZip(t, files...)
	var entries []Entry
	if err := ReadUpload(bytes.NewReader(data), int64(len(data)), "x.zip", Limits{}, func(e Entry) error {
		entries = append(entries, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(entries))
	for range 4 {
		for i, e := range entries {
			wg.Go(func() {
				b, err := readEntry(e)
				if err == nil && !bytes.Equal(b, envelopeBytes(i)) {
					err = fmt.Errorf("entry %d: wrong content", i)
				}
				if err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestReadUploadReadAfterClose(t *testing.T) {
	data := buildZip(t, zipFile{Name: "a.xml", Data: envelopeBytes(1)})
	ReadUpload(bytes.NewReader(data), int64(len(data)), "x.zip", Limits{}, func(e Entry) error {
		rc, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if _, err := rc.Read(make([]byte, 10)); err == nil {
			t.Fatal("read after Close succeeded")
		}
		if err := rc.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		return nil
	})
}

func fuzzSeeds(t testing.TB) [][]byte {
	inner := buildZip(t, zipFile{Name: "a.xml", Data: envelopeBytes(9)})
	good := buildZip(t, zipFile{Name: "a.xml", Data: envelopeBytes(1)}, zipFile{Name: "dir/", Data: nil},
		zipFile{Name: "../b.XML", Data: envelopeBytes(2), Method: zip.Store})
	return [][]byte{
		good,
		good[:len(good)/2],
		buildZip(t),
		buildZip(t, zipFile{Name: "IMG_0463.PNG", Data: []byte("png")}, zipFile{Name: "binnen.zip", Data: inner},
			zipFile{Name: "x.xml", Data: inner}),
		buildZip(t, zipFile{Name: "geheim.xml", Data: []byte("x"), Flags: 1}),
		buildZip(t, rawFile("lzma.xml", 14, []byte("abc"), 0, 3)),
		buildZip(t, rawFile("lied.xml", zip.Store, []byte("abcdef"), 0, 2)),
		buildZip(t, zipFile{Name: "nul.xml", Data: make([]byte, 3<<20)}),
		ziptest.OverlapBomb(t, 3),
		append([]byte("#!/bin/sh\nexit 0\n"), good...),
		buildZip(t, rawFile("zip64.xml", zip.Store, []byte("abc"), crc32.ChecksumIEEE([]byte("abc")), 5<<30)),
	}
}

func FuzzReadUpload(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	lim := Limits{MaxEntries: 64, MaxEntry: 1 << 20, MaxTotal: 4 << 20, MaxRatio: 50}
	f.Fuzz(func(t *testing.T, data []byte) {
		size := int64(len(data))
		var entries []Entry
		err := ReadUpload(bytes.NewReader(data), size, "f.zip", lim, func(e Entry) error {
			if e.Index != len(entries) {
				t.Fatalf("index %d, want %d", e.Index, len(entries))
			}
			if strings.ContainsAny(e.Name, `/\`) || strings.IndexFunc(e.Name, unicode.IsControl) >= 0 {
				t.Fatalf("unsafe name %q", e.Name)
			}
			if e.Raw == nil || e.Open == nil {
				t.Fatal("entry without Raw or Open")
			}
			entries = append(entries, e)
			return nil
		})
		if err != nil {
			if codeOf(err) == "" {
				t.Fatalf("whole-upload error is not a Rejection: %v", err)
			}
			if len(entries) != 0 {
				t.Fatalf("rejected upload after %d entries", len(entries))
			}
		}
		if len(entries) > lim.MaxEntries {
			t.Fatalf("%d entries past the limit", len(entries))
		}
		for _, e := range entries {
			if e.Rejection != nil {
				if _, err := e.Open(); codeOf(err) != e.Rejection.Code {
					t.Fatalf("Open of refused entry: %v", err)
				}
				continue
			}
			b1, err1 := readEntry(e)
			b2, err2 := readEntry(e)
			if !bytes.Equal(b1, b2) || (err1 == nil) != (err2 == nil) {
				t.Fatalf("two reads differ: %d %v / %d %v", len(b1), err1, len(b2), err2)
			}
			if err1 != nil && codeOf(err1) == "" {
				t.Fatalf("read error is not a Rejection: %v", err1)
			}
			if int64(len(b1)) > lim.MaxEntry {
				t.Fatalf("read %d bytes past the entry limit", len(b1))
			}
		}
		// The guard must never count fewer records than archive/zip reads.
		if zr, err := zip.NewReader(bytes.NewReader(data), size); err == nil {
			most := 0
			for _, start := range directoryStarts(bytes.NewReader(data), size) {
				files, dirs, _ := countRecords(bytes.NewReader(data), size, start, Limits{MaxEntries: 1 << 30})
				most = max(most, files+dirs)
			}
			if most < len(zr.File) {
				t.Fatalf("guard counted %d records, archive/zip read %d", most, len(zr.File))
			}
		}
	})
}

// BenchmarkReadUpload walks a ZIP of 3,000 envelopes of about 4 KB and reads each in full.
func BenchmarkReadUpload(b *testing.B) {
	rng := rand.NewChaCha8([32]byte{7})
	var files []zipFile
	total := 0
	for i := range 3000 {
		payload := make([]byte, 2900)
		rng.Read(payload)
		env := fmt.Appendf(nil, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GGK:envelopHeenbericht-ggk_Di01 xmlns:GGK=\"http://www.stufstandaarden.nl/koppelvlak/ggk0210\">"+
			"<GGK:bericht><GGK:xmlBestand>%s</GGK:xmlBestand></GGK:bericht><!-- %d --></GGK:envelopHeenbericht-ggk_Di01>\n",
			base64.StdEncoding.EncodeToString(payload), i)
		total += len(env)
		files = append(files, zipFile{Name: fmt.Sprintf("%04d_WMO301.xml", i), Data: env})
	}
	data := buildZip(b, files...)
	r := bytes.NewReader(data)
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		err := ReadUpload(r, int64(len(data)), "bench.zip", Limits{}, func(e Entry) error {
			if e.Rejection != nil {
				return e.Rejection
			}
			rc, err := e.Open()
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.CopyBuffer(io.Discard, rc, buf)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(3000*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// TestReadUploadSmallAndLargeDeflated: entries whose compressed data fits in one read
// (wholeLen) and entries that stream read the same, in any order on the same pooled inflater,
// and a damaged byte in either kind is IB901 while the others survive.
func TestReadUploadSmallAndLargeDeflated(t *testing.T) {
	big := make([]byte, 3*wholeLen) // random: deflates to more than wholeLen
	rand.NewChaCha8([32]byte{7}).Read(big)
	edge := make([]byte, wholeLen-200) // compressed just about wholeLen, stored blocks
	rand.NewChaCha8([32]byte{8}).Read(edge)
	files := []zipFile{{Name: "a.xml", Data: envelopeBytes(1)}, {Name: "groot.xml", Data: big},
		{Name: "b.xml", Data: envelopeBytes(2)}, {Name: "rand.xml", Data: edge}, {Name: "c.xml", Data: envelopeBytes(3)}}
	data := buildZip(t, files...)
	zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	streams := 0
	for _, f := range zr.File {
		if f.CompressedSize64 > wholeLen {
			streams++
		}
	}
	if streams != 1 {
		t.Fatalf("%d entries stream, want 1 (groot.xml)", streams)
	}
	gots, err := walk(t, bytes.NewReader(data), int64(len(data)), "x.zip", Limits{})
	if err != nil || len(gots) != len(files) {
		t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
	}
	for i, g := range gots {
		if g.code() != "" || !bytes.Equal(g.data, files[i].Data) {
			t.Errorf("%s: %v, %d bytes, want %d", g.Name, g.readErr, len(g.data), len(files[i].Data))
		}
	}
	for _, damaged := range []int{1, 3} { // one that streams, one read whole
		bad := bytes.Clone(data)
		off, _ := zr.File[damaged].DataOffset()
		bad[off+int64(zr.File[damaged].CompressedSize64)/2] ^= 0x55
		gots, err := walk(t, bytes.NewReader(bad), int64(len(bad)), "x.zip", Limits{})
		if err != nil || len(gots) != len(files) {
			t.Fatalf("ReadUpload = %v, %d entries", err, len(gots))
		}
		for i, g := range gots {
			switch {
			case i == damaged && g.code() != codes.IB901:
				t.Errorf("damaged %s = %v/%v, want IB901", g.Name, g.Rejection, g.readErr)
			case i != damaged && (g.code() != "" || !bytes.Equal(g.data, files[i].Data)):
				t.Errorf("%s lost beside the damaged %s: %v", g.Name, files[damaged].Name, g.readErr)
			}
		}
	}
}

// TestReadAheadServesWhatReadAtWould: any read through the window gives the bytes and the
// end-of-file verdict the ReaderAt itself gives, across window boundaries and the end; a
// failing reader's error comes back as it is.
func TestReadAheadServesWhatReadAtWould(t *testing.T) {
	data := make([]byte, 3*aheadLen+123)
	rng := rand.NewChaCha8([32]byte{9})
	rng.Read(data)
	src := bytes.NewReader(data)
	for _, size := range []int{0, headerAheadLen} {
		readAheadMatches(t, &readAhead{size: size}, src, len(data))
	}
	fr := &failingReaderAt{r: src, ok: 0}
	var b readAhead
	if _, err := b.readAt(fr, make([]byte, 100), 0); !errors.Is(err, errDisk) {
		t.Fatalf("failing reader: %v, want the disk error", err)
	}
}

func readAheadMatches(t *testing.T, a *readAhead, src io.ReaderAt, size int) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		n := r.IntN(aheadLen/4 + 100) // some longer than a window share: read directly
		if i%2 == 0 {
			n %= 1000
		}
		off := int64(r.IntN(size + 10))
		got := make([]byte, n)
		want := make([]byte, n)
		gn, gerr := a.readAt(src, got, off)
		wn, werr := src.ReadAt(want, off)
		if gn != wn || !bytes.Equal(got[:gn], want[:wn]) || (gerr == nil) != (werr == nil) {
			t.Fatalf("window %d: read %d at %d: %d, %v; ReadAt: %d, %v", a.size, n, off, gn, gerr, wn, werr)
		}
	}
}
