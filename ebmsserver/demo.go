package ebmsserver

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"knooppunt/exchange"
	"knooppunt/exchange/ebms"
	"knooppunt/exchange/stuf"
	"knooppunt/storage"
)

// Demo is what SetupDemo made.
type Demo struct {
	Curl        string // sends ExampleFile to the endpoint as gemeente 9999
	ExampleFile string
}

// SetupDemo gives every demo organisation with an OIN a client certificate (DIR/demo/pki/<code>.pem)
// and a CPA with the hub (synchronous Acknowledgments, reliable messaging, unsigned, so that
// curl can play the partner), and writes an example message from gemeente 9999 to zorgaanbieder
// 12345678 with the curl command that posts it. addr is the endpoint's address.
func SetupDemo(hub *exchange.Hub, pki *TestPKI, demoDir, addr string) (Demo, error) {
	hubCert, err := readCert(filepath.Join(pki.Dir, "knooppunt.pem"))
	if err != nil {
		return Demo{}, err
	}
	orgs, err := hub.Orgs()
	if err != nil {
		return Demo{}, err
	}
	var d Demo
	for _, o := range orgs {
		if o.OIN == "" {
			continue
		}
		name := strings.ToLower(o.Code)
		certFile, keyFile, err := pki.Issue(name, o.Name, o.OIN, "localhost")
		if err != nil {
			return Demo{}, err
		}
		cert, err := readCert(certFile)
		if err != nil {
			return Demo{}, err
		}
		doc, err := ebms.NewCPA(ebms.CPASpec{
			Hub:           ebms.PartySpec{OIN: hub.OIN(), Name: "knooppunt", Endpoint: "https://" + addr + Path, Cert: hubCert},
			Partner:       ebms.PartySpec{OIN: o.OIN, Name: o.Name, Endpoint: "https://localhost:9443/ebms", Cert: cert},
			SyncReplyMode: "mshSignalsOnly",
			Start:         time.Now().Add(-time.Hour).Truncate(time.Second),
		})
		if err != nil {
			return Demo{}, err
		}
		pc, err := ebms.ParseCPA(doc)
		if err != nil {
			return Demo{}, err
		}
		if existing, err := hub.CPAs(exchange.System, o.Code); err != nil || len(existing) == 0 {
			if err := storage.WriteFile(filepath.Join(pki.Dir, "cpa-"+name+".xml"), doc, 0o644); err != nil {
				return Demo{}, err
			}
			if _, err := hub.ImportCPA(exchange.System, doc); err != nil {
				return Demo{}, fmt.Errorf("CPA voor %s: %w", o.Code, err)
			}
		}
		if o.Code != "9999" {
			continue
		}
		env := stuf.Build(stuf.Envelope{Functie: "WMO301", ZenderOrg: "9999", OntvangerOrg: "12345678"}, []byte("<bericht>demo</bericht>"))
		b, err := pc.Binding(ebms.PartyID{Type: ebms.PartyTypeOIN, Value: o.OIN}, "", ebms.Service{Value: ebms.GGKService}, ebms.ActionDi01)
		if err != nil {
			return Demo{}, err
		}
		out, err := ebms.BuildUserMessage(b.UserMessage(ebms.NewMessageID("gemeente9999"), ebms.Part{ContentType: "application/xml", Data: env}, time.Now()), nil)
		if err != nil {
			return Demo{}, err
		}
		d.ExampleFile = filepath.Join(demoDir, "ebms-voorbeeld-9999.mime")
		if err := storage.WriteFile(d.ExampleFile, out.Body, 0o644); err != nil {
			return Demo{}, err
		}
		d.Curl = fmt.Sprintf("curl --cert %s --key %s --cacert %s -H 'Content-Type: %s' -H 'SOAPAction: \"ebXML\"' --data-binary @%s https://%s%s",
			certFile, keyFile, pki.CAFile, out.ContentType, d.ExampleFile, addr, Path)
	}
	return d, nil
}

func readCert(file string) (*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return parseCertPEM(b)
}
