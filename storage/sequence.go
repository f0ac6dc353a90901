package storage

import (
	"encoding/binary"
	"errors"
	"sync"
)

// seqLease is how many numbers one synced write reserves: a busy server hands out ids from
// memory instead of waiting for the disk on each one. The stored value is the highest number
// reserved, so numbers reserved but not handed out before a stop are skipped, never reused.
// Every KV keeps its counters as records under seq/<name>, so a backup or a migration copies
// them with the rest.
const seqLease = 64

type lease struct{ next, last uint64 }

// sequences hands out the numbers of named counters, a lease at a time, for one process.
// Several processes on one store (PostgreSQL) each take leases of their own: numbers stay
// unique and only grow within a process.
type sequences struct {
	mu   sync.Mutex
	seqs map[string]*lease
}

func (s *sequences) next(name string, update func(func(Txn) error) error) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seqs == nil {
		s.seqs = map[string]*lease{}
	}
	l := s.seqs[name]
	if l == nil {
		l = &lease{}
		s.seqs[name] = l
	}
	if l.next == 0 || l.next > l.last {
		key := []byte("seq/" + name)
		var last uint64
		err := update(func(t Txn) error {
			v, err := t.Get(key)
			switch {
			case errors.Is(err, ErrNotFound):
				last = 0
			case err != nil:
				return err
			default:
				last = binary.BigEndian.Uint64(v)
			}
			return t.Set(key, binary.BigEndian.AppendUint64(nil, last+seqLease))
		})
		if err != nil {
			return 0, err
		}
		l.next, l.last = last+1, last+seqLease
	}
	n := l.next
	l.next++
	return n, nil
}
