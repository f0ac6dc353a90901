package exchange

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"knooppunt/exchange/codes"
	"knooppunt/storage"
)

// An upload refused at the door never reaches the engine: a name that can never be an upload,
// a file past its size limit, the daily quota, a busy hub, a product the account has no
// access to, a file written outside aanleveren/. OpenSSH's sftp shows only the status code
// ("Failure", "Permission denied"), never the hub's sentence, so each refusal is also recorded
// as an aanlevering with status Afgekeurd and a verwerkingsverslag that gives the reason and
// what to do: the person finds it where every other upload's outcome is, in Aanleveren,
// `aanleveringen`, `verslag` and verslagen/.

// ErrNotAanleveren: a file was written where uploads are not allowed (ophalen/, verslagen/,
// the product folder itself). The SFTP door wraps it; RefuseUpload records it as KP013.
var ErrNotAanleveren = errors.New("hier kunt u niet aanleveren")

// Limits on refusal records, per account: a hostile or looping client must not fill the store
// with them. An identical refusal (same product, name and code) is recorded once per window;
// past refusalsPerWindow records in a window the refusal is only logged and audited. The
// window is fixed and starts with the account's first refusal in it; the bookkeeping is in
// memory (a restart starts anew, which costs at most one more window's worth of records).
const (
	refusalWindow     = time.Hour
	refusalsPerWindow = 20
	refusalAccounts   = 10_000 // accounts tracked at once; past it the bookkeeping starts over
)

// Refused is the error of an upload refused at the door. It wraps the cause, so errors.Is
// still finds ErrDenied, ErrTooLarge, ErrQuota, ErrBusy or ErrInvalid; UploadID is the
// Afgekeurd aanlevering that records it, 0 when the limits above kept it from being recorded.
type Refused struct {
	codes.Rejection
	UploadID uint64
	Cause    error
}

func (r *Refused) Error() string {
	if r.UploadID == 0 {
		return r.Cause.Error()
	}
	return fmt.Sprintf("%s (vastgelegd als afgekeurde aanlevering %d; 'verslag %d' toont het verslag)", r.Cause.Error(), r.UploadID, r.UploadID)
}

func (r *Refused) Unwrap() error { return r.Cause }

// Temporary tells whether the same file may be accepted later without a change: the hub was
// busy, or the day's quota was used up.
func (r *Refused) Temporary() bool { return r.Code == codes.KP012 || r.Code == codes.KP011 }

// refusalOf names the code of a refusal at the door; ok is false for causes that are no
// refusal of the upload itself (the client left, the store failed).
func refusalOf(name string, cause error) (codes.Code, bool) {
	switch {
	case errors.Is(cause, ErrNotAanleveren):
		return codes.KP013, true
	case errors.Is(cause, ErrDenied):
		return codes.IB002, true
	case errors.Is(cause, ErrTooLarge):
		if uploadLimit(name) == MaxXMLUpload {
			return codes.IB003, true
		}
		return codes.KP010, true
	case errors.Is(cause, ErrQuota):
		return codes.KP011, true
	case errors.Is(cause, ErrBusy):
		return codes.KP012, true
	case errors.Is(cause, ErrInvalid):
		return codes.KP009, true
	}
	return "", false
}

// detailOf is cause's sentence without the sentinel's words in front ("ongeldige invoer: "):
// the verslag shows the code's omschrijving beside it.
func detailOf(cause error) string {
	msg := cause.Error()
	for _, s := range []error{ErrNotAanleveren, ErrDenied, ErrTooLarge, ErrQuota, ErrBusy, ErrInvalid} {
		if rest, ok := strings.CutPrefix(msg, s.Error()+": "); ok {
			return rest
		}
	}
	return msg
}

// RefuseUpload records that the file name, written by p into product's aanleveren/ (or
// elsewhere in product's folders), was refused at the door because of cause: in the server's
// log, in the audit log, and (within the limits above) as an Afgekeurd aanlevering whose
// verslag states cause. It returns a *Refused that wraps cause, for the door to answer with.
// Every door that refuses an upload calls it, once per refusal. Causes that are no refusal of
// the file (the client left while waiting, a failing store) come back unchanged and are not
// recorded.
func (h *Hub) RefuseUpload(p *Principal, product Product, name string, size int64, cause error) error {
	name = safeName(name)
	code, ok := refusalOf(name, cause)
	path := string(product) + "/aanleveren/" + name
	if !ok || p == nil || p.Org.Code == "" {
		h.Audit(p, "aanleveren", path, "geweigerd: "+cause.Error())
		return cause
	}
	r := &Refused{Rejection: codes.Rejection{Code: code, Detail: detailOf(cause)}, Cause: cause}
	same := string(product) + "\x00" + name + "\x00" + string(code) // what makes two refusals the same
	id, fresh, allowed := h.refusals.claim(h.clock.Now(), p.Account.Name, same)
	switch {
	case fresh:
		u, err := h.recordRefusal(p, product, name, size, &r.Rejection)
		if err != nil {
			h.refusals.forget(p.Account.Name, same)
			h.log.Error("geweigerde aanlevering vastleggen", "pad", path, "account", p.Account.Name, "err", err)
		} else {
			r.UploadID = u.ID
			h.refusals.set(p.Account.Name, same, u.ID)
		}
	case id != 0:
		r.UploadID = id // the same refusal a moment ago: its record still says it
	}
	result := fmt.Sprintf("geweigerd: %s [%s", cause.Error(), code)
	if r.UploadID != 0 {
		result += fmt.Sprintf(", aanlevering %d]", r.UploadID)
	} else if !allowed {
		result += fmt.Sprintf(", niet als aanlevering vastgelegd: meer dan %d weigeringen in een uur]", refusalsPerWindow)
	} else {
		result += "]"
	}
	h.log.Warn("aanlevering geweigerd", "pad", path, "account", p.Account.Name, "organisatie", p.Org.Code,
		"code", string(code), "reden", r.Detail, "aanlevering", r.UploadID)
	h.Audit(p, "aanleveren", path, result)
	return r
}

// safeName is a refused name as records, lists and terminals may show it: a name with control
// characters or invalid UTF-8 is shown quoted (Go syntax, ASCII only), and cut to 255 bytes.
func safeName(name string) string {
	if utf8.ValidString(name) && !strings.ContainsFunc(name, unicode.IsControl) && len(name) <= 255 {
		return name
	}
	q := strconv.QuoteToASCII(name)
	if len(q) > 255 {
		q = q[:252] + "…"
	}
	return q
}

// recordRefusal writes the Afgekeurd aanlevering of a refusal: final at once, with one fout
// about the file as a whole, and purged after 60 days like every upload.
func (h *Hub) recordRefusal(p *Principal, product Product, name string, size int64, rej *codes.Rejection) (Upload, error) {
	id, err := h.kv.Sequence("upload")
	if err != nil {
		return Upload{}, fmt.Errorf("aanlevering nummeren: %w", err)
	}
	now := h.clock.Now()
	f := foutOf(name, rej)
	u := Upload{
		ID: id, Org: p.Org.Code, Account: p.Account.Name, Product: product, Name: name, Size: max(size, 0),
		Status: Afgekeurd, ReceivedAt: now, StartedAt: now, FinishedAt: now,
		Counts: Counts{Aangeleverd: 1, Incorrect: 1}, Fouten: []Fout{f}, AtDoor: true,
	}
	err = h.kv.Update(func(t storage.Txn) error {
		if err := setJSON(t, key(kUpload, id), u); err != nil {
			return err
		}
		if err := setJSON(t, key(kFout, id, uint64(wholeUpload)), f); err != nil {
			return err
		}
		if err := t.Set(key(kExpire, now, id), nil); err != nil {
			return err
		}
		return t.Set(key(kUploads, u.Org, product, now, id), nil)
	})
	if err != nil {
		return Upload{}, fmt.Errorf("aanlevering %s vastleggen: %w", name, mapNoSpace(err))
	}
	h.publish(Event{Org: u.Org, Product: product, Kind: "upload", UploadID: id})
	return u, nil
}

// refusalLimiter keeps the per-account limits on refusal records.
type refusalLimiter struct {
	mu       sync.Mutex
	accounts map[string]*refusalCount
}

type refusalCount struct {
	start    time.Time
	recorded int
	seen     map[string]uint64 // refusal key -> the upload that records it (0 while being written)
}

// claim decides for one refusal: fresh means record it now; otherwise id is the record of the
// same refusal earlier in the window (0 if none), and allowed is false when the account's
// records for this window are used up.
func (l *refusalLimiter) claim(now time.Time, account, k string) (id uint64, fresh, allowed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.accounts == nil || len(l.accounts) >= refusalAccounts {
		l.accounts = map[string]*refusalCount{}
	}
	c := l.accounts[account]
	if c == nil || now.Sub(c.start) >= refusalWindow || now.Before(c.start) {
		c = &refusalCount{start: now, seen: map[string]uint64{}}
		l.accounts[account] = c
	}
	if id, ok := c.seen[k]; ok {
		return id, false, true
	}
	if c.recorded >= refusalsPerWindow {
		return 0, false, false
	}
	c.recorded++
	c.seen[k] = 0
	return 0, true, true
}

func (l *refusalLimiter) set(account, k string, id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.accounts[account]; c != nil {
		if _, ok := c.seen[k]; ok {
			c.seen[k] = id
		}
	}
}

// forget gives a claim back whose record could not be written.
func (l *refusalLimiter) forget(account, k string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.accounts[account]; c != nil {
		if _, ok := c.seen[k]; ok {
			delete(c.seen, k)
			c.recorded--
		}
	}
}

// RefusedElsewhere lists p's own uploads refused at the door in products p cannot use (the
// refusal was exactly that), newest first: the uploads lists of the products it can use do not
// show them. It looks at the newest refusalScan entries of each such product only.
func (h *Hub) RefusedElsewhere(ctx context.Context, p *Principal) ([]Upload, error) {
	if p == nil || p.Org.Code == "" {
		return nil, nil
	}
	const refusalScan = 1000
	var out []Upload
	err := h.kv.View(func(t storage.Txn) error {
		fp, err := fresh(t, p)
		if err != nil {
			return err
		}
		for _, product := range Products {
			if decide(fp, ActionUpload, product) == nil {
				continue
			}
			seen := 0
			err := scanUploads(ctx, t, key(kUploads, p.Org.Code, product, ""), true, func(u Upload) (bool, error) {
				seen++
				if u.AtDoor && u.Account == p.Account.Name && !u.Deleted {
					out = append(out, u)
				}
				return seen < refusalScan, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("geweigerde aanleveringen van %s lezen: %w", p.Account.Name, err)
	}
	slices.SortStableFunc(out, func(a, b Upload) int { return b.ReceivedAt.Compare(a.ReceivedAt) })
	return out, nil
}
