package exchange

import "knooppunt/storage"

// With several nodes on one store, an upload handed in at this node may be processed by
// another (whichever claims it first). The slot it took here must then be given back when
// that node finishes it, or this node's gate would fill with slots nobody releases and shut
// for good. The other node's events say when to look (remoteEvents); the store says whether
// the upload is final.

// holds tells whether any slot waits for an upload to finish.
func (a *admission) holds() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.handed) > 0 || len(a.uploads) > 0
}

// finishedElsewhere gives back the slot of an upload (id, written as blob) that another node
// finished.
func (a *admission) finishedElsewhere(id uint64, blob string) {
	a.mu.Lock()
	s, ok := a.uploads[id]
	delete(a.uploads, id)
	if !ok {
		s = a.handed[blob]
	}
	delete(a.handed, blob)
	a.mu.Unlock()
	s.release()
}

// uploadSettledElsewhere is called for another node's event about upload id: when the upload
// is final, the slot this node took for it (if any) is given back.
func (h *Hub) uploadSettledElsewhere(id uint64) {
	if id == 0 || !h.admission.holds() {
		return
	}
	var u Upload
	err := h.kv.View(func(t storage.Txn) error { return getJSON(t, key(kUpload, id), &u) })
	if err != nil {
		return // gone or unreadable: nothing this node can give back for it
	}
	if u.Status.Final() {
		h.admission.finishedElsewhere(id, u.Blob)
	}
}
