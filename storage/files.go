package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Disk is a Files on a local directory. Uncommitted blobs live under tmp/ with the same
// relative name, so a crash leaves nothing visible and start-up can sweep them.
type Disk struct {
	root string
}

// OpenDisk opens (or creates) a file store in dir.
func OpenDisk(dir string) (*Disk, error) {
	for _, d := range []string{dir, filepath.Join(dir, "blobs"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create file store %s: %w", d, err)
		}
	}
	return &Disk{root: dir}, nil
}

func (d *Disk) clean(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || strings.Contains(name, "..") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("ongeldige bestandsnaam in opslag: %q", name)
	}
	return filepath.FromSlash(name), nil
}

func (d *Disk) blob(name string) string { return filepath.Join(d.root, "blobs", name) }
func (d *Disk) temp(name string) string { return filepath.Join(d.root, "tmp", name) }

func (d *Disk) Create(name string) (Writer, error) {
	rel, err := d.clean(name)
	if err != nil {
		return nil, err
	}
	p := d.temp(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	return &diskWriter{d: d, rel: rel, f: f}, nil
}

func (d *Disk) Append(name string) (Writer, error) {
	rel, err := d.clean(name)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(d.temp(rel), os.O_RDWR, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reopen %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reopen %s: %w", name, err)
	}
	return &diskWriter{d: d, rel: rel, f: f, size: st.Size()}, nil
}

func (d *Disk) Open(name string) (Reader, error) {
	rel, err := d.clean(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(d.blob(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return &diskReader{File: f, size: st.Size()}, nil
}

func (d *Disk) Stat(name string) (int64, error) {
	rel, err := d.clean(name)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(d.blob(rel))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Remove deletes a committed blob and any uncommitted one of the same name.
func (d *Disk) Remove(name string) error {
	rel, err := d.clean(name)
	if err != nil {
		return err
	}
	err1 := os.Remove(d.blob(rel))
	err2 := os.Remove(d.temp(rel))
	if err1 != nil && !errors.Is(err1, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err1)
	}
	if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err2)
	}
	if errors.Is(err1, fs.ErrNotExist) && errors.Is(err2, fs.ErrNotExist) {
		return ErrNotFound
	}
	return nil
}

func (d *Disk) Walk(prefix string, fn func(name string, size int64) error) error {
	base := filepath.Join(d.root, "blobs")
	return filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, base+string(filepath.Separator)))
		if e.IsDir() {
			if p == base || strings.HasPrefix(rel+"/", prefix) || strings.HasPrefix(prefix, rel+"/") {
				return nil
			}
			return filepath.SkipDir
		}
		if !strings.HasPrefix(rel, prefix) {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		return fn(rel, info.Size())
	})
}

func (d *Disk) Free() (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(d.root, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", d.root, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

type diskWriter struct {
	d    *Disk
	rel  string
	f    *os.File
	mu   sync.Mutex
	size int64
	off  int64
}

func (w *diskWriter) WriteAt(p []byte, off int64) (int, error) {
	n, err := w.f.WriteAt(p, off)
	w.mu.Lock()
	if end := off + int64(n); end > w.size {
		w.size = end
	}
	w.mu.Unlock()
	return n, err
}

func (w *diskWriter) Write(p []byte) (int, error) {
	n, err := w.WriteAt(p, w.off)
	w.off += int64(n)
	return n, err
}

func (w *diskWriter) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

func (w *diskWriter) Commit() error {
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return fmt.Errorf("sync %s: %w", w.rel, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", w.rel, err)
	}
	dst := w.d.blob(w.rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("commit %s: %w", w.rel, err)
	}
	if err := os.Rename(w.d.temp(w.rel), dst); err != nil {
		return fmt.Errorf("commit %s: %w", w.rel, err)
	}
	return syncDir(filepath.Dir(dst))
}

func (w *diskWriter) Keep() error {
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return fmt.Errorf("sync %s: %w", w.rel, err)
	}
	return w.f.Close()
}

func (w *diskWriter) Abort() error {
	w.f.Close()
	if err := os.Remove(w.d.temp(w.rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort %s: %w", w.rel, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

type diskReader struct {
	*os.File
	size int64
}

func (r *diskReader) Size() int64 { return r.size }
