package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	w, err := f.Create("m/changed")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if _, err := w.(*s3Writer).f.WriteAt([]byte{data[1000] ^ 0xff}, 1000); err != nil {
		t.Fatal(err)
	}
	err = w.Commit()
	if err == nil || !strings.Contains(err.Error(), "upload m/changed") {
		t.Fatalf("Commit of a changed spool: %v, want an upload error", err)
	}
	if _, err := f.Open("m/changed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after the refused PUT: %v, want ErrNotFound", err)
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
