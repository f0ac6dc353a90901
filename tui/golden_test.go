package tui

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"knooppunt/exchange"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// ascii renders the view as a terminal without colour would get it: attributes such as bold
// and reverse stay, colours go.
func ascii(t *testing.T, a *App) string {
	t.Helper()
	var buf bytes.Buffer
	w := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.ASCII}
	if _, err := w.WriteString(a.View().Content); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test ./tui -run %s -update to accept):\n%s", name, t.Name(), got)
	}
}

func press(a *App, keys ...string) {
	for _, k := range keys {
		var msg tea.KeyPressMsg
		switch k {
		case "enter":
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		case "esc":
			msg = tea.KeyPressMsg{Code: tea.KeyEscape}
		case "tab":
			msg = tea.KeyPressMsg{Code: tea.KeyTab}
		case "shift+tab":
			msg = tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
		case "space":
			msg = tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
		case "down":
			msg = tea.KeyPressMsg{Code: tea.KeyDown}
		case "up":
			msg = tea.KeyPressMsg{Code: tea.KeyUp}
		case "right":
			msg = tea.KeyPressMsg{Code: tea.KeyRight}
		case "ctrl+s":
			msg = tea.KeyPressMsg{Code: 's', Mod: tea.ModCtrl}
		default:
			r := []rune(k)[0]
			msg = tea.KeyPressMsg{Code: r, Text: k}
		}
		a.Update(msg)
	}
}

func TestGoldenFake(t *testing.T) {
	f := newFake()
	p := &exchange.Principal{Account: f.accounts[0], Org: f.orgs[0]}
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		a := New(context.Background(), f, p, Options{HubName: "knooppunt-test", Host: "hub.example", Port: 2222})
		a.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		sz := filepath.Base(string(rune('0' + size[0]/40))) // placeholder
		_ = sz
		steps := []struct {
			name string
			keys []string
		}{
			{"aanleveren", nil},
			{"verslag", []string{"down", "down", "enter"}},
			{"berichtenlog", []string{"esc", "tab"}},
			{"bericht", []string{"down", "down", "enter"}},
			{"ophalen", []string{"esc", "tab", "space", "space"}},
			{"routeren", []string{"tab", "enter"}},
			{"gebruikers", []string{"esc", "tab"}},
			{"help", []string{"?"}},
		}
		for _, s := range steps {
			press(a, s.keys...)
			golden(t, fmt.Sprintf("fake_%s_%dx%d", s.name, size[0], size[1]), ascii(t, a))
		}
	}
}
