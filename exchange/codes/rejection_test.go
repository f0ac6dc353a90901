package codes

import (
	"errors"
	"fmt"
	"testing"
)

func TestRejectionError(t *testing.T) {
	var err error = &Rejection{Code: IB001, Detail: "StUF:functie ontbreekt"}
	var r *Rejection
	if !errors.As(fmt.Errorf("verwerken: %w", err), &r) || err.Error() != "IB001: Envelop voldoet niet aan het XSD: StUF:functie ontbreekt" {
		t.Errorf("%v", err)
	}
}

// Every code has its own Dutch text: a code added to the constants but not to the table would
// show only its number in a verwerkingsverslag.
func TestEveryCodeHasAnOmschrijving(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range Codes() {
		if seen[c] {
			t.Errorf("%s staat twee keer in Codes()", c)
		}
		seen[c] = true
		if c.Omschrijving() == string(c) || c.Omschrijving() == "" {
			t.Errorf("%s heeft geen omschrijving", c)
		}
	}
	if len(seen) != len(omschrijving) {
		t.Errorf("Codes() noemt %d codes, de tabel %d", len(seen), len(omschrijving))
	}
}
