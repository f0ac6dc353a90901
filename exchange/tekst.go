package exchange

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"knooppunt/exchange/tekst"
)

// What a person reads cannot steer their terminal. Text from outside the hub (file names,
// envelope fields, user names offered at login, organisation names) reaches terminals through
// the verslag, the commands, audit export and the TUI. C0 controls (ESC), C1 controls (CSI
// U+009B works as ESC [ in many terminals) and bidirectional overrides (which make
// "rapport\u202Egpj.zip" read as "rapportpiz.jpg") are refused in upload names and escaped
// wherever such text is shown: Printable for text, JSONWriter for JSON. One predicate,
// tekst.Steers, decides for all of them (the ZIP intake uses it too).

// Printable returns s as it may be shown to a person: invalid UTF-8 and every character that
// steers a terminal (see tekst.Steers) replaced by '?'. Newlines and tabs go too: callers that show
// several lines print them line by line.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || tekst.Steers(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	s = strings.ToValidUTF8(s, "?")
	return strings.Map(func(r rune) rune {
		if tekst.Steers(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// steeringIn names the first character of s that steers a terminal, for an error that says
// what to change; "" when there is none.
func steeringIn(s string) string {
	for _, r := range s {
		if tekst.Steers(r) {
			return fmt.Sprintf("U+%04X", r)
		}
	}
	return ""
}

// JSONWriter passes JSON through to w with every character that steers a terminal and that
// encoding/json leaves as it is (C1 controls, DEL, bidi formatting) written as a \uXXXX
// escape. The JSON means the same (a decoder reads the same strings, so hashes over the
// values still agree); a terminal showing it is not steered. Each Write must hold whole
// UTF-8 characters, as json.Encoder's writes do.
type JSONWriter struct{ W io.Writer }

func (j JSONWriter) Write(p []byte) (int, error) {
	var out []byte
	last := 0
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r >= 0x7f && tekst.Steers(r) {
			if out == nil {
				out = make([]byte, 0, len(p)+16)
			}
			out = append(out, p[last:i]...)
			out = fmt.Appendf(out, `\u%04x`, r)
			last = i + size
		}
		i += size
	}
	if out == nil {
		return j.W.Write(p)
	}
	out = append(out, p[last:]...)
	if _, err := j.W.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// TextWriter passes text through to w with every character that steers a terminal replaced
// by '?', except the newlines and tabs that lay the text out. A character split over two
// writes is held until it is whole.
type TextWriter struct {
	W    io.Writer
	hold []byte
}

func (t *TextWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(t.hold) > 0 {
		p = append(t.hold, p...)
		t.hold = nil
	}
	// Hold back an incomplete character at the end.
	if cut := incompleteTail(p); cut < len(p) {
		t.hold = append([]byte(nil), p[cut:]...)
		p = p[:cut]
	}
	var out []byte
	last := 0
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r != '\n' && r != '\t' && (tekst.Steers(r) || (r == utf8.RuneError && size == 1)) {
			if out == nil {
				out = make([]byte, 0, len(p))
			}
			out = append(out, p[last:i]...)
			out = append(out, '?')
			last = i + size
		}
		i += size
	}
	if out != nil {
		p = append(out, p[last:]...)
	}
	if _, err := t.W.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

// incompleteTail is where an unfinished UTF-8 character at the end of p starts, or len(p).
func incompleteTail(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				return i
			}
			break
		}
	}
	return len(p)
}

// lookAlike is the form under which two names look the same: their NFC normalisation. A
// name typed on one system may arrive decomposed (NFD, as macOS writes "é" as "e" + U+0301)
// and another composed; in one folder they would be two files a person cannot tell apart,
// and one may overwrite the other when unpacked on a file system that normalises names.
func lookAlike(name string) string {
	return norm.NFC.String(name)
}
