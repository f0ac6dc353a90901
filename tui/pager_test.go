package tui

import (
	"strings"
	"testing"
)

// A count the exchange cut off shows as "10.000+" and leaves a next page to go to.
func TestPagerCappedCount(t *testing.T) {
	p := newPager()
	p.setCount(10_000, true)
	if p.TotalPages != 1001 {
		t.Fatalf("%d pages, want 1001 (one past the count)", p.TotalPages)
	}
	if v := p.view(newStyles(true), "bericht", "berichten", 200); !strings.Contains(v, "10.000+ berichten") {
		t.Fatalf("capped count: %q", v)
	}
	p.setCount(1, false)
	if v := p.view(newStyles(true), "bericht", "berichten", 200); !strings.HasSuffix(v, " 1 bericht") {
		t.Fatalf("exact count: %q", v)
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1.000", 1234567: "1.234.567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
