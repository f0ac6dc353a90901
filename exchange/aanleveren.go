package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"knooppunt/exchange/stuf"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"knooppunt/storage"
)

// Upload size limits, checked while the bytes arrive.
const (
	MaxXMLUpload int64 = 25 << 20 // one envelope
	MaxZipUpload int64 = 1 << 30  // a ZIP of envelopes
)

// PendingFile is a file in aanleveren/ that is not an upload (yet): staged under a temporary
// name until the client renames it, or cut off mid-transfer and kept so that `reput` can
// resume it. Its bytes are an uncommitted blob in the file store.
type PendingFile struct {
	Name    string    `json:"naam"`
	Size    int64     `json:"grootte"`
	ModTime time.Time `json:"gewijzigd"`
	Account string    `json:"account"`
	Blob    string    `json:"blob"`
	Partial bool      `json:"onderbroken,omitempty"` // cut off: not accepted, resumable
}

// TempName tells whether name is one clients upload under before renaming it: it starts
// with a dot or ends in .filepart, .part or .partial (any case).
func TempName(name string) bool {
	l := strings.ToLower(name)
	return strings.HasPrefix(name, ".") || strings.HasSuffix(l, ".filepart") || strings.HasSuffix(l, ".part") || strings.HasSuffix(l, ".partial")
}

// FinalName tells whether a file of this name becomes an upload once it is closed cleanly:
// it ends in .xml or .zip (any case) and is not a temporary name.
func FinalName(name string) bool {
	l := strings.ToLower(name)
	return !TempName(name) && (strings.HasSuffix(l, ".xml") || strings.HasSuffix(l, ".zip"))
}

// uploadLimit is the largest file name may hold. A temporary name gets the limit of the
// name it hides when that is plain (x.xml.filepart); otherwise the rename checks.
func uploadLimit(name string) int64 {
	l := strings.ToLower(name)
	for _, s := range []string{".filepart", ".partial", ".part"} {
		l = strings.TrimSuffix(l, s)
	}
	if strings.HasSuffix(l, ".xml") {
		return MaxXMLUpload
	}
	return MaxZipUpload
}

// checkUploadName refuses names that can never be an upload, before a byte is written.
func checkUploadName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 || !utf8.ValidString(name) ||
		strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("%w: bestandsnaam %q is niet toegestaan; gebruik een gewone naam die eindigt op .xml of .zip", ErrInvalid, name)
	}
	if c := steeringIn(name); c != "" {
		// A control or bidi character would steer the terminal of whoever reads the name in
		// a verslag, a list or the audit log ("rapport\u202Egpj.zip" shows as "rapportpiz.jpg").
		return fmt.Errorf("%w: bestandsnaam %q is niet toegestaan: die bevat een stuurteken %s (een besturingsteken of een teken dat de leesrichting omdraait); gebruik een naam met alleen gewone tekens", ErrInvalid, name, c)
	}
	if !TempName(name) && !FinalName(name) {
		return fmt.Errorf("%w: %s wordt niet aangenomen: lever een .xml- of .zip-bestand aan (of upload onder een tijdelijke naam zoals %s.filepart en hernoem daarna)", ErrInvalid, name, name)
	}
	return nil
}

func tooLarge(name string, limit int64) error {
	what := "een .zip-bestand mag"
	if limit == MaxXMLUpload {
		what = "een .xml-bestand mag"
	}
	return fmt.Errorf("%w: %s is groter dan %s ten hoogste %d MB zijn; splits de aanlevering", ErrTooLarge, name, what, limit>>20)
}

// mayUpload checks p's right to product against the account as stored now, so a session
// that lost the product (or its account) since login cannot keep uploading.
func (h *Hub) mayUpload(p *Principal, product Product) error {
	return h.Allowed(p, ActionUpload, product)
}

// pending finds p's own pending file of this name.
func (h *Hub) pending(p *Principal, product Product, name string) (PendingFile, bool, error) {
	var f PendingFile
	err := h.kv.View(func(t storage.Txn) error {
		return getJSON(t, pendingKey(p.Org.Code, product, p.Account.Name, name), &f)
	})
	if errors.Is(err, storage.ErrNotFound) {
		return PendingFile{}, false, nil
	}
	if err != nil {
		return PendingFile{}, false, fmt.Errorf("aanleveren/%s lezen: %w", name, err)
	}
	return f, true, nil
}

// FindPending finds p's own pending file of this name in product's aanleveren/: one record
// read, for a stat.
func (h *Hub) FindPending(p *Principal, product Product, name string) (PendingFile, bool, error) {
	if err := h.mayUpload(p, product); err != nil {
		return PendingFile{}, false, err
	}
	return h.pending(p, product, name)
}

// dropStaged removes an uncommitted blob, and only that: a blob that was committed in the
// meantime belongs to an upload.
func (h *Hub) dropStaged(blob string) {
	w, err := h.files.Append(blob)
	if errors.Is(err, storage.ErrNotFound) {
		return
	}
	if err == nil {
		err = w.Abort()
	}
	if err != nil {
		h.log.Warn("tijdelijk bestand opruimen", "blob", blob, "err", err)
	}
}

// StartUpload opens a file in product's aanleveren/ for writing. With resume, an
// earlier cut-off or staged file of that name is continued where it ended (`reput`);
// otherwise the file starts empty and replaces it. Names that can never become an upload are
// refused here, before any byte is sent. While the engine runs, the upload first waits for
// admission (see admission): until ctx ends (the client left), or Config.UploadWait has
// passed (ErrBusy).
func (h *Hub) StartUpload(ctx context.Context, p *Principal, product Product, name string, resume bool) (*Spool, error) {
	path := string(product) + "/aanleveren/" + name
	if err := h.mayUpload(p, product); err != nil {
		return nil, h.RefuseUpload(p, product, name, 0, err)
	}
	if err := checkUploadName(name); err != nil {
		return nil, h.RefuseUpload(p, product, name, 0, err)
	}
	sl, err := h.admit(ctx, p, path)
	if err != nil {
		return nil, h.RefuseUpload(p, product, name, 0, err)
	}
	s := &Spool{h: h, p: p, product: product, name: name, path: path, limit: uploadLimit(name), slot: sl}
	if err := s.open(resume); err != nil {
		sl.release()
		h.Audit(p, "aanleveren", path, err.Error())
		return nil, err
	}
	h.spools.add(s.blob)
	return s, nil
}

// open continues the pending file of the spool's name (resume) or creates a new blob.
func (s *Spool) open(resume bool) error {
	h, p, product, name := s.h, s.p, s.product, s.name
	old, found, err := h.pending(p, product, name)
	if err != nil {
		return err
	}
	if !found {
		if err := h.lookAlikePending(p, product, name); err != nil {
			return err
		}
	}
	if found && resume {
		w, err := h.files.Append(old.Blob)
		switch {
		case err == nil:
			s.w, s.blob, s.resumed = w, old.Blob, true
			s.done.prefix = old.Size
			s.quotaReserved, s.quotaResumed = old.Size, old.Size // counted when first written
		case !errors.Is(err, storage.ErrNotFound):
			return storeErr(name, err)
		}
	}
	if s.w == nil {
		if s.blob, s.w, err = h.createSpool(p, product, name); err != nil {
			return err
		}
		if found {
			s.replaces = old.Blob
		}
	}
	return nil
}

// createSpool creates the blob a new file of p's organisation is written into, under a name
// of its own so that files of the same name never share one.
func (h *Hub) createSpool(p *Principal, product Product, name string) (string, storage.Writer, error) {
	seq, err := h.kv.Sequence("spool")
	if err != nil {
		return "", nil, fmt.Errorf("aanlevering %s starten: %w", name, err)
	}
	blob := fmt.Sprintf("aanleveren/%s/%s/%016x", p.Org.Code, product, seq)
	w, err := h.files.Create(blob)
	if err != nil {
		return "", nil, storeErr(name, err)
	}
	return blob, w, nil
}

// Spool receives one file written into aanleveren/. WriteAt may be called concurrently and
// out of order; nothing in it takes a lock. Exactly one of Close's outcomes happens: the
// file becomes an upload, stays staged, is kept as a cut-off partial, or is thrown away.
type Spool struct {
	h        *Hub
	p        *Principal
	product  Product
	name     string
	path     string
	blob     string
	replaces string // blob of an earlier pending file of this name, dropped once this one lands
	resumed  bool
	limit    int64
	w        storage.Writer
	slot     *slot // admission, held until Close; an accepted upload hands it to the engine

	done   written               // how far the file is written without holes, for `reput`
	werr   atomic.Pointer[error] // first write error: the file is refused
	cutOff atomic.Pointer[error] // the transfer was cut off
	once   sync.Once
	err    error

	quotaMu       sync.Mutex // guards the two below; see reserveQuota
	quotaReserved int64      // bytes of the file counted against the daily quota
	quotaResumed  int64      // of those, the bytes a resumed partial already had
}

// WriteAt writes b at off. Past the size limit it fails with ErrTooLarge; on a full disk
// with ErrNoSpace. After a failure every write fails the same way.
func (s *Spool) WriteAt(b []byte, off int64) (int, error) {
	if e := s.werr.Load(); e != nil {
		return 0, *e
	}
	if off < 0 {
		return 0, fmt.Errorf("%w: negatieve positie %d", ErrInvalid, off)
	}
	if off+int64(len(b)) > s.limit {
		return 0, s.fail(tooLarge(s.name, s.limit))
	}
	if err := s.reserveQuota(off + int64(len(b))); err != nil {
		return 0, s.fail(err)
	}
	n, err := s.w.WriteAt(b, off)
	s.done.add(off, off+int64(n))
	if err != nil {
		return n, s.fail(storeErr(s.name, err))
	}
	return n, nil
}

// written tracks the prefix of a file written without holes. Writes arrive out of order, but
// only as far apart as a client's requests in flight, so few ranges wait in ahead. The lock
// guards this bookkeeping only, never the I/O.
type written struct {
	mu     sync.Mutex
	prefix int64
	ahead  map[int64]int64 // start -> end of ranges written beyond the prefix
}

func (s *written) add(off, end int64) {
	if end <= off {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if off > s.prefix {
		if s.ahead == nil {
			s.ahead = map[int64]int64{}
		}
		s.ahead[off] = max(s.ahead[off], end)
		return
	}
	s.prefix = max(s.prefix, end)
	for merged := true; merged && len(s.ahead) > 0; {
		merged = false
		for o, e := range s.ahead {
			if o <= s.prefix {
				s.prefix = max(s.prefix, e)
				delete(s.ahead, o)
				merged = true
			}
		}
	}
}

func (s *written) size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prefix
}

func (s *Spool) fail(err error) error {
	s.werr.CompareAndSwap(nil, &err)
	return *s.werr.Load()
}

// Fail records that the transfer was cut off (the client vanished). Close will then keep
// what arrived as a partial for `reput` and never accept it.
func (s *Spool) Fail(err error) {
	if err == nil {
		err = errors.New("verbinding verbroken")
	}
	s.cutOff.CompareAndSwap(nil, &err)
}

// Close ends the file. After a clean transfer it is fsynced before Close returns, then
// accepted as an upload (a final name) or kept staged (a temporary name). Calling it again
// returns the first result.
func (s *Spool) Close() error {
	s.once.Do(func() {
		s.err = s.close()
		s.settleQuota()
		s.h.spools.done(s.blob)
		// Every outcome but an accepted upload ends the spool's claim here; a staged file
		// takes admission again when it is renamed into an upload.
		s.slot.release()
	})
	return s.err
}

func (s *Spool) close() error {
	h := s.h
	if e := s.cutOff.Load(); e != nil {
		if e2 := s.werr.Load(); e2 != nil {
			return s.discard(*e2)
		}
		if err := s.stage(true); err != nil {
			h.log.Error("onderbroken aanlevering bewaren", "pad", s.path, "err", err)
			h.Audit(s.p, "aanleveren", s.path, "onderbroken, niet bewaard: "+err.Error())
			return err
		}
		h.log.Warn("aanlevering onderbroken; niet verwerkt, bewaard voor hervatten", "pad", s.path, "account", s.p.Account.Name, "bytes", s.done.size(), "oorzaak", (*e).Error())
		h.Audit(s.p, "aanleveren", s.path, fmt.Sprintf("onderbroken na %d bytes: niet verwerkt, te hervatten met reput", s.done.size()))
		return *e
	}
	if e := s.werr.Load(); e != nil {
		return s.discard(*e)
	}
	if !FinalName(s.name) {
		if err := s.stage(false); err != nil {
			h.Audit(s.p, "aanleveren", s.path, err.Error())
			return err
		}
		h.Audit(s.p, "aanleveren", s.path, fmt.Sprintf("tijdelijk opgeslagen (%d bytes), wacht op hernoemen", s.w.Size()))
		return nil
	}
	_, err := h.handIn(s.p, s.product, s.name, s.w, s.blob, s.w.Size(), s.slot, "", nil)
	s.forget()
	if err != nil {
		return fmt.Errorf("%w; lever het bestand opnieuw aan", err)
	}
	s.slot = nil // the engine releases it once the upload is final
	return nil
}

// discard throws a refused file away, with any partial it continued.
func (s *Spool) discard(cause error) error {
	if err := s.w.Abort(); err != nil {
		s.h.log.Warn("geweigerde aanlevering opruimen", "blob", s.blob, "err", err)
	}
	s.forget()
	return s.h.RefuseUpload(s.p, s.product, s.name, s.done.size(), cause)
}

// stage keeps the bytes uncommitted and records them as a pending file.
func (s *Spool) stage(partial bool) error {
	if err := s.w.Keep(); err != nil {
		return storeErr(s.name, err)
	}
	size := s.w.Size()
	if partial {
		// A resuming client continues from the size it sees: only bytes without a hole
		// before them count.
		size = s.done.size()
	}
	f := PendingFile{Name: s.name, Size: size, ModTime: s.h.clock.Now(), Account: s.p.Account.Name, Blob: s.blob, Partial: partial}
	err := s.h.kv.Update(func(t storage.Txn) error {
		return setJSON(t, pendingKey(s.p.Org.Code, s.product, s.p.Account.Name, s.name), f)
	})
	if err != nil {
		return fmt.Errorf("%s vastleggen: %w", s.path, err)
	}
	if s.replaces != "" && s.replaces != s.blob {
		s.h.dropStaged(s.replaces)
	}
	return nil
}

// forget removes the pending record of this name (a partial now superseded) and the blob
// an earlier pending file of the name had.
func (s *Spool) forget() {
	if s.replaces == "" && !s.resumed {
		return
	}
	err := s.h.kv.Update(func(t storage.Txn) error {
		return t.Delete(pendingKey(s.p.Org.Code, s.product, s.p.Account.Name, s.name))
	})
	if err != nil {
		s.h.log.Warn("vervangen bestand in aanleveren/ vergeten", "pad", s.path, "err", err)
	}
	if s.replaces != "" {
		s.h.dropStaged(s.replaces)
	}
}

// RenameUpload renames a pending file inside aanleveren/: x.filepart to x.zip hands
// the file in as an upload; a rename to another temporary name only moves it. Handing in
// waits for admission as StartUpload does: the staged file gave its slot back when
// it was closed, since a client may never rename it.
func (h *Hub) RenameUpload(ctx context.Context, p *Principal, product Product, from, to string) (err error) {
	path := string(product) + "/aanleveren/" + from
	defer func() {
		result := "hernoemd naar " + to
		if err != nil {
			result = err.Error()
		}
		h.Audit(p, "hernoem", path, result)
	}()
	if err := h.mayUpload(p, product); err != nil {
		return h.RefuseUpload(p, product, to, 0, err)
	}
	if err := checkUploadName(to); err != nil {
		return h.RefuseUpload(p, product, to, 0, err)
	}
	var sl *slot
	if FinalName(to) && from != to {
		// Admitted first, then the pending file read: it may be removed or replaced while
		// the client waits.
		if sl, err = h.admit(ctx, p, string(product)+"/aanleveren/"+to); err != nil {
			return h.RefuseUpload(p, product, to, 0, err)
		}
		defer func() { sl.release() }() // nil once handed to the engine
	}
	f, found, err := h.pending(p, product, from)
	if err != nil {
		return err
	}
	if !found {
		if err := h.colleaguesFile(p, product, from); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s staat niet (meer) in aanleveren/; alleen een bestand dat nog niet is aangeleverd kan hernoemd worden", ErrNotFound, from)
	}
	if from == to {
		return nil
	}
	if FinalName(to) && f.Partial {
		return fmt.Errorf("%w: %s is onderbroken en niet compleet; hervat de upload (reput) of lever opnieuw aan", ErrInvalid, from)
	}
	if limit := uploadLimit(to); FinalName(to) && f.Size > limit {
		return h.RefuseUpload(p, product, to, f.Size, tooLarge(to, limit))
	}
	org := p.Org.Code
	if !FinalName(to) {
		target, exists, err := h.pending(p, product, to)
		if err != nil {
			return err
		}
		if !exists {
			if err := h.lookAlikePending(p, product, to); err != nil {
				return err
			}
		}
		f.Name = to
		err = h.kv.Update(func(t storage.Txn) error {
			if err := t.Delete(pendingKey(org, product, p.Account.Name, from)); err != nil {
				return err
			}
			return setJSON(t, pendingKey(org, product, p.Account.Name, to), f)
		})
		if err != nil {
			return fmt.Errorf("%s hernoemen: %w", from, err)
		}
		if exists && target.Blob != f.Blob {
			h.dropStaged(target.Blob)
		}
		return nil
	}
	dropPending := func() {
		if err := h.kv.Update(func(t storage.Txn) error { return t.Delete(pendingKey(org, product, p.Account.Name, from)) }); err != nil {
			h.log.Warn("hernoemd bestand uit aanleveren/ halen", "pad", path, "err", err)
		}
	}
	w, err := h.files.Append(f.Blob)
	if errors.Is(err, storage.ErrNotFound) {
		dropPending()
		return fmt.Errorf("%w: de inhoud van %s is niet meer aanwezig; lever het bestand opnieuw aan", ErrNotFound, from)
	}
	if err != nil {
		return storeErr(from, err)
	}
	_, err = h.handIn(p, product, to, w, f.Blob, f.Size, sl, "", nil)
	// Handed in, or its bytes gone (a failed commit aborts them, a failed record removes
	// them): either way the file is no longer pending.
	dropPending()
	if err != nil {
		return fmt.Errorf("%w; lever het bestand opnieuw aan", err)
	}
	sl = nil // the engine releases it once the upload is final
	return nil
}

// RemovePending deletes a pending file (staged or cut off) of the organisation from
// aanleveren/. An accepted upload cannot be deleted here: it is already being processed.
func (h *Hub) RemovePending(p *Principal, product Product, name string) (err error) {
	path := string(product) + "/aanleveren/" + name
	defer func() {
		result := "ok"
		if err != nil {
			result = err.Error()
		}
		h.Audit(p, "verwijder", path, result)
	}()
	if err := h.mayUpload(p, product); err != nil {
		return err
	}
	f, found, err := h.pending(p, product, name)
	if err != nil {
		return err
	}
	if !found {
		if err := h.colleaguesFile(p, product, name); err != nil {
			return err
		}
		if _, ok := h.RecentUpload(p, product, name); ok {
			return fmt.Errorf("%w: %s is al aangeleverd en wordt verwerkt; verwijderen kan niet meer", ErrDenied, name)
		}
		return fmt.Errorf("%w: %s staat niet in aanleveren/", ErrNotFound, name)
	}
	var fp *Principal
	err = h.kv.Update(func(t storage.Txn) error {
		var err error
		if fp, err = authorize(t, p, ActionUpload, product); err != nil {
			return err
		}
		return t.Delete(pendingKey(p.Org.Code, product, p.Account.Name, name))
	})
	if fp == nil {
		return err // refused
	}
	if err != nil {
		return fmt.Errorf("%s verwijderen: %w", name, err)
	}
	h.dropStaged(f.Blob)
	return nil
}

// lookAlikePending refuses a new name in p's aanleveren/ that looks the same as one already
// there but is written differently (NFC against NFD: "café" as é or as e + U+0301): a person
// cannot tell the two files apart in a list, and one may replace the other when unpacked.
func (h *Hub) lookAlikePending(p *Principal, product Product, name string) error {
	want := lookAlike(name)
	var other string
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan(pendingKey(p.Org.Code, product, p.Account.Name, ""), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
			var f PendingFile
			if json.Unmarshal(v, &f) == nil && f.Name != name && lookAlike(f.Name) == want {
				other = f.Name
				return false, nil
			}
			return true, nil
		})
	})
	if err != nil {
		return fmt.Errorf("aanleveren/ van %s lezen: %w", product, err)
	}
	if other != "" {
		return fmt.Errorf("%w: in aanleveren/ staat al %q, dat er hetzelfde uitziet als %q maar anders geschreven is (Unicode-normalisatie); gebruik precies die naam om verder te gaan, of een andere naam", ErrInvalid, other, name)
	}
	return nil
}

// colleaguesFile is the clear refusal for a name p has no pending file of but another
// account of its organisation has: nil when no one has. It scans the organisation's pending
// files of the product, on an error path only.
func (h *Hub) colleaguesFile(p *Principal, product Product, name string) error {
	var owner string
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan(key(kPending, p.Org.Code, product, ""), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
			var f PendingFile
			if json.Unmarshal(v, &f) == nil && f.Name == name && f.Account != p.Account.Name {
				owner = f.Account
				return false, nil
			}
			return true, nil
		})
	})
	if err != nil {
		// Only the clearer refusal is lost: the caller still says the file is not there.
		h.log.Warn("tijdelijke bestanden van collega's lezen", "product", product, "err", err)
	}
	if owner == "" {
		return nil
	}
	return fmt.Errorf("%w: %s in aanleveren/ is een tijdelijk bestand van account %s; alleen dat account kan het hernoemen, aanvullen of verwijderen. Upload het bestand zelf onder een eigen naam", ErrDenied, name, owner)
}

// Pending lists the account's own pending files in product's aanleveren/, by name; a
// colleague's staged files are theirs.
func (h *Hub) Pending(p *Principal, product Product) ([]PendingFile, error) {
	var out []PendingFile
	var fp *Principal
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		if fp, err = authorize(t, p, ActionUpload, product); err != nil {
			return err
		}
		return t.Scan(pendingKey(p.Org.Code, product, p.Account.Name, ""), storage.ScanOptions{}, func(_, v []byte) (bool, error) {
			var f PendingFile
			if err := json.Unmarshal(v, &f); err != nil {
				return false, err
			}
			out = append(out, f)
			return true, nil
		})
	})
	if fp == nil {
		return nil, err // refused
	}
	if err != nil {
		return nil, fmt.Errorf("aanleveren/ van %s lezen: %w", product, err)
	}
	return out, nil
}

// recentWindow is how long an accepted upload still answers a stat in aanleveren/: clients
// such as rclone check the file right after writing it.
const recentWindow = time.Hour

// RecentUpload finds the organisation's newest upload of this name in product, if it was
// received within the last hour, so that a stat right after a put finds the file.
func (h *Hub) RecentUpload(p *Principal, product Product, name string) (Upload, bool) {
	since := h.clock.Now().Add(-recentWindow)
	var found Upload
	ok := false
	seen := 0
	err := h.kv.View(func(t storage.Txn) error {
		if _, err := authorize(t, p, ActionUpload, product); err != nil {
			return err
		}
		return t.Scan(key(kUploads, p.Org.Code, product, ""), storage.ScanOptions{Reverse: true, KeysOnly: true}, func(k, _ []byte) (bool, error) {
			seen++
			id, err := idFromKey(k)
			if err != nil {
				return false, nil
			}
			var u Upload
			if err := getJSON(t, key(kUpload, id), &u); err != nil {
				return true, nil
			}
			if u.ReceivedAt.Before(since) || seen > 500 {
				return false, nil
			}
			if u.Name == name && !u.Deleted {
				found, ok = u, true
				return false, nil
			}
			return true, nil
		})
	})
	if err != nil && !errors.Is(err, ErrDenied) {
		// A stat that misses the recent upload answers "not found", as after the hour.
		h.log.Warn("recente aanlevering zoeken", "product", product, "naam", name, "err", err)
	}
	return found, ok
}

// FreeSpace is the room left for uploads, in bytes.
func (h *Hub) FreeSpace() (uint64, error) { return h.files.Free() }

// DoorDigikoppeling marks an upload that came in over Digikoppeling.
const DoorDigikoppeling = "Digikoppeling"

// HandIn takes in one file that arrived whole through a door other than SFTP (Digikoppeling):
// the same admission, the same upload record and queue, and so the same checks, routing,
// delivery and verslag as an SFTP upload. The bytes are durable before the record that
// names them; extra, when given, writes more in that record's transaction (the inbound ebMS
// message's duplicate-elimination record, so that the message counts as received exactly when
// its upload exists).
func (h *Hub) HandIn(ctx context.Context, p *Principal, product Product, name string, data []byte, door string, extra func(t storage.Txn, u *Upload) error) (Upload, error) {
	path := string(product) + "/" + door + "/" + name
	if int64(len(data)) > MaxXMLUpload {
		err := tooLarge(name, MaxXMLUpload)
		h.Audit(p, "aanleveren", path, err.Error())
		return Upload{}, err
	}
	sl, err := h.admit(ctx, p, path)
	if err != nil {
		h.Audit(p, "aanleveren", path, err.Error())
		return Upload{}, err
	}
	blob, w, err := h.createSpool(p, product, name)
	if err != nil {
		sl.release()
		return Upload{}, err
	}
	// Open until the record that names the blob is committed: the sweep of aanleveren/ must
	// not take it for litter in between. Without this, a sweep at a restart removed the
	// committed blob of a Digikoppeling message that was then acknowledged and found lost
	// (faults.TestKillNineDuringReceiving).
	h.spools.add(blob)
	defer h.spools.done(blob)
	if _, err := w.WriteAt(data, 0); err != nil {
		sl.release()
		return Upload{}, storeErr(name, errors.Join(err, w.Abort()))
	}
	u, err := h.handIn(p, product, name, w, blob, int64(len(data)), sl, door, extra)
	if err != nil {
		sl.release()
		return Upload{}, err
	}
	return u, nil
}

// handIn makes the bytes in w an upload: the one hand-in path of every door (an SFTP file
// closed or renamed to its final name, a Digikoppeling message). The bytes are committed,
// durable before the record that names them; the admission slot goes to the engine with the
// upload; the upload is recorded as Ontvangen and queued. When a step fails, the bytes are
// gone again and the slot stays the caller's. The audit log has the outcome either way.
func (h *Hub) handIn(p *Principal, product Product, name string, w storage.Writer, blob string, size int64, sl *slot, door string, extra func(t storage.Txn, u *Upload) error) (Upload, error) {
	folder := "aanleveren"
	if door != "" {
		folder = door
	}
	path := string(product) + "/" + folder + "/" + name
	if err := w.Commit(); err != nil {
		err = storeErr(name, err)
		if abErr := w.Abort(); abErr != nil {
			h.log.Warn("niet vastgelegde aanlevering opruimen", "blob", blob, "err", abErr)
		}
		h.Audit(p, "aanleveren", path, err.Error())
		return Upload{}, err
	}
	h.admission.hand(sl, blob)
	u, err := h.accept(p, product, name, blob, size, door, extra)
	if err != nil {
		h.admission.unhand(blob)
		// The bytes are committed but not recorded: nothing would ever process them.
		if rmErr := h.files.Remove(blob); rmErr != nil {
			h.log.Warn("bestand van mislukte aanlevering opruimen", "blob", blob, "err", rmErr)
		}
		h.Audit(p, "aanleveren", path, err.Error())
		return Upload{}, err
	}
	h.log.Info("aanlevering ontvangen", "id", u.ID, "pad", path, "account", p.Account.Name, "bytes", size)
	h.Audit(p, "aanleveren", path, fmt.Sprintf("ontvangen als aanlevering %d (%d bytes)", u.ID, size))
	return u, nil
}

// accept records a durable, cleanly closed upload as Ontvangen and queues it, in one
// transaction, with extra's writes when given: from here on the processor owns it, across
// restarts.
func (h *Hub) accept(p *Principal, product Product, name, blob string, size int64, door string, extra func(t storage.Txn, u *Upload) error) (Upload, error) {
	id, err := h.kv.Sequence("upload")
	if err != nil {
		return Upload{}, fmt.Errorf("aanlevering nummeren: %w", err)
	}
	u := Upload{ID: id, Org: p.Org.Code, Account: p.Account.Name, Product: product, Name: name, Size: size, Blob: blob,
		Status: Ontvangen, ReceivedAt: h.clock.Now(), Door: door}
	err = h.kv.Update(func(t storage.Txn) error {
		// The hand-in is the action: an account that lost the product (or was disabled) while
		// the bytes arrived does not get its upload processed.
		if _, err := authorize(t, p, ActionUpload, product); err != nil {
			return err
		}
		if extra != nil {
			if err := extra(t, &u); err != nil {
				return err
			}
		}
		val, err := json.Marshal(u)
		if err != nil {
			return err
		}
		if err := t.Set(key(kUpload, id), val); err != nil {
			return err
		}
		// The node that accepts an upload processes it (its admission slot is here); another
		// takes it only when this one dies (claims.go).
		if err := h.claimAccepted(t, id, blob); err != nil {
			return err
		}
		if err := t.Set(key(kQueue, id), nil); err != nil {
			return err
		}
		return t.Set(key(kUploads, u.Org, product, u.ReceivedAt, id), nil)
	})
	if err != nil {
		return Upload{}, fmt.Errorf("aanlevering %s vastleggen: %w", name, err)
	}
	select {
	case h.wake <- struct{}{}:
	default:
	}
	h.publish(Event{Org: u.Org, Product: product, Kind: "upload", UploadID: id})
	h.obs.UploadReceived(string(product))
	return u, nil
}

// peekEnvelope reads what an envelope says about itself, for a door that has no folder to
// tell the product: the functie's product (fallback when unreadable), referentienummer and
// zender. The checks proper run later, as for every upload.
func (h *Hub) peekEnvelope(data []byte, fallback Product) (Product, stuf.Envelope) {
	ep, _ := h.parsers.Get().(*stuf.Parser)
	if ep == nil {
		ep = new(stuf.Parser)
	}
	// A parse error is not this function's to report: it reads what it can, and the checks
	// proper (controle.go) reject a bad envelope with its code, as for every upload.
	env, _ := ep.Parse(bytes.NewReader(data))
	h.parsers.Put(ep)
	if f, ok := h.cat.FunctieAnywhere(env.Functie); ok {
		return f.Product, env
	}
	return fallback, env
}
