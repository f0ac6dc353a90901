package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sys/unix"
)

// S3 is a Files on S3-compatible object storage, with the Disk's semantics:
//
//   - A blob's bytes are spooled to a local file (pkg/sftp writes concurrently and out of
//     order) and uploaded at Commit with one PUT, or a multipart upload that minio-go starts
//     above 16 MB: either way the object appears under blobs/<name> whole, at once, or not.
//   - Every object carries the SHA-256 and length of its content in its metadata
//     (x-amz-meta-knooppunt-sha256, -size), taken while spooling. Open checks the length
//     always and the checksum up to VerifyOnOpen before handing out a byte; a blob that fails
//     is copied to damaged/<name>, removed from blobs/ and reported as ErrDamaged.
//   - Keep uploads the spool as tmp/<name>, where Append (on any node) picks it up again and
//     WalkUncommitted finds it. A blob being written lives only in the local spool, which
//     OpenS3 empties: after a crash nothing of it exists, as after a crash of Disk's sweep.
//   - Pin parks removed blobs under attic/ (a server-side copy) until the last release.
//   - A blob this process commits stays in the spool dir for a while (s3_recent.go): its
//     own next Open reads it there once a HEAD shows the object is still that version.
//
// Pins are per process: with several nodes on one bucket, a blob another node removes is not
// kept for this node's backup (multi-node pins belong in the database).
type S3 struct {
	c *minio.Client
	// put sends single PUTs that carry the spool's CRC-32C as x-amz-checksum-crc32c (upload).
	// minio-go lets a caller set that header only on a client with TrailingHeaders; nothing
	// else uses this client, so no request of c changes.
	put    *minio.Client
	bucket string
	prefix string
	spool  string
	// memSpool: a blob being written stays in memory up to this size (spool.mem).
	memSpool int64
	// timeout bounds each call to the server (timeout.go).
	timeout time.Duration

	pinMu  sync.RWMutex
	pinned int

	// recent holds blobs this process committed, for its own reads (nil: off).
	recent *recentBlobs
}

// S3Config says where an S3 store keeps its blobs.
type S3Config struct {
	Endpoint  string // http(s)://host:port
	Bucket    string
	Prefix    string // key prefix inside the bucket, "" or ending in "/"
	AccessKey string
	SecretKey string
	Region    string
	// SpoolDir holds blobs being written until their Commit or Keep; one process per dir.
	SpoolDir string
	// RecentCache is how many bytes of blobs this process committed it keeps in SpoolDir
	// for its own next reads (each at most 64 MB, for 2 minutes): 0 means
	// DefaultRecentCache, less than 0 none.
	RecentCache int64
	// Clock tells the recent cache's entries' age; nil: time.Now.
	Clock func() time.Time
}

// OpenS3 connects to the bucket (which must exist) and empties the spool directory.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("S3-adres %q: verwacht http(s)://host[:poort]", cfg.Endpoint)
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	opts := minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: u.Scheme == "https",
		Region: cfg.Region,
	}
	c, err := minio.New(u.Host, &opts)
	if err != nil {
		return nil, fmt.Errorf("S3 %s: %w", cfg.Endpoint, err)
	}
	opts.TrailingHeaders = true
	put, err := minio.New(u.Host, &opts)
	if err != nil {
		return nil, fmt.Errorf("S3 %s: %w", cfg.Endpoint, err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("S3 %s, bucket %s: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	if !ok {
		return nil, fmt.Errorf("S3 %s: bucket %s bestaat niet; maak hem eerst aan", cfg.Endpoint, cfg.Bucket)
	}
	if err := os.RemoveAll(cfg.SpoolDir); err != nil {
		return nil, fmt.Errorf("spoolmap %s: %w", cfg.SpoolDir, err)
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("spoolmap %s: %w", cfg.SpoolDir, err)
	}
	recent, err := newRecentBlobs(filepath.Join(cfg.SpoolDir, recentDir), cfg.RecentCache, cfg.Clock)
	if err != nil {
		return nil, err
	}
	s := &S3{c: c, put: put, bucket: cfg.Bucket, prefix: cfg.Prefix, spool: cfg.SpoolDir, timeout: DefaultCallTimeout, recent: recent, memSpool: memSpool}
	// Blobs parked for a backup that did not finish (a crash of this process): with one
	// process per bucket, nothing points to them.
	s.removeAll("attic/")
	return s, nil
}

const (
	metaSHA  = "knooppunt-sha256"
	metaSize = "knooppunt-size"
)

// newCRC32C returns a CRC-32C (hardware-assisted on amd64 and arm64; the table is made once,
// inside hash/crc32).
func newCRC32C() hash.Hash32 { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) }

func (s *S3) key(area, name string) string { return s.prefix + area + "/" + name }

func isNoSuchKey(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == minio.NoSuchKey || code == "NotFound"
}

func (s *S3) Create(name string) (Writer, error) {
	if _, err := checkName(name); err != nil {
		return nil, err
	}
	spill := func() (*os.File, error) {
		f, err := os.CreateTemp(s.spool, "blob-*")
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", name, err)
		}
		return f, nil
	}
	return &s3Writer{s: s, name: name, spool: spool{memMax: s.memSpool, spill: spill, sum: sha256.New(), crc: newCRC32C()}}, nil
}

// memSpool is the most of a blob being written the S3 store keeps in memory before it spools
// it to a file (spool.mem): an upload's delivery files fit, as do the uploads of the load test
// (100 messages); the memory it may take is that times the blobs being written at once.
const memSpool = 256 << 10 // S3.memSpool's default

func (s *S3) Append(name string) (Writer, error) {
	if _, err := checkName(name); err != nil {
		return nil, err
	}
	sctx, scancel := s.bound()
	info, err := s.c.StatObject(sctx, s.bucket, s.key("tmp", name), minio.StatObjectOptions{})
	scancel()
	if err != nil {
		if isNoSuchKey(err) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("reopen %s: %w", name, err)
	}
	ctx, cancel := s.transferTimeout(info.Size)
	defer cancel()
	obj, err := s.c.GetObject(ctx, s.bucket, s.key("tmp", name), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("reopen %s: %w", name, err)
	}
	defer obj.Close()
	f, err := os.CreateTemp(s.spool, "blob-*")
	if err != nil {
		return nil, fmt.Errorf("reopen %s: %w", name, err)
	}
	n, err := io.Copy(f, obj)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		if isNoSuchKey(err) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("reopen %s: %w", name, err)
	}
	return &s3Writer{s: s, name: name, spool: spool{f: f, size: n, off: n, sum: sha256.New(), crc: newCRC32C(), mixed: true}, staged: true}, nil
}

// head returns an object's size and the checksum and length recorded at Commit, or why it
// does not carry them.
func (s *S3) head(key string) (size int64, sum []byte, reason string, err error) {
	size, sum, _, reason, err = s.headTag(key)
	return size, sum, reason, err
}

// headTag is head with the object's ETag, which tells this version from another PUT.
func (s *S3) headTag(key string) (size int64, sum []byte, etag, reason string, err error) {
	ctx, cancel := s.bound()
	defer cancel()
	info, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if isNoSuchKey(err) {
			return 0, nil, "", "", ErrNotFound
		}
		return 0, nil, "", "", err
	}
	var hexSum, sz string
	for k, v := range info.UserMetadata {
		switch strings.ToLower(k) {
		case metaSHA:
			hexSum = v
		case metaSize:
			sz = v
		}
	}
	sum, herr := hex.DecodeString(hexSum)
	recorded, serr := strconv.ParseInt(sz, 10, 64)
	switch {
	case herr != nil || len(sum) != sha256.Size || serr != nil:
		return info.Size, nil, info.ETag, "geen geldig controlegetal in de metadata", nil
	case recorded != info.Size:
		return info.Size, nil, info.ETag, fmt.Sprintf("lengte %d bytes, vastgelegd was %d", info.Size, recorded), nil
	}
	return info.Size, sum, info.ETag, "", nil
}

// smallRead is the largest blob Open keeps in memory after checking it; larger checked
// blobs go to an unlinked local file, so the object is read from S3 once.
const smallRead = 1 << 20

// openChecked checks a committed blob (length always; with full or up to VerifyOnOpen its
// checksum too) and returns a reader on what it checked. Without full, a local copy this
// process committed serves when the object is still that version; with full (Verify, the
// integrity check) the object itself is read: it is what outlives this process.
func (s *S3) openChecked(name string, full bool) (Reader, error) {
	for attempt := 1; ; attempt++ {
		r, err := s.openOnce(name, full)
		if changedSinceHead(err) {
			if attempt < openAttempts {
				continue
			}
			err = fmt.Errorf("%s werd %d keer vervangen terwijl het gelezen werd; probeer het opnieuw: %w", name, attempt, err)
		}
		return r, err
	}
}

// openAttempts bounds the HEADs and GETs of one Open that changedSinceHead lets try again.
const openAttempts = 3

// changedSinceHead: the GET carries the ETag of the HEAD before it (If-Match), so a Commit
// of the same name in between (here or on another node) fails it, instead of its new bytes
// failing the old checksum and a good blob going to damaged/. The next HEAD sees the new
// version.
func changedSinceHead(err error) bool {
	var er minio.ErrorResponse
	return errors.Is(err, errReplaced) || errors.As(err, &er) && (er.Code == "PreconditionFailed" || er.StatusCode == 412)
}

// errReplaced: bytes that fail the checksum came from an object no longer the one the HEAD
// saw. A server need not check If-Match and open the object as one step (versitygw's posix
// backend does not), so a failed checksum is only taken for damage once a second HEAD shows
// the same version.
var errReplaced = errors.New("het object is vervangen tijdens het lezen")

// getOptions asks for the version a HEAD saw.
func getOptions(etag string) minio.GetObjectOptions {
	var o minio.GetObjectOptions
	if etag != "" {
		o.SetMatchETag(etag)
	}
	return o
}

func (s *S3) openOnce(name string, full bool) (Reader, error) {
	if _, err := checkName(name); err != nil {
		return nil, err
	}
	k := s.key("blobs", name)
	size, want, etag, reason, err := s.headTag(k)
	if errors.Is(err, ErrNotFound) {
		s.recent.drop(name)
		if _, _, _, derr := s.head(s.key("damaged", name)); derr == nil {
			return nil, fmt.Errorf("%w (%s: eerder beschadigd gevonden en apart gezet)", ErrDamaged, name)
		}
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if reason != "" {
		return nil, s.quarantine(name, reason)
	}
	if !full {
		if r := s.recent.open(name, size, want, etag); r != nil {
			return r, nil
		}
	}
	if !full && size > VerifyOnOpen {
		// The caller reads at its own pace (an SFTP client's download): no deadline on the
		// whole; each request to the server is still bounded by the transport's time-outs.
		obj, err := s.c.GetObject(context.Background(), s.bucket, k, getOptions(etag))
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		// Checked by length here, by checksum in Verify (the integrity check), as Disk.
		return &s3Reader{ReaderAt: obj, r: io.NewSectionReader(obj, 0, size), size: size, close: obj.Close}, nil
	}
	ctx, cancel := s.transferTimeout(size)
	defer cancel()
	obj, err := s.c.GetObject(ctx, s.bucket, k, getOptions(etag))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer obj.Close()
	h := sha256.New()
	var (
		file *os.File
		mem  *bytes.Buffer
		dst  io.Writer
	)
	if size <= smallRead {
		mem = bytes.NewBuffer(make([]byte, 0, size))
		dst = mem
	} else {
		if file, err = os.CreateTemp(s.spool, "read-*"); err != nil {
			return nil, fmt.Errorf("open %s: %w", name, err)
		}
		os.Remove(file.Name()) // gone from the directory; readable until Close
		dst = file
	}
	n, err := io.Copy(io.MultiWriter(h, dst), obj)
	if err == nil && n != size {
		err = fmt.Errorf("%d bytes gelezen, %d verwacht", n, size)
	}
	if err != nil {
		if file != nil {
			file.Close()
		}
		if isNoSuchKey(err) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		if file != nil {
			file.Close()
		}
		if _, again, etag2, _, err := s.headTag(k); err != nil || etag2 != etag || !bytes.Equal(again, want) {
			return nil, fmt.Errorf("open %s: %w", name, errReplaced)
		}
		return nil, s.quarantine(name, "SHA-256 klopt niet met het controlegetal")
	}
	if file != nil {
		return &s3Reader{ReaderAt: file, r: io.NewSectionReader(file, 0, size), size: size, close: file.Close}, nil
	}
	data := mem.Bytes()
	return &s3Reader{ReaderAt: bytes.NewReader(data), r: bytes.NewReader(data), size: size, close: func() error { return nil }}, nil
}

// quarantine moves a damaged blob out of blobs/ so it is never served, keeping it for
// inspection under damaged/.
func (s *S3) quarantine(name, reason string) error {
	s.recent.drop(name)
	ctx, cancel := s.bound()
	defer cancel()
	_, err := s.c.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: s.key("damaged", name)},
		minio.CopySrcOptions{Bucket: s.bucket, Object: s.key("blobs", name)})
	if err == nil {
		err = s.c.RemoveObject(ctx, s.bucket, s.key("blobs", name), minio.RemoveObjectOptions{})
	}
	if err != nil && !isNoSuchKey(err) {
		return fmt.Errorf("%w (%s: %s; apart zetten mislukt: %v)", ErrDamaged, name, reason, err)
	}
	return fmt.Errorf("%w (%s: %s)", ErrDamaged, name, reason)
}

func (s *S3) Open(name string) (Reader, error) { return s.openChecked(name, false) }

func (s *S3) Verify(name string) error {
	r, err := s.openChecked(name, true)
	if err != nil {
		return err
	}
	return r.Close()
}

func (s *S3) Stat(name string) (int64, error) {
	if _, err := checkName(name); err != nil {
		return 0, err
	}
	ctx, cancel := s.bound()
	defer cancel()
	info, err := s.c.StatObject(ctx, s.bucket, s.key("blobs", name), minio.StatObjectOptions{})
	if err != nil {
		if isNoSuchKey(err) {
			return 0, ErrNotFound
		}
		return 0, err
	}
	return info.Size, nil
}

// Remove deletes a committed blob, any uncommitted one of the same name, and a damaged copy.
func (s *S3) Remove(name string) error {
	if _, err := checkName(name); err != nil {
		return err
	}
	s.recent.drop(name)
	ctx, cancel := s.bound()
	defer cancel()
	// S3 deletes a missing key without a word, so a copy is looked at first: that tells
	// whether any was there.
	copyIn := func(area string) func() (bool, error) {
		return func() (bool, error) {
			k := s.key(area, name)
			_, err := s.c.StatObject(ctx, s.bucket, k, minio.StatObjectOptions{})
			if isNoSuchKey(err) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if area == "blobs" {
				err = s.removeBlob(name)
			} else {
				err = s.c.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{})
			}
			if isNoSuchKey(err) {
				err = nil
			}
			return true, err
		}
	}
	return removeCopies(name, copyIn("blobs"), copyIn("tmp"), copyIn("damaged"))
}

func (s *S3) walk(area, prefix string, fn func(name string, size int64) error) error {
	base := s.prefix + area + "/"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the listing when fn fails
	for obj := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: base + prefix, Recursive: true}) {
		if obj.Err != nil {
			if isNoSuchKey(obj.Err) {
				return nil
			}
			return obj.Err
		}
		if strings.HasSuffix(obj.Key, "/") {
			continue // a directory marker of a posix-backed server
		}
		if err := fn(strings.TrimPrefix(obj.Key, base), obj.Size); err != nil {
			return err
		}
	}
	return nil
}

// Walk lists committed blobs in key order (Disk's Walk goes in directory order; callers
// depend on neither).
func (s *S3) Walk(prefix string, fn func(name string, size int64) error) error {
	return s.walk("blobs", prefix, fn)
}

func (s *S3) WalkUncommitted(prefix string, fn func(name string) error) error {
	return s.walk("tmp", prefix, func(name string, _ int64) error { return fn(name) })
}

// Free returns the space left for the local spool, where blobs wait for their upload: the
// bucket itself has no notion of free space.
func (s *S3) Free() (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(s.spool, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", s.spool, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// removeAll deletes every object under area/ (best effort).
func (s *S3) removeAll(area string) {
	ctx := context.Background()
	objs := make(chan minio.ObjectInfo)
	go func() {
		defer close(objs)
		for obj := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + area, Recursive: true}) {
			if obj.Err != nil {
				return
			}
			objs <- obj
		}
	}()
	for range s.c.RemoveObjects(ctx, s.bucket, objs, minio.RemoveObjectsOptions{}) {
	}
}

// Pin keeps the blobs committed now readable through OpenPinned until release is called: a
// Remove meanwhile copies the blob to attic/ before deleting it, and the last release empties
// the attic.
func (s *S3) Pin() (release func()) {
	s.pinMu.Lock()
	s.pinned++
	s.pinMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.pinMu.Lock()
			defer s.pinMu.Unlock()
			s.pinned--
			if s.pinned == 0 {
				s.removeAll("attic/")
			}
		})
	}
}

func (s *S3) removeBlob(name string) error {
	s.pinMu.RLock()
	defer s.pinMu.RUnlock()
	ctx, cancel := s.bound()
	defer cancel()
	if s.pinned > 0 {
		_, err := s.c.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.bucket, Object: s.key("attic", name)},
			minio.CopySrcOptions{Bucket: s.bucket, Object: s.key("blobs", name)})
		if err != nil {
			return err
		}
	}
	return s.c.RemoveObject(ctx, s.bucket, s.key("blobs", name), minio.RemoveObjectOptions{})
}

// OpenPinned opens a committed blob for a copy, from the attic when it was removed since a
// Pin, and returns the SHA-256 recorded at Commit (checked only for presence, like Disk's
// trailer; the caller hashes what it copies).
func (s *S3) OpenPinned(name string) (Reader, []byte, error) {
	if _, err := checkName(name); err != nil {
		return nil, nil, err
	}
	r, sum, err := s.openPinnedAt(name, "blobs")
	if errors.Is(err, ErrNotFound) {
		// Not there, or removed between the HEAD and the GET (a removal under a pin copies
		// the blob to the attic first): the attic's copy. The GET is sent at once, not at
		// the first read, so that a removal after it no longer matters (CI, postgres-s3:
		// TestBackupDuringProcessing copied a blob an upload's delivery had just removed).
		r, sum, err = s.openPinnedAt(name, "attic")
	}
	return r, sum, err
}

func (s *S3) openPinnedAt(name, area string) (Reader, []byte, error) {
	k := s.key(area, name)
	size, sum, reason, err := s.head(k)
	if err == nil && reason != "" {
		err = fmt.Errorf("%w (%s: %s)", ErrDamaged, name, reason)
	}
	if err != nil {
		return nil, nil, err
	}
	obj, err := s.c.GetObject(context.Background(), s.bucket, k, minio.GetObjectOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", name, err)
	}
	// The first bytes read here send the GET (minio-go's Stat would send a HEAD); the rest
	// follow on the same response.
	first := make([]byte, min(size, 32<<10))
	if _, err := io.ReadFull(obj, first); err != nil {
		obj.Close()
		if isNoSuchKey(err) {
			return nil, nil, ErrNotFound
		}
		return nil, nil, fmt.Errorf("open %s: %w", name, err)
	}
	r := io.MultiReader(bytes.NewReader(first), io.LimitReader(obj, size-int64(len(first))))
	return &s3Reader{ReaderAt: obj, r: r, size: size, close: obj.Close}, sum, nil
}

type s3Reader struct {
	io.ReaderAt
	r     io.Reader
	size  int64
	close func() error
}

func (r *s3Reader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r *s3Reader) Size() int64                { return r.size }
func (r *s3Reader) Close() error               { return r.close() }

type s3Writer struct {
	spool  // the local file the object is uploaded from at Commit
	s      *S3
	name   string
	staged bool // continues tmp/<name>: Commit and Abort remove it
}

// upload puts the spool file under key with its checksum in the metadata, and returns what
// it put: the length, the SHA-256 and the ETag the server gave the object.
func (w *s3Writer) upload(key string) (size int64, digest []byte, etag string, err error) {
	size, sum, err := w.content()
	if err != nil {
		return 0, nil, "", fmt.Errorf("checksum %s: %w", w.name, err)
	}
	ctx, cancel := w.s.transferTimeout(size)
	defer cancel()
	digest = sum.Sum(nil)
	opts := minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{metaSHA: hex.EncodeToString(digest), metaSize: strconv.FormatInt(size, 10)},
	}
	c := w.s.c
	if size < singlePutMax {
		// The server checks the bytes it receives against the CRC-32C taken while spooling
		// and refuses the PUT when they differ: end to end, and without the client hashing
		// the payload again, as minio-go's streaming signature over http does per 64 KB
		// chunk (over https it sends the payload unsigned). CRC-32C rather than the SHA-256
		// in the metadata: it catches what a transfer damages as surely, and costs the
		// server (on the hub's machine, in tests and small deployments) a fraction of a
		// SHA-256; the SHA-256 is still checked on every read. A server that does not know
		// the header stores the object as before; Open checks the metadata's checksum anyway.
		c = w.s.put
		opts.DisableContentSha256 = true
		opts.DisableMultipart = true
		opts.UserMetadata["x-amz-checksum-crc32c"] = base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, w.crc.Sum32()))
	}
	var info minio.UploadInfo
	for attempt := 1; ; attempt++ {
		info, err = c.PutObject(ctx, w.s.bucket, key, io.NewSectionReader(w.readerAt(), 0, size), size, opts)
		if err == nil || attempt == putAttempts || !transientPutError(err) {
			break
		}
		time.Sleep(time.Duration(attempt) * 25 * time.Millisecond)
	}
	if err != nil {
		return 0, nil, "", fmt.Errorf("upload %s: %w", w.name, err)
	}
	return size, digest, info.ETag, nil
}

// putAttempts bounds the PUTs of one upload that transientPutError lets try again.
const putAttempts = 3

// transientPutError: versitygw's posix backend, a gateway people also run in production,
// answers a PUT with 409 ExistingObjectIsDirectory when creating or linking into the
// object's directory fails, also when a DELETE of that directory's last object (it removes
// empty directories) runs at the same moment. CI saw it on a new upload in aanleveren/<org>/
// while the previous upload of that organisation was removed after delivery. The PUT of the
// same bytes under the same key is safe to send again; a real directory in the way still
// fails after putAttempts.
func transientPutError(err error) bool {
	return minio.ToErrorResponse(err).Code == "ExistingObjectIsDirectory"
}

// singlePutMax is where minio-go starts a multipart upload (its minPartSize): a whole object's
// checksum header fits a single PUT only.
const singlePutMax = 16 << 20

// Commit uploads the blob under blobs/<name>; the PUT (or the multipart upload's completion)
// is the one atomic step that publishes it with its checksum.
func (w *s3Writer) Commit() error {
	// The old version's local copy goes now: from here on, blobs/<name> may be either.
	w.s.recent.drop(w.name)
	size, digest, etag, err := w.upload(w.s.key("blobs", w.name))
	if err != nil {
		w.close()
		return err
	}
	// The spool file is what the PUT carried: the recent cache keeps it (or removes it). A
	// blob spooled in memory (memSpool) is not kept: small, it is read from the server in
	// about the time its SHA-256 check takes, and keeping it would cost the file it saved.
	if w.f != nil {
		w.s.recent.put(w.name, w.f, size, digest, etag)
	} else {
		w.close()
	}
	if w.staged {
		// Published; what remains under tmp/ is litter the sweep would also remove.
		ctx, cancel := w.s.bound()
		defer cancel()
		if err := w.s.c.RemoveObject(ctx, w.s.bucket, w.s.key("tmp", w.name), minio.RemoveObjectOptions{}); err != nil && !isNoSuchKey(err) {
			return fmt.Errorf("commit %s: %w", w.name, err)
		}
	}
	return nil
}

// Keep uploads what was written as tmp/<name>, for Append on this node or another.
func (w *s3Writer) Keep() error {
	defer w.close()
	_, _, _, err := w.upload(w.s.key("tmp", w.name))
	return err
}

func (w *s3Writer) Abort() error {
	w.close()
	if w.staged {
		ctx, cancel := w.s.bound()
		defer cancel()
		err := w.s.c.RemoveObject(ctx, w.s.bucket, w.s.key("tmp", w.name), minio.RemoveObjectOptions{})
		if err != nil && !isNoSuchKey(err) {
			return fmt.Errorf("abort %s: %w", w.name, err)
		}
	}
	return nil
}
