package tekst

import "unicode"

// Steers reports whether r is a character that moves, recolours or reorders what a terminal
// shows: C0 and C1 controls, DEL, and the bidirectional formatting characters (LRM, RLM, ALM,
// the embeddings and overrides U+202A–U+202E and the isolates U+2066–U+2069).
func Steers(r rune) bool {
	return unicode.IsControl(r) || r == 0x061c || r == 0x200e || r == 0x200f ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
