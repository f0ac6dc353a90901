package storage

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func put(t *testing.T, d *Disk, name string, data []byte, outOfOrder bool) {
	t.Helper()
	w, err := d.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	writeData(t, w, data, outOfOrder, 4096)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, d *Disk, name string) []byte {
	t.Helper()
	r, err := d.Open(name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != r.Size() {
		t.Fatalf("read %d bytes, Size says %d", len(b), r.Size())
	}
	return b
}

func TestDiskRoundTripHidesChecksum(t *testing.T) {
	d, err := OpenDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	put(t, d, "a/in-order", data, false)
	put(t, d, "a/out-of-order", data, true)
	put(t, d, "a/empty", nil, false)

	// A staged blob resumed with Append, as `reput` does.
	w, err := d.Create("a/resumed")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:5000])
	if err := w.Keep(); err != nil {
		t.Fatal(err)
	}
	if w, err = d.Append("a/resumed"); err != nil {
		t.Fatal(err)
	}
	w.WriteAt(data[5000:], 5000)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}

	for _, n := range []string{"a/in-order", "a/out-of-order", "a/resumed"} {
		if got := readAll(t, d, n); !bytes.Equal(got, data) {
			t.Errorf("%s: content differs", n)
		}
		if err := d.Verify(n); err != nil {
			t.Errorf("verify %s: %v", n, err)
		}
		if sz, err := d.Stat(n); err != nil || sz != int64(len(data)) {
			t.Errorf("stat %s = %d, %v", n, sz, err)
		}
	}
	if got := readAll(t, d, "a/empty"); len(got) != 0 {
		t.Errorf("empty blob reads %d bytes", len(got))
	}
	sizes := map[string]int64{}
	d.Walk("a/", func(n string, s int64) error { sizes[n] = s; return nil })
	if sizes["a/in-order"] != int64(len(data)) || sizes["a/empty"] != 0 || len(sizes) != 4 {
		t.Errorf("walk sizes %v", sizes)
	}
	// ReadAt past the content ends at the content, not in the trailer.
	r, _ := d.Open("a/in-order")
	defer r.Close()
	buf := make([]byte, 100)
	if n, err := r.ReadAt(buf, int64(len(data))-10); n != 10 || err != io.EOF {
		t.Errorf("ReadAt at the end = %d, %v", n, err)
	}
}

// A flipped byte, a truncated file and a file with bytes appended are each refused with
// ErrDamaged, moved aside for good, and leave other blobs alone.
func TestDiskDetectsDamage(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("envelop "), 5000)
	for _, n := range []string{"dlv/flip", "dlv/cut", "dlv/grown", "dlv/cut-trailer", "dlv/good"} {
		put(t, d, n, data, false)
	}
	file := func(n string) string { return filepath.Join(dir, "blobs", filepath.FromSlash(n)) }
	f, _ := os.OpenFile(file("dlv/flip"), os.O_RDWR, 0)
	f.WriteAt([]byte{'X'}, 1234)
	f.Close()
	os.Truncate(file("dlv/cut"), int64(len(data))/2)
	os.Truncate(file("dlv/cut-trailer"), int64(len(data))+10)
	f, _ = os.OpenFile(file("dlv/grown"), os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("extra"))
	f.Close()

	for _, n := range []string{"dlv/flip", "dlv/cut", "dlv/grown", "dlv/cut-trailer"} {
		_, err := d.Open(n)
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("open %s: %v, want ErrDamaged", n, err)
		}
		if !strings.Contains(err.Error(), "beheerder") || !strings.Contains(err.Error(), n) {
			t.Errorf("error does not say what to do or which file: %v", err)
		}
		// Moved aside: refused again by Open and Verify, gone from Walk.
		if _, err := d.Open(n); !errors.Is(err, ErrDamaged) {
			t.Errorf("second open %s: %v", n, err)
		}
		if err := d.Verify(n); !errors.Is(err, ErrDamaged) {
			t.Errorf("verify %s: %v", n, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "damaged", filepath.FromSlash(n))); err != nil {
			t.Errorf("%s not kept in damaged/: %v", n, err)
		}
	}
	var left []string
	d.Walk("dlv/", func(n string, _ int64) error { left = append(left, n); return nil })
	if len(left) != 1 || left[0] != "dlv/good" {
		t.Errorf("walk after damage: %v", left)
	}
	if got := readAll(t, d, "dlv/good"); !bytes.Equal(got, data) {
		t.Error("good blob changed")
	}
	// Remove clears a damaged blob too, so retention can purge it.
	if err := d.Remove("dlv/flip"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open("dlv/flip"); !errors.Is(err, ErrNotFound) {
		t.Errorf("open after remove: %v", err)
	}
	if err := d.Verify("dlv/none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("verify of a missing blob: %v", err)
	}
}

// Blobs above VerifyOnOpen get only their length checked at Open; Verify reads them whole.
func TestDiskVerifyLargeBlob(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 65 MB")
	}
	dir := t.TempDir()
	d, _ := OpenDisk(dir)
	data := make([]byte, VerifyOnOpen+1)
	put(t, d, "big", data, false)
	f, _ := os.OpenFile(filepath.Join(dir, "blobs", "big"), os.O_RDWR, 0)
	f.WriteAt([]byte{1}, 10)
	f.Close()
	r, err := d.Open("big")
	if err != nil {
		t.Fatalf("open of a large blob reads it whole: %v", err)
	}
	r.Close()
	if err := d.Verify("big"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("verify: %v", err)
	}
	if _, err := d.Open("big"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("open after verify: %v", err)
	}
}

func BenchmarkCommit(b *testing.B) {
	d, _ := OpenDisk(b.TempDir())
	data := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	for i := 0; b.Loop(); i++ {
		w, _ := d.Create("x")
		w.WriteAt(data, 0)
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// mountTmpfs mounts a small tmpfs for the test, or skips it where mounting is not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// The store keeps its reserve free: Create and writes fail with ENOSPC below it, what was
// committed stays readable, and writing works again once space returns.
func TestDiskKeepsReserve(t *testing.T) {
	mnt := mountTmpfs(t, "16m")
	d, err := OpenDisk(filepath.Join(mnt, "files"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Reserve() != 4<<20 {
		t.Fatalf("reserve %d on a 16 MB file system, want 4 MB", d.Reserve())
	}
	put(t, d, "kept", []byte("al aangenomen"), false)
	free, _ := d.Free()
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, free-d.Reserve()+(512<<10)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create("new"); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("create below the reserve: %v", err)
	}
	os.Truncate(filler, int64(free-d.Reserve()-(2<<20)))
	w, err := d.Create("big")
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for off := int64(0); off < 8<<20 && werr == nil; off += 256 << 10 {
		_, werr = w.WriteAt(make([]byte, 256<<10), off)
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("writing into the reserve: %v", werr)
	}
	w.Abort()
	if got := readAll(t, d, "kept"); string(got) != "al aangenomen" {
		t.Fatalf("committed blob after a full disk: %q", got)
	}
	os.Remove(filler)
	put(t, d, "after", make([]byte, 3<<20), true)
}
