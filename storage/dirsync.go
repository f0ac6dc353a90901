package storage

import "sync"

// dirSyncs shares directory fsyncs between commits into the same directory. A commit's
// rename is durable once an fsync of its directory has *started* after the rename; callers
// that arrive while one is running wait for the next and share it. An upload's delivery files
// are committed at once into one directory: one fsync each was dozens of writes of the same
// directory block per upload, each waiting for the disk.
type dirSyncs struct {
	mu   sync.Mutex
	dirs map[string]*dirSync
	sync func(dir string) error // nil: syncDir; a test counts the calls
}

// dirSync is one directory's state: syncs run one at a time, numbered from 1.
type dirSync struct {
	cond    sync.Cond // on dirSyncs.mu
	started uint64    // the number of the newest sync started
	done    uint64    // the number of the newest sync finished
	running bool
	users   int              // callers in sync for this directory: the entry goes with the last
	failed  map[uint64]error // syncs that failed, until each of their waiters has seen it
	waiters map[uint64]int   // callers waiting for a given sync
}

// syncAfter returns once an fsync of dir that started after the call has ended, with its
// error.
func (s *dirSyncs) syncAfter(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirs == nil {
		s.dirs = map[string]*dirSync{}
	}
	d := s.dirs[dir]
	if d == nil {
		d = &dirSync{failed: map[uint64]error{}, waiters: map[uint64]int{}}
		d.cond.L = &s.mu
		s.dirs[dir] = d
	}
	d.users++
	defer func() {
		if d.users--; d.users == 0 {
			delete(s.dirs, dir)
		}
	}()
	// Syncs run one after the other, so the next to start is started+1 and, if one is
	// running, it began before this call: not good enough.
	need := d.started + 1
	d.waiters[need]++
	for d.done < need {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		n := d.started
		s.mu.Unlock()
		syncFn := s.sync
		if syncFn == nil {
			syncFn = syncDir
		}
		err := syncFn(dir)
		s.mu.Lock()
		d.running = false
		d.done = n
		if err != nil && d.waiters[n] > 0 {
			d.failed[n] = err
		}
		d.cond.Broadcast()
	}
	err := d.failed[need]
	if d.waiters[need]--; d.waiters[need] == 0 {
		delete(d.waiters, need)
		delete(d.failed, need)
	}
	return err
}
