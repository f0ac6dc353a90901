package exchange

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestPrintableReplacesWhatSteersATerminal(t *testing.T) {
	for in, want := range map[string]string{
		"gewoon.xml":             "gewoon.xml",
		"café.xml":               "café.xml",
		"a\x1b[31mb":             "a?[31mb",
		"a\u009b31mb":            "a?31mb",
		"rapport\u202egpj.zip":   "rapport?gpj.zip",
		"x\u2066y\u2069z\u200f!": "x?y?z?!",
		"bad\xffutf8":            "bad?utf8",
		"regel\nregel\ttab\x7f":  "regel?regel?tab?",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestJSONWriterEscapesWithoutChangingTheValue: an audit entry stored before names were made
// printable still exports with the same value (its hash still checks) but nothing raw.
func TestJSONWriterEscapesWithoutChangingTheValue(t *testing.T) {
	e := AuditEntry{Account: "x\u009b31m\u202eadmin", Action: "login", Result: "a\u0085b\u2066c\x7f"}
	var b bytes.Buffer
	if err := json.NewEncoder(JSONWriter{W: &b}).Encode(e); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"\u009b", "\u202e", "\u0085", "\u2066", "\x7f"} {
		if strings.Contains(b.String(), c) {
			t.Fatalf("%U raw in %s", []rune(c)[0], b.String())
		}
	}
	var back AuditEntry
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back != e {
		t.Fatalf("decoded %+v (%v), want %+v", back, err, e)
	}
}

func TestTextWriterKeepsLayoutAndWholeCharacters(t *testing.T) {
	var b bytes.Buffer
	w := &TextWriter{W: &b}
	in := []byte("naam\tcafé\u009b\u202e\nregel 2\x1b[2J\n")
	for _, c := range in { // one byte at a time: characters split over writes
		if _, err := w.Write([]byte{c}); err != nil {
			t.Fatal(err)
		}
	}
	if want := "naam\tcafé??\nregel 2?[2J\n"; b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}
