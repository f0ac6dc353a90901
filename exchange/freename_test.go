package exchange

import (
	"fmt"
	"testing"

	"knooppunt/storage"
)

// TestFreeName: names are handed out in order _2, _3, … however many share one second, and a
// new name is never one that is taken.
func TestFreeName(t *testing.T) {
	e := newEngine(t, "")
	const base = "20260128_174411_12345678_WMO301"
	seen := map[string]bool{}
	for i := 1; i <= 300; i++ {
		var got string
		err := e.h.kv.Update(func(tx storage.Txn) error {
			var err error
			if got, err = freeName(tx, "12345678", IWmo, base+".ZIP"); err != nil {
				return err
			}
			return tx.Set(key(kDlvName, "12345678", IWmo, got), be64(uint64(i)))
		})
		if err != nil {
			t.Fatal(err)
		}
		want := base + ".ZIP"
		if i > 1 {
			want = fmt.Sprintf("%s_%d.ZIP", base, i)
		}
		if got != want || seen[got] {
			t.Fatalf("%d: %s, want %s", i, got, want)
		}
		seen[got] = true
	}
}
