package sshserver

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkg/sftp"

	"knooppunt/exchange"
)

// fuzzPrincipal is an account of organisation 0060 with the products whose bit is set in
// mask.
func fuzzPrincipal(mask byte) *exchange.Principal {
	p := &exchange.Principal{Org: exchange.Org{Code: "0060", Name: "Ameland"}}
	p.Account = exchange.Account{Name: "fuzz", Org: "0060"}
	for i, pr := range exchange.Products {
		if mask&(1<<i) != 0 {
			p.Account.Products = append(p.Account.Products, pr)
		}
	}
	return p
}

// FuzzResolve checks the SFTP path resolver: whatever a client sends, a path either lands
// inside the account's own tree (a product it has, one of its folders, one plain name) or
// is refused with permission denied. It never panics.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"/", "", ".", "..", "/..", "/../..", "iwmo", "/iwmo/aanleveren/x.zip", "/iwmo/ophalen/nieuw/a.zip",
		"/iwmo/../ijw/ophalen", "/iwmo/aanleveren/../../etc/passwd", "//iwmo//verslagen//", "/iwmo/aanleveren/a/b",
		"/iwmo/aanleveren/..\\..\\x", "/ieb/ophalen/x", "/iwmo/aanleveren/\x00x.zip", "/iwmo/aanleveren/\xff\xfe",
		"/iwmo/ophalen/nieuw/nieuw/x", "/IWMO/aanleveren/x", "/iwmo/aanleveren/ x.zip\r\n", "~/iwmo", "/iwmo/./aanleveren/./x.xml",
	} {
		f.Add(s, byte(0b11))
	}
	f.Fuzz(func(t *testing.T, p string, mask byte) {
		pr := fuzzPrincipal(mask)
		m := &mailbox{p: pr, products: func() ([]exchange.Product, error) { return pr.Account.Products, nil }}
		l, err := m.resolve(p)
		if err != nil {
			if !errors.Is(err, sftp.ErrSSHFxPermissionDenied) {
				t.Fatalf("resolve(%q): %v, want permission denied", p, err)
			}
			return
		}
		clean := path.Clean("/" + p)
		if l.path != clean {
			t.Fatalf("resolve(%q).path = %q, want %q", p, l.path, clean)
		}
		if slices.Contains(strings.Split(l.path, "/"), "..") {
			t.Fatalf("resolve(%q) kept a .. element: %q", p, l.path)
		}
		if l.kind == locRoot {
			if l.path != "/" {
				t.Fatalf("resolve(%q): root with path %q", p, l.path)
			}
			return
		}
		if !pr.CanUse(l.product) {
			t.Fatalf("resolve(%q) = product %q, which the account (mask %b) lacks", p, l.product, mask)
		}
		want := "/" + string(l.product)
		switch l.kind {
		case locProduct:
		case locFolder, locFile:
			folder := l.folder
			if folder == folderNieuw {
				folder = folderOphalen + "/" + folderNieuw
			} else if !slices.Contains(productFolders, folder) {
				t.Fatalf("resolve(%q): folder %q", p, l.folder)
			}
			want += "/" + folder
			if l.kind == locFile {
				if l.name == "" || l.name == "." || l.name == ".." || strings.Contains(l.name, "/") {
					t.Fatalf("resolve(%q): file name %q", p, l.name)
				}
				want += "/" + l.name
			}
		default:
			t.Fatalf("resolve(%q): kind %d", p, l.kind)
		}
		if l.path != want {
			t.Fatalf("resolve(%q) = %+v: path is not product/folder/name (%q)", p, l, want)
		}
	})
}

// FuzzCommand checks the command parser and the commands behind it, run by an ordinary
// gebruiker against a real hub: no panic, an exit code of 0-3, and a wrong command line
// always exits 2 with a usage line.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"help", "help --json", "whoami", "whoami --json", "org list", "org add 1234 Nieuw", "account add x --key ssh-ed25519 AAAA c --product iwmo",
		"aanleveringen --product iwmo --aantal 5", "aanleveringen --aantal -1", "aanleveringen --status Bezig --product=ijw",
		"verslag 1", "verslag x.zip --product iwmo", "ophalen --nieuw", "ophalen --nieuw=ja", "gelezen iwmo/x.zip",
		"verwijder a b c", "berichtenlog --van 2024-01-01 --tot 1969-12-31", "berichtenlog --van 99999-01-01", "herstel REF",
		"routes --product iwmo", "route zet WMO301 --via", "--json", "--", "-h", "org", "key add", "product grant x iwmo",
		"gebruiker add x --key", "audit verify", "audit export --van 18446744073709551615", "versie --json", "hostkeys --x",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	hub, err := exchange.Open(exchange.Config{DataDir: dir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { hub.Close() })
	if _, err := hub.SeedDemo(filepath.Join(dir, "demo")); err != nil {
		f.Fatal(err)
	}
	a, err := hub.Account("ameland")
	if err != nil {
		f.Fatal(err)
	}
	org, err := hub.Org(a.Org)
	if err != nil {
		f.Fatal(err)
	}
	p := &exchange.Principal{Account: a, Org: org, Remote: "fuzz"}
	f.Fuzz(func(t *testing.T, line string) {
		argv := strings.Split(line, " ")
		if line == "" {
			argv = nil
		}
		var out bytes.Buffer
		c := &cmdCtx{hub: hub, p: p, out: &out, errOut: io.Discard}
		code, err := dispatch(c, argv)
		if code < exitOK || code > exitDenied {
			t.Fatalf("%q: exit code %d", line, code)
		}
		if (code == exitOK) != (err == nil) {
			t.Fatalf("%q: exit code %d with error %v", line, code, err)
		}
		cmd, rest := findCommand(argv)
		if cmd == nil {
			if len(argv) > 0 && !slices.Contains([]string{"help", "--help", "-h"}, argv[0]) && code != exitUsage {
				t.Fatalf("%q: unknown command gave exit %d (%v), want %d", line, code, err, exitUsage)
			}
			return
		}
		if slices.Contains(rest, "--help") || slices.Contains(rest, "-h") {
			return
		}
		if _, perr := parse(cmd, rest); perr != nil {
			var ue usageError
			if !errors.As(perr, &ue) {
				t.Fatalf("%q: parse error %v is no usage error", line, perr)
			}
			if code != exitUsage || !strings.Contains(err.Error(), "gebruik: ") {
				t.Fatalf("%q: wrong command line gave exit %d (%v), want %d with a usage line", line, code, err, exitUsage)
			}
		}
	})
}
