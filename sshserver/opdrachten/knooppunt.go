package opdrachten

import (
	"crypto/rsa"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// knooppuntCommands tell about the hub itself: its host keys and its version.
var knooppuntCommands = []command{
	{
		words: []string{"hostkeys"}, maxArgs: 0,
		help: "toont de hostsleutels van deze server met hun vingerafdrukken (vergelijk met ssh-keyscan)",
		run:  runHostkeys,
	},
	{
		words: []string{"versie"}, maxArgs: 0,
		help: "toont de versie van knooppunt",
		run:  runVersie,
	},
}

type HostkeyJSON struct {
	Type         string `json:"type"`
	Bits         int    `json:"bits"`
	Vingerafdruk string `json:"vingerafdruk"`
	Sleutel      string `json:"sleutel"` // the public key as in known_hosts, without the host
}

func runHostkeys(c *cmdCtx, _ *input) error {
	out := []HostkeyJSON{}
	for _, k := range c.hostKeys {
		pk := k.PublicKey()
		bits := 256
		if ck, ok := pk.(gossh.CryptoPublicKey); ok {
			if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok {
				bits = rk.N.BitLen()
			}
		}
		typ := strings.ToUpper(strings.TrimPrefix(pk.Type(), "ssh-"))
		out = append(out, HostkeyJSON{Type: typ, Bits: bits, Vingerafdruk: gossh.FingerprintSHA256(pk),
			Sleutel: strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pk)))})
	}
	return c.emit(out, func(w io.Writer) {
		// The same lines as 'ssh-keyscan HOST | ssh-keygen -lf -' and 'knooppunt hostkeys'.
		for _, k := range out {
			fmt.Fprintf(w, "%d %s knooppunt (%s)\n", k.Bits, k.Vingerafdruk, k.Type)
		}
	})
}

type VersieJSON struct {
	Versie    string `json:"versie"`
	Revisie   string `json:"revisie"`                // the commit, or "onbekend"
	Tijd      string `json:"revisie_tijd,omitempty"` // RFC 3339
	Gewijzigd bool   `json:"gewijzigd,omitempty"`    // built from a tree with uncommitted changes
	Go        string `json:"go"`
}

// versionOf reads the version from the binary's build information: the commit is stamped by
// 'go build' in a git checkout (vcs.revision); a binary built otherwise says "onbekend".
func versionOf(bi *debug.BuildInfo, ok bool) VersieJSON {
	v := VersieJSON{Versie: "onbekend", Revisie: "onbekend"}
	if !ok {
		return v
	}
	v.Go = bi.GoVersion
	if bi.Main.Version != "" {
		v.Versie = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if s.Value != "" {
				v.Revisie = s.Value
			}
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				v.Tijd = exchange.RFC3339(t)
			}
		case "vcs.modified":
			v.Gewijzigd = s.Value == "true"
		}
	}
	return v
}

func runVersie(c *cmdCtx, _ *input) error {
	v := versionOf(debug.ReadBuildInfo())
	return c.emit(v, func(w io.Writer) { fmt.Fprint(w, v.text()) })
}

// Version is the line 'versie' shows, for the program's own 'knooppunt versie'.
func Version() string { return versionOf(debug.ReadBuildInfo()).text() }

func (v VersieJSON) text() string {
	var w strings.Builder
	fmt.Fprintf(&w, "knooppunt %s, revisie %s", v.Versie, v.Revisie)
	if v.Tijd != "" {
		fmt.Fprintf(&w, " van %s", v.Tijd)
	}
	if v.Gewijzigd {
		fmt.Fprint(&w, " (met niet vastgelegde wijzigingen)")
	}
	if v.Go != "" {
		fmt.Fprintf(&w, ", %s", v.Go)
	}
	fmt.Fprintln(&w)
	return w.String()
}
