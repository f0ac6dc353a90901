package exchange

import (
	"fmt"

	"knooppunt/exchange/codes"
	"knooppunt/exchange/stuf"
)

// The payload check: an iWmo/iJw 3.x message carries its own header (BerichtCode, Afzender,
// Ontvanger), and the recipient's software believes it. The hub routes on the envelope, so a
// payload whose header disagrees with the envelope would be delivered to one organisation
// as coming from another (issue 16: Ameland delivered a WMO301 whose header said Afzender
// 9999). The check reads only the header, from the start of the decoded payload that the
// envelope parser keeps while it streams the base64 by (stuf.Parser.BerichtHeader); the payload
// is never decoded whole. Config.SkipPayloadCheck (serve --payload-check=false) turns it off.

// payloadHeader is the outcome of reading a payload's header, kept beside the envelope until
// the business rules have run.
type payloadHeader struct {
	h       stuf.BerichtHeader
	problem string
}

// readPayloadHeader reads the header from what ep kept of the payload it parsed last; nil
// when the payload is not an iWmo/iJw 3.x message.
func readPayloadHeader(ep *stuf.Parser) *payloadHeader {
	h, ok, problem := ep.BerichtHeader()
	if !ok {
		return nil
	}
	return &payloadHeader{h: h, problem: problem}
}

// payloadRule checks an iWmo/iJw payload's header against the envelope: the BerichtCode of
// the functie, and the organisations. A heen message's header names its own afzender and
// ontvanger; a retour message keeps the header of the message it answers (see the 3.2
// examples: JW302's Afzender is the gemeente), so there Afzender is the envelope's ontvanger
// and Ontvanger its zender. An organisation in the header agrees with one in the envelope
// when it is the same, or when one acts for the other (samenwerking, sameParty).
func (c *checker) payloadRule(ph *payloadHeader, env stuf.Envelope) *codes.Rejection {
	fail := func(format string, args ...any) *codes.Rejection {
		return &codes.Rejection{Code: codes.IB001, Detail: "payload-header: " + fmt.Sprintf(format, args...)}
	}
	if ph.problem != "" {
		return fail("%s", ph.problem)
	}
	f, ok := c.h.cat.Functie(c.u.Product, env.Functie)
	if !ok || f.BerichtCode == 0 {
		return nil
	}
	h := ph.h
	for _, fv := range [...][2]string{{"BerichtCode", h.BerichtCode}, {"Afzender", h.Afzender}, {"Ontvanger", h.Ontvanger}} {
		if fv[1] == "" {
			return fail("%s is leeg in de Header; vul de waarde in die bij de envelop hoort", fv[0])
		}
	}
	if h.BerichtCode != fmt.Sprint(f.BerichtCode) {
		return fail("BerichtCode is %s, maar functie %s in de envelop heeft BerichtCode %d", stuf.Clip(h.BerichtCode, 20), f.Code, f.BerichtCode)
	}
	afz, afzRole, ont, ontRole, why := env.ZenderOrg, "zender", env.OntvangerOrg, "ontvanger", ""
	if f.Direction == Retour {
		afz, afzRole, ont, ontRole = env.OntvangerOrg, "ontvanger", env.ZenderOrg, "zender"
		why = fmt.Sprintf(" (de Header van retourbericht %s is die van het heenbericht %s)", f.Code, f.Answers)
	}
	if !c.sameParty(h.Afzender, afz) {
		return fail("Afzender is %s, maar de %s in de envelop is %s%s", stuf.Clip(h.Afzender, 20), afzRole, afz, why)
	}
	if !c.sameParty(h.Ontvanger, ont) {
		return fail("Ontvanger is %s, maar de %s in de envelop is %s%s", stuf.Clip(h.Ontvanger, 20), ontRole, ont, why)
	}
	return nil
}

// sameParty: the organisation in the header is the one in the envelope, or one of them acts
// for the other in a samenwerking (the envelope names the organisation that runs the product
// and the header the one it acts for, or the other way round). Two organisations that merely
// share a partner are not the same party.
func (c *checker) sameParty(header, envelope string) bool {
	return header == envelope || (header != "" && (c.actor(header) == envelope || c.actor(envelope) == header))
}
