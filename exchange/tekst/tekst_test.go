package tekst

import "testing"

func TestSteers(t *testing.T) {
	for _, r := range []rune{0x1b, 0x00, '\n', '\t', 0x7f, 0x9b, 0x061c, 0x200e, 0x200f, 0x202a, 0x202e, 0x2066, 0x2069} {
		if !Steers(r) {
			t.Errorf("U+%04X steers a terminal, Steers says no", r)
		}
	}
	for _, r := range []rune{'a', ' ', 'é', '€', '…', 0x2029 - 1, 0x202f, 0x2065, 0x206a, 0xfffd} {
		if Steers(r) {
			t.Errorf("U+%04X is plain text, Steers says it steers", r)
		}
	}
}
