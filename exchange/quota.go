package exchange

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"knooppunt/storage"
)

// DefaultUploadQuota is how many bytes an organisation may write into its aanleveren/
// folders per day when Config.UploadQuota is 0.
const DefaultUploadQuota int64 = 10 << 30

// ErrQuota is an upload refused because the organisation's daily quota is used up.
var ErrQuota = errors.New("dagquotum voor aanleveren bereikt")

// quotaTracker enforces the daily upload quota per organisation. Every byte written into
// aanleveren/ counts, whatever becomes of the file (accepted, staged under a temporary name,
// cut off, refused): the quota protects the disk and the engine, which see them all. Bytes
// in flight are reserved as they arrive, so concurrent uploads of one organisation cannot
// together pass the quota; when a file ends they are recorded in the store, so a restart
// does not hand out a new quota.
type quotaTracker struct {
	limit int64 // <= 0: no quota
	kv    storage.KV
	// shared: other nodes use kv too; the counts live there (quota_shared.go).
	shared bool
	mu     sync.Mutex
	orgs   map[string]*orgQuota
}

// orgQuota is one organisation's use today. Its lock is held across the store write that
// records a finished file, so that loading and recording never count a file twice.
type orgQuota struct {
	mu       sync.Mutex
	day      string
	recorded int64 // bytes of finished files, as stored
	inflight int64 // bytes reserved by files still being written
	// On a shared store: bytes taken from the store's count and not written yet, and the
	// day they count on.
	granted  int64
	grantDay string
}

func newQuotaTracker(limit int64, kv storage.KV) *quotaTracker {
	if limit == 0 {
		limit = DefaultUploadQuota
	}
	return &quotaTracker{limit: limit, kv: kv, shared: sharedStore(kv), orgs: map[string]*orgQuota{}}
}

func quotaDay(t time.Time) string { return t.In(amsterdam).Format(time.DateOnly) }

func quotaKey(org, day string) []byte { return key(kQuota, org, day) }

func (q *quotaTracker) org(code string) *orgQuota {
	q.mu.Lock()
	defer q.mu.Unlock()
	o := q.orgs[code]
	if o == nil {
		o = &orgQuota{}
		q.orgs[code] = o
	}
	return o
}

// load makes o describe day; the caller holds o.mu. Bytes still in flight from the day
// before are carried over: they are recorded on the day their file ends.
func (q *quotaTracker) load(o *orgQuota, org, day string) error {
	if o.day == day {
		return nil
	}
	var used int64
	err := q.kv.View(func(t storage.Txn) error {
		v, err := t.Get(quotaKey(org, day))
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(v) != 8 {
			return fmt.Errorf("ongeldige waarde %x", v)
		}
		used = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return fmt.Errorf("dagquotum van %s lezen: %w", org, err)
	}
	o.day, o.recorded = day, used
	return nil
}

// reserve claims n more bytes for a file being written now; it fails with ErrQuota when
// they do not fit in today's quota.
func (q *quotaTracker) reserve(org string, now time.Time, n int64) error {
	if q.limit <= 0 || n <= 0 {
		return nil
	}
	o := q.org(org)
	o.mu.Lock()
	defer o.mu.Unlock()
	if q.shared {
		return q.reserveShared(o, org, now, n)
	}
	day := quotaDay(now)
	if err := q.load(o, org, day); err != nil {
		return err
	}
	used := o.recorded + o.inflight
	if used+n > q.limit {
		return q.refuse(org, now, day, used)
	}
	o.inflight += n
	return nil
}

// refuse is the error for a write past org's quota, which has used bytes today.
func (q *quotaTracker) refuse(org string, now time.Time, day string, used int64) error {
	midnight := time.Date(now.In(amsterdam).Year(), now.In(amsterdam).Month(), now.In(amsterdam).Day()+1, 0, 0, 0, 0, amsterdam)
	return fmt.Errorf("%w: organisatie %s mag per dag %s aanleveren en heeft vandaag (%s) al %s verstuurd; "+
		"het quotum begint opnieuw op %s om 00:00 (Nederlandse tijd). Lever daarna opnieuw aan, of vraag de beheerder van het knooppunt om een hoger quotum",
		ErrQuota, org, FormatBytes(q.limit), day, FormatBytes(used), midnight.Format(time.DateOnly))
}

// settle ends a file that reserved n bytes: they move from in flight to recorded, in the
// store and here.
func (q *quotaTracker) settle(org string, now time.Time, n int64) error {
	if q.limit <= 0 || n <= 0 {
		return nil
	}
	o := q.org(org)
	o.mu.Lock()
	defer o.mu.Unlock()
	if q.shared {
		return q.settleShared(o, org, n)
	}
	o.inflight = max(o.inflight-n, 0)
	day := quotaDay(now)
	if err := q.load(o, org, day); err != nil {
		return err
	}
	err := q.kv.Update(func(t storage.Txn) error {
		var used int64
		v, err := t.Get(quotaKey(org, day))
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return err
		case len(v) == 8:
			used = int64(binary.BigEndian.Uint64(v))
		}
		return t.Set(quotaKey(org, day), binary.BigEndian.AppendUint64(nil, uint64(used+n)))
	})
	if err != nil {
		return fmt.Errorf("dagquotum van %s bijwerken: %w", org, err)
	}
	o.recorded += n
	return nil
}

// UploadQuota returns the daily quota (0: none) and what org has used of it today.
func (h *Hub) UploadQuota(org string) (limit, used int64, err error) {
	q := h.quota
	if q.limit <= 0 {
		return 0, 0, nil
	}
	o := q.org(org)
	o.mu.Lock()
	defer o.mu.Unlock()
	if q.shared {
		used, err := q.usedShared(o, org, h.clock.Now())
		return q.limit, used, err
	}
	if err := q.load(o, org, quotaDay(h.clock.Now())); err != nil {
		return 0, 0, err
	}
	return q.limit, o.recorded + o.inflight, nil
}

// reserveQuota claims the bytes a write adds beyond what the file already holds.
func (s *Spool) reserveQuota(end int64) error {
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	if end <= s.quotaReserved {
		return nil
	}
	if err := s.h.quota.reserve(s.p.Org.Code, s.h.clock.Now(), end-s.quotaReserved); err != nil {
		return err
	}
	s.quotaReserved = end
	return nil
}

// settleQuota records what the file wrote once it has ended, whatever became of it.
func (s *Spool) settleQuota() {
	s.quotaMu.Lock()
	n := s.quotaReserved - s.quotaResumed
	s.quotaReserved = s.quotaResumed
	s.quotaMu.Unlock()
	if err := s.h.quota.settle(s.p.Org.Code, s.h.clock.Now(), n); err != nil {
		s.h.log.Error("dagquotum bijwerken", "pad", s.path, "err", err)
	}
}

// FormatBytes writes a size as people read it: 10 GB, 512 MB, 1.5 KB (powers of 1024).
func FormatBytes(n int64) string {
	units := []string{"bytes", "KB", "MB", "GB", "TB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d bytes", n)
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + " " + units[i]
}

// ParseQuota reads a quota as given on the command line: a number of bytes with an optional
// unit (KB, MB, GB, TB; powers of 1024), or "0"/"geen" for no quota, which it returns as -1.
func ParseQuota(s string) (int64, error) {
	t := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if t == "0" || t == "GEEN" {
		return -1, nil
	}
	mult := int64(1)
	for i, u := range []string{"KB", "MB", "GB", "TB"} {
		if strings.HasSuffix(t, u) {
			mult, t = 1<<(10*(i+1)), strings.TrimSuffix(t, u)
			break
		}
	}
	t = strings.TrimSuffix(t, "B")
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || !(n > 0) || n*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("quotum %q is geen grootte; schrijf bijvoorbeeld 10GB, 500MB of 0 (geen quotum)", s)
	}
	return int64(n * float64(mult)), nil
}
