package sshserver

// Regression tests of issue 16 (hardening, round two), items 6–10, each named after the hole
// it closes and driven through the real server.

import (
	"archive/zip"
	"encoding/binary"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"knooppunt/exchange"
)

// unicodePathExtra is an Info-ZIP Unicode Path extra field (0x7075) that tells unzip to use
// name instead of the header's name, which it does when the CRC of the header's name matches.
func unicodePathExtra(headerName, name string) []byte {
	b := make([]byte, 4, 4+5+len(name))
	binary.LittleEndian.PutUint16(b[0:], 0x7075)
	binary.LittleEndian.PutUint16(b[2:], uint16(5+len(name)))
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE([]byte(headerName)))
	return append(b, name...)
}

// TestDeliveryZipCarriesSendersUnicodePathAndSymlinkMode: the delivery copied the sender's
// ZIP header, so the recipient's unzip extracted a message the hub called Afgeleverd under a
// name of the sender's choosing, as a setuid symlink.
func TestDeliveryZipCarriesSendersUnicodePathAndSymlinkMode(t *testing.T) {
	unzip := needTool(t, "unzip")
	th := startHub(t, withEngine)
	data := env("WMO301", "9999", "12345678", uuid4(), "")
	hdr := &zip.FileHeader{Name: "bericht.xml", Method: zip.Store, CRC32: crc32.ChecksumIEEE(data),
		CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(data)),
		Extra: unicodePathExtra("bericht.xml", "gekaapt.xml")}
	hdr.SetMode(os.ModeSymlink | os.ModeSetuid | 0o777)
	gem := goClient(t, th, "gemeente")
	putGo(t, gem, "/iwmo/aanleveren/link.zip", buildTestZip(t, zEntry{raw: hdr, data: data}))
	if u := th.final(t, "gemeente", exchange.IWmo, "link.zip"); u.Status != exchange.Afgeleverd {
		t.Fatalf("link.zip: %s %+v", u.Status, u.Fouten)
	}

	aan := goClient(t, th, "aanbieder")
	files := ophalenFiles(t, aan, "/iwmo/ophalen")
	if len(files) != 1 {
		t.Fatalf("aanbieder's ophalen: %q", files)
	}
	dir := t.TempDir()
	zipFile := filepath.Join(dir, files[0])
	if err := os.WriteFile(zipFile, getGo(t, aan, "/iwmo/ophalen/"+files[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command(unzip, "-Z", zipFile).CombinedOutput()
	if err != nil {
		t.Fatalf("unzip -Z: %v\n%s", err, info)
	}
	// One line per entry: "-rw-r--r--  3.0 unx  1234 tx stor 25-Dec-05 17:21 bericht.xml"
	var lines []string
	for _, l := range strings.Split(string(info), "\n") {
		if strings.HasSuffix(l, ".xml") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "-rw-r--r--") || !strings.HasSuffix(lines[0], " bericht.xml") {
		t.Fatalf("unzip -Z shows %q, want one regular file bericht.xml with mode 0644:\n%s", lines, info)
	}
	out := filepath.Join(dir, "uit")
	if msg, err := exec.Command(unzip, "-q", "-d", out, zipFile).CombinedOutput(); err != nil {
		t.Fatalf("unzip: %v\n%s", err, msg)
	}
	entries, err := os.ReadDir(out)
	if err != nil || len(entries) != 1 || entries[0].Name() != "bericht.xml" {
		t.Fatalf("unzip made %v (%v), want bericht.xml only", entries, err)
	}
	fi, err := os.Lstat(filepath.Join(out, "bericht.xml"))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&^0o022 != 0o644&^0o022 || fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
		t.Fatalf("bericht.xml: %v %v, want a regular file 0644", fi.Mode(), err)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "bericht.xml")); string(got) != string(data) {
		t.Fatalf("bericht.xml not byte for byte (%d bytes, want %d)", len(got), len(data))
	}
}
