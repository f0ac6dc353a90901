package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDirectoriesOfUploadsAreSpread: the directories that hold per-upload directories (tmp/dlv
// and blobs/dlv) carry the flag that makes ext4 place each upload's directory, and so the
// inodes of its delivery files, in a block group of its own choosing; a store made before the
// flag existed gets it at open. Skipped where the file system has no such flags (tmpfs).
func TestDirectoriesOfUploadsAreSpread(t *testing.T) {
	dir := t.TempDir()
	if _, ok := isSpread(dir); !ok {
		t.Skip("file system without inode flags")
	}
	d, err := OpenDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	put(t, d, "dlv/7/0.zip", []byte("bestand"), false)
	put(t, d, "dlv/8/0.zip", []byte("bestand"), false)
	for _, p := range []string{"tmp", "blobs", "tmp/dlv", "blobs/dlv"} {
		if s, _ := isSpread(filepath.Join(dir, p)); !s {
			t.Errorf("%s: not spread; the directories of uploads in it would share its block group", p)
		}
	}
	if got := readAll(t, d, "dlv/8/0.zip"); string(got) != "bestand" {
		t.Fatalf("read back %q", got)
	}

	// A store of an older version: its directories exist without the flag.
	old := t.TempDir()
	for _, p := range []string{"blobs/dlv/1", "tmp/dlv", "tmp/upl"} {
		if err := os.MkdirAll(filepath.Join(old, p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenDisk(old); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"blobs/dlv", "tmp/dlv", "tmp/upl"} {
		if s, _ := isSpread(filepath.Join(old, p)); !s {
			t.Errorf("%s of an older store: not spread after open", p)
		}
	}
}
