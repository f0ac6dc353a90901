package exchange

import (
	"encoding/json"
	"errors"
	"math/bits"
	"time"

	"knooppunt/storage"
)

// The expected end time of an upload comes from how fast recent uploads of a similar size
// were processed: per size class (a factor of four), an exponentially weighted average of
// the bytes per second, stored so it survives restarts.
const (
	etaWeight    = 0.3 // weight of the newest upload in the average
	etaDefaultBs = 2 << 20
)

type etaStats struct {
	BytesPerSec float64 `json:"bytes_per_sec"`
	Uploads     int     `json:"uploads"`
}

func sizeClass(size int64) uint64 { return uint64(bits.Len64(uint64(max(size, 1)))) / 2 }

// estimate tells how long an upload of size bytes will take.
func (h *Hub) estimate(t storage.Txn, size int64) time.Duration {
	rate := float64(etaDefaultBs)
	var s etaStats
	if err := getJSON(t, key(kETA, sizeClass(size)), &s); err == nil && s.BytesPerSec > 0 {
		rate = s.BytesPerSec
	}
	return time.Second + time.Duration(float64(size)/rate*float64(time.Second))
}

// learn folds a finished upload into the model of its size class. A failure only costs
// accuracy, so it is logged and not returned.
//
// The model is read in a snapshot and written blind, lazily: every finished upload writes this
// key, and on PostgreSQL a read of it in the writing transaction plus a durable commit held
// the row long enough for the other node's finishes to conflict and retry, on the worker that
// has the next upload waiting (issue 14). A sample of another node written between the read
// and the write is lost: the average is a moment less accurate, nothing else.
func (h *Hub) learn(u Upload) {
	took := u.FinishedAt.Sub(u.StartedAt).Seconds()
	if took <= 0 || u.Size <= 0 {
		return
	}
	rate := float64(u.Size) / took
	k := key(kETA, sizeClass(u.Size))
	var s etaStats
	err := h.kv.View(func(t storage.Txn) error {
		if err := getJSON(t, k, &s); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return nil
	})
	if err == nil {
		if s.Uploads == 0 {
			s.BytesPerSec = rate
		} else {
			s.BytesPerSec = etaWeight*rate + (1-etaWeight)*s.BytesPerSec
		}
		s.Uploads++
		var b []byte
		if b, err = json.Marshal(s); err == nil {
			err = h.kv.UpdateLazy(func(t storage.Txn) error { return t.Set(k, b) })
		}
	}
	if err != nil {
		h.log.Warn("verwerkingssnelheid bijhouden", "err", err)
	}
}
