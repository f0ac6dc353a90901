package exchange

import (
	"archive/zip"
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"knooppunt/exchange/zipintake"
	"runtime"
	"slices"
	"sync"
	"time"

	"knooppunt/storage"
)

// Aflevering: the decided messages of an upload become delivery files, one ZIP per recipient
// mailbox and functie, each envelope byte for byte as received, recorded in the recipient's
// ophalen/ (or held for a Digikoppeling route). verwerking.go calls deliver once every entry
// is decided; ophalen.go serves what lands here.

// deliver writes the delivery files of the decided messages, then commits the delivery
// records, the messages' new status and the upload's final status.
// blob is the upload (nil when sources is empty): the envelopes' bytes are read from it.
func (h *Hub) deliver(u *Upload, prog *progress, blob io.ReaderAt, sources map[int]zipintake.Entry, decided []member, inHand bool) error {
	groups := make([][]member, len(prog.Groups))
	for _, m := range decided {
		groups[m.ord] = append(groups[m.ord], m)
	}
	var err error
	if !inHand {
		err = h.kv.View(func(t storage.Txn) error {
			return t.Scan(key(kMessage, ""), storage.ScanOptions{Start: key(kMessage, msgID(u.ID, 0))}, func(k, v []byte) (bool, error) {
				id, err := idFromKey(k)
				if err != nil || id>>(entryBits+1) != u.ID || id&deliverBit != 0 {
					return false, err
				}
				var m Message
				if err := json.Unmarshal(v, &m); err != nil {
					return false, err
				}
				ord := int(m.DeliveryID & (deliverBit - 1))
				if m.DeliveryID != 0 && ord < len(groups) {
					groups[ord] = append(groups[ord], memberOf(m))
				}
				return true, nil
			})
		})
	}
	if err != nil {
		return fmt.Errorf("aanlevering %s: berichten lezen: %w", u.Name, err)
	}
	if !prog.Delivered {
		sizes, err := h.writeDeliveries(u, groups, sources, blob)
		if err != nil {
			return fmt.Errorf("aanlevering %s: afleverbestanden schrijven: %w", u.Name, err)
		}
		put := func(t storage.Txn) error { return h.putDeliveries(t, u, prog, groups, sizes) }
		if len(decided) > bigDelivery || !inHand {
			err := h.kv.Update(func(t storage.Txn) error {
				if err := h.holdClaim(t, u.ID); err != nil {
					return err
				}
				if err := put(t); err != nil {
					return err
				}
				next := *prog
				next.Delivered = true
				return setJSON(t, key(kProgress, u.ID), next)
			})
			if err != nil {
				return fmt.Errorf("aanlevering %s: afleveringen vastleggen: %w", u.Name, mapNoSpace(err))
			}
			prog.Delivered = true
			put = nil
		}
		return h.finishUpload(u, prog, groups, put)
	}
	return h.finishUpload(u, prog, groups, nil)
}

// Delivery files are written in sweeps over the upload: the envelopes of the files a sweep
// has open are copied in the order they lie in the upload, the compressed bytes of
// neighbouring entries read with one read into a window. An upload's entries for one
// recipient are usually spread among those for others; copying file by file cost a read of
// the local header and one of the data per envelope (two system calls, 6,000 for the 3,000
// envelopes of BenchmarkThroughput), now a few dozen reads per upload.
const (
	// sweepWindow is the most one read takes; an envelope of more than half of it streams
	// through it on its own.
	sweepWindow = 256 << 10
	// sweepGap is the most bytes of other entries a read takes along between two wanted
	// ones: reading them is cheaper than another read below this.
	sweepGap = 16 << 10
	// sweepFiles is the most files one sweep has open, each with a fileBuffer of buffer. A
	// sweep's files are committed while the next sweep runs, so their fsyncs overlap with
	// copying: a sweep of all files at once left the CPU idle while they were committed.
	sweepFiles = 8
	fileBuffer = 64 << 10
	// maxSweeps bounds the sweeps that run at once (one per CPU up to this), and with
	// sweepFiles the memory delivery holds: 4 × (8 × 64 KB + 256 KB) at most.
	maxSweeps = 4
	// fileCommitters is how many finished files are committed (fsynced) at once: commits
	// mostly wait for the disk, and waiting together they overlap.
	fileCommitters = 8
)

// fileBufs and windows are pooled: allocating and clearing them for every small upload cost
// more CPU than writing its files.
var (
	fileBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, fileBuffer) }}
	windows  = sync.Pool{New: func() any { b := make([]byte, sweepWindow); return &b }}
)

// openFile is a delivery file being written.
type openFile struct {
	ord int // its group
	w   storage.Writer
	bw  *bufio.Writer
	zw  *zip.Writer
}

// writeDeliveries writes the delivery file of every non-empty group and returns their sizes.
// The groups are split in up to maxSweeps runs of neighbours (a group's envelopes tend to lie
// near those of the groups that first appeared next to it), each run written by one goroutine
// in sweeps of at most sweepFiles files; a finished file goes to the committers at once.
func (h *Hub) writeDeliveries(u *Upload, groups [][]member, sources map[int]zipintake.Entry, blob io.ReaderAt) ([]int64, error) {
	sizes := make([]int64, len(groups))
	errs := make([]error, len(groups))
	var todo []int
	for i, msgs := range groups {
		if len(msgs) > 0 {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return sizes, nil
	}
	done := make(chan openFile, sweepFiles)
	var commits sync.WaitGroup
	for range min(fileCommitters, len(todo)) {
		commits.Go(func() {
			for f := range done {
				sizes[f.ord], errs[f.ord] = commitZip(f.w, f.zw, f.bw.Flush)
				f.bw.Reset(nil) // hold no file
				fileBufs.Put(f.bw)
			}
		})
	}
	runs := min(maxSweeps, runtime.GOMAXPROCS(0), len(todo))
	var sweepErrs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for r := range runs {
		mine := todo[r*len(todo)/runs : (r+1)*len(todo)/runs]
		wg.Go(func() {
			win := windows.Get().(*[]byte)
			defer windows.Put(win)
			// Sweeps of equal size: the last one's commits are what nothing overlaps.
			n := (len(mine) + sweepFiles - 1) / sweepFiles
			for k := range n {
				err := h.writeSweep(u, groups, mine[k*len(mine)/n:(k+1)*len(mine)/n], sources, blob, *win, done)
				if err != nil {
					mu.Lock()
					sweepErrs = append(sweepErrs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	commits.Wait()
	if err := errors.Join(append(sweepErrs, errs...)...); err != nil {
		return nil, err
	}
	return sizes, nil
}

// writeSweep writes the delivery files of the groups ords and hands each to done as soon as
// its last envelope is in. On failure every file it has not handed on is aborted.
func (h *Hub) writeSweep(u *Upload, groups [][]member, ords []int, sources map[int]zipintake.Entry, blob io.ReaderAt, win []byte, done chan<- openFile) (err error) {
	files := make([]openFile, 0, len(ords))
	handed := make([]bool, len(ords))
	defer func() {
		if err != nil {
			for i, f := range files {
				if handed[i] {
					continue
				}
				err = errors.Join(err, f.w.Abort())
				f.bw.Reset(nil)
				fileBufs.Put(f.bw)
			}
			err = mapNoSpace(err)
		}
	}()
	var copies []deliveryCopy
	for i, ord := range ords {
		w, err := h.files.Create(dlvBlob(u.ID, ord))
		if err != nil {
			return err
		}
		bw := fileBufs.Get().(*bufio.Writer)
		bw.Reset(w)
		f := openFile{ord: ord, w: w, bw: bw, zw: zip.NewWriter(bw)}
		files = append(files, f)
		names := map[string]int{}
		var key int64
		for _, m := range groups[ord] {
			src, ok := sources[m.Entry]
			if !ok {
				return fmt.Errorf("bestand %d (%s) ontbreekt in de aanlevering", m.Entry, m.File)
			}
			if src.Raw != nil {
				key = max(key, src.RawAt)
			}
			copies = append(copies, deliveryCopy{file: i, zw: f.zw, name: uniqueName(names, m.File), src: src, key: key})
		}
	}
	return copyEnvelopes(blob, copies, u.ReceivedAt, win, func(file int) {
		handed[file] = true
		done <- files[file]
	})
}

// deliveryCopy is one envelope going into a delivery ZIP.
type deliveryCopy struct {
	file int         // its file's number, for finished
	zw   *zip.Writer // of its file
	name string      // in its file, the one the hub validated and made unique
	src  zipintake.Entry
	// key orders the sweep: where the envelope's bytes lie in the upload, but never before
	// an earlier envelope of the same file (the entries of a ZIP may lie in any order).
	key int64
}

// copyEnvelopes adds every copy's envelope to its ZIP, in the order of key (stable), each
// file's envelopes in the order given, and calls finished (if not nil) with a file's number
// once its last envelope is in. Compressed bytes are read into win, the neighbouring wanted
// entries of the same read with them.
func copyEnvelopes(blob io.ReaderAt, copies []deliveryCopy, received time.Time, win []byte, finished func(file int)) error {
	slices.SortStableFunc(copies, func(a, b deliveryCopy) int { return cmp.Compare(a.key, b.key) })
	last := map[int]int{} // file -> index of its last copy
	for i, c := range copies {
		last[c.file] = i
	}
	var have []byte // win's valid bytes, from upload offset at
	var at int64
	for i, c := range copies {
		if err := copyEnvelope(blob, copies, i, received, win, &have, &at); err != nil {
			return err
		}
		if finished != nil && last[c.file] == i {
			finished(c.file)
		}
	}
	return nil
}

// copyEnvelope adds copies[i]'s envelope to its ZIP, through the window (*have, from upload
// offset *at) when small, refilling it when the envelope is not in it.
func copyEnvelope(blob io.ReaderAt, copies []deliveryCopy, i int, received time.Time, win []byte, have *[]byte, at *int64) error {
	c := copies[i]
	f := c.src.Raw
	if f == nil || int64(f.CompressedSize64) > int64(len(win)/2) {
		*have = nil // win is the copy buffer
		return addDeliveryEntry(c.zw, c.name, c.src, received, win)
	}
	off, n := c.src.RawAt, int64(f.CompressedSize64)
	if off < *at || off+n > *at+int64(len(*have)) {
		// Take along the next wanted entries while they follow closely and fit.
		end := off + n
		for _, next := range copies[i+1:] {
			nf := next.src.Raw
			if nf == nil {
				break
			}
			nOff, nEnd := next.src.RawAt, next.src.RawAt+int64(nf.CompressedSize64)
			if nOff < end || nOff-end > sweepGap || nEnd-off > int64(len(win)) {
				break
			}
			end = nEnd
		}
		got, err := blob.ReadAt(win[:end-off], off)
		if int64(got) < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("%s: gecomprimeerde gegevens lezen: %w", c.name, err)
		}
		*have, *at = win[:got], off
	}
	dst, err := c.zw.CreateRaw(rawHeader(c.name, f, received))
	if err != nil {
		return err
	}
	_, err = dst.Write((*have)[off-*at : off-*at+n])
	return err
}

// commitZip ends a delivery ZIP: its central directory, flush (nil: none), then the
// durable commit; on any failure the file is aborted and a full disk or quota named as such.
func commitZip(w storage.Writer, zw *zip.Writer, flush func() error) (int64, error) {
	err := zw.Close()
	if err == nil && flush != nil {
		err = flush()
	}
	size := w.Size()
	if err == nil {
		err = w.Commit()
	}
	if err != nil {
		return 0, mapNoSpace(errors.Join(err, w.Abort()))
	}
	return size, nil
}

// addDeliveryEntry adds one envelope to a delivery ZIP under name, the name the hub validated.
// The header is written fresh: nothing of the sender's header but the compression method,
// CRC and sizes of the bytes copied. A copied header let an Info-ZIP Unicode Path extra field
// rename the file at the recipient's unzip, and let the sender's Unix mode make it a setuid
// file or a symlink (TestDeliveryZipCarriesSendersUnicodePathAndSymlinkMode).
func addDeliveryEntry(zw *zip.Writer, name string, src zipintake.Entry, received time.Time, buf []byte) error {
	modified := received.In(amsterdam)
	if src.Raw == nil {
		hdr := &zip.FileHeader{Name: name, Method: zip.Store, Modified: modified}
		hdr.SetMode(deliveryMode)
		dst, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		rc, err := src.Open()
		if err != nil {
			return err
		}
		defer rc.Close() // read only: its Close loses nothing
		_, err = io.CopyBuffer(dst, rc, buf)
		return err
	}
	f := src.Raw
	hdr := rawHeader(name, f, received)
	dst, err := zw.CreateRaw(hdr)
	if err != nil {
		return err
	}
	r, err := f.OpenRaw()
	if err != nil {
		return err
	}
	n, err := io.CopyBuffer(dst, io.LimitReader(r, int64(f.CompressedSize64)), buf)
	if err == nil && uint64(n) != f.CompressedSize64 {
		err = fmt.Errorf("%s: %d van %d bytes gekopieerd", name, n, f.CompressedSize64)
	}
	return err
}

// rawHeader is the header of a delivery entry whose compressed bytes f's are: fresh, with
// nothing of the sender's header but the compression method, CRC and sizes.
func rawHeader(name string, f *zip.File, received time.Time) *zip.FileHeader {
	modified := received.In(amsterdam)
	hdr := &zip.FileHeader{
		Name:               name,
		Method:             f.Method, // Store or Deflate: intake refuses every other
		CRC32:              f.CRC32,
		CompressedSize64:   f.CompressedSize64,
		UncompressedSize64: f.UncompressedSize64,
		ReaderVersion:      20,
		Modified:           modified,
	}
	hdr.SetMode(deliveryMode)
	hdr.CreatorVersion |= 20
	// CreateRaw does none of what CreateHeader does for the header: mark a UTF-8 name, set
	// the MS-DOS time and the extended timestamp that CreateHeader writes for a stored .xml.
	if !isASCII(name) {
		hdr.Flags |= 0x800
	}
	hdr.ModifiedDate, hdr.ModifiedTime = msDosTime(modified)
	hdr.Extra = extTimeExtra(modified)
	if f.CompressedSize64 >= 1<<32-1 || f.UncompressedSize64 >= 1<<32-1 {
		hdr.ReaderVersion = 45
	}
	return hdr
}

// deliveryMode is every delivered file's mode: a regular file, readable by all, writable by
// its owner; never what the sender asked for.
const deliveryMode = 0o644

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// msDosTime is t in the MS-DOS date and time fields of a ZIP header (2-second precision,
// years 1980–2107), as archive/zip writes them for CreateHeader.
func msDosTime(t time.Time) (date, tm uint16) {
	y := min(max(t.Year(), 1980), 2107)
	date = uint16(t.Day() + int(t.Month())<<5 + (y-1980)<<9)
	tm = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, tm
}

// extTimeExtra is the extended timestamp extra field (0x5455) with the modification time, the
// one extra field a delivery entry carries, as archive/zip writes it for CreateHeader.
func extTimeExtra(t time.Time) []byte {
	b := make([]byte, 0, 9)
	b = binary.LittleEndian.AppendUint16(b, 0x5455)
	b = binary.LittleEndian.AppendUint16(b, 5)
	b = append(b, 1) // flags: modification time
	return binary.LittleEndian.AppendUint32(b, uint32(t.Unix()))
}

// uniqueName keeps entry names unique within one delivery ZIP: name.xml, name_2.xml, …
// Names that only look the same (NFC against NFD) count as the same name: unpacked into one
// folder they would be two files no one can tell apart, or one on a file system that
// normalises names.
func uniqueName(seen map[string]int, name string) string {
	k := lookAlike(name)
	seen[k]++
	if n := seen[k]; n > 1 {
		ext := ""
		if i := lastDot(name); i > 0 {
			name, ext = name[:i], name[i:]
		}
		return uniqueName(seen, fmt.Sprintf("%s_%d%s", name, n, ext))
	}
	return name
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// bigDelivery is the number of messages above which the delivery records get a transaction
// of their own: their lists of message ids would not fit beside the rest.
const bigDelivery = 20 * batchSize

// putDeliveries records the delivery files of an upload: in ophalen/, or held for a
// Digikoppeling route.
func (h *Hub) putDeliveries(t storage.Txn, u *Upload, prog *progress, groups [][]member, sizes []int64) error {
	// Each file's name is first tried as is (freeName): on PostgreSQL those reads go in one
	// query, not a round trip per file inside the upload's final transaction.
	var names [][]byte
	for i, msgs := range groups {
		if g := prog.Groups[i]; len(msgs) > 0 && !g.Hold {
			names = append(names, key(kDlvName, g.Mailbox, u.Product, deliveryName(prog.At, g.Mailbox, g.Functie)))
		}
	}
	if err := storage.Prefetch(t, names); err != nil {
		return err
	}
	for i, msgs := range groups {
		if len(msgs) == 0 {
			continue
		}
		g := prog.Groups[i]
		d := Delivery{ID: dlvID(u.ID, i), Org: g.Mailbox, Product: u.Product, Functie: g.Functie, From: msgs[0].Zender, UploadID: u.ID, Size: sizes[i], Blob: dlvBlob(u.ID, i), CreatedAt: prog.At, Held: g.Hold, Exchange: g.Exchange}
		for _, m := range msgs {
			d.Messages = append(d.Messages, m.ID)
			if m.Ontvanger != d.Org && !slices.Contains(d.For, m.Ontvanger) {
				d.For = append(d.For, m.Ontvanger)
			}
		}
		if err := h.putDelivery(t, &d); err != nil {
			return err
		}
	}
	return nil
}

// putDelivery records a new delivery: in ophalen/ under a free name, or on hold.
func (h *Hub) putDelivery(t storage.Txn, d *Delivery) error {
	if d.Held {
		if err := t.Set(key(kHold, d.Org, d.Product, d.Exchange, d.ID), nil); err != nil {
			return err
		}
		return setJSON(t, key(kDelivery, d.ID), d)
	}
	name, err := freeName(t, d.Org, d.Product, deliveryName(d.CreatedAt, d.Org, d.Functie))
	if err != nil {
		return err
	}
	d.Name = name
	if err := t.Set(key(kDlvName, d.Org, d.Product, d.Name), be64(d.ID)); err != nil {
		return err
	}
	if err := t.Set(key(kInbox, d.Org, d.Product, d.CreatedAt, d.ID), nil); err != nil {
		return err
	}
	return setJSON(t, key(kDelivery, d.ID), d)
}

// deliveryName is the portal's name of a file in ophalen/: YYYYMMDD_HHMMSS_<code>_<FUNCTIE>.ZIP.
func deliveryName(at time.Time, org, functie string) string {
	return fmt.Sprintf("%s_%s_%s.ZIP", at.In(amsterdam).Format("20060102_150405"), org, functie)
}

// freeName adds _2, _3, … before .ZIP when the name is taken in that ophalen/. The suffixes
// are found by galloping and bisecting, not one by one: over Digikoppeling every message is a
// delivery of its own, and thousands in one second named _2 … _2000 made each new one try
// every earlier name (28% of the CPU of an inbound run). Where a name in the middle was freed
// the result may be past the first gap; it is unique all the same.
func freeName(t storage.Txn, org string, product Product, name string) (string, error) {
	base := name[:len(name)-len(".ZIP")]
	cand := func(n int) string {
		if n == 1 {
			return name
		}
		return fmt.Sprintf("%s_%d.ZIP", base, n)
	}
	taken := func(n int) (bool, error) {
		_, err := t.Get(key(kDlvName, org, product, cand(n)))
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	lo, hi := 0, 1 // lo is taken (0: nothing), hi is the candidate
	for {
		tk, err := taken(hi)
		if err != nil {
			return "", err
		}
		if !tk {
			break
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		tk, err := taken(mid)
		if err != nil {
			return "", err
		}
		if tk {
			lo = mid
		} else {
			hi = mid
		}
	}
	return cand(hi), nil
}
