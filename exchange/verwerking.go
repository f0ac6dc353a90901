package exchange

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"knooppunt/storage"
)

// Entries and messages per transaction. Badger refuses a transaction past ~15% of its
// memtable (16 MB here); a decided entry writes about 1.5 KB (message, log and reference
// indexes for up to four organisations), so 1,000 stay well inside it.
const batchSize = 1000

// Message and delivery ids derive from the upload id and the entry's index, so a redo writes
// the same keys and files instead of adding new ones.
const (
	entryBits  = 23 // 8,388,608 entries per upload at most, far above MaxZipEntries
	deliverBit = 1 << entryBits
)

func msgID(upload uint64, index int) uint64 { return upload<<(entryBits+1) | uint64(index) }
func dlvID(upload uint64, ordinal int) uint64 {
	return upload<<(entryBits+1) | deliverBit | uint64(ordinal)
}
func dlvBlob(upload uint64, ordinal int) string { return fmt.Sprintf("dlv/%d/%d.zip", upload, ordinal) }

// wholeUpload is the entry index of a fout about the upload as a whole (IB901, IB902, …): it
// sorts after every entry.
const wholeUpload = 1<<entryBits - 1

// process takes one upload from the queue to a final status. It returns an error only for a
// failure worth retrying (storage, full disk); everything wrong with the upload itself ends up
// in its report. par is how many entries may be parsed at once.
func (h *Hub) process(ctx context.Context, id uint64, par int) error {
	var u Upload
	var prog progress
	err := h.kv.View(func(t storage.Txn) error {
		if err := getJSON(t, key(kUpload, id), &u); err != nil {
			return err
		}
		var err error
		prog, err = loadProgress(t, id)
		return err
	})
	// Nothing left to do: the queue entry goes, and with it this node's claim (claims.go).
	unqueue := func(t storage.Txn) error {
		if err := t.Delete(key(kClaim, id)); err != nil {
			return err
		}
		return t.Delete(key(kQueue, id))
	}
	if errors.Is(err, storage.ErrNotFound) {
		// Purged or never complete: nothing to deliver, so drop the queue entry.
		return h.kv.Update(unqueue)
	}
	if err != nil {
		return fmt.Errorf("aanlevering %d lezen: %w", id, err)
	}
	if u.Status.Final() {
		return h.kv.Update(unqueue)
	}
	if u.Status == Ontvangen {
		if err := h.startUpload(&u); err != nil {
			return err
		}
	}
	if prog.At.IsZero() {
		prog.At = h.clock.Now()
	}

	blob, err := h.files.Open(u.Blob)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrDamaged) {
		return h.finishLost(u)
	}
	if err != nil {
		return fmt.Errorf("aanlevering %s openen: %w", u.Name, err)
	}
	defer blob.Close()

	sources := map[int]Entry{}
	// Decided in this run from the first entry: the accepted messages are in hand and need
	// not be read back.
	var decided []member
	fresh := prog.Next == 0 && !prog.Decided
	if !prog.Decided {
		if err := h.decide(ctx, &u, &prog, blob, par, sources, &decided); err != nil {
			return err
		}
	} else if !prog.Delivered {
		// Only the entries' bytes are needed: their verdicts are committed.
		err := ReadUpload(blob, blob.Size(), u.Name, h.limits(), func(e Entry) error {
			sources[e.Index] = e
			return nil
		})
		var rej *Rejection
		if err != nil && !errors.As(err, &rej) {
			return fmt.Errorf("aanlevering %s lezen: %w", u.Name, err)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !fresh {
		decided = nil
	}
	return h.deliver(&u, &prog, sources, decided, fresh)
}

func (h *Hub) limits() Limits { return Limits{MaxEntries: h.cfg.MaxZipEntries} }

// startUpload moves an upload to Bezig with an expected end time.
func (h *Hub) startUpload(u *Upload) error {
	now := h.clock.Now()
	// Lazy: Bezig only shows progress. Lost in a power cut, the upload is Ontvangen again and
	// the redo starts it anew; the upload's next durable write syncs it along.
	err := h.kv.UpdateLazy(func(t storage.Txn) error {
		if err := h.holdClaim(t, u.ID); err != nil {
			return err
		}
		var cur Upload
		if err := getJSON(t, key(kUpload, u.ID), &cur); err != nil {
			return err
		}
		cur.Status = Bezig
		cur.StartedAt = now
		cur.ExpectedAt = now.Add(h.estimate(t, cur.Size))
		*u = cur
		return setJSON(t, key(kUpload, u.ID), cur)
	})
	if err != nil {
		return fmt.Errorf("aanlevering %d starten: %w", u.ID, err)
	}
	h.publish(Event{Org: u.Org, Product: u.Product, Kind: "upload", UploadID: u.ID})
	return nil
}

// finishLost ends an upload whose bytes are gone (removed by hand from the data directory):
// nothing can be delivered, and saying so beats retrying forever.
func (h *Hub) finishLost(u Upload) error {
	h.log.Error("bestand van aanlevering ontbreekt", "upload", u.ID, "blob", u.Blob)
	prog := progress{At: h.clock.Now()}
	lost := &Rejection{Code: IB901, Detail: "het aangeleverde bestand is niet meer aanwezig op het knooppunt; lever het opnieuw aan"}
	if err := h.commitBatch(&u, &prog, nil, true, lost, nil); err != nil {
		return err
	}
	return h.deliver(&u, &prog, nil, nil, true)
}

// verdict is what the checks say about one entry.
type verdict struct {
	index int
	name  string
	fout  *Rejection
	msg   *Message // accepted so far; references are checked when committing
	group groupKey
	heen  string // for a retour: the functie it answers
	noRef bool   // PGB file without envelope: no referentienummer to keep unique
	err   error  // not the entry's fault: retry the upload
}

// decide runs every check on the entries not decided yet and commits the verdicts in
// batches, each with the progress marker.
func (h *Hub) decide(ctx context.Context, u *Upload, prog *progress, blob storage.Reader, par int, sources map[int]Entry, decided *[]member) error {
	c := h.newChecker(u)
	type job struct {
		e   Entry
		out chan verdict
	}
	jobs := make(chan job, 64)
	order := make(chan chan verdict, 256)
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for j := range jobs {
				j.out <- c.check(j.e)
			}
		})
	}
	var whole *Rejection
	var readErr error
	go func() {
		defer close(order)
		defer wg.Wait()
		defer close(jobs)
		readErr = ReadUpload(blob, blob.Size(), u.Name, h.limits(), func(e Entry) error {
			sources[e.Index] = e
			if e.Index < prog.Next {
				return nil
			}
			if e.Index >= wholeUpload {
				return &Rejection{Code: IB902, Detail: fmt.Sprintf("meer dan %d bestanden", wholeUpload)}
			}
			out := make(chan verdict, 1)
			select {
			case jobs <- job{e, out}:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case order <- out:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
	}()
	// Batches commit on their own goroutine, so parsing goes on while one is written.
	batches := make(chan []verdict, 1)
	commitErr := make(chan error, 1)
	go func() {
		var err error
		for b := range batches {
			if err == nil {
				err = h.commitBatch(u, prog, b, false, nil, decided)
			}
		}
		commitErr <- err
	}()
	var batch []verdict
	var failed error
	for out := range order {
		v := <-out
		if failed != nil {
			continue // drain, so the reader can stop
		}
		if v.err != nil {
			failed = v.err
			continue
		}
		batch = append(batch, v)
		if len(batch) == batchSize {
			batches <- batch
			batch = nil
		}
	}
	close(batches)
	if err := <-commitErr; err != nil && failed == nil {
		failed = err
	}
	// sources was written by the reader goroutine; closing order ordered it before this point.
	if failed != nil {
		return failed
	}
	if readErr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !errors.As(readErr, &whole) {
			return fmt.Errorf("aanlevering %s lezen: %w", u.Name, readErr)
		}
	}
	return h.commitBatch(u, prog, batch, true, whole, decided)
}

// commitBatch checks referentienummers and crossRefnummers of a batch of verdicts, and commits
// the messages, log entries, fouten and progress in one transaction. The last batch also
// carries the fout about the upload as a whole, if any.
func (h *Hub) commitBatch(u *Upload, prog *progress, batch []verdict, last bool, whole *Rejection, decided *[]member) error {
	var next progress
	var accepted []member
	var codes []Code // of this batch's rejections, for the observer once committed
	// Lazy: a batch is durable with the upload's delivery or final transaction (a sync covers
	// every earlier commit). Lost in a power cut, the redo decides the same entries again under
	// the same message ids: the writes are idempotent, and no file or queue change depends on
	// the batch being on disk before that durable write.
	err := h.kv.UpdateLazy(func(t storage.Txn) error {
		next = *prog
		next.Groups = append([]groupKey(nil), prog.Groups...)
		accepted = accepted[:0]
		codes = codes[:0]
		seen := map[string]bool{}
		// The claim is read with the references: one round trip to PostgreSQL for both.
		if err := storage.Prefetch(t, append(refKeys(batch), key(kClaim, u.ID))); err != nil {
			return err
		}
		if err := h.holdClaim(t, u.ID); err != nil {
			return err
		}
		counts := logCounts{}
		for _, v := range batch {
			next.Counts.Aangeleverd++
			rej := v.fout
			if rej == nil {
				var err error
				rej, err = h.checkRefs(t, v, seen)
				if err != nil {
					return err
				}
			}
			if rej != nil {
				next.Counts.Incorrect++
				codes = append(codes, rej.Code)
				if err := setJSON(t, key(kFout, u.ID, uint64(v.index)), foutOf(v.name, rej)); err != nil {
					return err
				}
				if v.msg != nil {
					// The sender's berichtenlog shows the refused message with its code.
					m := *v.msg
					m.Mailbox = ""
					m.Status = MsgAfgekeurd
					m.History = append(m.History, StatusEvent{At: prog.At, Status: MsgAfgekeurd, Code: rej.Code})
					if err := h.putNewMessageCounted(t, m, true, []string{u.Org}, counts); err != nil {
						return err
					}
				}
				continue
			}
			next.Counts.Correct++
			ord := -1
			for i, g := range next.Groups {
				if g == v.group {
					ord = i
				}
			}
			if ord < 0 {
				ord = len(next.Groups)
				next.Groups = append(next.Groups, v.group)
			}
			m := *v.msg
			m.DeliveryID = dlvID(u.ID, ord)
			// The message gets its delivered status now; its file becomes visible with the
			// upload's final transaction, or with the redo after a crash.
			m.Status = MsgAfgeleverd
			if v.group.Hold {
				m.Status = MsgWachtRoute
			}
			m.History = append(m.History, StatusEvent{At: prog.At, Status: m.Status})
			if err := h.putNewMessageCounted(t, m, v.noRef, m.orgs(), counts); err != nil {
				return err
			}
			accepted = append(accepted, memberOf(m))
		}
		if err := counts.write(t); err != nil {
			return err
		}
		if len(batch) > 0 {
			next.Next = batch[len(batch)-1].index + 1
		}
		if whole != nil {
			next.Counts.Incorrect++
			codes = append(codes, whole.Code)
			if err := setJSON(t, key(kFout, u.ID, uint64(wholeUpload)), foutOf(u.Name, whole)); err != nil {
				return err
			}
		}
		next.Decided = last
		return setJSON(t, key(kProgress, u.ID), next)
	})
	if err != nil {
		return fmt.Errorf("aanlevering %s: berichten vastleggen: %w", u.Name, err)
	}
	*prog = next
	for _, c := range codes {
		h.obs.MessageRejected(string(u.Product), string(c))
	}
	if decided != nil {
		*decided = append(*decided, accepted...)
	}
	return nil
}

func foutOf(name string, r *Rejection) Fout {
	// The detail may quote envelope fields (a functie, a file name): stored printable.
	return Fout{Bestand: Printable(name), Code: r.Code, Omschrijving: r.Code.Omschrijving(), Detail: Printable(r.Detail)}
}

// refKeys are the keys checkRefs reads for batch: on PostgreSQL read in one query, not one
// round trip per message (3,000 of them in a large ZIP).
func refKeys(batch []verdict) [][]byte {
	var keys [][]byte
	for _, v := range batch {
		if v.fout != nil || v.msg == nil {
			continue
		}
		if !v.noRef {
			keys = append(keys, key(kRef, v.msg.Zender, v.msg.Referentie))
		}
		if v.heen != "" {
			keys = append(keys, key(kRef, v.msg.Ontvanger, v.msg.CrossRef))
		}
	}
	return keys
}

// checkRefs applies the rules that depend on other messages: IB016 and KP005.
func (h *Hub) checkRefs(t storage.Txn, v verdict, seen map[string]bool) (*Rejection, error) {
	m := v.msg
	if !v.noRef {
		k := string(key(kRef, m.Zender, m.Referentie))
		if seen[k] {
			return &Rejection{Code: IB016, Detail: fmt.Sprintf("referentienummer %s komt meer dan eens voor in deze aanlevering", m.Referentie)}, nil
		}
		val, err := t.Get([]byte(k))
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			if other, _ := idFromKey(val); other != m.ID {
				return &Rejection{Code: IB016, Detail: fmt.Sprintf("referentienummer %s is al eerder gebruikt door zender %s", m.Referentie, m.Zender)}, nil
			}
		}
		seen[k] = true
	}
	if v.heen == "" {
		return nil, nil
	}
	noHeen := &Rejection{Code: KP005, Detail: fmt.Sprintf("crossRefnummer %s verwijst niet naar een %s van %s aan %s", m.CrossRef, v.heen, m.Ontvanger, m.Zender)}
	val, err := t.Get(key(kRef, m.Ontvanger, m.CrossRef))
	if errors.Is(err, storage.ErrNotFound) {
		return noHeen, nil
	}
	if err != nil {
		return nil, err
	}
	hid, err := idFromKey(val)
	if err != nil {
		return nil, err
	}
	var heen Message
	if err := getJSON(t, key(kMessage, hid), &heen); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return noHeen, nil
		}
		return nil, err
	}
	if heen.Zender != m.Ontvanger || heen.Ontvanger != m.Zender || heen.Functie != v.heen {
		return noHeen, nil
	}
	return nil, nil
}

// putNewMessage writes an accepted message with its indexes into every organisation's
// berichtenlog it concerns: zender, ontvanger, the mailbox that receives it and the uploader.
func (h *Hub) putNewMessage(t storage.Txn, m Message, noRef bool, orgs []string) error {
	c := logCounts{}
	if err := h.putNewMessageCounted(t, m, noRef, orgs, c); err != nil {
		return err
	}
	return c.write(t)
}

// putNewMessageCounted is putNewMessage with the berichtenlog counts left in c, for the
// caller to write once per transaction.
func (h *Hub) putNewMessageCounted(t storage.Txn, m Message, noRef bool, orgs []string, c logCounts) error {
	if err := setJSON(t, key(kMessage, m.ID), m); err != nil {
		return err
	}
	if !noRef {
		if err := t.Set(key(kRef, m.Zender, m.Referentie), be64(m.ID)); err != nil {
			return err
		}
	}
	return c.putLogEntries(t, m, orgs)
}

// orgs lists the organisations whose berichtenlog shows m.
func (m Message) orgs() []string {
	var out []string
	for _, o := range []string{m.Zender, m.Uploader, m.Ontvanger, m.Mailbox} {
		if o == "" {
			continue
		}
		dup := false
		for _, x := range out {
			dup = dup || x == o
		}
		if !dup {
			out = append(out, o)
		}
	}
	return out
}

func addCount(t storage.Txn, k []byte, n int64) error {
	var cur uint64
	v, err := t.Get(k)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return err
	default:
		cur, _ = idFromKey(v)
	}
	return t.Set(k, be64(uint64(max(int64(cur)+n, 0))))
}

// member is what delivery needs of an accepted message: small, because a 1 GB upload holds
// up to 100,000 of them.
type member struct {
	ID        uint64
	Entry     int
	File      string
	Zender    string
	Ontvanger string
	ord       int
}

func memberOf(m Message) member {
	return member{ID: m.ID, Entry: m.Entry, File: m.File, Zender: m.Zender, Ontvanger: m.Ontvanger, ord: int(m.DeliveryID & (deliverBit - 1))}
}

// deliver writes the delivery files of the decided messages, then commits the delivery
// records, the messages' new status and the upload's final status.
func (h *Hub) deliver(u *Upload, prog *progress, sources map[int]Entry, decided []member, inHand bool) error {
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
func (h *Hub) writeDelivery(blob string, received time.Time, msgs []member, sources map[int]Entry, bw *bufio.Writer, buf []byte) (int64, error) {
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
			w.Abort()
			return 0, fmt.Errorf("bestand %d (%s) ontbreekt in de aanlevering", m.Entry, m.File)
		}
		if err := addDeliveryEntry(zw, uniqueName(names, m.File), src, received, buf); err != nil {
			w.Abort()
			return 0, mapNoSpace(err)
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
		w.Abort()
		return 0, mapNoSpace(err)
	}
	return size, nil
}

// addDeliveryEntry adds one envelope to a delivery ZIP under name, the name the hub validated.
// The header is written fresh: nothing of the sender's header but the compression method,
// CRC and sizes of the bytes copied. A copied header let an Info-ZIP Unicode Path extra field
// rename the file at the recipient's unzip, and let the sender's Unix mode make it a setuid
// file or a symlink (TestDeliveryZipCarriesSendersUnicodePathAndSymlinkMode).
func addDeliveryEntry(zw *zip.Writer, name string, src Entry, received time.Time, buf []byte) error {
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
		defer rc.Close()
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

// finishUpload ends the upload, in one transaction with its delivery records when given.
func (h *Hub) finishUpload(u *Upload, prog *progress, groups [][]member, deliveries func(storage.Txn) error) error {
	now := h.clock.Now()
	var final Upload
	err := h.kv.Update(func(t storage.Txn) error {
		if err := h.dropClaim(t, u.ID); err != nil {
			return err
		}
		if deliveries != nil {
			if err := deliveries(t); err != nil {
				return err
			}
		}
		if err := getJSON(t, key(kUpload, u.ID), &final); err != nil {
			return err
		}
		final.Counts = prog.Counts
		final.Status = Afgeleverd
		if final.Counts.Incorrect > 0 {
			final.Status = Afgekeurd
		}
		final.FinishedAt = now
		final.ExpectedAt = time.Time{}
		final.Wachtend = wachtend(prog, groups)
		fouten, err := firstFouten(t, u.ID, 100)
		if err != nil {
			return err
		}
		final.Fouten = fouten
		if err := setJSON(t, key(kUpload, u.ID), final); err != nil {
			return err
		}
		if err := h.queueFo01(t, &final); err != nil {
			return err
		}
		if err := t.Set(key(kExpire, final.ReceivedAt, u.ID), nil); err != nil {
			return err
		}
		if err := t.Delete(key(kProgress, u.ID)); err != nil {
			return err
		}
		return t.Delete(key(kQueue, u.ID))
	})
	if err != nil {
		return fmt.Errorf("aanlevering %s afronden: %w", u.Name, mapNoSpace(err))
	}
	*u = final
	h.learn(final)
	h.obs.UploadFinished(string(u.Product), strings.ToLower(string(u.Status)), final.FinishedAt.Sub(final.StartedAt),
		final.FinishedAt.Sub(final.ReceivedAt), final.Counts.Correct)
	if u.Blob != "" {
		// Every accepted envelope now lives in a delivery file; the upload's bytes are done.
		if err := h.files.Remove(u.Blob); err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.log.Warn("aanleverbestand opruimen", "upload", u.ID, "err", err)
		}
	}
	h.publish(Event{Org: u.Org, Product: u.Product, Kind: "upload", UploadID: u.ID})
	if u.Door != "" || prog.hasHold() {
		h.kickSender()
	}
	notified := map[string]bool{}
	for i, msgs := range groups {
		if len(msgs) > 0 && !notified[prog.Groups[i].Mailbox] {
			notified[prog.Groups[i].Mailbox] = true
			h.publish(Event{Org: prog.Groups[i].Mailbox, Product: u.Product, Kind: "delivery", UploadID: u.ID})
		}
	}
	return nil
}

// wachtend sums the held delivery groups of an upload per recipient and exchange.
func wachtend(prog *progress, groups [][]member) []Wachtend {
	var out []Wachtend
	for i, msgs := range groups {
		if len(msgs) == 0 || i >= len(prog.Groups) || !prog.Groups[i].Hold {
			continue
		}
		g := prog.Groups[i]
		j := slices.IndexFunc(out, func(w Wachtend) bool { return w.Organisatie == g.Mailbox && w.Uitwisseling == g.Exchange })
		if j < 0 {
			out = append(out, Wachtend{Organisatie: g.Mailbox, Uitwisseling: g.Exchange})
			j = len(out) - 1
		}
		out[j].Berichten += len(msgs)
	}
	return out
}

// firstFouten keeps the first fouten on the upload record, for lists; the report reads all.
func firstFouten(t storage.Txn, id uint64, n int) ([]Fout, error) {
	var out []Fout
	err := t.Scan(key(kFout, id, ""), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
		var f Fout
		if err := json.Unmarshal(v, &f); err != nil {
			return false, err
		}
		out = append(out, f)
		return len(out) < n, nil
	})
	return out, err
}
