package tui

import (
	"fmt"
	"strings"
	"testing"
)

// TestGoldenOphalenSelectie: the command that fetches exactly the selected files under the
// list, and whole behind d, at every size.
func TestGoldenOphalenSelectie(t *testing.T) {
	w := newWorld(t)
	w.seed()
	ds := w.inbox(w.principal("gemeente"))
	for _, size := range [][2]int{{80, 24}, {100, 30}, {120, 40}} {
		a := w.app("gemeente", size[0], size[1])
		press(a, "tab", "tab", "space", "down", "space")
		screen := ascii(t, a)
		golden(t, fmt.Sprintf("selectie_%dx%d", size[0], size[1]), screen)
		for i, d := range ds {
			if got, want := strings.Contains(screen, "get /iwmo/ophalen/"+d.Name), i != 1; got != want {
				t.Errorf("%dx%d: get %s shown = %v, want %v", size[0], size[1], d.Name, got, want)
			}
		}
		press(a, "d")
		golden(t, fmt.Sprintf("opdracht_%dx%d", size[0], size[1]), ascii(t, a))
		press(a, "esc")
	}
}
