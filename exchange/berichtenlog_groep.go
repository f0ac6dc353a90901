package exchange

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"knooppunt/storage"
)

// The berichtenlog of store version 2 keeps one entry per group, not per message (issue 17,
// item 2: a message wrote 14–16 keys, eight of them log entries with summaries). A group is
// the messages of one upload that one transaction put into one organisation's log with the
// same receipt time: up to a batch (batchSize) of them. Its time-index entry
// idx/log2/<org>/<product>/<time>/<group id> holds every member's id and summary (logGroup);
// its value-index entries idx/logv2/<org>/<product>/<field><value>/<time>/<group id> say which
// values its members have, and how many of them. A message itself keeps only its record, its
// IB016 entry and its referentienummer entries (idx/rref, idx/lxref), which Restore, Resend
// and the referentienummer filter need per message. Status changes (gelezen, verwijderd,
// verlopen, hersteld) rewrite the member's summary in its group, in the transaction that
// changes the message.
//
// The group id is the id of its first member, so groups of one time sort like their members
// (an upload's batches take ascending ids), and the log stays ordered by time, then id.

// logSum is how a message looks in one organisation's log: what a filter compares.
type logSum struct{ status, functie, dir, cp string }

func summaryOf(m Message, org string) logSum {
	return logSum{string(m.Status), m.Functie, m.Direction(org), m.Counterpart(org)}
}

// matchSum tells whether s matches f (its referentienummer and dates aside).
func (f MessageFilter) matchSum(s logSum) bool {
	return (f.Status == "" || f.Status == s.status) && (f.Functie == "" || f.Functie == s.functie) &&
		(f.Direction == "" || f.Direction == s.dir) && (f.Counterpart == "" || f.Counterpart == s.cp)
}

// values are the value-index names of s.
func (s logSum) values() [4]string {
	return [...]string{vStatus + s.status, vFunctie + s.functie, vDirection + s.dir, vPartij + s.cp}
}

type logMember struct {
	id  uint64
	sum logSum
}

// groupV2 starts every group record: version, member count, then per member the uvarint
// distance of its id from the one before (the group id for the first), and a byte: 0 when
// its summary is the previous member's (the rule within a group), 1 when the four fields
// follow, each a uvarint length and its bytes.
const groupV2 = 2

func encodeGroup(gid uint64, ms []logMember) []byte {
	b := make([]byte, 0, 8+4*len(ms)+64)
	b = append(b, groupV2)
	b = binary.AppendUvarint(b, uint64(len(ms)))
	prev := gid
	for i, m := range ms {
		b = binary.AppendUvarint(b, m.id-prev)
		prev = m.id
		if i > 0 && m.sum == ms[i-1].sum {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		for _, s := range [...]string{m.sum.status, m.sum.functie, m.sum.dir, m.sum.cp} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

var errGroup = errors.New("berichtenlog-groep is onleesbaar")

func decodeGroup(gid uint64, v []byte) ([]logMember, error) {
	if len(v) == 0 || v[0] != groupV2 {
		return nil, errGroup
	}
	v = v[1:]
	n, w := binary.Uvarint(v)
	if w <= 0 || n > uint64(len(v)) {
		return nil, errGroup
	}
	v = v[w:]
	ms := make([]logMember, 0, n)
	prev := gid
	for range n {
		d, w := binary.Uvarint(v)
		if w <= 0 || len(v) < w+1 {
			return nil, errGroup
		}
		prev += d
		same := v[w] == 0
		v = v[w+1:]
		if same {
			if len(ms) == 0 {
				return nil, errGroup
			}
			ms = append(ms, logMember{prev, ms[len(ms)-1].sum})
			continue
		}
		var f [4]string
		for i := range f {
			l, w := binary.Uvarint(v)
			if w <= 0 || uint64(len(v)-w) < l {
				return nil, errGroup
			}
			f[i] = string(v[w : w+int(l)])
			v = v[w+int(l):]
		}
		ms = append(ms, logMember{prev, logSum{f[0], f[1], f[2], f[3]}})
	}
	return ms, nil
}

// readGroup decodes the record v of group gid in org's log. A record without a value is the
// entry of one message (gid) whose summary its record gives: the shape a time-index entry
// had before groups, which fixtures may still write.
func readGroup(t storage.Txn, org string, gid uint64, v []byte) ([]logMember, error) {
	if len(v) != 0 {
		ms, err := decodeGroup(gid, v)
		if err != nil {
			return nil, fmt.Errorf("groep %d in de berichtenlog van %s: %w", gid, org, err)
		}
		return ms, nil
	}
	var m Message
	if err := getJSON(t, key(kMessage, gid), &m); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return []logMember{{gid, summaryOf(m, org)}}, nil
}

// valueCounts counts the members with each value-index name.
func valueCounts(ms []logMember) map[string]uint64 {
	c := make(map[string]uint64, 8)
	// Members of a group mostly share their summary: building the four names once per run
	// of equal summaries, not per member, saves four allocations a member in the hot path.
	for i := 0; i < len(ms); {
		j := i + 1
		for j < len(ms) && ms[j].sum == ms[i].sum {
			j++
		}
		for _, v := range ms[i].sum.values() {
			c[v] += uint64(j - i)
		}
		i = j
	}
	return c
}

// writeGroup stores group gid of org's log of product at time at with members ms (ascending
// ids), and moves its value-index entries from the counts before (nil for a new group) to
// those of ms. An empty ms removes the group.
func writeGroup(t storage.Txn, org string, product Product, at time.Time, gid uint64, ms []logMember, before map[string]uint64) error {
	after := valueCounts(ms)
	for v := range before {
		if _, ok := after[v]; !ok {
			if err := t.Delete(key(kLogV, org, product, v, at, gid)); err != nil {
				return err
			}
		}
	}
	for v, n := range after {
		if before[v] == n {
			continue
		}
		if err := t.Set(key(kLogV, org, product, v, at, gid), binary.AppendUvarint(nil, n)); err != nil {
			return err
		}
	}
	if len(ms) == 0 {
		return t.Delete(key(kLog, org, product, at, gid))
	}
	return t.Set(key(kLog, org, product, at, gid), encodeGroup(gid, ms))
}

// findGroup finds the group of org's log of product that holds message id received at at:
// the group with the highest id up to id at that time, or one before it.
func findGroup(t storage.Txn, org string, product Product, at time.Time, id uint64) (gid uint64, ms []logMember, i int, found bool, err error) {
	prefix := key(kLog, org, product, at)
	err = t.Scan(prefix, storage.ScanOptions{Reverse: true, Start: key(kLog, org, product, at, id)}, func(k, v []byte) (bool, error) {
		g, err := idFromKey(k)
		if err != nil || len(k) < len(prefix)+8 {
			return false, err
		}
		if g > id {
			return true, nil
		}
		members, err := readGroup(t, org, g, v)
		if err != nil {
			return false, err
		}
		if j, ok := slices.BinarySearchFunc(members, id, func(m logMember, id uint64) int { return cmp.Compare(m.id, id) }); ok {
			gid, ms, i, found = g, members, j, true
			return false, nil
		}
		return true, nil
	})
	return gid, ms, i, found, err
}

// groupAt names a group being formed in a transaction.
type groupAt struct {
	org     string
	product Product
	at      int64
	upload  uint64
}

// logBatch gathers the berichtenlog writes of one transaction: the groups its messages form
// and the changes to the logs' counts, so that a batch of a thousand messages writes each
// group and each count's change once; write stores them before the transaction commits.
type logBatch struct {
	// counts gathers the changes by organisation and product. A struct key spares
	// building a key per message (one allocation each).
	counts logCounts
	groups map[groupAt][]logMember
	order  []groupAt
}

func newLogBatch() *logBatch {
	return &logBatch{counts: logCounts{}, groups: map[groupAt][]logMember{}}
}

type orgProduct struct {
	org     string
	product Product
}

// add puts m into the group of org's log it belongs to in this transaction.
func (b *logBatch) add(org string, m Message) {
	g := groupAt{org, m.Product, m.ReceivedAt.UnixNano(), m.ID >> (entryBits + 1)}
	ms, ok := b.groups[g]
	if !ok {
		b.order = append(b.order, g)
	}
	b.groups[g] = append(ms, logMember{m.ID, summaryOf(m, org)})
}

// putLogEntries adds m to the berichtenlog of each of orgs: a member of its group with its
// summary, its referentienummer (and crossRefnummer) entries and the log's count.
func (b *logBatch) putLogEntries(t storage.Txn, m Message, orgs []string) error {
	for _, org := range orgs {
		b.add(org, m)
		// Keyed by the message's id: new with it (storage.SetNew).
		if err := storage.SetNew(t, key(kRecvRef, org, m.Product, m.Referentie, m.ID), nil); err != nil {
			return err
		}
		if m.CrossRef != "" {
			if err := storage.SetNew(t, key(kLogXRef, org, m.Product, m.CrossRef, m.ID), nil); err != nil {
				return err
			}
		}
		b.counts[orgProduct{org, m.Product}]++
	}
	return nil
}

// writeGroups stores the groups formed so far. A message put twice (a redo) is a member once.
// A message that waits for its route (a Digikoppeling send, one per message) is a group of
// its own, and splits the run it is in: its status changes one by one, in transactions that
// run at once, which a shared group would make conflict; and the groups of one time must not
// interleave in ids, or the log would not be in id order.
func (b *logBatch) writeGroups(t storage.Txn) error {
	for _, g := range b.order {
		ms := b.groups[g]
		slices.SortStableFunc(ms, func(x, y logMember) int { return cmp.Compare(x.id, y.id) })
		ms = slices.CompactFunc(ms, func(x, y logMember) bool { return x.id == y.id })
		at := time.Unix(0, g.at)
		for len(ms) > 0 {
			n := 1
			if ms[0].sum.status != string(MsgWachtRoute) {
				for n < len(ms) && ms[n].sum.status != string(MsgWachtRoute) {
					n++
				}
			}
			if err := writeGroup(t, g.org, g.product, at, ms[0].id, ms[:n], nil); err != nil {
				return err
			}
			ms = ms[n:]
		}
	}
	clear(b.groups)
	b.order = b.order[:0]
	return nil
}

// write stores the groups and the changes to the counts.
func (b *logBatch) write(t storage.Txn) error {
	if err := b.writeGroups(t); err != nil {
		return err
	}
	return b.counts.write(t)
}

// logChanges gathers the changes of one transaction to members of berichtenlog groups
// (status changes, purges): each group is read once and written once, whatever number of its
// members change; a file of a thousand messages marked gelezen rewrites its groups, not a
// group per message. flush writes them before the transaction commits.
type logChanges struct {
	groups []*changedGroup
	counts logCounts // the logs' counts' changes, of removed members
}

type changedGroup struct {
	org     string
	product Product
	at      time.Time
	gid     uint64
	ms      []logMember
	before  map[string]uint64
	dirty   bool
}

// find returns the group of org's log that holds message id received at at, from those read
// before or else from the store.
func (c *logChanges) find(t storage.Txn, org string, product Product, at time.Time, id uint64) (*changedGroup, int, error) {
	byID := func(m logMember, id uint64) int { return cmp.Compare(m.id, id) }
	for _, g := range c.groups {
		if g.org == org && g.product == product && g.at.Equal(at) {
			if i, ok := slices.BinarySearchFunc(g.ms, id, byID); ok {
				return g, i, nil
			}
		}
	}
	gid, ms, i, found, err := findGroup(t, org, product, at, id)
	if err != nil || !found {
		return nil, 0, err
	}
	for _, g := range c.groups {
		if g.org == org && g.product == product && g.at.Equal(at) && g.gid == gid {
			return nil, 0, nil // read before, and id has left it since
		}
	}
	g := &changedGroup{org: org, product: product, at: at, gid: gid, ms: ms, before: valueCounts(ms)}
	c.groups = append(c.groups, g)
	return g, i, nil
}

// change gives m's member in org's log m's summary, or removes it when remove is set. It
// reports whether the log had m.
func (c *logChanges) change(t storage.Txn, org string, m Message, remove bool) (bool, error) {
	g, i, err := c.find(t, org, m.Product, m.ReceivedAt, m.ID)
	if err != nil || g == nil {
		return false, err
	}
	if remove {
		g.ms = slices.Delete(g.ms, i, i+1)
	} else {
		g.ms[i].sum = summaryOf(m, org)
	}
	g.dirty = true
	return true, nil
}

// flush writes the changed groups. A group keeps its id when its first member goes: its key
// does not move.
func (c *logChanges) flush(t storage.Txn) error {
	for _, g := range c.groups {
		if g.dirty {
			if err := writeGroup(t, g.org, g.product, g.at, g.gid, g.ms, g.before); err != nil {
				return err
			}
		}
	}
	c.groups = c.groups[:0]
	return c.counts.write(t)
}

// groupKeyParts reads the time and group id of a time- or value-index key under prefix.
func groupKeyParts(k, prefix []byte) (at int64, gid uint64, ok bool) {
	if len(k) < len(prefix)+16 || !bytes.HasPrefix(k, prefix) {
		return 0, 0, false
	}
	gid, _ = idFromKey(k)
	return int64(binary.BigEndian.Uint64(k[len(prefix):])), gid, true
}
