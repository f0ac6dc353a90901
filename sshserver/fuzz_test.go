package sshserver

import (
	"errors"
	"path"
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
