package sshserver

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"knooppunt/exchange"
)

// commands is every command the one parser knows, in the order 'help' shows them.
var commands = slices.Concat(mailboxCommands, withGebruiker(adminCommands), manageCommands, serverCommands, digikoppelingCommands, auditCommands, backupCommands, nodesCommands)

// gebruikerWords gives the admin table's account, key and product commands their Dutch
// names: the gebruiker family of the gebruikersbeheerder. Both names run the same entry.
var gebruikerWords = map[string][]string{
	"account list":    {"gebruiker", "list"},
	"account add":     {"gebruiker", "add"},
	"account disable": {"gebruiker", "disable"},
	"account enable":  {"gebruiker", "enable"},
	"key add":         {"gebruiker", "key", "add"},
	"key remove":      {"gebruiker", "key", "remove"},
	"product grant":   {"gebruiker", "grant"},
	"product revoke":  {"gebruiker", "revoke"},
}

// withGebruiker returns the table with each command of gebruikerWords under its Dutch name,
// followed by the old names, which keep working but stay out of 'help'.
func withGebruiker(table []command) []command {
	var out, old []command
	for _, c := range table {
		words, ok := gebruikerWords[c.name()]
		if !ok {
			out = append(out, c)
			continue
		}
		dutch := c
		dutch.words = words
		out = append(out, dutch)
		c.alias = true
		old = append(old, c)
	}
	return append(out, old...)
}

var serverCommands = []command{
	{
		words: []string{"org", "samenwerking"}, args: "ORGANISATIE PRODUCT [UITVOERDER]", minArgs: 2, maxArgs: 3,
		help: "laat UITVOERDER het product voor ORGANISATIE versturen en ontvangen; zonder UITVOERDER eindigt de samenwerking (beheerder)",
		run:  runSamenwerking,
	},
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

type samenwerkingJSON struct {
	Organisatie    string `json:"organisatie"`
	Product        string `json:"product"`
	UitgevoerdDoor string `json:"uitgevoerd_door"`
}

func runSamenwerking(c *cmdCtx, in *input) error {
	p, err := c.product(in.args[1])
	if err != nil {
		return err
	}
	org, actor := in.args[0], ""
	if len(in.args) == 3 {
		actor = in.args[2]
	}
	if err := c.hub.SetSamenwerking(c.p, org, p, actor); err != nil {
		return err
	}
	v := samenwerkingJSON{org, string(p), c.hub.ActorFor(org, p)}
	return c.emit(v, func(w io.Writer) {
		if actor == "" {
			fmt.Fprintf(w, "%s voert %s weer zelf uit\n", org, p)
			return
		}
		fmt.Fprintf(w, "%s voert %s nu uit voor %s\n", actor, p, org)
	})
}

type hostkeyJSON struct {
	Type         string `json:"type"`
	Bits         int    `json:"bits"`
	Vingerafdruk string `json:"vingerafdruk"`
	Sleutel      string `json:"sleutel"` // the public key as in known_hosts, without the host
}

func runHostkeys(c *cmdCtx, _ *input) error {
	out := []hostkeyJSON{}
	for _, k := range c.hostKeys {
		pk := k.PublicKey()
		bits := 256
		if ck, ok := pk.(gossh.CryptoPublicKey); ok {
			if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok {
				bits = rk.N.BitLen()
			}
		}
		typ := strings.ToUpper(strings.TrimPrefix(pk.Type(), "ssh-"))
		out = append(out, hostkeyJSON{Type: typ, Bits: bits, Vingerafdruk: gossh.FingerprintSHA256(pk),
			Sleutel: strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pk)))})
	}
	return c.emit(out, func(w io.Writer) {
		// The same lines as 'ssh-keyscan HOST | ssh-keygen -lf -' and 'knooppunt hostkeys'.
		for _, k := range out {
			fmt.Fprintf(w, "%d %s knooppunt (%s)\n", k.Bits, k.Vingerafdruk, k.Type)
		}
	})
}

type versieJSON struct {
	Versie    string `json:"versie"`
	Revisie   string `json:"revisie"`                // the commit, or "onbekend"
	Tijd      string `json:"revisie_tijd,omitempty"` // RFC 3339
	Gewijzigd bool   `json:"gewijzigd,omitempty"`    // built from a tree with uncommitted changes
	Go        string `json:"go"`
}

// versionOf reads the version from the binary's build information: the commit is stamped by
// 'go build' in a git checkout (vcs.revision); a binary built otherwise says "onbekend".
func versionOf(bi *debug.BuildInfo, ok bool) versieJSON {
	v := versieJSON{Versie: "onbekend", Revisie: "onbekend"}
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

func (v versieJSON) text() string {
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

type helpJSON struct {
	Opdracht string `json:"opdracht"`
	Gebruik  string `json:"gebruik"`
	Uitleg   string `json:"uitleg"`
}

// printHelpJSON lists the commands for a script: 'help --json'.
func printHelpJSON(w io.Writer, cc *cmdCtx) error {
	out := []helpJSON{}
	for _, c := range commands {
		if !c.alias && mayUse(&c, cc) {
			out = append(out, helpJSON{c.name(), c.usage(), c.help})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// accountJSON is an account as 'gebruiker list --json' shows it; the keys by fingerprint.
type accountJSON struct {
	Naam        string    `json:"naam"`
	Organisatie string    `json:"organisatie"`
	Producten   []string  `json:"producten"`
	Rollen      []string  `json:"rollen"`
	Geblokkeerd bool      `json:"geblokkeerd"`
	Sleutels    []keyJSON `json:"sleutels"`
}

type keyJSON struct {
	Type         string `json:"type"`
	Vingerafdruk string `json:"vingerafdruk"`
	Commentaar   string `json:"commentaar"`
}

func accountOf(a exchange.Account) accountJSON {
	v := accountJSON{Naam: a.Name, Organisatie: a.Org, Producten: []string{}, Rollen: []string{}, Geblokkeerd: a.Disabled, Sleutels: []keyJSON{}}
	for _, p := range a.Products {
		v.Producten = append(v.Producten, string(p))
	}
	for _, r := range a.Roles {
		v.Rollen = append(v.Rollen, string(r))
	}
	for _, k := range a.Keys {
		pk, comment, _, _, err := gossh.ParseAuthorizedKey([]byte(k))
		if err == nil {
			v.Sleutels = append(v.Sleutels, keyJSON{pk.Type(), gossh.FingerprintSHA256(pk), comment})
		}
	}
	return v
}

type orgJSON struct {
	Code         string            `json:"code"`
	Naam         string            `json:"naam"`
	Soort        string            `json:"soort"`
	Samenwerking map[string]string `json:"samenwerking"` // product -> the organisation that runs it for this one
	// VoertUitVoor: product -> the organisations this one runs it for (the other side).
	VoertUitVoor map[string][]string `json:"voert_uit_voor"`
	OIN          string              `json:"oin"`
}

func orgOf(o exchange.Org, all []exchange.Org) orgJSON {
	v := orgJSON{Code: o.Code, Naam: o.Name, Soort: string(o.Kind), Samenwerking: map[string]string{}, VoertUitVoor: map[string][]string{}, OIN: o.OIN}
	for p, actor := range o.Samenwerking {
		v.Samenwerking[string(p)] = actor
	}
	for _, other := range all {
		for p, actor := range other.Samenwerking {
			if actor == o.Code && other.Code != o.Code {
				v.VoertUitVoor[string(p)] = append(v.VoertUitVoor[string(p)], other.Code)
			}
		}
	}
	return v
}

// samenwerkingText is an organisation's samenwerkingen in one cell: "iwmo door 9999" for
// what another runs for it, "iwmo voor 0060" for what it runs for another.
func samenwerkingText(v orgJSON) string {
	var parts []string
	for _, p := range exchange.Products {
		if a := v.Samenwerking[string(p)]; a != "" {
			parts = append(parts, string(p)+" door "+a)
		}
		if fs := v.VoertUitVoor[string(p)]; len(fs) > 0 {
			parts = append(parts, string(p)+" voor "+strings.Join(fs, ", "))
		}
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, "; ")
}
