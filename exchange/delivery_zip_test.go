package exchange

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"os"
	"testing"
	"time"

	"knooppunt/exchange/zipintake"
)

// hostileHeaderZip is an upload whose one entry asks, in its header, for another name (an
// Info-ZIP Unicode Path extra field) and for a setuid symlink.
func hostileHeaderZip(t testing.TB) []byte {
	data := envelopeBytes(3)
	extra := binary.LittleEndian.AppendUint16(nil, 0x7075)
	extra = binary.LittleEndian.AppendUint16(extra, uint16(5+len("gekaapt.xml")))
	extra = append(extra, 1)
	extra = binary.LittleEndian.AppendUint32(extra, crc32.ChecksumIEEE([]byte("b.xml")))
	extra = append(extra, "gekaapt.xml"...)
	hdr := &zip.FileHeader{Name: "b.xml", Method: zip.Store, CRC32: crc32.ChecksumIEEE(data),
		CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(data)), Extra: extra, Flags: 0x6}
	hdr.SetMode(os.ModeSymlink | os.ModeSetuid | 0o777)
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateRaw(hdr)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	zw.Close()
	return b.Bytes()
}

// FuzzDeliveryZip feeds any upload through intake and the delivery writer: every entry the
// hub accepts comes out under the name it validated, as a regular 0644 file, with no extra
// field but the hub's timestamp, no flag but UTF-8, and byte for byte the content intake read.
func FuzzDeliveryZip(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add(hostileHeaderZip(f))
	lim := zipintake.Limits{MaxEntries: 64, MaxEntry: 1 << 20, MaxTotal: 4 << 20, MaxRatio: 50}
	received := time.Date(2026, 12, 5, 17, 21, 33, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		zw := zip.NewWriter(&out)
		names := map[string]int{}
		var want []string
		var content [][]byte
		buf := make([]byte, 4096)
		zipintake.ReadUpload(bytes.NewReader(data), int64(len(data)), "f.zip", lim, func(e zipintake.Entry) error {
			if e.Rejection != nil {
				return nil
			}
			b, err := readEntry(e)
			if err != nil {
				return nil // refused while read: never delivered
			}
			name := uniqueName(names, e.Name)
			if err := addDeliveryEntry(zw, name, e, received, buf); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want, content = append(want, name), append(content, b)
			return nil
		})
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("delivery is no ZIP: %v", err)
		}
		if len(zr.File) != len(want) {
			t.Fatalf("%d entries, want %d", len(zr.File), len(want))
		}
		for i, f := range zr.File {
			if f.Name != want[i] || f.Mode() != 0o644 || f.Flags&^0x800 != 0 || f.Comment != "" {
				t.Fatalf("entry %d: %q mode %v flags %#x, want %q 0644", i, f.Name, f.Mode(), f.Flags, want[i])
			}
			if !bytes.Equal(f.Extra, extTimeExtra(received)) {
				t.Fatalf("%s: extra fields %x", f.Name, f.Extra)
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, content[i]) {
				t.Fatalf("%s: %d bytes (%v), want %d byte for byte", f.Name, len(got), err, len(content[i]))
			}
		}
	})
}
