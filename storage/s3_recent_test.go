package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"knooppunt/storage/storagetest"
)

// countingS3 is an S3 store on the test server whose requests are counted: how many GETs
// read a committed blob's bytes tells whether Open served the local copy.
type countingS3 struct {
	*S3
	gets atomic.Int64 // GETs of objects under blobs/
}

type countGets struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (c countGets) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
		c.n.Add(1)
	}
	return c.base.RoundTrip(r)
}

// openCountingS3 opens an S3 store on bucket b with cfg's cache settings; its client counts
// the GETs of blobs.
func openCountingS3(t *testing.T, b storagetest.S3, cfg S3Config) *countingS3 {
	t.Helper()
	cfg.Endpoint, cfg.Bucket, cfg.Prefix, cfg.AccessKey, cfg.SecretKey = b.Endpoint, b.Bucket, b.Prefix, b.AccessKey, b.SecretKey
	cfg.SpoolDir = filepath.Join(t.TempDir(), "spool")
	s, err := OpenS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.removeAll("") })
	// Every blob through a spool file, which is what the cache keeps: the tests' blobs are
	// small for speed (TestS3RecentSkipsMemorySpooled has the default).
	s.memSpool = 0
	cs := &countingS3{S3: s}
	u, _ := url.Parse(b.Endpoint)
	s.c, err = minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(b.AccessKey, b.SecretKey, ""),
		Region: "us-east-1", Transport: countGets{base: http.DefaultTransport, n: &cs.gets}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// readCounted reads name whole and returns its bytes and the GETs of blobs that took.
func (s *countingS3) readCounted(t *testing.T, name string) ([]byte, int64) {
	t.Helper()
	before := s.gets.Load()
	got := readBlob(t, s, name)
	return got, s.gets.Load() - before
}

func (s *countingS3) cached(name string) *recentBlob {
	s.recent.mu.Lock()
	defer s.recent.mu.Unlock()
	return s.recent.entries[name]
}

// A blob this process committed is read back from its spool file, not GET from the server
// (still HEADed); with the cache off, the same Open GETs it. Verify, the integrity check,
// always reads the object.
func TestS3RecentServesOwnCommit(t *testing.T) {
	b := storagetest.S3Bucket(t)
	s := openCountingS3(t, b, S3Config{})
	small, big := randomBytes(200<<10), randomBytes(3<<20) // in memory, through a file when GET
	multi := bytes.Repeat(small, 90)                       // 18 MB: a multipart upload, its own ETag
	putBlob(t, s, "r/small", small, false)
	putBlob(t, s, "r/big", big, true)
	putBlob(t, s, "r/multi", multi, false)
	for name, want := range map[string][]byte{"r/small": small, "r/big": big, "r/multi": multi} {
		got, gets := s.readCounted(t, name)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: read %d bytes that differ from the %d written", name, len(got), len(want))
		}
		if gets != 0 {
			t.Fatalf("%s: %d GETs, want 0 (served from the local copy)", name, gets)
		}
	}
	if h := s.recent.hits.Load(); h != 3 {
		t.Fatalf("%d hits, want 3", h)
	}
	before := s.gets.Load()
	if err := s.Verify("r/small"); err != nil {
		t.Fatal(err)
	}
	if s.gets.Load() == before {
		t.Fatal("Verify read the local copy, want the object")
	}
	// The spool dir holds the three copies, nothing else.
	if es, _ := os.ReadDir(filepath.Join(s.spool, recentDir)); len(es) != 3 {
		t.Fatalf("%d files in the cache, want 3", len(es))
	}

	off := openCountingS3(t, b, S3Config{RecentCache: -1})
	putBlob(t, off, "r/off", small, false)
	if got, gets := off.readCounted(t, "r/off"); !bytes.Equal(got, small) || gets != 1 {
		t.Fatalf("cache off: %d GETs, equal %v; want 1 GET", gets, bytes.Equal(got, small))
	}
	if es, _ := os.ReadDir(off.spool); len(es) != 0 {
		t.Fatalf("cache off: %d files left in the spool", len(es))
	}
}

// Another node (another S3 store on the same bucket) that replaces or removes a blob this
// node committed: this node reads the other's version, or nothing, never its own copy.
func TestS3RecentNotStaleAcrossNodes(t *testing.T) {
	b := storagetest.S3Bucket(t)
	a := openCountingS3(t, b, S3Config{})
	other := openCountingS3(t, b, S3Config{})
	mine, theirs := randomBytes(100_000), randomBytes(100_000) // same length: the checksum tells
	putBlob(t, a, "n/x", mine, false)
	putBlob(t, other, "n/x", theirs, false)
	if got, gets := a.readCounted(t, "n/x"); !bytes.Equal(got, theirs) || gets != 1 {
		t.Fatalf("after the other node's Commit: got its version %v, %d GETs", bytes.Equal(got, theirs), gets)
	}
	if a.recent.stale.Load() != 1 || a.cached("n/x") != nil {
		t.Fatalf("stale copy: counted %d, still cached %v", a.recent.stale.Load(), a.cached("n/x") != nil)
	}

	// The same bytes and metadata, put again by the other node (a hand edit or a copy that
	// carries the metadata): the ETag tells the version, and the object is read.
	putBlob(t, a, "n/y", mine, false)
	s3Backend.damage(t, other.S3, "n/y", theirs)
	if _, err := a.Open("n/y"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("object replaced with the recorded checksum kept: %v, want ErrDamaged", err)
	}

	putBlob(t, a, "n/z", mine, false)
	if err := other.Remove("n/z"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Open("n/z"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed by the other node: %v, want ErrNotFound", err)
	}
	if a.cached("n/z") != nil {
		t.Fatal("removed blob still cached")
	}
}

// A local copy whose bytes changed (a bad disk, a stray writer) is not served: Open reads
// the object instead; when the object is damaged too, Open reports it.
func TestS3RecentDamagedLocalCopy(t *testing.T) {
	s := openCountingS3(t, storagetest.S3Bucket(t), S3Config{})
	data := randomBytes(150_000)
	damageCopy := func(name string) {
		e := s.cached(name)
		if e == nil {
			t.Fatalf("%s not cached", name)
		}
		f, err := os.OpenFile(e.path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt([]byte{data[777] ^ 0x10}, 777); err != nil {
			t.Fatal(err)
		}
	}
	putBlob(t, s, "d/copy", data, false)
	damageCopy("d/copy")
	if got, gets := s.readCounted(t, "d/copy"); !bytes.Equal(got, data) || gets != 1 {
		t.Fatalf("damaged copy: good bytes %v, %d GETs; want the object's", bytes.Equal(got, data), gets)
	}
	if s.recent.damaged.Load() != 1 || s.cached("d/copy") != nil {
		t.Fatalf("damaged copy: counted %d, still cached %v", s.recent.damaged.Load(), s.cached("d/copy") != nil)
	}
	if got, gets := s.readCounted(t, "d/copy"); !bytes.Equal(got, data) || gets != 1 {
		t.Fatalf("second read: good %v, %d GETs", bytes.Equal(got, data), gets)
	}

	putBlob(t, s, "d/both", data, false)
	damageCopy("d/both")
	bad := bytes.Clone(data)
	bad[9] ^= 1
	s3Backend.damage(t, s.S3, "d/both", bad)
	if _, err := s.Open("d/both"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("copy and object damaged: %v, want ErrDamaged", err)
	}
}

// Remove, a new Commit and a quarantine drop the local copy; a failed Commit leaves none.
func TestS3RecentDroppedWithTheBlob(t *testing.T) {
	s := openCountingS3(t, storagetest.S3Bucket(t), S3Config{})
	data := randomBytes(50_000)
	putBlob(t, s, "x/a", data, false)
	path := s.cached("x/a").path
	if err := s.Remove("x/a"); err != nil {
		t.Fatal(err)
	}
	if s.cached("x/a") != nil {
		t.Fatal("removed blob still cached")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("removed blob's copy: %v", err)
	}
	if _, err := s.Open("x/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after Remove: %v", err)
	}

	putBlob(t, s, "x/b", data, false)
	putBlob(t, s, "x/b", data[:10], false)
	if got, gets := s.readCounted(t, "x/b"); !bytes.Equal(got, data[:10]) || gets != 0 {
		t.Fatalf("new version: %d bytes, %d GETs", len(got), gets)
	}
	if s.recent.total != 10 {
		t.Fatalf("cache total %d bytes, want 10", s.recent.total)
	}

	// A Commit the server refuses (the spool changed after the write: the CRC differs).
	w, err := s.Create("x/b")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.(*s3Writer).f.WriteAt([]byte{data[5] ^ 1}, 5)
	if err := w.Commit(); err == nil {
		t.Fatal("Commit of a changed spool succeeded")
	}
	if s.cached("x/b") != nil {
		t.Fatal("copy kept over a failed Commit")
	}
	if got := readBlob(t, s, "x/b"); !bytes.Equal(got, data[:10]) {
		t.Fatalf("after the failed Commit: %d bytes", len(got))
	}
}

// The budget evicts the oldest copies first, a blob above it is not kept, copies expire after
// recentTTL, and a reader handed out keeps reading when its copy goes meanwhile.
func TestS3RecentBudgetAndAge(t *testing.T) {
	clock := storagetest.NewClock(time.Date(2026, 12, 6, 11, 0, 0, 0, time.UTC))
	s := openCountingS3(t, storagetest.S3Bucket(t), S3Config{RecentCache: 250_000, Clock: clock.Now})
	blobs := map[string][]byte{}
	for _, name := range []string{"b/1", "b/2", "b/3"} {
		blobs[name] = randomBytes(100_000)
		putBlob(t, s, name, blobs[name], false)
		clock.Add(time.Second)
	}
	if s.cached("b/1") != nil || s.cached("b/2") == nil || s.cached("b/3") == nil {
		t.Fatalf("after 300 KB into 250 KB: b/1 %v b/2 %v b/3 %v, want only the two newest",
			s.cached("b/1") != nil, s.cached("b/2") != nil, s.cached("b/3") != nil)
	}
	if _, gets := s.readCounted(t, "b/1"); gets != 1 {
		t.Fatalf("evicted b/1: %d GETs, want 1", gets)
	}
	r, err := s.Open("b/2") // from the copy
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	putBlob(t, s, "b/big", randomBytes(300_000), false) // above the budget: not kept, evicts nothing
	if s.cached("b/big") != nil || s.cached("b/2") == nil {
		t.Fatal("a blob above the budget was kept, or pushed others out")
	}
	blobs["b/4"], blobs["b/5"] = randomBytes(100_000), randomBytes(100_000)
	putBlob(t, s, "b/4", blobs["b/4"], false)
	putBlob(t, s, "b/5", blobs["b/5"], false)
	if s.cached("b/2") != nil || s.cached("b/3") != nil {
		t.Fatal("b/2 and b/3 not evicted")
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, blobs["b/2"]) {
		t.Fatalf("reader of an evicted copy: %v, equal %v", err, bytes.Equal(got, blobs["b/2"]))
	}
	if es, _ := os.ReadDir(filepath.Join(s.spool, recentDir)); len(es) != 2 {
		t.Fatalf("%d files in the cache, want 2", len(es))
	}

	clock.Add(recentTTL - time.Second)
	if _, gets := s.readCounted(t, "b/5"); gets != 0 {
		t.Fatalf("b/5 just under the TTL: %d GETs", gets)
	}
	clock.Add(time.Second)
	if got, gets := s.readCounted(t, "b/5"); gets != 1 || !bytes.Equal(got, blobs["b/5"]) {
		t.Fatalf("b/5 after the TTL: %d GETs", gets)
	}
	if s.cached("b/4") != nil || s.recent.total != 0 {
		t.Fatalf("expired copies kept: %d bytes", s.recent.total)
	}
	if es, _ := os.ReadDir(filepath.Join(s.spool, recentDir)); len(es) != 0 {
		t.Fatalf("%d files left in the cache", len(es))
	}
}

// Commits, Opens and Removes of the same names at once, under a budget that evicts all the
// time (and with the cache off): every Open returns one whole version, ErrNotFound, or, when
// the name was replaced under it again and again, says so; never a good blob taken for a
// damaged one (the GET asks for the version the HEAD saw).
func TestS3RecentConcurrent(t *testing.T) {
	for _, budget := range []int64{120_000, -1} {
		t.Run(fmt.Sprint(budget), func(t *testing.T) { testS3RecentConcurrent(t, budget) })
	}
}

func testS3RecentConcurrent(t *testing.T, budget int64) {
	s := openCountingS3(t, storagetest.S3Bucket(t), S3Config{RecentCache: budget})
	var wg sync.WaitGroup
	var opened, replaced atomic.Int64
	for g := range 6 {
		wg.Go(func() {
			name := fmt.Sprintf("c/%d", g%3) // two goroutines a name: one writes, one reads
			for i := range 15 {
				if g < 3 {
					data := bytes.Repeat([]byte{byte(i)}, 40_000)
					if err := putBlobErr(s, name, data); err != nil {
						t.Error(err)
						return
					}
					if i%5 == 4 {
						if err := s.Remove(name); err != nil && !errors.Is(err, ErrNotFound) {
							t.Error(err)
						}
					}
					continue
				}
				r, err := s.Open(name)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if changedSinceHead(err) && strings.Contains(err.Error(), "vervangen terwijl het gelezen werd") {
					replaced.Add(1)
					continue
				}
				if err != nil {
					t.Errorf("Open %s: %v", name, err)
					return
				}
				opened.Add(1)
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || len(got) != 40_000 || !bytes.Equal(got, bytes.Repeat(got[:1], len(got))) {
					t.Errorf("Open %s: %d bytes, %v, not one version", name, len(got), err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d opened, %d replaced while read", opened.Load(), replaced.Load())
	if s.recent == nil {
		return
	}
	s.recent.mu.Lock()
	defer s.recent.mu.Unlock()
	var sum int64
	for _, e := range s.recent.entries {
		sum += e.size
	}
	if sum != s.recent.total || s.recent.total > budget || len(s.recent.entries) != s.recent.order.Len() {
		t.Fatalf("cache books: %d entries, %d in order, %d bytes counted, %d total", len(s.recent.entries), s.recent.order.Len(), sum, s.recent.total)
	}
}

func putBlobErr(f Files, name string, data []byte) error {
	w, err := f.Create(name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

// BenchmarkS3OpenCommitted opens and reads a blob just committed, as the engine opens an
// upload after its close: from the local copy (cache) or from the server (off). The upload's
// size: the 3,000-message ZIP of BenchmarkThroughput is 9.98 MB; a delivery ZIP ~200 KB.
func BenchmarkS3OpenCommitted(b *testing.B) {
	for _, size := range []int{200 << 10, 10 << 20} {
		for _, c := range []struct {
			name   string
			budget int64
		}{{"cache", 0}, {"off", -1}} {
			b.Run(fmt.Sprintf("%dKB/%s", size>>10, c.name), func(b *testing.B) {
				bk := storagetest.S3Bucket(b)
				s, err := OpenS3(context.Background(), S3Config{Endpoint: bk.Endpoint, Bucket: bk.Bucket, Prefix: bk.Prefix,
					AccessKey: bk.AccessKey, SecretKey: bk.SecretKey, SpoolDir: filepath.Join(b.TempDir(), "spool"), RecentCache: c.budget})
				if err != nil {
					b.Fatal(err)
				}
				defer s.removeAll("")
				data := randomBytes(size)
				var cpu time.Duration
				i := 0
				for b.Loop() {
					b.StopTimer()
					i++
					name := fmt.Sprintf("bench/%d", i)
					w, err := s.Create(name)
					if err != nil {
						b.Fatal(err)
					}
					w.Write(data)
					if err := w.Commit(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					cpu0 := processCPUSelf()
					r, err := s.Open(name)
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.Copy(io.Discard, r); err != nil || n != int64(size) {
						b.Fatalf("read %d bytes: %v", n, err)
					}
					r.Close()
					cpu += processCPUSelf() - cpu0
				}
				b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "µs-CPU/open")
				b.SetBytes(int64(size))
			})
		}
	}
}

// A blob spooled in memory (up to memSpool: a delivery file) is not kept, as it costs no file
// and little to read back; one spooled to a file (an upload) is.
func TestS3RecentSkipsMemorySpooled(t *testing.T) {
	b := storagetest.S3Bucket(t)
	s := openCountingS3(t, b, S3Config{})
	s.memSpool = memSpool
	small, big := randomBytes(memSpool/2), randomBytes(memSpool+1)
	putBlob(t, s, "m/small", small, false)
	putBlob(t, s, "m/big", big, true)
	if got, gets := s.readCounted(t, "m/small"); !bytes.Equal(got, small) || gets != 1 {
		t.Fatalf("memory-spooled blob: %d GETs, equal %v; want 1 GET", gets, bytes.Equal(got, small))
	}
	if got, gets := s.readCounted(t, "m/big"); !bytes.Equal(got, big) || gets != 0 {
		t.Fatalf("file-spooled blob: %d GETs, equal %v; want 0 (the local copy)", gets, bytes.Equal(got, big))
	}
}

// beforeGet runs hook once, before the first GET of an object whose path ends in suffix.
type beforeGet struct {
	base   http.RoundTripper
	suffix string
	once   *sync.Once
	hook   func()
}

func (b beforeGet) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, b.suffix) {
		b.once.Do(b.hook)
	}
	return b.base.RoundTrip(r)
}

// A pinned blob removed between OpenPinned's HEAD and its GET (an upload's blob removed after
// delivery while a backup copies it) is read from the attic, where the removal under the pin
// put it: CI saw the backup fail with "The specified key does not exist".
func TestS3OpenPinnedRemovedBetweenHeadAndGet(t *testing.T) {
	b := storagetest.S3Bucket(t)
	s := openCountingS3(t, b, S3Config{RecentCache: -1})
	data := randomBytes(300_000)
	putBlob(t, s, "p/x", data, false)
	release := s.Pin()
	defer release()
	orig := s.c
	u, _ := url.Parse(b.Endpoint)
	raced, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(b.AccessKey, b.SecretKey, ""), Region: "us-east-1",
		Transport: beforeGet{base: http.DefaultTransport, suffix: "/blobs/p/x", once: &sync.Once{}, hook: func() {
			// What removeBlob does under a pin, with the untouched client.
			ctx := context.Background()
			if _, err := orig.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: s.key("attic", "p/x")},
				minio.CopySrcOptions{Bucket: s.bucket, Object: s.key("blobs", "p/x")}); err != nil {
				t.Error(err)
			}
			if err := orig.RemoveObject(ctx, s.bucket, s.key("blobs", "p/x"), minio.RemoveObjectOptions{}); err != nil {
				t.Error(err)
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	s.c = raced
	r, sum, err := s.OpenPinned("p/x")
	if err != nil {
		t.Fatalf("OpenPinned of a blob removed under a pin: %v", err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) || !bytes.Equal(sum, sha256Sum(data)) {
		t.Fatalf("read %d bytes (%v), equal %v, sum ok %v", len(got), err, bytes.Equal(got, data), bytes.Equal(sum, sha256Sum(data)))
	}
}
