package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Pin keeps the blobs committed now readable through OpenPinned until release is called,
// also when they are removed meanwhile: a Remove while a pin is held moves the blob to
// attic/ (one rename) instead of deleting it, and the last release empties the attic. A
// backup pins before it takes its snapshot of the records, so every blob a record in that
// snapshot points to stays readable however long the copy takes, and nobody waits for it.
// Blobs are never rewritten in place: Commit publishes a new file with one rename.
func (d *Disk) Pin() (release func()) {
	d.pinMu.Lock()
	d.pinned++
	d.pinMu.Unlock()
	var done bool
	return func() {
		d.pinMu.Lock()
		if done {
			d.pinMu.Unlock()
			return
		}
		done = true
		d.pinned--
		var old string
		if d.pinned == 0 {
			// Move the attic out of the way under the lock, delete it outside: a Remove that
			// comes meanwhile deletes at once again.
			d.atticGen++
			old = filepath.Join(d.root, "attic-old-"+strconv.FormatUint(d.atticGen, 10))
			if err := os.Rename(d.attic(""), old); err != nil {
				old = ""
			}
		}
		d.pinMu.Unlock()
		if old != "" {
			os.RemoveAll(old)
		}
	}
}

func (d *Disk) attic(rel string) string { return filepath.Join(d.root, "attic", rel) }

// removeBlob deletes a committed blob, or parks it in the attic while a pin is held.
func (d *Disk) removeBlob(rel string) error {
	d.pinMu.RLock()
	defer d.pinMu.RUnlock()
	if d.pinned == 0 {
		return os.Remove(d.blob(rel))
	}
	dst := d.attic(rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	return os.Rename(d.blob(rel), dst)
}

// OpenPinned opens a committed blob for a copy, from the attic when it was removed since a
// Pin, and returns the SHA-256 recorded at Commit: the caller hashes what it copies and
// compares at the end, so the blob is read once. Only the trailer is checked here; a blob
// whose trailer is missing or wrong is ErrDamaged (it is not moved aside: that is Verify's
// and Open's job).
func (d *Disk) OpenPinned(name string) (Reader, []byte, error) {
	rel, err := d.clean(name)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(d.blob(rel))
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.Open(d.attic(rel))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", name, err)
	}
	size, sum, reason, err := readTrailer(f)
	if err == nil && reason != "" {
		err = fmt.Errorf("%w (%s: %s)", ErrDamaged, name, reason)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return &diskReader{SectionReader: io.NewSectionReader(f, 0, size), f: f}, append([]byte(nil), sum...), nil
}
