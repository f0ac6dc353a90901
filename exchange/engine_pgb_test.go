package exchange

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"knooppunt/exchange/codes"
)

// TestSeedBadZips builds the seed's three refused ZIPs: each ends Afgekeurd with a clear
// reason, and nothing is delivered or written outside the store.
func TestSeedBadZips(t *testing.T) {
	e := newEngine(t, "")
	gem := e.principal("0060")
	var ones []zipFile
	for i := range 1000 {
		ones = append(ones, zipFile{Name: fmt.Sprintf("%d", i), Data: []byte{0}})
	}
	u := e.process(gem, IJw, "zero_files_1000_x_1.zip", buildZip(t, ones...))
	if u.Status != Afgekeurd || u.Counts.Incorrect != 1000 || u.Fouten[0].Code != codes.KP002 {
		t.Fatalf("zero_files_1000_x_1.zip: %s %+v %+v", u.Status, u.Counts, u.Fouten[0])
	}
	u = e.process(gem, IJw, "zero_files_1_x_10000000.zip", buildZip(t, zipFile{Name: "0.xml", Data: make([]byte, 10_000_000)}))
	if u.Status != Afgekeurd || u.Fouten[0].Code != codes.KP004 {
		t.Fatalf("zero_files_1_x_10000000.zip: %s %+v", u.Status, u.Fouten)
	}
	good := envelope("JW301", "0060", "12345678", newRef(), "")
	u = e.process(gem, IJw, "evil.zip", buildZip(t,
		zipFile{Name: "../../../../tmp/evil.txt", Data: []byte("x")},
		zipFile{Name: "../../evil.xml", Data: good}))
	if u.Status != Afgekeurd || foutCodes(u)["evil.txt"] != codes.KP002 || u.Counts.Correct != 1 {
		t.Fatalf("evil.zip: %s %+v %+v", u.Status, u.Counts, u.Fouten)
	}
	got := e.inbox(e.principal("12345678"), IJw)
	for _, files := range got {
		if !bytes.Equal(files["evil.xml"], good) {
			t.Fatalf("evil.zip delivery: %v", keys(files))
		}
	}
	_, txt, err := e.h.OpenReport(context.Background(), gem, IJw, "20260128_174411_zero_files_1000_x_1.zip.txt")
	if err != nil || !strings.Contains(string(txt), "KP002") {
		t.Fatalf("report: %v\n%s", err, txt)
	}
	// Whole-archive rejections: not a ZIP at all.
	u = e.process(gem, IJw, "kapot.zip", []byte("dit is geen zip"))
	if u.Status != Afgekeurd || foutCodes(u)["kapot.zip"] != codes.IB901 {
		t.Fatalf("IB901: %+v", u.Fouten)
	}
}

// TestPGBWithoutEnvelope: a gemeente's TKB goes to the SVB; the SVB's BAB goes to the
// gemeente its file name names; a name that names none is KP008.
func TestPGBWithoutEnvelope(t *testing.T) {
	e := newEngine(t, "")
	gem, svb := e.principal("0363"), e.principal("SVB")
	tkb := []byte(`<?xml version="1.0"?><tkb><budget>100</budget></tkb>`)
	u := e.process(gem, PGBWmo, "tkb.zip", buildZip(t, zipFile{Name: "tkb_1.xml", Data: tkb}))
	if u.Status != Afgeleverd {
		t.Fatalf("TKB: %+v", u.Fouten)
	}
	if got := e.inbox(svb, PGBWmo); !bytes.Equal(got["20260128_174411_SVB_TKB.ZIP"]["tkb_1.xml"], tkb) {
		t.Fatalf("SVB ophalen: %v", keys(got))
	}
	bab := []byte(`<bab><einde>20260101</einde></bab>`)
	u = e.process(svb, PGBWmo, "bab.zip", buildZip(t,
		zipFile{Name: "0363_BAB_20260128.xml", Data: bab},
		zipFile{Name: "bab.xml", Data: bab},
		zipFile{Name: "0001_BAB_20260128.xml", Data: bab},
		zipFile{Name: "0363_BAB_20260129.xml", Data: []byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`)}))
	want := map[string]codes.Code{"bab.xml": codes.KP008, "0001_BAB_20260128.xml": codes.IB005, "0363_BAB_20260129.xml": codes.KP007}
	for name, code := range want {
		if foutCodes(u)[name] != code {
			t.Errorf("%s: %q, want %s", name, foutCodes(u)[name], code)
		}
	}
	if got := e.inbox(gem, PGBWmo); !bytes.Equal(got["20260128_174411_0363_BAB.ZIP"]["0363_BAB_20260128.xml"], bab) {
		t.Fatalf("gemeente ophalen: %v", keys(got))
	}
	// An aanbieder has no PGB files to send.
	u = e.process(e.principal("12345678"), PGBWmo, "x.xml", tkb)
	if foutCodes(u)["x.xml"] != codes.IB007 {
		t.Fatalf("aanbieder PGB: %+v", u.Fouten)
	}
}
