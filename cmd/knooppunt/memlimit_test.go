package main

import (
	"io"
	"math"
	"strings"
	"testing"
)

func TestMemoryLimitFlag(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("KNOOPPUNT_MEMORY_LIMIT", "")
	for _, c := range []struct {
		args []string
		env  map[string]string
		want memLimit
	}{
		{nil, nil, memLimit{bytes: 110 << 20, from: "standaard"}},
		{[]string{"--memory-limit", "512MB"}, nil, memLimit{bytes: 512 << 20, from: "--memory-limit"}},
		{[]string{"--memory-limit", "2GiB"}, nil, memLimit{bytes: 2 << 30, from: "--memory-limit"}},
		{[]string{"--memory-limit", "0"}, nil, memLimit{bytes: math.MaxInt64, from: "--memory-limit"}},
		{nil, map[string]string{"KNOOPPUNT_MEMORY_LIMIT": "300 MiB"}, memLimit{bytes: 300 << 20, from: "--memory-limit"}},
		// GOMEMLIMIT is honoured as the runtime applied it, unless the flag or our variable says otherwise.
		{nil, map[string]string{"GOMEMLIMIT": "200MiB"}, memLimit{keep: true, from: "GOMEMLIMIT"}},
		{[]string{"--memory-limit", "1GB"}, map[string]string{"GOMEMLIMIT": "200MiB"}, memLimit{bytes: 1 << 30, from: "--memory-limit"}},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		f, err := parseServe(c.args, io.Discard)
		if err != nil || f.memoryLimit != c.want {
			t.Errorf("%q %v: %+v, %v; want %+v", c.args, c.env, f.memoryLimit, err, c.want)
		}
		for k := range c.env {
			t.Setenv(k, "")
		}
	}
	for _, bad := range []string{"veel", "-1MB", "12XB", "NaN"} {
		if _, err := parseServe([]string{"--memory-limit", bad}, io.Discard); err == nil || !strings.Contains(err.Error(), "--memory-limit") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestHeadroom: a quarter of a small live heap (one big upload's peak stays low), half of a
// large one (many sessions' garbage does not make the collector run back to back), and never
// less than a quarter or more than a half in between.
func TestHeadroom(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct{ live, want int64 }{
		{0, 0},
		{40 * mib, 10 * mib},
		{96 * mib, 24 * mib},
		{112 * mib, 32 * mib},
		{128 * mib, 64 * mib},
		{300 * mib, 150 * mib},
	} {
		if got := headroom(c.live); got != c.want {
			t.Errorf("headroom(%d MiB) = %d MiB, want %d MiB", c.live/mib, got/mib, c.want/mib)
		}
	}
	for live := int64(0); live < 400*mib; live += mib {
		if h := headroom(live); h < live/4 || h > live/2 {
			t.Fatalf("headroom(%d MiB) = %d MiB, outside a quarter to a half", live/mib, h/mib)
		}
	}
}
