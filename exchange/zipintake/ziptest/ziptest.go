// Package ziptest builds upload ZIPs for tests, true or lying in their headers: the tests of
// zipintake and of the engine (exchange) share it, since a test file cannot import another
// package's test helpers.
//
// Glossary: aanlevering (an upload) → a ZIP built by Build; envelop → EnvelopeBytes.
package ziptest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"
)

// File is one file to put in a test ZIP. Raw files are written with CreateRaw exactly as
// given, so a test can lie in the header.
type File struct {
	Name   string
	Data   []byte
	Method uint16
	Flags  uint16
	Raw    *zip.FileHeader
}

// Build writes files into a ZIP; a file without a method (not a directory) is deflated.
func Build(t testing.TB, files ...File) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		if f.Raw != nil {
			w, err := zw.CreateRaw(f.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(f.Data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		method := f.Method
		if method == 0 && !strings.HasSuffix(f.Name, "/") {
			method = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: method, Flags: f.Flags})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Deflate compresses data as a ZIP entry's raw bytes.
func Deflate(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// RawFile is a file whose header says exactly what the test wants, true or not.
func RawFile(name string, method uint16, comp []byte, crc uint32, claimed uint64) File {
	return File{Data: comp, Raw: &zip.FileHeader{
		Name: name, Method: method, CRC32: crc,
		CompressedSize64: uint64(len(comp)), UncompressedSize64: claimed,
	}}
}

// EnvelopeBytes is the i-th small envelope-like XML file, of a length that varies with i.
func EnvelopeBytes(i int) []byte {
	return fmt.Appendf(nil, "<?xml version=\"1.0\"?>\n<envelop nr=\"%d\">%s</envelop>\n", i, strings.Repeat("QUJD", 50+i%7))
}

// OverlapBomb builds the overlapping-files bomb by hand: every central directory record points
// at one local header and its highly compressed kernel.
func OverlapBomb(t testing.TB, entries int) []byte {
	kernelData := make([]byte, 1<<20)
	kernel := Deflate(t, kernelData)
	crc := crc32.ChecksumIEEE(kernelData)
	var b bytes.Buffer
	le := binary.LittleEndian
	w := func(v ...any) {
		for _, x := range v {
			binary.Write(&b, le, x)
		}
	}
	name := "0.xml"
	w(uint32(0x04034b50), uint16(20), uint16(0), uint16(zip.Deflate), uint16(0), uint16(0x21),
		crc, uint32(len(kernel)), uint32(len(kernelData)), uint16(len(name)), uint16(0))
	b.WriteString(name)
	b.Write(kernel)
	dirStart := b.Len()
	for i := range entries {
		n := fmt.Sprintf("%d.xml", i)
		w(uint32(0x02014b50), uint16(20), uint16(20), uint16(0), uint16(zip.Deflate), uint16(0), uint16(0x21),
			crc, uint32(len(kernel)), uint32(len(kernelData)), uint16(len(n)), uint16(0), uint16(0),
			uint16(0), uint16(0), uint32(0), uint32(0))
		b.WriteString(n)
	}
	dirLen := b.Len() - dirStart
	w(uint32(0x06054b50), uint16(0), uint16(0), uint16(entries), uint16(entries),
		uint32(dirLen), uint32(dirStart), uint16(0))
	return b.Bytes()
}
