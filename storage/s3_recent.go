package storage

import (
	"bytes"
	"container/list"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// The recent cache keeps the spool files of blobs this process just committed, so that its
// own next Open of such a blob (the engine opens an upload moments after the SFTP close
// committed it) reads the local file instead of GETting the object back: a HEAD still
// decides whether the local copy is the object's (same ETag, SHA-256 and length), because
// another node may have replaced or removed it, and the local file is checked against the
// SHA-256 before a byte is handed out, as Disk checks its own files.
const (
	// DefaultRecentCache is the budget of the recent cache when S3Config.RecentCache is 0.
	DefaultRecentCache = 256 << 20
	// recentMaxBlob is the largest blob kept: Open checks the checksum of a blob up to
	// VerifyOnOpen, so every blob served from the cache is checked first.
	recentMaxBlob = VerifyOnOpen
	// recentTTL is how long a blob is kept: long enough for the processing that follows an
	// upload to open it, short enough that the files do not linger.
	recentTTL = 2 * time.Minute
	// recentDir is the cache's subdirectory of the spool dir, which OpenS3 empties.
	recentDir = "recent"
)

type recentBlobs struct {
	dir    string
	budget int64
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*recentBlob
	order   *list.List // of *recentBlob, oldest first
	total   int64
	seq     uint64

	// What Open found, for tests and measurements.
	hits, stale, damaged atomic.Int64
}

type recentBlob struct {
	name string
	path string
	size int64
	sum  []byte
	etag string
	at   time.Time
	elem *list.Element
}

// newRecentBlobs makes the cache in dir (created here), or returns nil when budget says off.
func newRecentBlobs(dir string, budget int64, now func() time.Time) (*recentBlobs, error) {
	if budget < 0 {
		return nil, nil
	}
	if budget == 0 {
		budget = DefaultRecentCache
	}
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spoolmap %s: %w", dir, err)
	}
	return &recentBlobs{dir: dir, budget: budget, now: now, entries: map[string]*recentBlob{}, order: list.New()}, nil
}

// put takes over the spool file f (closed or not, it is closed here) as the local copy of
// name, committed with size, sum and etag, or removes it when the blob is too large or the
// server gave no ETag to tell this version by. Any older copy of name goes.
func (c *recentBlobs) put(name string, f *os.File, size int64, sum []byte, etag string) {
	f.Close()
	if c == nil || size > recentMaxBlob || size > c.budget || etag == "" {
		os.Remove(f.Name())
		c.drop(name)
		return
	}
	c.mu.Lock()
	c.seq++
	path := filepath.Join(c.dir, fmt.Sprintf("%016x", c.seq))
	if err := os.Rename(f.Name(), path); err != nil {
		c.mu.Unlock()
		os.Remove(f.Name())
		c.drop(name)
		return
	}
	now := c.now()
	gone := c.expireLocked(now)
	if old := c.entries[name]; old != nil {
		gone = append(gone, c.removeLocked(old))
	}
	for c.total+size > c.budget {
		gone = append(gone, c.removeLocked(c.order.Front().Value.(*recentBlob)))
	}
	e := &recentBlob{name: name, path: path, size: size, sum: sum, etag: etag, at: now}
	e.elem = c.order.PushBack(e)
	c.entries[name] = e
	c.total += size
	c.mu.Unlock()
	removeFiles(gone)
}

// open returns a reader on the local copy of name when it is the object a HEAD just saw
// (size, sum, etag) and its bytes still match sum; otherwise nil, and the caller reads the
// object. A copy that does not match is dropped.
func (c *recentBlobs) open(name string, size int64, sum []byte, etag string) Reader {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	gone := c.expireLocked(c.now())
	e := c.entries[name]
	var f *os.File
	if e != nil {
		if e.size != size || e.etag != etag || !bytes.Equal(e.sum, sum) {
			// Replaced since this process wrote it (another node, or a version the HEAD
			// saw before this process's newer Commit): the object decides.
			c.stale.Add(1)
			gone = append(gone, c.removeLocked(e))
			e = nil
		} else if ff, err := os.Open(e.path); err == nil {
			// Opened under the lock: an eviction from now on unlinks a file this
			// reader keeps open.
			f = ff
		} else {
			gone = append(gone, c.removeLocked(e))
			e = nil
		}
	}
	c.mu.Unlock()
	removeFiles(gone)
	if f == nil {
		return nil
	}
	// Every cached blob is at most VerifyOnOpen: checked whole, as Disk checks its own.
	if reason, err := checkSum(f, size, sum); err != nil || reason != "" {
		f.Close()
		c.damaged.Add(1)
		c.forget(e.name, e)
		return nil
	}
	c.hits.Add(1)
	return &s3Reader{ReaderAt: f, r: io.NewSectionReader(f, 0, size), size: size, close: f.Close}
}

// drop forgets the local copy of name (a Remove, a new Commit, a quarantine).
func (c *recentBlobs) drop(name string) {
	if c != nil {
		c.forget(name, nil)
	}
}

// forget removes name's copy: whichever it is (only nil), or only while it is still only.
func (c *recentBlobs) forget(name string, only *recentBlob) {
	c.mu.Lock()
	var gone []string
	if e := c.entries[name]; e != nil && (only == nil || e == only) {
		gone = append(gone, c.removeLocked(e))
	}
	c.mu.Unlock()
	removeFiles(gone)
}

// expireLocked removes the entries older than recentTTL and returns their files.
func (c *recentBlobs) expireLocked(now time.Time) []string {
	var gone []string
	for f := c.order.Front(); f != nil; f = c.order.Front() {
		e := f.Value.(*recentBlob)
		if now.Sub(e.at) < recentTTL {
			break
		}
		gone = append(gone, c.removeLocked(e))
	}
	return gone
}

// removeLocked takes e out of the cache and returns its file, which the caller removes after
// unlocking (readers that opened it keep reading).
func (c *recentBlobs) removeLocked(e *recentBlob) string {
	c.order.Remove(e.elem)
	delete(c.entries, e.name)
	c.total -= e.size
	return e.path
}

func removeFiles(paths []string) {
	for _, p := range paths {
		os.Remove(p)
	}
}
