package exchange

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/crypto/ssh"

	"knooppunt/storage"
)

// DemoAccount is one account SeedDemo made or found, with the private key to log in with.
type DemoAccount struct {
	Name     string
	Org      string // "" for the beheerder, who belongs to no organisation
	KeyFile  string // "" when the account existed but its key file in dir is missing or another key
	Products []Product
}

type demoSpec struct {
	name     string
	org      string
	products []Product
	roles    []Role
}

// demoOrgs: code, name and a test OIN (the 00000099 prefix is not handed out by Logius).
var demoOrgs = [][3]string{
	{"9999", "Test Gemeente 1", "00000099000000009999"},
	{"0060", "Ameland", "00000099000000000060"},
	{"12345678", "Zorgaanbieder Test", "00000099000012345678"},
	{"CAK", "CAK", "00000099000000000001"},
	{"SVB", "SVB", "00000099000000000002"},
}

// DemoHubOIN is the hub's OIN in the demo.
const DemoHubOIN = "00000099000000000000"

func demoAccounts() []demoSpec {
	return []demoSpec{
		{"gemeente", "9999", []Product{IWmo, IJw, IEb, PGBWmo, PGBJw}, []Role{Gebruiker, Gebruikersbeheerder, Productbeheerder}},
		{"ameland", "0060", []Product{IWmo, IJw}, nil},
		{"aanbieder", "12345678", []Product{IWmo, IJw}, nil},
		{"cak", "CAK", []Product{IEb}, nil},
		{"svb", "SVB", []Product{PGBWmo, PGBJw}, nil},
		// The hub's own beheerder runs no mailbox, so it belongs to no organisation.
		{AdminAccount, "", nil, []Role{Beheerder}},
	}
}

// SeedDemo fills the store with the demo organisations and accounts and writes each new
// account's private key to dir/<account> (OpenSSH format, 0600) with dir/<account>.pub. It
// is idempotent: existing organisations and accounts are left as they are and existing key
// files are reused.
func (h *Hub) SeedDemo(dir string) ([]DemoAccount, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("demomap %s aanmaken: %w", dir, err)
	}
	for _, o := range demoOrgs {
		if _, err := h.CreateOrgOIN(System, o[0], o[1], o[2]); err != nil && !errors.Is(err, ErrExists) {
			return nil, fmt.Errorf("demo-organisatie %s: %w", o[0], err)
		}
		if cur, err := h.Org(o[0]); err == nil && cur.OIN == "" {
			if err := h.SetOIN(System, o[0], o[2]); err != nil {
				return nil, fmt.Errorf("OIN van demo-organisatie %s: %w", o[0], err)
			}
		}
	}
	var out []DemoAccount
	for _, spec := range demoAccounts() {
		keyFile := filepath.Join(dir, spec.name)
		a, err := h.Account(spec.name)
		switch {
		case errors.Is(err, ErrNotFound):
			pub, err := demoKey(keyFile, spec.name)
			if err != nil {
				return nil, err
			}
			a = Account{Name: spec.name, Org: spec.org, Keys: []string{pub}, Products: spec.products, Roles: spec.roles}
			if err := h.CreateAccount(System, a); err != nil {
				return nil, fmt.Errorf("demo-account %s: %w", spec.name, err)
			}
		case err != nil:
			return nil, err
		default:
			if !demoKeyOn(keyFile, a) {
				keyFile = ""
			}
		}
		out = append(out, DemoAccount{Name: a.Name, Org: a.Org, KeyFile: keyFile, Products: normProducts(a.Products)})
	}
	return out, nil
}

// demoKey returns the authorized_keys line of the key in path, generating the key first when
// the file does not exist.
func demoKey(path, account string) (string, error) {
	if signer, err := readDemoKey(path); err == nil {
		return authorizedLine(signer.PublicKey(), account), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("demosleutel maken: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, account+"@knooppunt-demo")
	if err != nil {
		return "", fmt.Errorf("demosleutel opslaan: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("demosleutel opslaan: %w", err)
	}
	line := authorizedLine(sshPub, account)
	if err := storage.WriteFile(path+".pub", []byte(line+"\n"), 0o644); err != nil {
		return "", err
	}
	// The private half last: its presence is what marks the pair as complete.
	if err := storage.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", err
	}
	return line, nil
}

func authorizedLine(pk ssh.PublicKey, account string) string {
	return string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(pk))) + " " + account + "@knooppunt-demo"
}

func readDemoKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("demosleutel %s is onleesbaar; verwijder het bestand en het account of kies een andere map: %w", path, err)
	}
	return signer, nil
}

// demoKeyOn tells whether the key in path logs in to a.
func demoKeyOn(path string, a Account) bool {
	signer, err := readDemoKey(path)
	if err != nil {
		return false
	}
	want := signer.PublicKey().Marshal()
	return slices.ContainsFunc(a.Keys, func(line string) bool {
		pk, _, err := parseKey(line)
		return err == nil && bytes.Equal(pk.Marshal(), want)
	})
}
