package exchange

import (
	"maps"
	"testing"
)

// TestValueCountsByRuns: counting a group's value-index names once per run of equal
// summaries gives what counting member by member gives, runs split and interleaved.
func TestValueCountsByRuns(t *testing.T) {
	a := logSum{string(MsgOntvangen), "WMO301", "uit", "12345678"}
	b := logSum{string(MsgGelezen), "WMO301", "uit", "12345678"}
	c := logSum{string(MsgOntvangen), "WMO302", "in", "87654321"}
	for _, sums := range [][]logSum{nil, {a}, {a, a, a}, {a, b}, {a, a, b, b, a, c, c, a}, {c, b, a, b, c}} {
		var ms []logMember
		want := map[string]uint64{}
		for i, s := range sums {
			ms = append(ms, logMember{uint64(i), s})
			for _, v := range s.values() {
				want[v]++
			}
		}
		if got := valueCounts(ms); !maps.Equal(got, want) {
			t.Errorf("valueCounts(%v) = %v, want %v", sums, got, want)
		}
	}
}
