package exchange

import (
	"knooppunt/exchange/ebms"
)

// signerFor is the hub's signer when the CPA (nil: any) has the hub sign its messages, or
// nil: unsigned. Without a key the hub cannot sign at all.
func (h *Hub) signerFor(pc *ebms.CPA) *ebms.Signer {
	dk := h.cfg.Digikoppeling
	if dk == nil || dk.Key == nil || dk.Cert == nil {
		return nil
	}
	if pc != nil {
		hub := pc.PartyByOIN(h.cfg.OIN)
		signs := false
		if hub != nil {
			for _, ch := range hub.Channels {
				signs = signs || ch.NonRepudiation != nil
			}
		}
		if !signs {
			return nil
		}
	}
	return &ebms.Signer{Key: dk.Key, Cert: dk.Cert}
}

// verifySignature checks an incoming signature against the sender's signing certificates in
// the CPA.
func (h *Hub) verifySignature(m *ebms.Message, pc *ebms.CPA) error {
	from := pc.PartyByOIN(m.Header.From.OIN())
	if from == nil {
		return &ebms.Error{Code: ebms.CodeSecurityFailure, Severity: ebms.SeverityError, Description: "de afzender staat niet in de CPA"}
	}
	certs := from.SigningCertificates()
	if len(certs) == 0 {
		return &ebms.Error{Code: ebms.CodeSecurityFailure, Severity: ebms.SeverityError, Description: "de CPA noemt geen certificaat om de handtekening van de afzender mee te controleren"}
	}
	return m.Verify(certs...)
}

// buildFo01 is the StUF Fo01 that answers a rejected upload.
func (h *Hub) buildFo01(u *Upload, in *EbMSIn, fouten []Fout) ([]byte, error) {
	f := fouten[0]
	zender := ebms.StUFParty{Organisatie: in.Zender, Applicatie: in.ZenderApp}
	if zender.Organisatie == "" {
		zender.Organisatie = u.Org
	}
	if zender.Applicatie == "" {
		zender.Applicatie = "onbekend"
	}
	fo := ebms.NewFo01(zender, ebms.StUFParty{Organisatie: "knooppunt", Applicatie: "GGk"}, in.Referentie,
		string(f.Code), f.Omschrijving, f.Detail, h.clock.Now())
	// Every fout of the message: the first in the body, the rest in its detailsXML.
	for _, g := range fouten[1:] {
		fo.More = append(fo.More, ebms.FoutDetail{Code: string(g.Code), Omschrijving: g.Omschrijving, Details: g.Detail})
	}
	return ebms.BuildFo01(fo), nil
}
