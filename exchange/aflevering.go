package exchange

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"knooppunt/exchange/zipintake"
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
func (h *Hub) deliver(u *Upload, prog *progress, sources map[int]zipintake.Entry, decided []member, inHand bool) error {
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
		sizes := make([]int64, len(groups))
		errs := make([]error, len(groups))
		// Up to 8 files are written at once, each writer with its own buffers for all the
		// files it writes: one upload can have thousands of recipients.
		todo := make(chan int, len(groups))
		for i, msgs := range groups {
			if len(msgs) > 0 {
				todo <- i
			}
		}
		close(todo)
		var wg sync.WaitGroup
		for range min(8, len(todo)) {
			wg.Go(func() {
				wb := writeBufs.Get().(*writeBuf)
				defer writeBufs.Put(wb)
				for i := range todo {
					sizes[i], errs[i] = h.writeDelivery(dlvBlob(u.ID, i), u.ReceivedAt, groups[i], sources, wb.bw, wb.buf)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
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

// writeBuf is a delivery writer's buffers, pooled: allocating and clearing 320 KB for every
// small upload cost more CPU than writing its files.
type writeBuf struct {
	bw  *bufio.Writer
	buf []byte // io.Copy would allocate one per entry
}

var writeBufs = sync.Pool{New: func() any {
	return &writeBuf{bw: bufio.NewWriterSize(nil, 256<<10), buf: make([]byte, 64<<10)}
}}

// writeDelivery writes one delivery ZIP with each envelope byte for byte as received: a ZIP
// entry's compressed bytes are copied as they are, a plain .xml is stored. Every header is
// the hub's own (addDeliveryEntry).
// bw and buf are the caller's, reused from file to file.
func (h *Hub) writeDelivery(blob string, received time.Time, msgs []member, sources map[int]zipintake.Entry, bw *bufio.Writer, buf []byte) (int64, error) {
	w, err := h.files.Create(blob)
	if err != nil {
		return 0, mapNoSpace(err)
	}
	bw.Reset(w)
	defer bw.Reset(nil) // hold no file
	zw := zip.NewWriter(bw)
	names := map[string]int{}
	for _, m := range msgs {
		src, ok := sources[m.Entry]
		if !ok {
			return 0, errors.Join(fmt.Errorf("bestand %d (%s) ontbreekt in de aanlevering", m.Entry, m.File), w.Abort())
		}
		if err := addDeliveryEntry(zw, uniqueName(names, m.File), src, received, buf); err != nil {
			return 0, mapNoSpace(errors.Join(err, w.Abort()))
		}
	}
	return commitZip(w, zw, bw.Flush)
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
