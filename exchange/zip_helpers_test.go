package exchange

import (
	"archive/zip"
	"hash/crc32"
	"io"
	"testing"

	"knooppunt/exchange/zipintake"
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

func readEntry(e zipintake.Entry) ([]byte, error) {
	rc, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
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
