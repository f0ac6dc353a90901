package exchange

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"knooppunt/exchange/zipintake"
)

// Test set-up for building upload ZIPs, the same as exchange/zipintake's own (a test package
// cannot import another package's test helpers): the engine tests feed these ZIPs through the
// whole hub, FuzzDeliveryZip starts from fuzzSeeds.

// zipFile is one file to put in a test ZIP. raw files are written with CreateRaw exactly as
// given, so a test can lie in the header.
type zipFile struct {
	name   string
	data   []byte
	method uint16
	flags  uint16
	raw    *zip.FileHeader
}

func buildZip(t testing.TB, files ...zipFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		if f.raw != nil {
			w, err := zw.CreateRaw(f.raw)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(f.data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		method := f.method
		if method == 0 && !strings.HasSuffix(f.name, "/") {
			method = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: method, Flags: f.flags})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflate(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	fw.Close()
	return buf.Bytes()
}

// rawFile is a file whose header says exactly what the test wants, true or not.
func rawFile(name string, method uint16, comp []byte, crc uint32, claimed uint64) zipFile {
	return zipFile{data: comp, raw: &zip.FileHeader{
		Name: name, Method: method, CRC32: crc,
		CompressedSize64: uint64(len(comp)), UncompressedSize64: claimed,
	}}
}

func envelopeBytes(i int) []byte {
	return fmt.Appendf(nil, "<?xml version=\"1.0\"?>\n<envelop nr=\"%d\">%s</envelop>\n", i, strings.Repeat("QUJD", 50+i%7))
}

func readEntry(e zipintake.Entry) ([]byte, error) {
	rc, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// overlapBomb builds the overlapping-files bomb by hand: every central directory record points
// at one local header and its highly compressed kernel.
func overlapBomb(t testing.TB, entries int) []byte {
	kernelData := make([]byte, 1<<20)
	kernel := deflate(t, kernelData)
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

func fuzzSeeds(t testing.TB) [][]byte {
	inner := buildZip(t, zipFile{name: "a.xml", data: envelopeBytes(9)})
	good := buildZip(t, zipFile{name: "a.xml", data: envelopeBytes(1)}, zipFile{name: "dir/", data: nil},
		zipFile{name: "../b.XML", data: envelopeBytes(2), method: zip.Store})
	return [][]byte{
		good,
		good[:len(good)/2],
		buildZip(t),
		buildZip(t, zipFile{name: "IMG_0463.PNG", data: []byte("png")}, zipFile{name: "binnen.zip", data: inner},
			zipFile{name: "x.xml", data: inner}),
		buildZip(t, zipFile{name: "geheim.xml", data: []byte("x"), flags: 1}),
		buildZip(t, rawFile("lzma.xml", 14, []byte("abc"), 0, 3)),
		buildZip(t, rawFile("lied.xml", zip.Store, []byte("abcdef"), 0, 2)),
		buildZip(t, zipFile{name: "nul.xml", data: make([]byte, 3<<20)}),
		overlapBomb(t, 3),
		append([]byte("#!/bin/sh\nexit 0\n"), good...),
		buildZip(t, rawFile("zip64.xml", zip.Store, []byte("abc"), crc32.ChecksumIEEE([]byte("abc")), 5<<30)),
	}
}
