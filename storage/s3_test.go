package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"knooppunt/storage/storagetest"
)

// Above 16 MB minio-go uploads in parts: the object still appears only at the end, with its
// checksum, and reads back whole.
func TestS3MultipartCommit(t *testing.T) {
	f := s3Backend.open(t)
	data := randomBytes(20 << 20)
	putBlob(t, f, "m/big", data, true)
	if got := readBlob(t, f, "m/big"); !bytes.Equal(got, data) {
		t.Fatal("multipart blob differs")
	}
	if err := f.Verify("m/big"); err != nil {
		t.Fatal(err)
	}
}

// The server checks a PUT's bytes against the SHA-256 taken while spooling: bytes that changed
// in the spool file after they were written (a bad disk, a stray writer) fail the Commit, and
// nothing is published under the name. Keep and a good Commit still work.
func TestS3PutChecksumCheckedByServer(t *testing.T) {
	f := s3Backend.open(t)
	data := randomBytes(200 << 10) // a delivery ZIP's size
	// Spooled in memory (a delivery ZIP) and in a file (past memSpool).
	for _, size := range []int{len(data), memSpool + 1000} {
		big := randomBytes(size)
		w, err := f.Create("m/changed")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(big); err != nil {
			t.Fatal(err)
		}
		sw := w.(*s3Writer)
		if inMemory := sw.f == nil; inMemory != (size <= memSpool) {
			t.Fatalf("a blob of %d bytes spooled in memory: %v", size, inMemory)
		}
		if sw.f == nil {
			sw.mem[1000] ^= 0xff
		} else if _, err := sw.f.WriteAt([]byte{big[1000] ^ 0xff}, 1000); err != nil {
			t.Fatal(err)
		}
		err = w.Commit()
		if err == nil || !strings.Contains(err.Error(), "upload m/changed") {
			t.Fatalf("Commit of a changed spool of %d bytes: %v, want an upload error", size, err)
		}
		if _, err := f.Open("m/changed"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Open after the refused PUT: %v, want ErrNotFound", err)
		}
	}
	putBlob(t, f, "m/good", data, false)
	if got := readBlob(t, f, "m/good"); !bytes.Equal(got, data) {
		t.Fatal("blob differs")
	}
	k, err := f.Create("m/kept")
	if err != nil {
		t.Fatal(err)
	}
	k.Write(data[:100])
	if err := k.Keep(); err != nil {
		t.Fatal(err)
	}
	a, err := f.Append("m/kept")
	if err != nil {
		t.Fatal(err)
	}
	a.Write(data[100:])
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, f, "m/kept"); !bytes.Equal(got, data) {
		t.Fatal("kept and appended blob differs")
	}
}

// BenchmarkS3Put commits 200 KB blobs (a delivery ZIP's size), 8 at a time as the engine
// delivers, and reports this process's CPU per PUT: the client's share, which the checksum
// header keeps to the spool's one SHA-256.
func BenchmarkS3Put(b *testing.B) {
	bk := storagetest.S3Bucket(b)
	f, err := OpenS3(context.Background(), S3Config{Endpoint: bk.Endpoint, Bucket: bk.Bucket, Prefix: bk.Prefix,
		AccessKey: bk.AccessKey, SecretKey: bk.SecretKey, SpoolDir: filepath.Join(b.TempDir(), "spool")})
	if err != nil {
		b.Fatal(err)
	}
	defer f.removeAll("")
	data := randomBytes(200 << 10)
	var n atomic.Int64
	cpu0 := processCPUSelf()
	b.SetParallelism(4) // GOMAXPROCS 2 on the shared machine: 8 at a time
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := fmt.Sprintf("bench/%d", n.Add(1))
			w, err := f.Create(name)
			if err != nil {
				b.Error(err)
				return
			}
			w.Write(data)
			if err := w.Commit(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64((processCPUSelf()-cpu0).Microseconds())/float64(b.N), "µs-CPU/put")
	b.SetBytes(int64(len(data)))
}

func processCPUSelf() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A blob being written stays in memory up to memSpool and costs no spool file; past it, written
// out of order by concurrent writers (pkg/sftp) across that boundary, it moves to a file whole.
// Both read back as written, and neither leaves a file behind.
func TestS3SpoolsSmallBlobsInMemory(t *testing.T) {
	f := s3Backend.open(t)
	spool := f.(*S3).spool
	files := func() int {
		t.Helper()
		es, err := os.ReadDir(spool)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range es {
			if !e.IsDir() {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		size      int
		wantFiles int
	}{{memSpool - 10, 0}, {memSpool + 40_000, 1}, {3 * memSpool, 1}} {
		data := randomBytes(c.size)
		w, err := f.Create("m/spooled")
		if err != nil {
			t.Fatal(err)
		}
		writeData(t, w, data, true, 16<<10)
		if n := files(); n != c.wantFiles {
			t.Errorf("a blob of %d bytes being written has %d spool files, want %d", c.size, n, c.wantFiles)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := readBlob(t, f, "m/spooled"); !bytes.Equal(got, data) {
			t.Fatalf("a blob of %d bytes written out of order reads back different", c.size)
		}
		if n := files(); n != 0 {
			t.Errorf("%d spool files left after the commit", n)
		}
	}
}
