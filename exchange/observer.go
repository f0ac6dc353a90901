package exchange

import (
	"context"
	"sync/atomic"
	"time"
)

// Observer hears of the engine's events, for monitoring (package metrics implements it). Its
// methods are called after the change they report is committed, from the engine's goroutines:
// they must be quick and safe for concurrent use. A redo after a restart reports again what it
// redoes; counters start at zero with the process anyway.
type Observer interface {
	// UploadReceived: an upload was accepted (Ontvangen) and queued.
	UploadReceived(product string)
	// UploadFinished: an upload became final. status is "afgeleverd" or "afgekeurd";
	// processing runs from Bezig to final, total from Ontvangen to final; delivered counts its
	// correct messages.
	UploadFinished(product, status string, processing, total time.Duration, delivered int)
	// MessageRejected: one file or the upload as a whole got an error code in its report.
	MessageRejected(product, code string)
	// AdmissionWaited: an upload waited for an admission slot; outcome is "toegelaten",
	// "bezet" (refused after Config.UploadWait) or "afgebroken" (the client left).
	AdmissionWaited(wait time.Duration, outcome string)
	// RetentionRun: one round of the retention rules ended; err is nil when it succeeded.
	RetentionRun(took time.Duration, err error)
}

// DigikoppelingObserver hears of the Digikoppeling door's messages. It is apart from
// Observer so that an Observer without it stays one; an Observer that also implements it
// (package metrics does) is told. Same rules: after the change is committed, quick, safe for
// concurrent use.
type DigikoppelingObserver interface {
	// EbMSReceived: a user message was taken in (durable); a duplicate is not counted again.
	EbMSReceived()
	// EbMSAcknowledged: a received user message got its Acknowledgment (in the HTTP response
	// or queued to be sent on its own), also again for a duplicate.
	EbMSAcknowledged()
	// EbMSRefused: a message was answered with a MessageError; reason is its ebMS error code
	// (SecurityFailure, Inconsistent, TimeToLiveExpired, …).
	EbMSRefused(reason string)
	// EbMSSent: an attempt of an outbound message went out; retry tells whether it was a
	// repeat (same MessageId) of an earlier attempt.
	EbMSSent(retry bool)
	// EbMSSendEnded: an outbound message ended: "bevestigd", "mislukt" or "afgegeven".
	EbMSSendEnded(state string)
}

type nopObserver struct{}

func (nopObserver) EbMSReceived()        {}
func (nopObserver) EbMSAcknowledged()    {}
func (nopObserver) EbMSRefused(string)   {}
func (nopObserver) EbMSSent(bool)        {}
func (nopObserver) EbMSSendEnded(string) {}

func (nopObserver) UploadReceived(string)                                            {}
func (nopObserver) UploadFinished(string, string, time.Duration, time.Duration, int) {}
func (nopObserver) MessageRejected(string, string)                                   {}
func (nopObserver) AdmissionWaited(time.Duration, string)                            {}
func (nopObserver) RetentionRun(time.Duration, error)                                {}

// Stats is the engine's state at one moment, for monitoring. Reading it is cheap: a scrape
// may ask for it every few seconds.
type Stats struct {
	Queued            int // uploads received and not final yet (Ontvangen or Bezig)
	Processing        int // of those, uploads a worker is busy with
	Workers           int
	AdmissionCapacity int   // Config.MaxUploads
	AdmissionHeld     int   // uploads in hand: being written, queued or processed
	AdmissionWaiting  int   // clients waiting for a slot before their upload begins
	StoreIndexBytes   int64 // Badger's LSM tree
	StoreValueBytes   int64 // Badger's value log
	StoreOtherBytes   int64 // memtable logs, manifest
	// Files and FileBytes are the blobs of the file store at FilesMeasured (zero time: not
	// measured yet): walking every blob is too slow for a scrape, so Run measures every
	// quarter of an hour.
	Files         int64
	FileBytes     int64
	FilesMeasured time.Time
	FreeBytes     uint64
	FreeErr       error
}

// fileCensus is the last count of the file store's blobs.
type fileCensus struct {
	files, bytes atomic.Int64
	at           atomic.Int64 // unix nanoseconds of the count; 0: none yet
}

// Stats reports the engine's state; see Stats.
func (h *Hub) Stats() Stats {
	held, waiting, capacity := h.admission.stats()
	st := Stats{
		Processing:        int(h.processing.Load()),
		Workers:           h.cfg.Workers,
		AdmissionCapacity: capacity,
		AdmissionHeld:     held,
		AdmissionWaiting:  waiting,
		Files:             h.census.files.Load(),
		FileBytes:         h.census.bytes.Load(),
	}
	if at := h.census.at.Load(); at != 0 {
		st.FilesMeasured = time.Unix(0, at)
	}
	if h.kvSize != nil {
		st.StoreIndexBytes, st.StoreValueBytes, st.StoreOtherBytes = h.kvSize()
	}
	var err error
	if st.Queued, err = h.countQueue(); err != nil {
		h.log.Warn("wachtrij tellen voor de metrics", "err", err)
	}
	st.FreeBytes, st.FreeErr = h.files.Free()
	return st
}

// countFilesLoop counts the file store's blobs now and then every interval until ctx ends.
func (h *Hub) countFilesLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var n, size int64
		err := h.files.Walk("", func(_ string, s int64) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			n++
			size += s
			return nil
		})
		if err == nil {
			h.census.files.Store(n)
			h.census.bytes.Store(size)
			h.census.at.Store(h.clock.Now().UnixNano())
		} else if ctx.Err() == nil {
			h.log.Warn("bestanden tellen voor de metrics", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
