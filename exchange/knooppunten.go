package exchange

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"knooppunt/storage"
)

// Several hub processes (knooppunten, "nodes") may share one database and one bucket. Each
// writes a heartbeat record every NodeBeat; the others watch it change. Work that must be done
// once (an upload, a periodic job) is held by one node, and held for as long as that node's
// heartbeat lives: the heartbeat renews all its claims and leases in one write. A node whose
// record has not changed for NodeStale, as its peers see it on their own clock, is dead and
// its work may be taken over. Watching for a change instead of comparing a written time with
// one's own clock makes the decision immune to clocks that disagree between machines.
//
// Taking over never relies on timing for correctness: every commit of an upload's processing
// checks, in its own serializable transaction, that the node still holds the claim (claims.go),
// so a node that was only paused loses its next commit instead of duplicating work.

// DefaultNodeBeat and DefaultNodeStale time the heartbeat: a node killed is noticed by its
// peers between DefaultNodeStale and DefaultNodeStale+DefaultNodeBeat after its last beat,
// which leaves time within the promised 10 s to finish its work elsewhere.
const (
	DefaultNodeBeat  = time.Second
	DefaultNodeStale = 5 * time.Second
	// nodeForget is how long a dead node stays listed (as niet bereikbaar) before its record
	// is removed.
	nodeForget = time.Minute
)

// nodeRecord is what a node writes at every heartbeat.
type nodeRecord struct {
	Name     string    `json:"naam"`
	Instance string    `json:"instantie"`
	Host     string    `json:"host"`
	Pid      int       `json:"pid"`
	Started  time.Time `json:"gestart"`
	Beat     time.Time `json:"hartslag"` // the writer's wall clock: for people, not for decisions
	Beats    uint64    `json:"slagen"`   // grows with every beat: what peers watch
}

// holder is the value of a claim or lease: the node instance that holds it.
type holder struct {
	Node     string    `json:"knooppunt"`
	Instance string    `json:"instantie"`
	Since    time.Time `json:"sinds"`
}

// NodeInfo is one node as `knooppunt nodes` lists it.
type NodeInfo struct {
	Name      string    `json:"naam"`
	Instance  string    `json:"instantie"`
	Host      string    `json:"host"`
	Pid       int       `json:"pid"`
	Started   time.Time `json:"gestart"`
	LastBeat  time.Time `json:"laatste_hartslag"`
	Reachable bool      `json:"bereikbaar"` // a heartbeat within NodeStale (by the reader's clock)
	Self      bool      `json:"dit_knooppunt"`
}

// node is this process's identity among the nodes and what it saw of the others.
type node struct {
	rec       nodeRecord
	exclusive bool // the store admits one process only (Badger locks its directory)
	beat      time.Duration
	stale     time.Duration

	mu     sync.Mutex
	beats  uint64
	seen   map[string]sighting   // instance -> last Beats seen and when (monotonic) it changed
	leases map[string]leaseCheck // job -> what the store said at the last look
}

type leaseCheck struct {
	held bool
	at   time.Time
}

type sighting struct {
	beats   uint64
	changed time.Time
}

var nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// CheckNodeName tells whether name may name a node, and if not what to do.
func CheckNodeName(name string) error {
	if !nodeNameRE.MatchString(name) {
		return fmt.Errorf("knooppuntnaam %q: gebruik 1 tot 63 letters, cijfers, '.', '_' of '-', beginnend met een letter of cijfer", name)
	}
	return nil
}

// DefaultNodeName is the host name and process id: unique on one machine and readable.
func DefaultNodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "knooppunt"
	}
	name := host + "-" + strconv.Itoa(os.Getpid())
	if CheckNodeName(name) != nil {
		name = "knooppunt-" + strconv.Itoa(os.Getpid())
	}
	return name
}

func newNode(cfg Config, exclusive bool) (*node, error) {
	name := cfg.Node
	if name == "" {
		name = DefaultNodeName()
	}
	if err := CheckNodeName(name); err != nil {
		return nil, err
	}
	var r [6]byte
	rand.Read(r[:])
	host, _ := os.Hostname()
	n := &node{
		rec: nodeRecord{Name: name, Instance: name + "." + hex.EncodeToString(r[:]), Host: host, Pid: os.Getpid(),
			Started: cfg.Clock.Now().UTC()},
		exclusive: exclusive,
		beat:      orDefault(cfg.NodeBeat, DefaultNodeBeat),
		stale:     orDefault(cfg.NodeStale, DefaultNodeStale),
		seen:      map[string]sighting{},
		leases:    map[string]leaseCheck{},
	}
	return n, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// NodeName is this hub's node name (serve --node).
func (h *Hub) NodeName() string { return h.node.rec.Name }

// observe notes the records read now: a record whose Beats changed was alive just now.
// Records no longer there are forgotten.
func (n *node) observe(recs []nodeRecord, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	present := map[string]bool{}
	for _, r := range recs {
		present[r.Instance] = true
		if s, ok := n.seen[r.Instance]; !ok || s.beats != r.Beats {
			n.seen[r.Instance] = sighting{beats: r.Beats, changed: now}
		}
	}
	for inst := range n.seen {
		if !present[inst] {
			delete(n.seen, inst)
		}
	}
}

// alive tells whether instance inst may still be working: this process, or a node whose
// heartbeat changed within stale. A node never seen is not alive: its record is gone.
func (n *node) alive(inst string) bool {
	if inst == n.rec.Instance {
		return true
	}
	if n.exclusive {
		return false // the store is ours alone: whoever held it before has stopped
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.seen[inst]
	return ok && time.Since(s.changed) < n.stale
}

// takeable tells, inside t, whether what inst holds may be taken by this node: it is this
// node, or inst is dead and its record (read in t) has not beaten since we judged it.
func (n *node) takeable(t storage.Txn, inst string) (bool, error) {
	if inst == n.rec.Instance || n.exclusive {
		return true, nil
	}
	if n.alive(inst) {
		return false, nil
	}
	var r nodeRecord
	err := getJSON(t, key(kNode, inst), &r)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.seen[inst]; !ok || s.beats != r.Beats {
		// It beat after all (a pause, a slow database): alive again, for another stale.
		n.seen[inst] = sighting{beats: r.Beats, changed: time.Now()}
		return false, nil
	}
	return true, nil
}

func (n *node) self(since time.Time) holder {
	return holder{Node: n.rec.Name, Instance: n.rec.Instance, Since: since}
}

// beat writes this node's record. Lazy: a heartbeat lost in a power cut means nothing.
func (h *Hub) beat() error {
	n := h.node
	n.mu.Lock()
	n.beats++
	rec := n.rec
	rec.Beats = n.beats
	n.mu.Unlock()
	rec.Beat = h.clock.Now().UTC()
	return h.kv.UpdateLazy(func(t storage.Txn) error { return setJSON(t, key(kNode, rec.Instance), rec) })
}

func readNodes(t storage.Txn) ([]nodeRecord, error) {
	var out []nodeRecord
	err := t.Scan([]byte(kNode), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
		var r nodeRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("knooppunt %q lezen: %w", k, err)
		}
		out = append(out, r)
		return true, nil
	})
	return out, err
}

// heartbeatLoop beats every NodeBeat until ctx ends, watches the other nodes, forgets those
// dead for nodeForget, and nudges the scheduler so that it looks for work a dead node left.
func (h *Hub) heartbeatLoop(ctx context.Context) {
	n := h.node
	t := time.NewTicker(n.beat)
	defer t.Stop()
	for {
		if err := h.beat(); err != nil {
			h.log.Warn("hartslag van dit knooppunt schrijven", "knooppunt", n.rec.Name, "err", err)
		}
		if err := h.watchNodes(); err != nil {
			h.log.Warn("knooppunten lezen", "err", err)
		}
		if !n.exclusive {
			select {
			case h.wake <- struct{}{}:
			default:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *Hub) watchNodes() error {
	var recs []nodeRecord
	err := h.kv.View(func(t storage.Txn) error {
		var err error
		recs, err = readNodes(t)
		return err
	})
	if err != nil {
		return err
	}
	n := h.node
	n.observe(recs, time.Now())
	for _, r := range recs {
		n.mu.Lock()
		s := n.seen[r.Instance]
		n.mu.Unlock()
		if r.Instance == n.rec.Instance || time.Since(s.changed) < nodeForget {
			continue
		}
		// Gone for long: forget it, unless it beat meanwhile. Its claims stay until someone
		// takes them; a holder without a record is dead.
		err := h.kv.Update(func(t storage.Txn) error {
			var cur nodeRecord
			if err := getJSON(t, key(kNode, r.Instance), &cur); err != nil {
				return err
			}
			if cur.Beats != s.beats {
				return nil
			}
			return t.Delete(key(kNode, r.Instance))
		})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("knooppunt %s vergeten: %w", r.Name, err)
		}
		h.log.Info("knooppunt vergeten: geen hartslag meer", "knooppunt", r.Name, "instantie", r.Instance)
	}
	return nil
}

// leave removes this node's record and gives up its claims, leases and admission slots, at a
// clean stop: the other nodes take its work (and slots) at once instead of after NodeStale.
func (h *Hub) leave() {
	n := h.node
	err := h.kv.Update(func(t storage.Txn) error {
		var mine [][]byte
		for _, prefix := range []string{kClaim, kLease, kSlot} {
			err := t.Scan([]byte(prefix), storage.ScanOptions{}, func(k, v []byte) (bool, error) {
				var c holder
				if json.Unmarshal(v, &c) == nil && c.Instance == n.rec.Instance {
					mine = append(mine, append([]byte(nil), k...))
				}
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		for _, k := range mine {
			if err := t.Delete(k); err != nil {
				return err
			}
		}
		return t.Delete(key(kNode, n.rec.Instance))
	})
	if err != nil {
		h.log.Warn("knooppunt afmelden", "knooppunt", n.rec.Name, "err", err)
	}
	n.mu.Lock()
	clear(n.leases)
	n.mu.Unlock()
}

// Nodes lists the nodes that share this hub's store, this one among them (see ListNodes).
// Beheerder only.
func (h *Hub) Nodes(p *Principal) ([]NodeInfo, error) {
	var recs []nodeRecord
	err := h.kv.View(func(t storage.Txn) error {
		if _, err := authorize(t, p, ActionReadNodes, ""); err != nil {
			return err
		}
		var err error
		recs, err = readNodes(t)
		return err
	})
	if err != nil {
		return nil, err
	}
	return nodeInfos(recs, h.clock.Now(), h.node.stale, h.node.rec.Instance), nil
}

// ListNodes lists the nodes whose records are in kv, for `knooppunt nodes` on a machine that
// reaches the database but runs no node. A node without a heartbeat for DefaultNodeStale (by
// now, the reader's clock) is listed as not reachable until the others forget it.
func ListNodes(kv storage.KV, now time.Time) ([]NodeInfo, error) {
	var recs []nodeRecord
	err := kv.View(func(t storage.Txn) error {
		var err error
		recs, err = readNodes(t)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("knooppunten lezen: %w", err)
	}
	return nodeInfos(recs, now, DefaultNodeStale, ""), nil
}

func nodeInfos(recs []nodeRecord, now time.Time, stale time.Duration, self string) []NodeInfo {
	out := make([]NodeInfo, 0, len(recs))
	for _, r := range recs {
		out = append(out, NodeInfo{Name: r.Name, Instance: r.Instance, Host: r.Host, Pid: r.Pid, Started: r.Started,
			LastBeat: r.Beat, Reachable: now.Sub(r.Beat) < stale, Self: r.Instance == self})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Started.Before(out[j].Started)
	})
	return out
}

// lease tells whether this node runs periodic job now, taking the job's lease when it is free
// or its holder is dead. A lease held stays held for as long as this node beats; it is checked
// in the store once per NodeBeat. On a store of one process only, it is always ours.
func (h *Hub) lease(job string) bool {
	n := h.node
	if n.exclusive {
		return true
	}
	// Asked at most once per beat: the send loop asks four times a second.
	n.mu.Lock()
	last, ok := n.leases[job]
	n.mu.Unlock()
	if ok && time.Since(last.at) < n.beat {
		return last.held
	}
	held, took := false, false
	err := h.kv.Update(func(t storage.Txn) error {
		held, took = false, false
		var cur holder
		err := getJSON(t, key(kLease, job), &cur)
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return err
		case cur.Instance == n.rec.Instance:
			held = true
			return nil
		default:
			ok, err := n.takeable(t, cur.Instance)
			if err != nil || !ok {
				return err
			}
		}
		held, took = true, true
		return setJSON(t, key(kLease, job), n.self(h.clock.Now().UTC()))
	})
	if err != nil {
		h.log.Warn("taak toewijzen", "taak", job, "err", err)
		held = false
	}
	n.mu.Lock()
	n.leases[job] = leaseCheck{held: held, at: time.Now()}
	n.mu.Unlock()
	if took {
		h.log.Info("taak loopt op dit knooppunt", "taak", job, "knooppunt", n.rec.Name)
	}
	return held
}

// leaseSoon is lease for a job that runs once at start (the integrity check): when a node is
// restarted after kill -9, its former self still holds the lease until the others judge it
// dead, so a refusal is asked again once after NodeStale. Still refused: a live node has it.
func (h *Hub) leaseSoon(ctx context.Context, job string) bool {
	if h.lease(job) {
		return true
	}
	n := h.node
	select {
	case <-ctx.Done():
		return false
	case <-time.After(n.stale + n.beat):
	}
	n.mu.Lock()
	delete(n.leases, job)
	n.mu.Unlock()
	return h.lease(job)
}
