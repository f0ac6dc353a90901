package exchange

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"knooppunt/exchange/ebms"
	"knooppunt/storage"
)

// DigikoppelingConfig is the hub's side of Digikoppeling: how it posts to partners and what it
// signs with.
type DigikoppelingConfig struct {
	// Post sends one ebMS message to the endpoint of the CPA over two-sided TLS.
	Post func(ctx context.Context, c CPA, contentType string, body []byte) (PostResult, error)
	// Key and Cert sign outgoing messages and Acknowledgments where a CPA asks for it.
	Key  crypto.Signer
	Cert *x509.Certificate
	// Host ends every MessageId the hub makes: uuid@Host.
	Host string
}

// sendPoll is how often the send loop looks at the queue when nothing kicks it.
const sendPoll = 250 * time.Millisecond

// EbMSIn is what the hub keeps of the ebMS message an upload came in.
type EbMSIn struct {
	MessageID      string `json:"message_id"`
	ConversationID string `json:"conversation_id"`
	CPA            string `json:"cpa"`
	OIN            string `json:"oin"`
	Action         string `json:"action"`
	Referentie     string `json:"referentienummer,omitempty"`
	Functie        string `json:"functie,omitempty"`
	Zender         string `json:"zender,omitempty"`
	ZenderApp      string `json:"zender_applicatie,omitempty"`
	// Bestand is the message's file in the ZIP of a batched aanlevering (Upload.EbMSBatch).
	Bestand string `json:"bestand,omitempty"`
}

// received is a user message the hub took in: enough to answer a duplicate with the same
// Acknowledgment and a StatusRequest with its status.
type received struct {
	Upload      uint64    `json:"aanlevering"`
	At          time.Time `json:"ontvangen_op"`
	Until       time.Time `json:"bewaren_tot"`
	AckType     string    `json:"ack_content_type,omitempty"`
	Ack         []byte    `json:"ack,omitempty"`
	AckSyncSent bool      `json:"ack_sync"`
}

// EbMSRequest is one POST to the Digikoppeling endpoint: the OIN of the client certificate
// (verified by the TLS layer), and the request.
type EbMSRequest struct {
	OIN         string
	Remote      string
	ContentType string
	SOAPAction  string
	Body        []byte
}

// EbMSAnswer is the HTTP answer to it.
type EbMSAnswer struct {
	Status      int
	ContentType string
	Body        []byte
}

func (h *Hub) dkHost() string {
	if dk := h.cfg.Digikoppeling; dk != nil && dk.Host != "" {
		return dk.Host
	}
	return "knooppunt"
}

func (h *Hub) newMessageID() string { return ebms.NewMessageID(h.dkHost()) }

// ReceiveEbMS handles one message posted to the endpoint. Transport problems are answered
// with an ebMS MessageError and change nothing; a user message is handed in as an upload of
// the sending organisation, and acknowledged only once that is durable.
func (h *Hub) ReceiveEbMS(ctx context.Context, req EbMSRequest) EbMSAnswer {
	audit := func(result string) { h.AuditAttempt("oin:"+req.OIN, req.Remote, "ebms: "+result) }
	if h.cfg.OIN == "" {
		audit("geweigerd: het knooppunt heeft geen OIN")
		return EbMSAnswer{Status: http.StatusServiceUnavailable}
	}
	m, err := ebms.ParseMessage(req.ContentType, req.Body)
	if err != nil {
		audit("onleesbaar: " + err.Error())
		return h.soapFault(err)
	}
	hd := &m.Header
	audit(fmt.Sprintf("%s %s van %s (%s)", hd.Action, hd.MessageID, hd.From.OIN(), hd.CPAID))
	refuse := func(code, location, format string, args ...any) EbMSAnswer {
		e := &ebms.Error{Code: code, Severity: ebms.SeverityError, Location: location, Description: fmt.Sprintf(format, args...)}
		audit("geweigerd: " + e.Error())
		return h.messageError(m, nil, e)
	}
	if hd.From.OIN() != req.OIN {
		return refuse(ebms.CodeSecurityFailure, "eb:MessageHeader/eb:From/eb:PartyId",
			"het OIN van het clientcertificaat (%s) is niet de afzender %s", req.OIN, hd.From.OIN())
	}
	if hd.To.OIN() != h.cfg.OIN {
		return refuse(ebms.CodeInconsistent, "eb:MessageHeader/eb:To/eb:PartyId", "ontvanger %s is niet dit knooppunt (OIN %s)", hd.To.OIN(), h.cfg.OIN)
	}
	var c CPA
	err = h.kv.View(func(t storage.Txn) error {
		var err error
		c, err = h.txCPACached(t, hd.CPAID)
		return err
	})
	if err != nil {
		return refuse(ebms.CodeInconsistent, "eb:MessageHeader/eb:CPAId", "CPA %q is niet bekend bij het knooppunt", hd.CPAID)
	}
	if c.OIN != req.OIN {
		return refuse(ebms.CodeInconsistent, "eb:MessageHeader/eb:CPAId", "CPA %s is niet met OIN %s", c.ID, req.OIN)
	}
	pc, err := h.parsedCPA(c)
	if err != nil {
		return refuse(ebms.CodeInconsistent, "eb:MessageHeader/eb:CPAId", "CPA %s is onleesbaar", c.ID)
	}
	now := h.clock.Now()
	b, err := ebms.Check(m, pc, now)
	if err != nil {
		return h.refuseWith(m, pc, audit, err)
	}
	if m.Signed || (b != nil && b.Signed()) {
		if err := h.verifySignature(m, pc); err != nil {
			return h.refuseWith(m, pc, audit, err)
		}
	}
	switch m.Kind() {
	case ebms.KindPing:
		return h.pong(m, pc)
	case ebms.KindStatusRequest:
		return h.statusResponse(m, pc, req.OIN)
	case ebms.KindAcknowledgment:
		if m.Acknowledgment != nil {
			if err := h.Acknowledged(req.OIN, m.Acknowledgment.RefToMessageID); err != nil {
				h.log.Warn("Acknowledgment niet te plaatsen", "ref", m.Acknowledgment.RefToMessageID, "err", err)
			}
		}
		return EbMSAnswer{Status: http.StatusNoContent}
	case ebms.KindMessageError:
		ref := hd.RefToMessageID
		reason := "MessageError van de partner"
		if m.ErrorList != nil && len(m.ErrorList.Errors) > 0 {
			reason += ": " + m.ErrorList.Errors[0].Error()
		}
		if id, err := h.sendByMessageID(req.OIN, ref); err == nil {
			h.endSend(id, SendMislukt, reason)
		}
		return EbMSAnswer{Status: http.StatusNoContent}
	case ebms.KindPong, ebms.KindStatusResponse:
		return EbMSAnswer{Status: http.StatusNoContent}
	}
	return h.receiveUserMessage(ctx, m, c, pc, b, req, audit)
}

func (h *Hub) refuseWith(m *ebms.Message, pc *ebms.CPA, audit func(string), err error) EbMSAnswer {
	var e *ebms.Error
	if !errors.As(err, &e) {
		e = &ebms.Error{Code: ebms.CodeUnknown, Severity: ebms.SeverityError, Description: err.Error()}
	}
	audit("geweigerd: " + e.Error())
	return h.messageError(m, pc, e)
}

// receiveUserMessage hands the payload in, or answers a duplicate with the stored
// Acknowledgment.
func (h *Hub) receiveUserMessage(ctx context.Context, m *ebms.Message, c CPA, pc *ebms.CPA, b *ebms.Binding, req EbMSRequest, audit func(string)) EbMSAnswer {
	hd := &m.Header
	sync := b.SyncReply()
	if prev, ok, err := h.receivedBefore(req.OIN, hd.MessageID); err != nil {
		return EbMSAnswer{Status: http.StatusServiceUnavailable}
	} else if ok {
		audit("dubbel bericht " + hd.MessageID + ": opgeslagen bevestiging opnieuw")
		if len(prev.Ack) > 0 {
			h.dkObs.EbMSAcknowledged()
		}
		if sync && len(prev.Ack) > 0 {
			return EbMSAnswer{Status: http.StatusOK, ContentType: prev.AckType, Body: prev.Ack}
		}
		if len(prev.Ack) > 0 {
			h.queueSignal(c, prev.AckType, prev.Ack, hd.MessageID)
		}
		return EbMSAnswer{Status: http.StatusNoContent}
	}
	part, err := m.Payload()
	if err != nil {
		return h.refuseWith(m, pc, audit, err)
	}
	org, err := h.Org(c.Org)
	if err != nil {
		return h.refuseWith(m, pc, audit, err)
	}
	product, env := h.peekEnvelope(part.Data, h.fallbackProduct(org))
	in := &EbMSIn{MessageID: hd.MessageID, ConversationID: hd.ConversationID, CPA: c.ID, OIN: req.OIN, Action: hd.Action,
		Referentie: env.Referentie, Functie: env.Functie, Zender: env.ZenderOrg, ZenderApp: env.ZenderApp}
	var ack *ebms.Outgoing
	if b.AckRequested() {
		if ack, err = h.acknowledgment(m, pc, b); err != nil {
			return h.refuseWith(m, pc, audit, err)
		}
	}
	now := h.clock.Now()
	rec := received{At: now, Until: now.Add(c.keepMessageIDs()), AckSyncSent: sync}
	if ack != nil {
		rec.AckType, rec.Ack = ack.ContentType, ack.Body
	}
	p := &Principal{Account: Account{Name: "digikoppeling"}, Org: org, Remote: req.Remote, partner: true}
	name := "ebms-" + fileNameOf(hd.MessageID) + ".xml"
	res := h.handInEbMS(&inItem{ctx: ctx, p: p, product: product, name: name, data: part.Data, oin: req.OIN, mid: hd.MessageID,
		in: in, rec: rec, c: c, ack: ack, sync: sync})
	dup, err := res.dup, res.err
	if dup {
		return h.receiveUserMessage(ctx, m, c, pc, b, req, audit)
	}
	if err != nil {
		h.log.Error("Digikoppeling-bericht niet aangenomen", "message_id", hd.MessageID, "err", err)
		if errors.Is(err, ErrBusy) || errors.Is(err, ErrNoSpace) {
			return EbMSAnswer{Status: http.StatusServiceUnavailable}
		}
		return h.refuseWith(m, pc, audit, &ebms.Error{Code: ebms.CodeDeliveryFailure, Severity: ebms.SeverityError, Description: err.Error()})
	}
	h.dkObs.EbMSReceived()
	if ack != nil {
		h.dkObs.EbMSAcknowledged()
	}
	if !sync {
		h.kickSender()
	}
	if sync && ack != nil {
		return EbMSAnswer{Status: http.StatusOK, ContentType: ack.ContentType, Body: ack.Body}
	}
	return EbMSAnswer{Status: http.StatusNoContent}
}

var errDuplicate = errors.New("dubbel bericht")

func (h *Hub) receivedBefore(oin, mid string) (received, bool, error) {
	var r received
	err := h.kv.View(func(t storage.Txn) error { return getJSON(t, key(kEbIn, oin, mid), &r) })
	if errors.Is(err, storage.ErrNotFound) {
		return r, false, nil
	}
	return r, err == nil, err
}

// fallbackProduct is the product an unreadable envelope is counted under: the first the
// organisation's kind exchanges.
func (h *Hub) fallbackProduct(o Org) Product {
	if ps := h.productsFor(o.Kind); len(ps) > 0 {
		return ps[0]
	}
	return IWmo
}

func fileNameOf(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func (h *Hub) sendByMessageID(oin, mid string) (uint64, error) {
	var id uint64
	err := h.kv.View(func(t storage.Txn) error {
		v, err := t.Get(key(kSendMID, mid))
		if err != nil {
			return err
		}
		id, err = idFromKey(v)
		if err != nil {
			return err
		}
		s, err := txSend(t, id)
		if err != nil {
			return err
		}
		c, err := h.txCPACached(t, s.CPA)
		if err != nil {
			return err
		}
		if c.OIN != oin {
			return fmt.Errorf("%w: het bericht met MessageId %s ging niet naar OIN %s, maar naar %s", ErrDenied, mid, oin, c.OIN)
		}
		return nil
	})
	return id, err
}

// queueSignal sends a prepared signal (an Acknowledgment) to the partner on its own.
func (h *Hub) queueSignal(c CPA, ct string, body []byte, ref string) {
	err := h.kv.Update(func(t storage.Txn) error { return h.putSignal(t, c, ct, body, ref) })
	if err != nil {
		h.log.Error("signaal in verzendwachtrij", "err", err)
		return
	}
	h.kickSender()
}

func (h *Hub) putSignal(t storage.Txn, c CPA, ct string, body []byte, ref string) error {
	sid, err := h.kv.Sequence("send")
	if err != nil {
		return err
	}
	now := h.clock.Now()
	s := Send{ID: sid, Kind: sendSignal, Org: c.Org, CPA: c.ID, Action: ebms.ActionAcknowledgment, MessageID: h.newMessageID(),
		RefTo: ref, Payload: body, ContentType: ct, State: SendWachtend, NextTry: now, Created: now}
	return putSend(t, nil, s)
}

// queueFo01 answers a rejected Digikoppeling upload with a StUF Fo01 to its sender, in the
// transaction that ends the upload: one Fo01 for the message of an .xml, one for each
// rejected message of a batched aanlevering (with that message's own crossRefnummer).
func (h *Hub) queueFo01(t storage.Txn, u *Upload) error {
	if u.Door != DoorDigikoppeling || u.Status != Afgekeurd {
		return nil
	}
	if u.EbMS != nil {
		if len(u.Fouten) == 0 {
			return nil
		}
		return h.putFo01(t, u, u.EbMS, u.Fouten)
	}
	if len(u.EbMSBatch) == 0 {
		return nil
	}
	// Every fout, not only the first hundred the upload record keeps.
	fouten, err := firstFouten(t, u.ID, wholeUpload+1)
	if err != nil {
		return err
	}
	byFile := map[string][]Fout{}
	for _, f := range fouten {
		byFile[f.Bestand] = append(byFile[f.Bestand], f)
	}
	for i := range u.EbMSBatch {
		in := &u.EbMSBatch[i]
		// Its own fout, and the aanlevering's as a whole when there is one.
		fs := append(append([]Fout(nil), byFile[in.Bestand]...), byFile[u.Name]...)
		if len(fs) == 0 {
			continue
		}
		if err := h.putFo01(t, u, in, fs); err != nil {
			return err
		}
	}
	return nil
}

// putFo01 queues the Fo01 for one rejected message.
func (h *Hub) putFo01(t storage.Txn, u *Upload, in *EbMSIn, fouten []Fout) error {
	c, err := txCPA(t, in.CPA)
	if errors.Is(err, ErrNotFound) {
		h.log.Warn("Fo01 niet te versturen: CPA is weg", "upload", u.ID, "cpa", in.CPA)
		return nil
	}
	if err != nil {
		return err
	}
	body, err := h.buildFo01(u, in, fouten)
	if err != nil {
		return err
	}
	sid, err := h.kv.Sequence("send")
	if err != nil {
		return err
	}
	now := h.clock.Now()
	s := Send{ID: sid, Kind: sendFo01, Org: c.Org, Product: u.Product, CPA: c.ID, Action: ebms.ActionFo01, MessageID: h.newMessageID(),
		ConversationID: in.ConversationID, Payload: body, State: SendWachtend, NextTry: now, Created: now}
	return putSend(t, nil, s)
}

// purgeReceived forgets the MessageIds whose duplicate-elimination time has passed.
func (h *Hub) purgeReceived(now time.Time) error {
	var keys [][]byte
	err := h.kv.View(func(t storage.Txn) error {
		return t.Scan([]byte(kEbInExp), storage.ScanOptions{KeysOnly: true}, func(k, _ []byte) (bool, error) {
			rest := k[len(kEbInExp):]
			if len(rest) < 8 || int64(beUint(rest[:8])) > now.UnixNano() {
				return false, nil
			}
			keys = append(keys, append([]byte(nil), k...))
			return len(keys) < 1000, nil
		})
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	return h.kv.Update(func(t storage.Txn) error {
		for _, k := range keys {
			if err := t.Delete(k); err != nil {
				return err
			}
			// <until>/<oin>/<mid>, where key() leaves the first '/' out when the time's last
			// byte is one.
			rest := bytes.TrimPrefix(k[len(kEbInExp)+8:], []byte("/"))
			if err := t.Delete(key(kEbIn, rest)); err != nil {
				return err
			}
		}
		return nil
	})
}

// actionFor is the ebMS Action of a message's envelope.
func actionFor(m Message) string {
	if m.CrossRef != "" {
		return ebms.ActionDu01
	}
	return ebms.ActionDi01
}

func (h *Hub) uploadByID(id uint64) (Upload, error) {
	var u Upload
	err := h.kv.View(func(t storage.Txn) error { return getJSON(t, key(kUpload, id), &u) })
	return u, err
}
