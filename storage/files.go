package storage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Disk is a Files on a local directory. Uncommitted blobs live under tmp/ with the same
// relative name, so a crash leaves nothing visible and start-up can sweep them. A committed
// blob ends in a trailer with its SHA-256 and length: the one rename that publishes it also
// publishes its checksum, so there is no moment at which the two disagree. Blobs that fail a
// check are moved to damaged/, out of reach of Open, and kept for inspection.
type Disk struct {
	root    string
	reserve uint64

	pinMu    sync.RWMutex // Remove reads pinned; Pin and its release change it
	pinned   int          // backups holding a Pin
	atticGen uint64

	dirs dirSyncs // commits into one directory share its fsyncs
}

// checkEvery is how many bytes a writer writes between looks at the free space.
const checkEvery = 1 << 20

// VerifyOnOpen is the largest blob whose checksum Open verifies before handing it out;
// larger ones get their length checked at Open and their checksum by Verify.
const VerifyOnOpen = 64 << 20

// The trailer: magic, SHA-256 of the content, content length (big-endian).
const (
	trailerMagic = "KPBLOB01"
	trailerLen   = len(trailerMagic) + sha256.Size + 8
)

// OpenDisk opens (or creates) a file store in dir. The store leaves an eighth of its file
// system free (at least 4 MB, at most 1 GB): Create and writes fail with ENOSPC below that,
// so the key-value store beside it, which writes through memory maps and would crash on a
// full disk rather than return an error, always has room to record what was accepted.
func OpenDisk(dir string) (*Disk, error) {
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "tmp"), filepath.Join(dir, "damaged")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create file store %s: %w", d, err)
		}
	}
	// The directories that hold the per-upload ones (blobs/dlv, tmp/dlv, …) spread their
	// children; a store made before spread existed gets the flag here.
	for _, d := range []string{filepath.Join(dir, "blobs"), filepath.Join(dir, "tmp")} {
		spread(d)
		if es, err := os.ReadDir(d); err == nil {
			for _, e := range es {
				if e.IsDir() {
					spread(filepath.Join(d, e.Name()))
				}
			}
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", dir, err)
	}
	reserve := min(max(st.Blocks*uint64(st.Bsize)/8, 4<<20), 1<<30)
	// Blobs parked for a backup that did not finish (a crash): nothing points to them.
	if old, _ := filepath.Glob(filepath.Join(dir, "attic*")); len(old) > 0 {
		for _, p := range old {
			os.RemoveAll(p)
		}
	}
	return &Disk{root: dir, reserve: reserve}, nil
}

// Reserve is the free space the store leaves to others.
func (d *Disk) Reserve() uint64 { return d.reserve }

// roomLeft fails with ENOSPC when the file system is down to the reserve.
func (d *Disk) roomLeft(name string) error {
	free, err := d.Free()
	if err != nil {
		return err
	}
	if free < d.reserve {
		return fmt.Errorf("%s: %d MB vrij, %d MB blijft gereserveerd: %w", name, free>>20, d.reserve>>20, syscall.ENOSPC)
	}
	return nil
}

func (d *Disk) clean(name string) (string, error) { return checkName(name) }

// checkName refuses a blob name that is not a clean, relative, slash-separated path, and
// returns it in the local file system's form.
func checkName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || strings.Contains(name, "..") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("ongeldige bestandsnaam in opslag: %q", name)
	}
	return filepath.FromSlash(name), nil
}

func (d *Disk) blob(name string) string    { return filepath.Join(d.root, "blobs", name) }
func (d *Disk) temp(name string) string    { return filepath.Join(d.root, "tmp", name) }
func (d *Disk) damaged(name string) string { return filepath.Join(d.root, "damaged", name) }

func (d *Disk) Create(name string) (Writer, error) {
	rel, err := d.clean(name)
	if err != nil {
		return nil, err
	}
	if err := d.roomLeft(name); err != nil {
		return nil, err
	}
	p := d.temp(rel)
	if err := mkdirSpread(filepath.Dir(p)); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	w := &diskWriter{d: d, rel: rel, spool: spool{f: f, sum: sha256.New()}}
	w.before = w.roomCheck
	return w, nil
}

func (d *Disk) Append(name string) (Writer, error) {
	rel, err := d.clean(name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(d.temp(rel), os.O_RDWR, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reopen %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reopen %s: %w", name, err)
	}
	// What was written before is hashed at Commit by reading it back.
	w := &diskWriter{d: d, rel: rel, spool: spool{f: f, size: st.Size(), sum: sha256.New(), mixed: true}}
	w.before = w.roomCheck
	return w, nil
}

// openChecked opens a committed blob and checks its trailer; with full, its checksum too.
// A blob that fails is moved to damaged/ and reported as ErrDamaged.
func (d *Disk) openChecked(name string, full bool) (*os.File, int64, error) {
	rel, err := d.clean(name)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(d.blob(rel))
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(d.damaged(rel)); err == nil {
			return nil, 0, fmt.Errorf("%w (%s: eerder beschadigd gevonden en apart gezet)", ErrDamaged, name)
		}
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", name, err)
	}
	size, want, reason, err := readTrailer(f)
	if err == nil && reason == "" && (full || size <= VerifyOnOpen) {
		reason, err = checkSum(f, size, want)
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open %s: %w", name, err)
	}
	if reason != "" {
		f.Close()
		return nil, 0, d.quarantine(rel, name, reason)
	}
	return f, size, nil
}

// readTrailer returns the content length and checksum recorded at Commit, or why the file
// does not carry a valid trailer (truncated, half-written, grown).
func readTrailer(f *os.File) (size int64, sum []byte, reason string, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, nil, "", err
	}
	if st.Size() < int64(trailerLen) {
		return 0, nil, fmt.Sprintf("te kort (%d bytes): geen controlegetal", st.Size()), nil
	}
	t := make([]byte, trailerLen)
	if _, err := f.ReadAt(t, st.Size()-int64(trailerLen)); err != nil {
		return 0, nil, "", err
	}
	if string(t[:len(trailerMagic)]) != trailerMagic {
		return 0, nil, "geen geldig controlegetal aan het eind (afgekapt of aangevuld)", nil
	}
	size = int64(binary.BigEndian.Uint64(t[trailerLen-8:]))
	if size != st.Size()-int64(trailerLen) {
		return 0, nil, fmt.Sprintf("lengte %d bytes, vastgelegd was %d", st.Size()-int64(trailerLen), size), nil
	}
	return size, t[len(trailerMagic) : len(trailerMagic)+sha256.Size], "", nil
}

func checkSum(f *os.File, size int64, want []byte) (string, error) {
	h := sha256.New()
	// A buffer no larger than the blob: most are small, and a fresh 256 KB per Open costs
	// more to clear than to hash a 15 KB delivery.
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, size), make([]byte, min(256<<10, max(size, 512)))); err != nil {
		return "", err
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return "SHA-256 klopt niet met het controlegetal", nil
	}
	return "", nil
}

// quarantine moves a damaged blob out of blobs/ so it is never served, keeping it for
// inspection.
func (d *Disk) quarantine(rel, name, reason string) error {
	dst := d.damaged(rel)
	err := os.MkdirAll(filepath.Dir(dst), 0o700)
	if err == nil {
		err = os.Rename(d.blob(rel), dst)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (%s: %s; apart zetten mislukt: %v)", ErrDamaged, name, reason, err)
	}
	return fmt.Errorf("%w (%s: %s)", ErrDamaged, name, reason)
}

func (d *Disk) Open(name string) (Reader, error) {
	f, size, err := d.openChecked(name, false)
	if err != nil {
		return nil, err
	}
	return &diskReader{SectionReader: io.NewSectionReader(f, 0, size), f: f}, nil
}

func (d *Disk) Verify(name string) error {
	f, _, err := d.openChecked(name, true)
	if err != nil {
		return err
	}
	return f.Close()
}

func (d *Disk) Stat(name string) (int64, error) {
	rel, err := d.clean(name)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(d.blob(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return contentSize(st.Size()), nil
}

func contentSize(fileSize int64) int64 { return max(fileSize-int64(trailerLen), 0) }

// Remove deletes a committed blob, any uncommitted one of the same name, and a damaged copy.
func (d *Disk) Remove(name string) error {
	rel, err := d.clean(name)
	if err != nil {
		return err
	}
	// A copy that is not there is no failure; whether any was there is what tells ErrNotFound.
	gone := func(err error) (bool, error) {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	return removeCopies(name,
		func() (bool, error) { return gone(d.removeBlob(rel)) },
		func() (bool, error) { return gone(os.Remove(d.temp(rel))) },
		func() (bool, error) { return gone(os.Remove(d.damaged(rel))) })
}

// removeCopies is Remove of either store: it removes every copy of a blob (committed,
// uncommitted, damaged), each remover telling whether its copy was there, and goes on past a
// failure so that one stuck copy does not keep the others; ErrNotFound when none was there.
func removeCopies(name string, removers ...func() (found bool, err error)) error {
	found := false
	var errs []error
	for _, remove := range removers {
		was, err := remove()
		found = found || was
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !found {
		return ErrNotFound
	}
	return nil
}

func (d *Disk) Walk(prefix string, fn func(name string, size int64) error) error {
	base := filepath.Join(d.root, "blobs")
	return filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, base+string(filepath.Separator)))
		if e.IsDir() {
			if p == base || strings.HasPrefix(rel+"/", prefix) || strings.HasPrefix(prefix, rel+"/") {
				return nil
			}
			return filepath.SkipDir
		}
		if !strings.HasPrefix(rel, prefix) {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		return fn(rel, contentSize(info.Size()))
	})
}

func (d *Disk) Free() (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(d.root, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", d.root, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

type diskWriter struct {
	spool
	d          *Disk
	rel        string
	sinceCheck atomic.Int64 // bytes written since the last look at the free space
}

// spool is the local file behind a Writer of either store. pkg/sftp writes it concurrently
// and out of order, so it keeps the size; sum hashes what Write appends in order, and once
// WriteAt (or Append) is used, bytes may arrive out of order or overlap, so Commit hashes the
// file as written instead (mixed).
type spool struct {
	f     *os.File
	mu    sync.Mutex
	size  int64
	off   int64
	sum   hash.Hash
	mixed bool
	// before runs ahead of every write with its length (the disk store's free-space
	// check); nil: nothing.
	before func(n int) error
	// crc, when set, is a CRC-32C of the same bytes as sum (the S3 store's PUT carries it).
	crc hash.Hash32
	// A spool with spill set starts in memory (f nil, the bytes in mem) and moves to the file
	// spill creates once it would grow past memMax: the S3 store's small blobs (an upload's
	// delivery files) then cost no file. Creating a spool file cost 0.3-0.4 ms of kernel CPU
	// on this machine's ext4 (without a journal it walks past every recently freed inode),
	// 50 of them per 3,000-message upload.
	mem    []byte
	memMax int64
	spill  func() (*os.File, error)
}

func (w *spool) writeAt(p []byte, off int64) (int, error) {
	if w.before != nil {
		if err := w.before(len(p)); err != nil {
			return 0, err
		}
	}
	w.mu.Lock()
	f := w.f
	if f == nil {
		end := off + int64(len(p))
		if end <= w.memMax {
			if end > int64(len(w.mem)) {
				w.mem = append(w.mem, make([]byte, int(end)-len(w.mem))...)
			}
			copy(w.mem[off:], p)
			w.size = max(w.size, end)
			w.mu.Unlock()
			return len(p), nil
		}
		var err error
		if f, err = w.toFile(); err != nil {
			w.mu.Unlock()
			return 0, err
		}
	}
	w.mu.Unlock()
	n, err := f.WriteAt(p, off)
	w.mu.Lock()
	if end := off + int64(n); end > w.size {
		w.size = end
	}
	w.mu.Unlock()
	return n, err
}

// toFile moves an in-memory spool into its file (w.mu held).
func (w *spool) toFile() (*os.File, error) {
	f, err := w.spill()
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteAt(w.mem[:w.size], 0); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	w.f, w.mem = f, nil
	return f, nil
}

// readerAt reads the spool's bytes, from memory or from its file.
func (w *spool) readerAt() io.ReaderAt {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return bytes.NewReader(w.mem[:w.size])
	}
	return w.f
}

// close closes and removes the spool's file, if it has one.
func (w *spool) close() {
	w.mu.Lock()
	f := w.f
	w.mem = nil
	w.mu.Unlock()
	if f != nil {
		f.Close()
		os.Remove(f.Name())
	}
}

func (w *spool) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	w.mixed = true
	w.mu.Unlock()
	return w.writeAt(p, off)
}

func (w *spool) Write(p []byte) (int, error) {
	n, err := w.writeAt(p, w.off)
	w.mu.Lock()
	if !w.mixed {
		w.sum.Write(p[:n])
		if w.crc != nil {
			w.crc.Write(p[:n])
		}
	}
	w.mu.Unlock()
	w.off += int64(n)
	return n, err
}

// content is the spool's size and the checksum of its bytes: the one Write kept in order,
// or, once bytes came out of order, one read back from the file as written.
func (w *spool) content() (int64, hash.Hash, error) {
	w.mu.Lock()
	size, mixed := w.size, w.mixed
	w.mu.Unlock()
	if !mixed {
		return size, w.sum, nil
	}
	sum := sha256.New()
	var dst io.Writer = sum
	if w.crc != nil {
		w.crc.Reset()
		dst = io.MultiWriter(sum, w.crc)
	}
	if _, err := io.CopyBuffer(dst, io.NewSectionReader(w.readerAt(), 0, size), make([]byte, 256<<10)); err != nil {
		return 0, nil, err
	}
	return size, sum, nil
}

func (w *spool) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// roomCheck is the disk writer's spool.before: every checkEvery bytes it looks at the free
// space again.
func (w *diskWriter) roomCheck(n int) error {
	if w.sinceCheck.Add(int64(n)) >= checkEvery {
		w.sinceCheck.Store(0)
		return w.d.roomLeft(w.rel)
	}
	return nil
}

func (w *diskWriter) Commit() error {
	size, sum, err := w.content()
	if err != nil {
		w.f.Close()
		return fmt.Errorf("checksum %s: %w", w.rel, err)
	}
	t := make([]byte, 0, trailerLen)
	t = append(t, trailerMagic...)
	t = sum.Sum(t)
	t = binary.BigEndian.AppendUint64(t, uint64(size))
	if _, err := w.f.WriteAt(t, size); err != nil {
		w.f.Close()
		return fmt.Errorf("checksum %s: %w", w.rel, err)
	}
	if err := w.f.Truncate(size + int64(trailerLen)); err != nil {
		w.f.Close()
		return fmt.Errorf("checksum %s: %w", w.rel, err)
	}
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return fmt.Errorf("sync %s: %w", w.rel, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", w.rel, err)
	}
	dst := w.d.blob(w.rel)
	if err := mkdirSynced(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("commit %s: %w", w.rel, err)
	}
	if err := os.Rename(w.d.temp(w.rel), dst); err != nil {
		return fmt.Errorf("commit %s: %w", w.rel, err)
	}
	return w.d.dirs.syncAfter(filepath.Dir(dst))
}

func (w *diskWriter) Keep() error {
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return fmt.Errorf("sync %s: %w", w.rel, err)
	}
	return w.f.Close()
}

func (w *diskWriter) Abort() error {
	w.f.Close()
	if err := os.Remove(w.d.temp(w.rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort %s: %w", w.rel, err)
	}
	return nil
}

// mkdirSynced creates dir and its missing parents, syncing each parent that gained an entry,
// so the blob renamed into dir is still reachable after a power cut.
func mkdirSynced(dir string) error { return mkdirs(dir, true) }

// mkdirSpread is os.MkdirAll for the spool side (tmp/), where a blob's file is made and so
// its inode placed. Nothing is synced: an uncommitted blob need not survive a power cut.
func mkdirSpread(dir string) error { return mkdirs(dir, false) }

// mkdirs creates dir and its missing parents, spreading each it creates (so the next level's
// directories, an upload's, land apart from it); with synced it also syncs each parent that
// gained an entry.
func mkdirs(dir string, synced bool) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirs(parent, synced); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	spread(dir)
	if synced {
		return syncDir(parent)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// diskReader reads a blob's content, never its trailer.
type diskReader struct {
	*io.SectionReader
	f *os.File
}

func (r *diskReader) Close() error { return r.f.Close() }
