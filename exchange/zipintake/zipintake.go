package zipintake

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	// klauspost/compress inflates the same deflate streams about twice as fast as
	// compress/flate (its decoder specialises on *bufio.Reader); its error types are aliases of
	// compress/flate's.
	"github.com/klauspost/compress/flate"

	"knooppunt/exchange/codes"
	"knooppunt/exchange/tekst"
)

// Limits bound what one upload may cost to read. A zero field takes its default.
//
// The defaults and why:
//   - MaxEntries 100,000 files (folders are not counted, but are refused beyond the same number).
//   - MaxEntry 25 MiB per envelope, the national hub's limit, measured on the bytes actually
//     decompressed.
//   - MaxRatio 200: an entry that has decompressed more than 1 MiB at more than 200 bytes per
//     compressed byte read is a bomb. Envelopes are mostly base64 and compress about 1.5:1;
//     even plain XML rarely passes 20:1, while deflate of zeros reaches 1,000:1.
//   - MaxTotal 4 GiB decompressed per upload, and never more than MaxRatio times the upload's
//     size (with at least MaxEntry), so a small ZIP cannot make the engine parse gigabytes.
//     Bytes read again by a second Open of the same entry are not counted twice.
type Limits struct {
	MaxEntries int
	MaxEntry   int64
	MaxTotal   int64
	MaxRatio   int64
}

// Entry is one file of an upload: the upload itself when it is a plain .xml, or one file of a ZIP.
type Entry struct {
	Index int    // position among the upload's files, from 0; folders are skipped
	Name  string // base name, cleaned for display; duplicates are possible
	// Open returns the decompressed content. It may be called more than once and from several
	// goroutines, as long as the upload's io.ReaderAt stays open. The reader fails with a
	// *Rejection when the entry breaks a limit, is corrupt or fails its CRC.
	Open      func() (io.ReadCloser, error)
	Size      int64            // the size the ZIP claims (untrusted); the file size for a plain .xml
	Rejection *codes.Rejection // set when the entry is refused without being opened; Open's reader may still refuse it (archive content, size, ratio, CRC)
	Raw       *zip.File        // nil for a plain .xml: lets delivery copy the compressed bytes
	// RawAt is where Raw's compressed bytes (Raw.CompressedSize64 of them) start in the
	// upload, as its local header says, for an entry without Rejection: delivery reads them
	// from there, many entries in one read, without reading the local header again.
	RawAt int64
}

const (
	defaultMaxEntries = 100_000
	defaultMaxEntry   = 25 << 20
	defaultMaxTotal   = 4 << 30
	defaultMaxRatio   = 200
	// ratioFloor is how much an entry may decompress before its ratio is judged: small files
	// (and the start of any file) compress unevenly.
	ratioFloor = 1 << 20
	// maxDirectory bounds the central directory archive/zip holds in memory (names, extras,
	// comments). 100,000 entries with ordinary names take about 12 MB.
	maxDirectory = 32 << 20
	// sniffLen covers every archive signature we look for; tar's "ustar" sits at 257.
	sniffLen = 262
)

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = defaultMaxEntries
	}
	if l.MaxEntry <= 0 {
		l.MaxEntry = defaultMaxEntry
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = defaultMaxTotal
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = defaultMaxRatio
	}
	return l
}

// ReadUpload walks an upload and calls fn with each of its files in order. name is the upload's
// file name: a .xml is one Entry, a .zip is read as hostile input straight from r (it is never
// loaded into memory). A whole upload that cannot be read is returned as a *Rejection (IB901
// not a ZIP, IB902 too many files, IB905 no files; KP002 neither .xml nor .zip); a single bad
// file only gets Entry.Rejection and the walk goes on. An error from fn stops the walk and is
// returned as is; an I/O error of r is returned wrapped, never as a Rejection.
func ReadUpload(r io.ReaderAt, size int64, name string, lim Limits, fn func(e Entry) error) error {
	lim = lim.withDefaults()
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".xml":
		return fn(plainEntry(r, size, name, lim))
	case ".zip":
		return readZip(r, size, lim, fn)
	default:
		return &codes.Rejection{Code: codes.KP002, Detail: fmt.Sprintf("%s: lever een .xml-bestand of een .zip met .xml-bestanden aan", baseName(name))}
	}
}

func plainEntry(r io.ReaderAt, size int64, name string, lim Limits) Entry {
	e := Entry{Name: baseName(name), Size: size}
	if size > lim.MaxEntry {
		e.Rejection = &codes.Rejection{Code: codes.IB003, Detail: fmt.Sprintf("het bestand is %d bytes; de grens is %s", size, mib(lim.MaxEntry))}
		e.Open = func() (io.ReadCloser, error) { return nil, e.Rejection }
		return e
	}
	e.Open = func() (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(r, 0, size)), nil
	}
	return e
}

// upload is what the entries of one ZIP share.
type upload struct {
	r    io.ReaderAt
	lim  Limits
	pool sync.Pool // *inflater, reused across entries and opens

	ahead readAhead

	mu    sync.Mutex
	total int64   // decompressed bytes the whole upload may produce
	left  int64   // of which still unused
	seen  []int64 // per entry: the most bytes any Open has produced, already charged
}

// inflater is the reusable state of a deflated entry's reading. An entry whose compressed
// data fits in wholeLen is read into whole with one ReadAt and inflated from memory (klauspost's
// decoder has a fast path for *bytes.Reader); a larger one streams through br. Pooled per
// upload, so at most one of each per concurrent check.
type inflater struct {
	br    *bufio.Reader
	whole []byte
	rd    bytes.Reader
	dec   io.ReadCloser
}

// wholeLen bounds the compressed data read at once: a typical envelope deflates to a few KB,
// so one read replaces two or more, and a pooled inflater holds at most this much.
const wholeLen = 64 << 10

func readZip(r io.ReaderAt, size int64, lim Limits, fn func(e Entry) error) error {
	// dataSpans reads one local header of 30 bytes and a name per entry, one after another: a
	// small read-ahead window serves a few at a time. It is only on while dataSpans runs, so
	// that a bomb's few entries cost no extra reads.
	hdr := &aheadReaderAt{r: r, a: &readAhead{size: headerAheadLen}}
	defer hdr.a.release()
	rec := &ioErrRecorder{r: hdr}
	if rej := guardDirectory(rec, size, lim); rej != nil {
		if rec.err != nil {
			return fmt.Errorf("ZIP-bestand lezen: %w", rec.err)
		}
		return rej
	}
	zr, err := zip.NewReader(rec, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if rec.err != nil {
			return fmt.Errorf("ZIP-bestand lezen: %w", rec.err)
		}
		return &codes.Rejection{Code: codes.IB901, Detail: "de inhoudsopgave (central directory) ontbreekt of is beschadigd; maak het ZIP-bestand opnieuw aan"}
	}

	var files []*zip.File
	dirs := 0
	for _, f := range zr.File {
		if isDirName(f.Name) {
			dirs++
			continue
		}
		files = append(files, f)
	}
	switch {
	case len(files) > lim.MaxEntries:
		return &codes.Rejection{Code: codes.IB902, Detail: fmt.Sprintf("het ZIP-bestand bevat %d bestanden; de grens is %d", len(files), lim.MaxEntries)}
	case dirs > lim.MaxEntries:
		return &codes.Rejection{Code: codes.IB902, Detail: fmt.Sprintf("het ZIP-bestand bevat %d mappen; de grens is %d", dirs, lim.MaxEntries)}
	case len(files) == 0:
		return &codes.Rejection{Code: codes.IB905, Detail: "het ZIP-bestand bevat geen bestanden"}
	}

	u := &upload{r: r, lim: lim, seen: make([]int64, len(files))}
	u.total = min(lim.MaxTotal, max(lim.MaxEntry, satMul(lim.MaxRatio, size)))
	u.left = u.total
	hdr.on = len(files) > 1
	spans := dataSpans(size, files)
	hdr.on = false
	if rec.err != nil {
		return fmt.Errorf("ZIP-bestand lezen: %w", rec.err)
	}
	overlaps := overlapping(spans)

	for i, f := range files {
		if err := fn(u.entry(i, f, spans[i], overlaps[i])); err != nil {
			return err
		}
	}
	return nil
}

// span is where an entry's local header and compressed data lie in the upload.
type span struct {
	start, data, end int64
	err              *codes.Rejection // the local header is missing or points outside the file
}

// dataSpans reads each local header (through the upload's ioErrRecorder, the Files' ReaderAt).
func dataSpans(size int64, files []*zip.File) []span {
	spans := make([]span, len(files))
	for i, f := range files {
		data, err := f.DataOffset()
		comp := int64(f.CompressedSize64)
		switch {
		case err != nil:
			spans[i].err = &codes.Rejection{Code: codes.IB901, Detail: "de lokale kop van het bestand ontbreekt of is beschadigd"}
		case comp < 0 || data > size || comp > size-data:
			spans[i].err = &codes.Rejection{Code: codes.IB901, Detail: "het bestand loopt voorbij het einde van het ZIP-bestand; het is afgekapt"}
		default:
			// The local header holds at least its 30 fixed bytes and the name; counting only
			// those never makes two honest entries overlap.
			start := max(0, data-30-int64(len(f.Name)))
			spans[i] = span{start: start, data: data, end: data + comp}
		}
	}
	return spans
}

// overlapping marks every entry whose header or data shares bytes with another's: the
// overlapping-files bomb (Fifield, "A better zip bomb", 2019) has thousands of entries point at
// one highly compressed kernel.
func overlapping(spans []span) []bool {
	order := make([]int, 0, len(spans))
	for i, s := range spans {
		if s.err == nil {
			order = append(order, i)
		}
	}
	sort.Slice(order, func(a, b int) bool { return spans[order[a]].start < spans[order[b]].start })
	out := make([]bool, len(spans))
	var maxEnd int64 = -1
	for k, i := range order {
		s := spans[i]
		if s.start < maxEnd {
			out[i] = true // overlaps an entry that starts earlier
		}
		if k+1 < len(order) && spans[order[k+1]].start < s.end {
			out[i] = true // the next entry starts inside this one
		}
		maxEnd = max(maxEnd, s.end)
	}
	return out
}

func (u *upload) entry(i int, f *zip.File, sp span, overlap bool) Entry {
	e := Entry{Index: i, Name: baseName(f.Name), Size: int64(min(f.UncompressedSize64, 1<<63-1)), Raw: f, RawAt: sp.data}
	if rej := u.judge(e.Name, f, sp, overlap); rej != nil {
		e.Rejection = rej
		e.Open = func() (io.ReadCloser, error) { return nil, rej }
		return e
	}
	e.Open = func() (io.ReadCloser, error) { return u.open(i, e.Name, f, sp), nil }
	return e
}

// judge refuses what can be told without decompressing, the most telling reason first.
func (u *upload) judge(name string, f *zip.File, sp span, overlap bool) *codes.Rejection {
	shown := name
	if shown == "" {
		shown = "(bestand zonder naam)"
	}
	ext := strings.ToLower(path.Ext(name))
	switch {
	case archiveExt[ext]:
		return &codes.Rejection{Code: codes.KP003, Detail: fmt.Sprintf("%s is zelf een archief; zet de .xml-bestanden direct in het ZIP-bestand", shown)}
	case ext != ".xml":
		return &codes.Rejection{Code: codes.KP002, Detail: fmt.Sprintf("%s: alleen .xml-bestanden worden verwerkt", shown)}
	case f.Flags&0x41 != 0: // bit 0: encrypted; bit 6: strong encryption
		return &codes.Rejection{Code: codes.IB903, Detail: fmt.Sprintf("%s is versleuteld; lever het aan zonder wachtwoord", shown)}
	case sp.err != nil:
		return sp.err
	case overlap:
		return &codes.Rejection{Code: codes.KP004, Detail: fmt.Sprintf("%s deelt zijn gegevens met een ander bestand in het ZIP-bestand (overlappende bestanden)", shown)}
	case f.Method != zip.Store && f.Method != zip.Deflate:
		return &codes.Rejection{Code: codes.IB901, Detail: fmt.Sprintf("%s gebruikt compressiemethode %d; alleen Deflate en Store worden ondersteund", shown, f.Method)}
	case f.UncompressedSize64 > uint64(u.lim.MaxEntry):
		return &codes.Rejection{Code: codes.IB904, Detail: fmt.Sprintf("%s is volgens de ZIP %d bytes; de grens is %s", shown, f.UncompressedSize64, mib(u.lim.MaxEntry))}
	case f.UncompressedSize64 > ratioFloor && f.UncompressedSize64/max(f.CompressedSize64, 1) > uint64(u.lim.MaxRatio):
		return &codes.Rejection{Code: codes.KP004, Detail: fmt.Sprintf("%s pakt volgens de ZIP uit van %d tot %d bytes (meer dan %d:1)", shown, f.CompressedSize64, f.UncompressedSize64, u.lim.MaxRatio)}
	}
	return nil
}

func (u *upload) open(i int, name string, f *zip.File, sp span) *entryReader {
	// One allocation for the reader and its source.
	er := &entryReader{u: u, i: i, name: name, f: f}
	er.sec = *io.NewSectionReader(u.r, sp.data, sp.end-sp.data)
	er.src.r = &er.sec
	src := &er.src
	if f.Method == zip.Deflate {
		fl, _ := u.pool.Get().(*inflater)
		if fl == nil {
			fl = &inflater{}
		}
		er.fl = fl
		if comp := sp.end - sp.data; comp <= wholeLen {
			// Read on the first Read, so an I/O error surfaces where it always did.
			er.whole, er.fromWhole, er.wholeAt = true, true, sp.data
			if cap(fl.whole) < int(comp) {
				fl.whole = make([]byte, comp, wholeLen)
			}
			fl.whole = fl.whole[:comp]
			fl.rd.Reset(nil)
			fl.reset(&fl.rd)
		} else {
			if fl.br == nil {
				fl.br = bufio.NewReaderSize(src, 4096)
			} else {
				fl.br.Reset(src)
			}
			fl.reset(fl.br)
		}
		er.dec = fl.dec
	} else {
		er.dec = src
	}
	return er
}

// reset points the decoder at r; the decoder picks its fast path by r's type.
func (fl *inflater) reset(r io.Reader) {
	if fl.dec == nil {
		fl.dec = flate.NewReader(r)
		return
	}
	// flate's Reset cannot fail without a dictionary.
	_ = fl.dec.(flate.Resetter).Reset(r, nil)
}

// fillWhole reads the whole compressed data of a small entry. A short read at the end of the
// file is left to the decoder (a truncated entry, IB901, as when streaming); any other read
// error is the reader's, returned as such.
func (r *entryReader) fillWhole() error {
	r.whole = false
	fl := r.fl
	n, err := r.u.ahead.readAt(r.u.r, fl.whole, r.wholeAt)
	if err != nil && n < len(fl.whole) && err != io.EOF {
		return err
	}
	fl.rd.Reset(fl.whole[:n])
	return nil
}

// readAhead serves the small entries' compressed data from one window of the upload: the
// entries lie one after another, so one read of aheadLen bytes replaces dozens of small ones
// (a system call each on disk, a request each on S3). The checks of one upload share it.
type readAhead struct {
	size int // of the window; 0 means aheadLen

	mu  sync.Mutex
	buf []byte // allocated on first use
	off int64  // upload offset of buf[0]
	n   int    // valid bytes in buf
}

const (
	aheadLen       = 256 << 10
	headerAheadLen = 32 << 10
)

// readAt is r.ReadAt(p, off) through the window. A window that ended short (the end of the
// upload) serves what it has; a read error is the reader's, as from r itself.
func (a *readAhead) readAt(r io.ReaderAt, p []byte, off int64) (int, error) {
	size := a.size
	if size == 0 {
		size = aheadLen
	}
	if len(p) > size/4 {
		return r.ReadAt(p, off)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if off < a.off || off+int64(len(p)) > a.off+int64(a.n) {
		if a.buf == nil {
			a.buf = make([]byte, size)
		}
		n, err := r.ReadAt(a.buf, off)
		a.off, a.n = off, n
		if n < len(p) {
			a.n = 0 // keep no window that ended in an error
			if err == nil {
				err = io.EOF // the end of the upload, as io.ReaderAt reports it
			}
			return copy(p, a.buf[:n]), err
		}
	}
	return copy(p, a.buf[off-a.off:a.n]), nil
}

// release drops the window's buffer; a later read allocates it again.
func (a *readAhead) release() {
	a.mu.Lock()
	a.buf, a.n = nil, 0
	a.mu.Unlock()
}

// aheadReaderAt is an io.ReaderAt through a readAhead window while on, straight otherwise.
type aheadReaderAt struct {
	r  io.ReaderAt
	a  *readAhead
	on bool
}

func (x *aheadReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if !x.on {
		return x.r.ReadAt(p, off)
	}
	return x.a.readAt(x.r, p, off)
}

// consumed is how many compressed bytes the decoder has taken so far, for the ratio check.
func (r *entryReader) consumed() int64 {
	if r.fromWhole {
		return int64(len(r.fl.whole)) - int64(r.fl.rd.Len())
	}
	return r.src.n
}

// entryReader decompresses one entry, enforcing the limits on the bytes it actually produces
// and checking size and CRC at the end. Its first bytes are held back until they show the
// entry is not an archive renamed to .xml: the check costs no second decompression.
type entryReader struct {
	u    *upload
	i    int
	name string
	f    *zip.File
	sec  io.SectionReader
	src  countingReader // over sec
	fl   *inflater
	// whole: the compressed data still has to be read into fl.whole, from wholeAt;
	// fromWhole: the decoder reads from fl.whole, not from src.
	whole, fromWhole bool
	wholeAt          int64
	dec              io.Reader
	n                int64
	crc              uint32
	err              error // sticky
	sniffed          bool
	head             [sniffLen]byte
	pending          []byte // of head, not yet handed out
}

var errReadAfterClose = errors.New("bestand is al gesloten")

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

func (r *entryReader) Read(p []byte) (int, error) {
	if !r.sniffed && r.err == nil {
		r.sniffed = true
		n, _ := io.ReadFull(readFunc(r.read), r.head[:])
		if isArchive(r.head[:n]) {
			r.err = &codes.Rejection{Code: codes.KP003, Detail: fmt.Sprintf("%s is geen XML maar een archief; zet de .xml-bestanden direct in het ZIP-bestand", r.name)}
			return 0, r.err
		}
		r.pending = r.head[:n]
	}
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.read(p)
}

func (r *entryReader) read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.whole {
		if err := r.fillWhole(); err != nil {
			r.err = fmt.Errorf("%s uitpakken: %w", r.name, err)
			return 0, r.err
		}
	}
	n, err := r.dec.Read(p)
	r.n += int64(n)
	r.crc = crc32.Update(r.crc, crc32.IEEETable, p[:n])
	if rej := r.check(); rej != nil {
		r.err = rej
		return 0, rej
	}
	switch {
	case err == io.EOF:
		if rej := r.verify(); rej != nil {
			err = rej
		}
	case err == nil:
	case err == io.ErrUnexpectedEOF || isCorrupt(err):
		err = &codes.Rejection{Code: codes.IB901, Detail: fmt.Sprintf("%s is beschadigd en kan niet worden uitgepakt", r.name)}
	case err != nil:
		err = fmt.Errorf("%s uitpakken: %w", r.name, err)
	}
	r.err = err
	return n, err
}

func isCorrupt(err error) bool {
	var ce flate.CorruptInputError
	return errors.As(err, &ce)
}

func (r *entryReader) check() *codes.Rejection {
	lim := r.u.lim
	if r.n > lim.MaxEntry {
		return &codes.Rejection{Code: codes.IB904, Detail: fmt.Sprintf("%s pakt uit tot meer dan %s", r.name, mib(lim.MaxEntry))}
	}
	if r.n > ratioFloor && r.n/max(r.consumed(), 1) > lim.MaxRatio {
		return &codes.Rejection{Code: codes.KP004, Detail: fmt.Sprintf("%s pakt uit tot meer dan %d keer zijn gecomprimeerde grootte", r.name, lim.MaxRatio)}
	}
	if !r.u.charge(r.i, r.n) {
		return &codes.Rejection{Code: codes.KP004, Detail: fmt.Sprintf("het ZIP-bestand pakt samen uit tot meer dan %s; %s is niet meer gelezen", mib(r.u.total), r.name)}
	}
	return nil
}

func (r *entryReader) verify() *codes.Rejection {
	if uint64(r.n) != r.f.UncompressedSize64 {
		return &codes.Rejection{Code: codes.IB901, Detail: fmt.Sprintf("%s pakt uit tot %d bytes, maar de ZIP noemt %d bytes", r.name, r.n, r.f.UncompressedSize64)}
	}
	if r.crc != r.f.CRC32 {
		return &codes.Rejection{Code: codes.IB901, Detail: fmt.Sprintf("%s is beschadigd: het controlegetal (CRC-32) klopt niet", r.name)}
	}
	return nil
}

func (r *entryReader) Close() error {
	if r.err == errReadAfterClose {
		return nil
	}
	r.err = errReadAfterClose
	r.pending = nil
	if r.fl != nil {
		r.u.pool.Put(r.fl)
		r.fl, r.dec = nil, nil
	}
	return nil
}

// charge counts an entry's decompressed bytes against the upload's total once, however often
// the entry is opened.
func (u *upload) charge(i int, n int64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if n <= u.seen[i] {
		return true
	}
	d := n - u.seen[i]
	if d > u.left {
		return false
	}
	u.left -= d
	u.seen[i] = n
	return true
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ioErrRecorder remembers a failure of the underlying ReaderAt, so a disk error is not
// reported to the sender as a broken ZIP.
type ioErrRecorder struct {
	r   io.ReaderAt
	mu  sync.Mutex
	err error
}

func (e *ioErrRecorder) ReadAt(p []byte, off int64) (int, error) {
	n, err := e.r.ReadAt(p, off)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF && off >= 0 {
		e.mu.Lock()
		if e.err == nil {
			e.err = err
		}
		e.mu.Unlock()
	}
	return n, err
}

// guardDirectory counts the central directory's records before archive/zip allocates one File
// per record: archive/zip reads records until one fails to parse, whatever count the directory
// end claims, so a 1 GB upload could otherwise hold 20 million of them. It follows
// archive/zip's way of finding the directory and counts both places archive/zip may start
// from, so its count is never below archive/zip's. When it cannot find the directory it leaves
// the verdict to archive/zip.
func guardDirectory(r io.ReaderAt, size int64, lim Limits) *codes.Rejection {
	starts := directoryStarts(r, size)
	for _, start := range starts {
		files, dirs, dirBytes := countRecords(r, size, start, lim)
		switch {
		case files > lim.MaxEntries:
			return &codes.Rejection{Code: codes.IB902, Detail: fmt.Sprintf("het ZIP-bestand bevat meer dan %d bestanden", lim.MaxEntries)}
		case dirs > lim.MaxEntries:
			return &codes.Rejection{Code: codes.IB902, Detail: fmt.Sprintf("het ZIP-bestand bevat meer dan %d mappen", lim.MaxEntries)}
		case dirBytes > maxDirectory:
			return &codes.Rejection{Code: codes.IB901, Detail: fmt.Sprintf("de inhoudsopgave van het ZIP-bestand is groter dan %s", mib(maxDirectory))}
		}
	}
	return nil
}

const (
	sigDirEnd     = 0x06054b50
	sigDir64End   = 0x06064b50
	sigDir64Loc   = 0x07064b50
	sigDirHeader  = 0x02014b50
	dirEndLen     = 22
	dir64LocLen   = 20
	dir64EndLen   = 56
	dirHeaderLen  = 46
	maxInt64Value = 1<<63 - 1
)

// directoryStarts returns the offsets archive/zip may start reading directory records at.
func directoryStarts(r io.ReaderAt, size int64) []int64 {
	var buf []byte
	var endOff int64 = -1
	for i, n := range []int64{1024, 65 * 1024} {
		n = min(n, size)
		buf = make([]byte, n)
		if _, err := r.ReadAt(buf, size-n); err != nil && err != io.EOF {
			return nil
		}
		if p := findDirEnd(buf); p >= 0 {
			buf = buf[p:]
			endOff = size - n + int64(p)
			break
		}
		if i == 1 || n == size {
			return nil
		}
	}
	if endOff < 0 {
		return nil
	}
	le := binary.LittleEndian
	records := uint64(le.Uint16(buf[10:]))
	dirSize := uint64(le.Uint32(buf[12:]))
	dirOff := uint64(le.Uint32(buf[16:]))
	if records == 0xffff || dirSize == 0xffff || dirOff == 0xffffffff {
		if loc := endOff - dir64LocLen; loc >= 0 {
			b := make([]byte, dir64LocLen)
			if _, err := r.ReadAt(b, loc); err != nil {
				return nil
			}
			if le.Uint32(b) == sigDir64Loc && le.Uint32(b[4:]) == 0 && le.Uint32(b[16:]) == 1 {
				p := int64(le.Uint64(b[8:]))
				e := make([]byte, dir64EndLen)
				if _, err := r.ReadAt(e, p); err != nil || le.Uint32(e) != sigDir64End {
					return nil
				}
				endOff = p
				dirSize = le.Uint64(e[40:])
				dirOff = le.Uint64(e[48:])
			}
		}
	}
	if dirSize > maxInt64Value || dirOff > maxInt64Value {
		return nil
	}
	base := endOff - int64(dirSize) - int64(dirOff)
	if o := base + int64(dirOff); o < 0 || o >= size {
		return nil
	}
	if base > 0 {
		return []int64{base + int64(dirOff), int64(dirOff)}
	}
	return []int64{base + int64(dirOff)}
}

// findDirEnd mirrors archive/zip: the last directory-end signature, unless its comment runs
// past the block.
func findDirEnd(b []byte) int {
	for i := len(b) - dirEndLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(b[i:]) == sigDirEnd {
			n := int(binary.LittleEndian.Uint16(b[i+dirEndLen-2:]))
			if n+dirEndLen+i > len(b) {
				return -1
			}
			return i
		}
	}
	return -1
}

// countRecords walks the records from start as archive/zip does, stopping as soon as a limit
// is passed.
func countRecords(r io.ReaderAt, size, start int64, lim Limits) (files, dirs int, total int64) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, start, size-start), 64<<10)
	var h [dirHeaderLen]byte
	var name []byte
	for files <= lim.MaxEntries && dirs <= lim.MaxEntries && total <= maxDirectory {
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		le := binary.LittleEndian
		if le.Uint32(h[:]) != sigDirHeader {
			return
		}
		n, m, k := int(le.Uint16(h[28:])), int(le.Uint16(h[30:])), int(le.Uint16(h[32:]))
		if cap(name) < n {
			name = make([]byte, n)
		}
		name = name[:n]
		if _, err := io.ReadFull(br, name); err != nil {
			return
		}
		if _, err := br.Discard(m + k); err != nil {
			return
		}
		if isDirName(string(name)) {
			dirs++
		} else {
			files++
		}
		total += int64(dirHeaderLen + n + m + k)
	}
	return
}

func isDirName(name string) bool {
	return strings.HasSuffix(name, "/") || strings.HasSuffix(name, `\`)
}

var archiveExt = map[string]bool{
	".zip": true, ".zipx": true, ".gz": true, ".gzip": true, ".tgz": true, ".7z": true,
	".rar": true, ".tar": true, ".bz2": true, ".tbz": true, ".tbz2": true, ".xz": true,
	".txz": true, ".zst": true, ".lz": true, ".lz4": true, ".lzma": true, ".z": true,
	".cab": true, ".arj": true, ".jar": true, ".war": true, ".ear": true, ".iso": true,
	".cpio": true,
}

var archiveMagic = [][]byte{
	[]byte("PK\x03\x04"), []byte("PK\x05\x06"), []byte("PK\x07\x08"), // zip
	{0x1f, 0x8b},                 // gzip
	{0x1f, 0x9d},                 // compress
	[]byte("7z\xbc\xaf\x27\x1c"), // 7-Zip
	[]byte("Rar!\x1a\x07"),       // RAR
	[]byte("\xfd7zXZ\x00"),       // xz
	[]byte("BZh"),                // bzip2
	{0x28, 0xb5, 0x2f, 0xfd},     // zstd
	{0x04, 0x22, 0x4d, 0x18},     // lz4
	[]byte("LZIP"),               // lzip
	[]byte("MSCF"),               // cab
}

func isArchive(b []byte) bool {
	for _, m := range archiveMagic {
		if bytes.HasPrefix(b, m) {
			return true
		}
	}
	return len(b) >= 262 && string(b[257:262]) == "ustar"
}

// baseName reduces a path from a ZIP or a client to its last element: no folders, no "../",
// no drive letter, and nothing a terminal would act on.
func baseName(raw string) string {
	s := strings.ReplaceAll(raw, `\`, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) >= 2 && s[1] == ':' && (s[0]|0x20) >= 'a' && (s[0]|0x20) <= 'z' {
		s = s[2:]
	}
	return displayName(s)
}

// displayName makes a name safe to show in a report or terminal: valid UTF-8, control and
// bidirectional-override characters replaced by '?', and at most 255 bytes.
func displayName(s string) string {
	const maxLen = 255
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	for _, r := range s {
		if b.Len()+utf8.RuneLen(r) > maxLen {
			b.WriteString("…")
			break
		}
		if tekst.Steers(r) {
			b.WriteByte('?')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func satMul(a, b int64) int64 {
	if a > 0 && b > 0 && a > maxInt64Value/b {
		return maxInt64Value
	}
	return a * b
}
