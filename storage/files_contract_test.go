package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"knooppunt/storage/storagetest"
)

// A filesBackend opens a fresh store, and can damage a committed blob behind its back
// (replace its content, keeping the checksum it recorded), as bit rot or a hand edit would.
type filesBackend struct {
	open   func(t *testing.T) Files
	damage func(t *testing.T, f Files, name string, content []byte)
}

var diskBackend = filesBackend{
	open: func(t *testing.T) Files {
		d, err := OpenDisk(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	},
	damage: func(t *testing.T, f Files, name string, content []byte) {
		p := f.(*Disk).blob(filepath.FromSlash(name))
		old, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, append(bytes.Clone(content), old[len(old)-trailerLen:]...), 0o600); err != nil {
			t.Fatal(err)
		}
	},
}

var s3Backend = filesBackend{
	open: func(t *testing.T) Files {
		b := storagetest.S3Bucket(t)
		s, err := OpenS3(context.Background(), S3Config{Endpoint: b.Endpoint, Bucket: b.Bucket, Prefix: b.Prefix,
			AccessKey: b.AccessKey, SecretKey: b.SecretKey, SpoolDir: filepath.Join(t.TempDir(), "spool")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.removeAll("") })
		return s
	},
	damage: func(t *testing.T, f Files, name string, content []byte) {
		s := f.(*S3)
		ctx := context.Background()
		info, err := s.c.StatObject(ctx, s.bucket, s.key("blobs", name), minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		meta := map[string]string{}
		for k, v := range info.UserMetadata {
			meta[strings.ToLower(k)] = v
		}
		if _, err := s.c.PutObject(ctx, s.bucket, s.key("blobs", name), bytes.NewReader(content), int64(len(content)),
			minio.PutObjectOptions{UserMetadata: meta}); err != nil {
			t.Fatal(err)
		}
	},
}

// Every Files keeps the Disk's contract: atomic put, checksums verified on read, uncommitted
// blobs that a client resumes, pins for a backup.
func TestFilesContractDisk(t *testing.T) { testFilesContract(t, diskBackend) }
func TestFilesContractS3(t *testing.T)   { testFilesContract(t, s3Backend) }

func testFilesContract(t *testing.T, b filesBackend) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, filesBackend)
	}{
		{"RoundTrip", filesRoundTrip},
		{"KeepAppend", filesKeepAppend},
		{"Damage", filesDamage},
		{"RemoveAndPin", filesRemoveAndPin},
		{"Names", filesNames},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, b) })
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.IntN(256))
	}
	return b
}

// writeData writes data to w in one Write, or with outOfOrder in chunks of chunk bytes sent
// concurrently and shuffled, as pkg/sftp's WriteAt does.
func writeData(t *testing.T, w Writer, data []byte, outOfOrder bool, chunk int) {
	t.Helper()
	if !outOfOrder {
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		return
	}
	var offs []int
	for o := 0; o < len(data); o += chunk {
		offs = append(offs, o)
	}
	rand.Shuffle(len(offs), func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
	var wg sync.WaitGroup
	for _, o := range offs {
		wg.Go(func() {
			if _, err := w.WriteAt(data[o:min(o+chunk, len(data))], int64(o)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func putBlob(t *testing.T, f Files, name string, data []byte, outOfOrder bool) {
	t.Helper()
	w, err := f.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	writeData(t, w, data, outOfOrder, 32<<10) // pkg/sftp's packets
	if w.Size() != int64(len(data)) {
		t.Fatalf("Size %d, wrote %d", w.Size(), len(data))
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func readBlob(t *testing.T, f Files, name string) []byte {
	t.Helper()
	r, err := f.Open(name)
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
	// ReaderAt, as pkg/sftp reads.
	if len(b) > 10 {
		p := make([]byte, 5)
		if _, err := r.ReadAt(p, 5); err != nil || !bytes.Equal(p, b[5:10]) {
			t.Fatalf("ReadAt: %q %v", p, err)
		}
	}
	return b
}

func walkNames(t *testing.T, f Files, prefix string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	if err := f.Walk(prefix, func(name string, size int64) error { got[name] = size; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func filesRoundTrip(t *testing.T, b filesBackend) {
	f := b.open(t)
	small, big := randomBytes(100_000), randomBytes(3<<20)
	w, err := f.Create("a/pending")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("not yet"))
	if _, err := f.Open("a/pending"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("uncommitted blob: Open gave %v, want ErrNotFound", err)
	}
	putBlob(t, f, "a/in-order", small, false)
	putBlob(t, f, "a/out-of-order", big, true)
	putBlob(t, f, "a/empty", nil, false)
	putBlob(t, f, "b/other", small[:10], false)
	for name, want := range map[string][]byte{"a/in-order": small, "a/out-of-order": big, "a/empty": nil, "b/other": small[:10]} {
		if got := readBlob(t, f, name); !bytes.Equal(got, want) {
			t.Fatalf("%s: read %d bytes that differ from the %d written", name, len(got), len(want))
		}
		if n, err := f.Stat(name); err != nil || n != int64(len(want)) {
			t.Fatalf("Stat %s: %d %v", name, n, err)
		}
		if err := f.Verify(name); err != nil {
			t.Fatalf("Verify %s: %v", name, err)
		}
	}
	got := walkNames(t, f, "a/")
	want := map[string]int64{"a/in-order": 100_000, "a/out-of-order": 3 << 20, "a/empty": 0}
	if len(got) != len(want) {
		t.Fatalf("Walk a/: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("Walk a/: %v, want %v", got, want)
		}
	}
	if got := walkNames(t, f, "a/in"); len(got) != 1 {
		t.Fatalf("Walk a/in: %v", got)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat("a/pending"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("aborted blob: %v", err)
	}
	// A new Commit under a name replaces the blob whole.
	putBlob(t, f, "a/in-order", small[:5], false)
	if got := readBlob(t, f, "a/in-order"); !bytes.Equal(got, small[:5]) {
		t.Fatalf("replaced blob: %q", got)
	}
	if free, err := f.Free(); err != nil || free == 0 {
		t.Fatalf("Free: %d %v", free, err)
	}
}

// An interrupted upload is kept uncommitted, listed for the sweep, and continued with Append.
func filesKeepAppend(t *testing.T, b filesBackend) {
	f := b.open(t)
	data := randomBytes(200_000)
	w, err := f.Create("up/x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(data[:120_000], 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Keep(); err != nil {
		t.Fatal(err)
	}
	var unc []string
	f.WalkUncommitted("up/", func(name string) error { unc = append(unc, name); return nil })
	if len(unc) != 1 || unc[0] != "up/x" {
		t.Fatalf("WalkUncommitted: %v", unc)
	}
	if _, err := f.Open("up/x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("kept blob visible: %v", err)
	}
	if _, err := f.Append("up/missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Append of nothing: %v", err)
	}
	w, err = f.Append("up/x")
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != 120_000 {
		t.Fatalf("appended Size %d", w.Size())
	}
	if _, err := w.WriteAt(data[120_000:], 120_000); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, f, "up/x"); !bytes.Equal(got, data) {
		t.Fatal("resumed blob differs")
	}
	unc = nil
	f.WalkUncommitted("", func(name string) error { unc = append(unc, name); return nil })
	if len(unc) != 0 {
		t.Fatalf("after Commit, uncommitted: %v", unc)
	}
	// Kept, then given up.
	w, _ = f.Create("up/y")
	w.Write([]byte("half"))
	w.Keep()
	w, err = f.Append("up/y")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Append("up/y"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("aborted kept blob: %v", err)
	}
}

// A damaged blob is reported, never served, and stays refused.
func filesDamage(t *testing.T, b filesBackend) {
	f := b.open(t)
	data := randomBytes(50_000)
	for _, c := range []struct{ name, how string }{{"d/flipped", "flip"}, {"d/short", "truncate"}, {"d/large", "flip"}} {
		content := data
		if c.name == "d/large" {
			content = randomBytes(2 << 20) // read through a local file, not memory
		}
		putBlob(t, f, c.name, content, false)
		bad := bytes.Clone(content)
		if c.how == "flip" {
			bad[len(bad)/2] ^= 1
		} else {
			bad = bad[:len(bad)-1]
		}
		b.damage(t, f, c.name, bad)
		if _, err := f.Open(c.name); !errors.Is(err, ErrDamaged) {
			t.Fatalf("%s: Open gave %v, want ErrDamaged", c.name, err)
		}
		if _, err := f.Open(c.name); !errors.Is(err, ErrDamaged) {
			t.Fatalf("%s: second Open gave %v, want ErrDamaged", c.name, err)
		}
		if got := walkNames(t, f, c.name); len(got) != 0 {
			t.Fatalf("%s: damaged blob still listed: %v", c.name, got)
		}
		if err := f.Remove(c.name); err != nil {
			t.Fatalf("%s: Remove of damaged: %v", c.name, err)
		}
		if _, err := f.Open(c.name); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: after Remove: %v", c.name, err)
		}
	}
	putBlob(t, f, "d/verify", data, false)
	b.damage(t, f, "d/verify", append(bytes.Clone(data[:100]), 'x'))
	if err := f.Verify("d/verify"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("Verify: %v, want ErrDamaged", err)
	}
	if err := f.Verify("d/none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Verify of nothing: %v", err)
	}
}

func filesRemoveAndPin(t *testing.T, b filesBackend) {
	f := b.open(t)
	data := randomBytes(10_000)
	putBlob(t, f, "p/a", data, false)
	putBlob(t, f, "p/b", data[:10], false)
	if err := f.Remove("p/none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Remove of nothing: %v", err)
	}
	release := f.Pin()
	if err := f.Remove("p/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open("p/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed under pin, Open: %v", err)
	}
	r, sum, err := f.OpenPinned("p/a")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	want := sha256Sum(data)
	if !bytes.Equal(got, data) || !bytes.Equal(sum, want) {
		t.Fatalf("OpenPinned: %d bytes, sum %x", len(got), sum)
	}
	release()
	release() // twice is once
	if _, _, err := f.OpenPinned("p/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after release: %v", err)
	}
	if _, sum, err := f.OpenPinned("p/b"); err != nil || !bytes.Equal(sum, sha256Sum(data[:10])) {
		t.Fatalf("OpenPinned of a live blob: %x %v", sum, err)
	}
	names := walkNames(t, f, "")
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "p/b" {
		t.Fatalf("Walk after remove and release: %v", keys)
	}
}

func filesNames(t *testing.T, b filesBackend) {
	f := b.open(t)
	for _, bad := range []string{"", "/abs", "a/../b", "a//b", "a/", "..", "a\x00b"} {
		if _, err := f.Create(bad); err == nil {
			t.Errorf("Create(%q) accepted", bad)
		}
		if _, err := f.Open(bad); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q): %v", bad, err)
		}
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
