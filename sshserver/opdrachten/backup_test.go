package opdrachten

import (
	"io"
	"testing"
	"time"
)

// A backup whose reader stops is cut off after the stall limit, so its snapshot and parked
// files do not stay forever.
func TestStallWriterCutsOnce(t *testing.T) {
	sw := &stallWriter{w: io.Discard}
	sw.touch()
	stop := make(chan struct{})
	defer close(stop)
	cut := make(chan struct{}, 2)
	go sw.watch(stop, time.Second, func() { cut <- struct{}{} })
	for range 5 {
		sw.Write([]byte("x"))
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-cut:
		t.Fatal("cut while bytes were going out")
	default:
	}
	select {
	case <-cut:
	case <-time.After(10 * time.Second):
		t.Fatal("not cut after the writes stopped")
	}
}
