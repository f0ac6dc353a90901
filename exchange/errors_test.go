package exchange

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

// A full disk and a used-up quota are the same to a person at every door (storeErr) and to
// the engine, which waits (mapNoSpace); any other storage error stays what it was.
func TestDiskFullAndQuotaMapToErrNoSpace(t *testing.T) {
	wrapped := func(e error) error {
		return fmt.Errorf("write blob: %w", &fs.PathError{Op: "write", Path: "x", Err: e})
	}
	for _, c := range []struct {
		name string
		err  error
		full bool
	}{
		{"ENOSPC", wrapped(syscall.ENOSPC), true},
		{"EDQUOT", wrapped(syscall.EDQUOT), true},
		{"EIO", wrapped(syscall.EIO), false},
	} {
		door := storeErr("x.zip", c.err)
		if errors.Is(door, ErrNoSpace) != c.full {
			t.Errorf("%s: storeErr %v", c.name, door)
		}
		if !c.full && !errors.Is(door, syscall.EIO) {
			t.Errorf("%s: storeErr lost the cause: %v", c.name, door)
		}
		engine := mapNoSpace(c.err)
		if errors.Is(engine, ErrNoSpace) != c.full || !errors.Is(engine, c.err) {
			t.Errorf("%s: mapNoSpace %v", c.name, engine)
		}
	}
}
