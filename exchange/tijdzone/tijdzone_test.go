package tijdzone

import (
	"testing"
	"time"
)

// Winter and summer time, as the Dutch read them: the hub's file names and verslagen depend
// on the offset, not only on the name.
func TestAmsterdamOffsets(t *testing.T) {
	loc := Amsterdam()
	if loc == time.UTC {
		t.Skip("no zone database on this machine: Amsterdam falls back to UTC")
	}
	for _, c := range []struct {
		at   time.Time
		want int
	}{
		{time.Date(2026, 1, 28, 12, 0, 0, 0, time.UTC), 3600},
		{time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), 7200},
	} {
		if _, off := c.at.In(loc).Zone(); off != c.want {
			t.Errorf("%s: offset %d, want %d", c.at, off, c.want)
		}
	}
	if Amsterdam() != loc {
		t.Error("a second call loaded the location again")
	}
}
