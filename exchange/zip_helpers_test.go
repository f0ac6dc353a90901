package exchange

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"knooppunt/exchange/zipintake/ziptest"
	"testing"

	"knooppunt/exchange/zipintake"
)

// cannot import another package's test helpers): the engine tests feed these ZIPs through the
// whole hub, FuzzDeliveryZip starts from fuzzSeeds.

// The test ZIPs come from ziptest, which zipintake's own tests share.
type zipFile = ziptest.File

var (
	buildZip      = ziptest.Build
	deflate       = ziptest.Deflate
	rawFile       = ziptest.RawFile
	envelopeBytes = ziptest.EnvelopeBytes
)

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
		overlapBomb(t, 3),
		append([]byte("#!/bin/sh\nexit 0\n"), good...),
		buildZip(t, rawFile("zip64.xml", zip.Store, []byte("abc"), crc32.ChecksumIEEE([]byte("abc")), 5<<30)),
	}
}
