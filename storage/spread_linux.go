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
// After a group saw files deleted (retention, a spool, another program), creating the 50
// delivery files of an upload there cost 100–400 µs of kernel CPU per file instead of ~25
// (BENCHMARKS.md, "Verspreide mappen"). Other file systems ignore or refuse the flag: spread
// is a placement hint, and its failure is no error.
func spread(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsTopdirFL != 0 {
		return
	}
	unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFL))
}

// isSpread reports whether dir carries the flag spread sets (for tests); ok is false where
// the file system cannot tell.
func isSpread(dir string) (spread, ok bool) {
	f, err := os.Open(dir)
	if err != nil {
		return false, false
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return false, false
	}
	return flags&fsTopdirFL != 0, true
}
