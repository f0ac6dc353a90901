package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"knooppunt/exchange/codes"
	"knooppunt/exchange/zipintake"
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
	var took time.Duration // expected processing time, for startUpload
	err := h.kv.View(func(t storage.Txn) error {
		if err := getJSON(t, key(kUpload, id), &u); err != nil {
			return err
		}
		took = h.estimate(t, u.Size)
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
		if err := h.startUpload(&u, took); err != nil {
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
	defer blob.Close() // read only: its Close loses nothing

	sources := map[int]zipintake.Entry{}
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
		err := zipintake.ReadUpload(blob, blob.Size(), u.Name, h.limits(), func(e zipintake.Entry) error {
			sources[e.Index] = e
			return nil
		})
		var rej *codes.Rejection
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
	return h.deliver(&u, &prog, blob, sources, decided, fresh)
}

func (h *Hub) limits() zipintake.Limits { return zipintake.Limits{MaxEntries: h.cfg.MaxZipEntries} }

// startUpload moves an upload to Bezig with an expected end time, took from now.
//
// took is read in a snapshot before (process), not in the transaction below: eta/ is written
// by every finished upload, and a read of it in a serializable transaction on PostgreSQL
// locks its index page (shared with the newest delivery records), which made starts conflict
// with other uploads' finishes (issue 14). An estimate a moment old is as good.
func (h *Hub) startUpload(u *Upload, took time.Duration) error {
	now := h.clock.Now()
	// Lazy: Bezig only shows progress. Lost in a power cut, the upload is Ontvangen again and
	// the redo starts it anew; the upload's next durable write syncs it along.
	err := h.kv.UpdateLazy(func(t storage.Txn) error {
		// The claim and the upload in one query on PostgreSQL, not a round trip each.
		if err := storage.Prefetch(t, [][]byte{key(kClaim, u.ID), key(kUpload, u.ID)}); err != nil {
			return err
		}
		if err := h.holdClaim(t, u.ID); err != nil {
			return err
		}
		var cur Upload
		if err := getJSON(t, key(kUpload, u.ID), &cur); err != nil {
			return err
		}
		cur.Status = Bezig
		cur.StartedAt = now
		cur.ExpectedAt = now.Add(took)
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
	lost := &codes.Rejection{Code: codes.IB901, Detail: "het aangeleverde bestand is niet meer aanwezig op het knooppunt; lever het opnieuw aan"}
	if err := h.commitBatch(&u, &prog, nil, true, lost, nil); err != nil {
		return err
	}
	return h.deliver(&u, &prog, nil, nil, nil, true)
}

// verdict is what the checks say about one entry.
type verdict struct {
	index int
	name  string
	fout  *codes.Rejection
	msg   *Message // accepted so far; references are checked when committing
	group groupKey
	heen  string // for a retour: the functie it answers
	noRef bool   // PGB file without envelope: no referentienummer to keep unique
	err   error  // not the entry's fault: retry the upload
}

// decide runs every check on the entries not decided yet and commits the verdicts in
// batches, each with the progress marker.
func (h *Hub) decide(ctx context.Context, u *Upload, prog *progress, blob storage.Reader, par int, sources map[int]zipintake.Entry, decided *[]member) error {
	c := h.newChecker(u)
	type job struct {
		e   zipintake.Entry
		out chan verdict
	}
	jobs := make(chan job, 64)
	order := make(chan chan verdict, 256)
	// Each entry's verdict channel is reused once its verdict is taken: a channel a message
	// was an allocation a message. No more than jobs, order and the workers hold are in use.
	free := make(chan chan verdict, 64+256+par+1)
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for j := range jobs {
				j.out <- c.check(j.e)
			}
		})
	}
	var whole *codes.Rejection
	var readErr error
	// Read once: the commits move prog.Next while the reader runs.
	start := prog.Next
	go func() {
		defer close(order)
		defer wg.Wait()
		defer close(jobs)
		readErr = zipintake.ReadUpload(blob, blob.Size(), u.Name, h.limits(), func(e zipintake.Entry) error {
			sources[e.Index] = e
			if e.Index < start {
				return nil
			}
			if e.Index >= wholeUpload {
				return &codes.Rejection{Code: codes.IB902, Detail: fmt.Sprintf("meer dan %d bestanden", wholeUpload)}
			}
			var out chan verdict
			select {
			case out = <-free:
			default:
				out = make(chan verdict, 1)
			}
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
		select {
		case free <- out: // empty again: the worker sent its one verdict
		default:
		}
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
			// An upload that filled one batch likely fills the next: full capacity at once,
			// not a dozen copies growing it. A small upload's first batch stays small.
			batch = make([]verdict, 0, batchSize)
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
func (h *Hub) commitBatch(u *Upload, prog *progress, batch []verdict, last bool, whole *codes.Rejection, decided *[]member) error {
	var next progress
	var accepted []member
	var codes []codes.Code // of this batch's rejections, for the observer once committed
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
		counts := newLogBatch()
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

func foutOf(name string, r *codes.Rejection) Fout {
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
func (h *Hub) checkRefs(t storage.Txn, v verdict, seen map[string]bool) (*codes.Rejection, error) {
	m := v.msg
	if !v.noRef {
		k := string(key(kRef, m.Zender, m.Referentie))
		if seen[k] {
			return &codes.Rejection{Code: codes.IB016, Detail: fmt.Sprintf("referentienummer %s komt meer dan eens voor in deze aanlevering", m.Referentie)}, nil
		}
		val, err := t.Get([]byte(k))
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			if other, _ := idFromKey(val); other != m.ID { // a short value is no id: not this message either
				return &codes.Rejection{Code: codes.IB016, Detail: fmt.Sprintf("referentienummer %s is al eerder gebruikt door zender %s", m.Referentie, m.Zender)}, nil
			}
		}
		seen[k] = true
	}
	if v.heen == "" {
		return nil, nil
	}
	noHeen := &codes.Rejection{Code: codes.KP005, Detail: fmt.Sprintf("crossRefnummer %s verwijst niet naar een %s van %s aan %s", m.CrossRef, v.heen, m.Ontvanger, m.Zender)}
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
	c := newLogBatch()
	if err := h.putNewMessageCounted(t, m, noRef, orgs, c); err != nil {
		return err
	}
	return c.write(t)
}

// putNewMessageCounted is putNewMessage with the berichtenlog groups and counts left in c,
// for the caller to write once per transaction.
func (h *Hub) putNewMessageCounted(t storage.Txn, m Message, noRef bool, orgs []string, c *logBatch) error {
	rec, err := messageJSON(&m)
	if err != nil {
		return fmt.Errorf("bericht %d vastleggen: %w", m.ID, err)
	}
	// New keys (the message's id is new, its referentienummer unused: checkRefs): SetNew
	// spares PostgreSQL an upsert. A redo finds them written and runs as Set.
	if err := storage.SetNew(t, key(kMessage, m.ID), rec); err != nil {
		return err
	}
	if !noRef {
		if err := storage.SetNew(t, key(kRef, m.Zender, m.Referentie), be64(m.ID)); err != nil {
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

// finishUpload ends the upload, in one transaction with its delivery records when given.
func (h *Hub) finishUpload(u *Upload, prog *progress, groups [][]member, deliveries func(storage.Txn) error) error {
	now := h.clock.Now()
	var final Upload
	err := h.kv.Update(func(t storage.Txn) error {
		if err := storage.Prefetch(t, [][]byte{key(kClaim, u.ID), key(kUpload, u.ID)}); err != nil {
			return err
		}
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
		// Every fout is written with the count of incorrect files in the same transaction
		// (commitBatch): none counted, none to read. The scan of an empty range on
		// PostgreSQL locks the index page next to the newest delivery records, which every
		// other finishing upload writes into (issue 14).
		final.Fouten = nil
		if prog.Counts.Incorrect > 0 {
			fouten, err := firstFouten(t, u.ID, 100)
			if err != nil {
				return err
			}
			final.Fouten = fouten
		}
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
	h.obs.UploadFinished(string(u.Product), strings.ToLower(string(u.Status)), final.Verwerkingsduur(),
		final.FinishedAt.Sub(final.ReceivedAt), final.Counts.Correct)
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
	// After the events: the sender and the recipients hear of the upload at once, not after
	// the removal (on S3 four requests: the copies under blobs/, tmp/ and damaged/ are looked
	// for, and the object deleted).
	if u.Blob != "" {
		// Every accepted envelope now lives in a delivery file; the upload's bytes are done.
		if err := h.files.Remove(u.Blob); err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.log.Warn("aanleverbestand opruimen", "upload", u.ID, "err", err)
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
