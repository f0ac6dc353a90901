package storage

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
)

// WalkUncommitted calls fn for every uncommitted blob (being written, or kept by Keep) whose
// name starts with prefix, so that the owner can sweep what a crash or an abandoned client
// left behind.
func (d *Disk) WalkUncommitted(prefix string, fn func(name string) error) error {
	base := filepath.Join(d.root, "tmp")
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, base+string(filepath.Separator)))
		if !strings.HasPrefix(rel, prefix) {
			return nil
		}
		return fn(rel)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
