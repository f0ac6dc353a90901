package sshserver

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
)

// slowWriter records each Write it gets and can be made to fail.
type slowWriter struct {
	mu     sync.Mutex
	writes [][]byte
	gate   chan struct{}
	err    error
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if w.gate != nil {
		<-w.gate
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestBatchWriterKeepsOrderAndBatches(t *testing.T) {
	sw := &slowWriter{gate: make(chan struct{})}
	b := newBatchWriter(sw, nil)
	var want bytes.Buffer
	for i := range 100 {
		p := bytes.Repeat([]byte{byte(i)}, 100+i)
		want.Write(p)
		if _, err := b.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	close(sw.gate)
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	got := bytes.Join(sw.writes, nil)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("bytes differ or are out of order")
	}
	if len(sw.writes) > 2 {
		t.Fatalf("%d writes reached the connection for 100 small ones while it was busy", len(sw.writes))
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write after Flush: %v", err)
	}
}

func TestBatchWriterReportsErrors(t *testing.T) {
	sw := &slowWriter{err: errors.New("verbroken")}
	b := newBatchWriter(sw, nil)
	b.Write([]byte("a"))
	for {
		if _, err := b.Write([]byte("b")); err != nil {
			break
		}
	}
	if err := b.Flush(); err == nil {
		t.Fatal("Flush hid the write error")
	}
}

func TestBatchWriterBackpressure(t *testing.T) {
	sw := &slowWriter{gate: make(chan struct{})}
	b := newBatchWriter(sw, nil)
	b.Write([]byte("first")) // taken by the loop, which now waits at the gate
	done := make(chan struct{})
	go func() {
		for range 3 {
			b.Write(make([]byte, maxBatch))
		}
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("writes beyond maxBatch did not wait for the connection")
	default:
	}
	close(sw.gate)
	<-done
	b.Flush()
}

// Large writes go out as they are, in order with the small ones around them.
func TestBatchWriterLargeWritesKeepOrder(t *testing.T) {
	sw := &slowWriter{}
	b := newBatchWriter(sw, nil)
	var want bytes.Buffer
	for i := range 60 {
		n := 13
		if i%3 == 2 {
			n = directMin + i*1000
		}
		p := bytes.Repeat([]byte{byte(i)}, n)
		want.Write(p)
		if _, err := b.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.Join(sw.writes, nil), want.Bytes()) {
		t.Fatal("bytes differ or are out of order")
	}
}
