package exchange

import (
	"context"
	"slices"
	"strconv"
	"testing"
)

// TestSameSecondNamesKeepTheirExtension (issue 13, item 9): two files with the same name in
// the same second get a suffix before the extension, in ophalen/ (x_2.ZIP) as in
// verslagen/ (x_ID.zip.txt, never x.zip_ID.txt), so a client still sees what kind of file
// it is.
func TestSameSecondNamesKeepTheirExtension(t *testing.T) {
	e := newEngine(t, "")
	gem, zorg := e.principal("0363"), e.principal("12345678")
	e.process(gem, IWmo, "x.zip", zipOf(t, file{"a.xml", envelope("WMO301", "0363", "12345678", newRef(), "")}))
	u2 := e.process(gem, IWmo, "x.zip", zipOf(t, file{"b.xml", envelope("WMO301", "0363", "12345678", newRef(), "")}))
	inbox := e.inbox(zorg, IWmo)
	for _, name := range []string{"20260128_174411_12345678_WMO301.ZIP", "20260128_174411_12345678_WMO301_2.ZIP"} {
		if _, ok := inbox[name]; !ok {
			t.Errorf("ophalen/ lacks %s: %v", name, keys(inbox))
		}
	}
	reports, err := e.h.Reports(context.Background(), gem, IWmo)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range reports {
		names = append(names, r.Name)
	}
	second := "20260128_174411_x_" + strconv.FormatUint(u2.ID, 10) + ".zip"
	for _, want := range []string{"20260128_174411_x.zip.txt", "20260128_174411_x.zip.json", second + ".txt", second + ".json"} {
		if !slices.Contains(names, want) {
			t.Errorf("verslagen/ lacks %s: %v", want, names)
		}
	}
	if _, _, err := e.h.OpenReport(context.Background(), gem, IWmo, second+".txt"); err != nil {
		t.Errorf("open %s.txt: %v", second, err)
	}
}
