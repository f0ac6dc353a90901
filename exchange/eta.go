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
func (h *Hub) learn(u Upload) {
	took := u.FinishedAt.Sub(u.StartedAt).Seconds()
	if took <= 0 || u.Size <= 0 {
		return
	}
	rate := float64(u.Size) / took
	k := key(kETA, sizeClass(u.Size))
	err := h.kv.Update(func(t storage.Txn) error {
		var s etaStats
		if err := getJSON(t, k, &s); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if s.Uploads == 0 {
			s.BytesPerSec = rate
		} else {
			s.BytesPerSec = etaWeight*rate + (1-etaWeight)*s.BytesPerSec
		}
		s.Uploads++
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return t.Set(k, b)
	})
	if err != nil {
		h.log.Warn("verwerkingssnelheid bijhouden", "err", err)
	}
}
