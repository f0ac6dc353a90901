package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// fsTopdirFL is FS_TOPDIR_FL of linux/fs.h (chattr +T), which x/sys/unix does not name.
const fsTopdirFL = 0x00020000

// spread asks the file system to place the directories made in dir apart from dir itself
// (ext4's "top of directory hierarchy" flag, chattr +T): each upload's directory of delivery
// files then lands in a block group of its own choosing, with free inodes, instead of dir's.
//
// Why: ext4 without a journal will not reuse an inode freed in the last 30 s to 6 minutes,
// and walks past every such inode, from the start of the group, for each file it creates.
// After a group saw files deleted (retention, a spool, another program), creating a file
// there cost 78–349 µs instead of 23–40 under a spread directory (BENCHMARKS.md, "6 Dec 2026,
// 09:20–09:49 UTC"). Other file systems ignore or refuse the flag: spread is a placement
// hint, and its failure is no error.
func spread(dir string) {
	withFlags(dir, func(fd int, flags uint32) {
		if flags&fsTopdirFL == 0 {
			unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFL))
		}
	})
}

// isSpread reports whether dir carries the flag spread sets (for tests); ok is false where
// the file system cannot tell.
func isSpread(dir string) (spread, ok bool) {
	ok = withFlags(dir, func(_ int, flags uint32) { spread = flags&fsTopdirFL != 0 })
	return spread, ok
}

// withFlags calls fn with an open descriptor of dir and its inode flags; false when dir
// cannot be opened or its file system keeps no such flags.
func withFlags(dir string, fn func(fd int, flags uint32)) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return false
	}
	fn(int(f.Fd()), flags)
	return true
}
