package tui

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// TestNoKeyPanics drives every account's portal with a long run of key presses, including
// keys no screen uses and terminals far too small, and checks that nothing panicked: the
// recover in Update and View keeps a session alive, but a panic is still a bug.
func TestNoKeyPanics(t *testing.T) {
	w := newWorld(t)
	w.seed()
	keys := []tea.KeyPressMsg{
		{Code: tea.KeyEnter}, {Code: tea.KeyEscape}, {Code: tea.KeyTab}, {Code: tea.KeyTab, Mod: tea.ModShift},
		{Code: tea.KeySpace, Text: " "}, {Code: tea.KeyUp}, {Code: tea.KeyDown}, {Code: tea.KeyLeft}, {Code: tea.KeyRight},
		{Code: tea.KeyLeft, Mod: tea.ModShift}, {Code: tea.KeyRight, Mod: tea.ModShift}, {Code: tea.KeyHome}, {Code: tea.KeyEnd},
		{Code: tea.KeyPgUp}, {Code: tea.KeyPgDown}, {Code: tea.KeyDelete}, {Code: tea.KeyBackspace},
		{Code: 's', Mod: tea.ModCtrl}, {Code: 'u', Mod: tea.ModCtrl}, {Code: tea.KeyF1},
	}
	for _, r := range "1234567890abeghjklmnpqrsuxyz*/?:- GJN" {
		keys = append(keys, tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	sizes := [][2]int{{80, 24}, {120, 40}, {40, 12}, {20, 5}, {1, 1}, {200, 60}}
	for _, account := range []string{"gemeente", "aanbieder", "ameland", "beheer"} {
		t.Run(account, func(t *testing.T) {
			var log bytes.Buffer
			a := New(context.Background(), w.h, w.principal(account), Options{HubName: "knooppunt-test", Log: slog.New(slog.NewTextHandler(&log, nil))})
			a.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
			rnd := rand.New(rand.NewPCG(1, uint64(len(account))))
			for i := range 3000 {
				if i%150 == 0 {
					s := sizes[rnd.IntN(len(sizes))]
					a.Update(tea.WindowSizeMsg{Width: s[0], Height: s[1]})
				}
				a.Update(keys[rnd.IntN(len(keys))])
				a.View()
			}
			if strings.Contains(log.String(), "paniek") {
				t.Fatalf("a key press panicked:\n%s", log.String())
			}
		})
	}
}
