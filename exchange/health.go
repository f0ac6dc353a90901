package exchange

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"knooppunt/storage"
)

// probeBlob is the file the readiness probe writes, reads back and removes.
const probeBlob = "probe/ready"

// SetShuttingDown marks the hub as stopping: from then on it is not ready (ProbeStore fails
// at once), so a load balancer or monitor sends no new work while sessions drain. It cannot be
// undone; the process exits after it.
func (h *Hub) SetShuttingDown() {
	if !h.shuttingDown.Swap(true) {
		h.log.Info("knooppunt stopt: niet meer gereed voor nieuw werk")
	}
}

// ShuttingDown tells whether SetShuttingDown was called.
func (h *Hub) ShuttingDown() bool { return h.shuttingDown.Load() }

// ProbeStore writes a small record and a small file, durably, and reads both back: it fails
// when the store cannot take a change now (a full or read-only disk, a broken database). It
// does not run once the hub is shutting down, when the store may be closing.
func (h *Hub) ProbeStore() error {
	if h.ShuttingDown() {
		return fmt.Errorf("het knooppunt stopt")
	}
	want := binary.BigEndian.AppendUint64(nil, uint64(h.clock.Now().UnixNano()))
	h.probeMu.Lock()
	defer h.probeMu.Unlock()
	err := h.kv.Update(func(t storage.Txn) error { return t.Set([]byte(kProbe), want) })
	if err != nil {
		return fmt.Errorf("opslag schrijven: %w", err)
	}
	var got []byte
	err = h.kv.View(func(t storage.Txn) error {
		var err error
		got, err = t.Get([]byte(kProbe))
		return err
	})
	if err != nil {
		return fmt.Errorf("opslag lezen: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("opslag gaf iets anders terug dan er net in geschreven is")
	}
	return h.probeFiles(want)
}

func (h *Hub) probeFiles(want []byte) error {
	w, err := h.files.Create(probeBlob)
	if err != nil {
		return fmt.Errorf("bestanden schrijven: %w", err)
	}
	if _, err := w.Write(want); err != nil {
		return fmt.Errorf("bestanden schrijven: %w", errors.Join(err, w.Abort()))
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("bestanden schrijven: %w", err)
	}
	// A probe file left behind is overwritten by the next probe: nothing to report.
	defer func() { _ = h.files.Remove(probeBlob) }()
	r, err := h.files.Open(probeBlob)
	if err != nil {
		return fmt.Errorf("bestanden lezen: %w", err)
	}
	defer r.Close() // read only: its Close loses nothing
	got, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("bestanden lezen: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("bestanden gaven iets anders terug dan er net in geschreven is")
	}
	return nil
}

// countQueue counts the uploads that are not final yet: the queue's keys. Admission keeps
// the queue short (Config.MaxUploads), except right after a restart with a backlog.
func (h *Hub) countQueue() (int, error) {
	n := 0
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan([]byte(kQueue), storage.ScanOptions{KeysOnly: true}, func(_, _ []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	return n, err
}
