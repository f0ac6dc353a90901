// Package exchange owns every rule of the hub: organisations and accounts, permissions,
// intake of uploads, validation, routing, delivery, reports and retention. The SSH server and
// the TUI only translate a person's or a client's action into a call on a Hub.
package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"knooppunt/storage"
)

// Clock tells the time; tests move it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

// Config sets up a Hub.
type Config struct {
	DataDir string
	Clock   Clock
	Log     *slog.Logger
	// Workers is how many uploads are processed at once; 0 means DefaultWorkers (4 per CPU).
	Workers int
	// MaxZipEntries caps the number of entries of one ZIP (IB902); 0 means 100,000.
	MaxZipEntries int
	// MaxUploads is how many uploads the hub takes on at once while the engine runs: being
	// written, queued or processed. More clients wait before their upload begins. 0 means
	// DefaultMaxUploads(Workers); a negative number is refused. On a store that several nodes
	// share it is the limit of all of them together (admission_shared.go): give every node the
	// same value.
	MaxUploads int
	// UploadWait is how long an upload waits for admission before it is refused with
	// ErrBusy; 0 means DefaultUploadWait.
	UploadWait time.Duration
	// UploadQuota is how many bytes an organisation may write into aanleveren/ per day
	// (Dutch time); 0 means DefaultUploadQuota, negative means no quota.
	UploadQuota int64
	// Observer hears of uploads, rejections, admission waits and retention runs, for
	// monitoring; nil hears nothing.
	Observer Observer
	// KV and Files, when set, are the stores to use instead of Badger in DataDir/db and the
	// file store in DataDir/files (PostgreSQL and S3, see cmd/knooppunt/backend.go). The hub
	// closes KV with Close. StoreName names them in messages.
	KV        storage.KV
	Files     storage.Files
	StoreName string
	// SkipPayloadCheck turns off the check of an iWmo/iJw 3.x payload's header (BerichtCode,
	// Afzender, Ontvanger) against its envelope (payloadcontrole.go); on by default.
	SkipPayloadCheck bool
	// OIN is the hub's own OIN, its PartyId over Digikoppeling; "" when it has none.
	OIN string
	// Digikoppeling is how the hub reaches partners over Digikoppeling; nil: messages for a
	// Digikoppeling route wait until it is set.
	Digikoppeling *DigikoppelingConfig
	// Node names this process among the nodes sharing one store (serve --node); "" means
	// DefaultNodeName. NodeBeat and NodeStale time its heartbeat (knooppunten.go); 0 means
	// DefaultNodeBeat and DefaultNodeStale.
	Node      string
	NodeBeat  time.Duration
	NodeStale time.Duration
}

// Hub is the message hub's engine. All its methods are safe for concurrent use.
type Hub struct {
	reportSizes reportSizes // rendered sizes of verwerkingsverslagen, for listing verslagen/

	cfg   Config
	kv    storage.KV
	files storage.Files
	clock Clock
	log   *slog.Logger
	cat   *Catalogue

	events *broker
	remote *remoteEvents // events to and from other nodes on the same store; nil: none

	authFailCount atomic.Int64  // failed logins counted in the store, to prune now and then
	wake          chan struct{} // nudges the processor when an upload is queued

	auditMu sync.Mutex    // this process's appends one at a time; across nodes the tip's transaction orders them
	audit   auditQueue    // entries waiting for the next append (audit.go)
	marks   chan struct{} // slots for this process's gelezen marks at once (SetGelezen, maxMarks)
	quota   *quotaTracker
	gcKV    func(context.Context, time.Duration)

	parsers   sync.Pool // *stuf.Parser: the checks of every upload reuse them
	spools    openSpools
	litter    litterSeen
	admission *admission

	obs          Observer
	processing   atomic.Int64 // uploads a worker is busy with
	census       fileCensus
	kvSize       func() (lsm, vlog, other int64)
	shuttingDown atomic.Bool
	probeMu      sync.Mutex // one readiness probe at a time
	closersMu    sync.Mutex
	closers      []func(account string) // OnAccountClosed
	refusals     refusalLimiter         // bounds the records of uploads refused at the door
	sendWake     chan struct{}          // nudges the Digikoppeling send loop
	sends        sender
	cpas         cpaCache
	node         *node   // this process among the nodes sharing the store
	inbox        inbox   // inbound Digikoppeling messages waiting to be handed in together
	sendTx       txGroup // the outbound queue's writes, committed in groups
	dkObs        DigikoppelingObserver
}

// Open opens the store in cfg.DataDir. It fails with storage.ErrLocked when another process
// holds it.
func Open(cfg Config) (*Hub, error) {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxZipEntries == 0 {
		cfg.MaxZipEntries = 100_000
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers()
	}
	if cfg.MaxUploads < 0 {
		return nil, fmt.Errorf("%w: MaxUploads %d: het aantal aanleveringen tegelijk (--max-uploads) moet minstens 1 zijn", ErrInvalid, cfg.MaxUploads)
	}
	if cfg.MaxUploads == 0 {
		cfg.MaxUploads = DefaultMaxUploads(cfg.Workers)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.UploadWait <= 0 {
		cfg.UploadWait = DefaultUploadWait
	}
	db, files, err := openStores(cfg)
	if err != nil {
		return nil, err
	}
	// Badger admits one process (it locks its directory): nothing to share, no claims.
	_, exclusive := db.(*storage.Badger)
	self, err := newNode(cfg, exclusive)
	if err != nil {
		db.Close()
		return nil, err
	}
	h := &Hub{
		cfg:    cfg,
		kv:     db,
		files:  files,
		clock:  cfg.Clock,
		log:    cfg.Log,
		cat:    NewCatalogue(),
		events: newBroker(),
		wake:   make(chan struct{}, 1),
		marks:  make(chan struct{}, maxMarks),
		gcKV:   func(context.Context, time.Duration) {},
		quota:  newQuotaTracker(cfg.UploadQuota, db),

		admission: newAdmission(cfg.MaxUploads, cfg.UploadWait, cfg.Log),
		obs:       cfg.Observer,
		sendWake:  make(chan struct{}, 1),
		sends:     sender{inFlight: map[uint64]bool{}},
		node:      self,
	}
	// Badger's value-log GC and its sizes on disk; a database server does both itself.
	if g, ok := db.(interface {
		RunGC(context.Context, time.Duration)
	}); ok {
		h.gcKV = g.RunGC
	}
	if z, ok := db.(interface {
		Size() (lsm, vlog, other int64)
	}); ok {
		h.kvSize = z.Size
	}
	h.admission.observe = cfg.Observer.AdmissionWaited
	if !exclusive {
		// Several nodes may share the store: the limit is counted there (admission_shared.go).
		h.admission.shared = newSharedSlots(db, self, cfg.Clock, cfg.MaxUploads, cfg.Workers, cfg.Log)
	}
	h.remote = startRemoteEvents(db, h.events, h.wake, h.uploadSettledElsewhere, cfg.Log)
	h.dkObs = nopObserver{}
	if o, ok := cfg.Observer.(DigikoppelingObserver); ok {
		h.dkObs = o
	}
	return h, nil
}

// openStores opens the stores of cfg: the given KV and Files, or Badger and the file store in
// DataDir. A store too new for this version is refused (see upgradeStore).
func openStores(cfg Config) (storage.KV, storage.Files, error) {
	var db storage.KV = cfg.KV
	where := cfg.StoreName
	if db == nil {
		b, err := storage.OpenBadger(filepath.Join(cfg.DataDir, "db"), cfg.Log)
		if err != nil {
			return nil, nil, err
		}
		db = b
	}
	if where == "" {
		where = cfg.DataDir
	}
	if err := upgradeStore(db, where, cfg.Log); err != nil {
		return nil, nil, errors.Join(err, db.Close())
	}
	files := cfg.Files
	if files == nil {
		d, err := storage.OpenDisk(filepath.Join(cfg.DataDir, "files"))
		if err != nil {
			return nil, nil, errors.Join(err, db.Close())
		}
		files = d
	}
	return db, files, nil
}

// Catalogue returns the products and message types.
func (h *Hub) Catalogue() *Catalogue { return h.cat }

// Now is the hub's clock.
func (h *Hub) Now() time.Time { return h.clock.Now() }

// Close closes the store. Call it after every goroutine started by Run has stopped.
func (h *Hub) Close() error {
	h.sends.closeAll()
	h.remote.stop()
	if err := h.kv.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Event tells watchers that something of an organisation changed.
type Event struct {
	Org      string
	Product  Product
	Kind     string // "upload", "delivery", "route"
	UploadID uint64
}

// Subscribe returns a channel of the events of org until ctx ends. A slow reader misses
// events rather than blocking the engine; each event only says "look again".
func (h *Hub) Subscribe(ctx context.Context, org string) <-chan Event {
	return h.events.subscribe(ctx, org)
}

func (h *Hub) publish(e Event) {
	h.events.publish(e)
	h.remote.publish(e)
}

// OnAccountClosed registers fn to hear the name of an account that was disabled or deleted,
// once the change has committed, so that a door can close the account's open connections. A
// revoked product or role needs no such call: every action is authorized against the stored
// account anyway. fn runs on the caller's goroutine and must not block.
func (h *Hub) OnAccountClosed(fn func(account string)) {
	h.closersMu.Lock()
	defer h.closersMu.Unlock()
	h.closers = append(h.closers, fn)
}

func (h *Hub) accountClosed(name string) {
	h.closersMu.Lock()
	fns := slices.Clone(h.closers)
	h.closersMu.Unlock()
	for _, fn := range fns {
		fn(name)
	}
}

type broker struct {
	mu   sync.Mutex
	subs map[string]map[chan Event]struct{}
}

func newBroker() *broker { return &broker{subs: map[string]map[chan Event]struct{}{}} }

func (b *broker) subscribe(ctx context.Context, org string) <-chan Event {
	ch := make(chan Event, 16)
	b.mu.Lock()
	if b.subs[org] == nil {
		b.subs[org] = map[chan Event]struct{}{}
	}
	b.subs[org][ch] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.subs[org], ch)
		b.mu.Unlock()
		close(ch)
	}()
	return ch
}

func (b *broker) publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[e.Org] {
		select {
		case ch <- e:
		default:
		}
	}
}
