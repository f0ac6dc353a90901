package exchange

import (
	"errors"
	"fmt"
	"net/http"

	"knooppunt/exchange/ebms"
)

// The answers and messages of the Digikoppeling door, made by the ebms package.

func (h *Hub) reply() ebms.Reply {
	return ebms.Reply{MessageID: h.newMessageID(), Timestamp: h.clock.Now(), Signer: nil}
}

// soapFault answers a body that is no ebMS message at all.
func (h *Hub) soapFault(err error) EbMSAnswer {
	return EbMSAnswer{Status: http.StatusInternalServerError, ContentType: "text/xml; charset=UTF-8",
		Body: ebms.BuildSOAPFault("Client", err.Error())}
}

// messageError answers m with a MessageError; signed when the CPA signs the hub's messages.
func (h *Hub) messageError(m *ebms.Message, pc *ebms.CPA, e *ebms.Error) EbMSAnswer {
	h.dkObs.EbMSRefused(e.Code)
	r := h.reply()
	r.Signer = h.signerFor(pc)
	out, err := ebms.BuildMessageError(&m.Header, []*ebms.Error{e}, r)
	if err != nil {
		return h.soapFault(err)
	}
	return EbMSAnswer{Status: http.StatusOK, ContentType: out.ContentType, Body: out.Body}
}

func (h *Hub) pong(m *ebms.Message, pc *ebms.CPA) EbMSAnswer {
	r := h.reply()
	r.Signer = h.signerFor(pc)
	out, err := ebms.BuildPong(&m.Header, r)
	if err != nil {
		return h.soapFault(err)
	}
	return EbMSAnswer{Status: http.StatusOK, ContentType: out.ContentType, Body: out.Body}
}

// statusResponse tells a partner whether the hub received one of its messages.
func (h *Hub) statusResponse(m *ebms.Message, pc *ebms.CPA, oin string) EbMSAnswer {
	ref := ""
	if m.StatusRequest != nil {
		ref = m.StatusRequest.RefToMessageID
	}
	status, at := ebms.StatusNotRecognized, m.Header.Timestamp
	if rec, ok, err := h.receivedBefore(oin, ref); err == nil && ok {
		status, at = ebms.StatusReceived, rec.At
		if u, err := h.uploadByID(rec.Upload); err == nil && u.Status.Final() {
			status = ebms.StatusProcessed
		}
	}
	r := h.reply()
	r.Signer = h.signerFor(pc)
	out, err := ebms.BuildStatusResponse(&m.Header, ref, status, at, r)
	if err != nil {
		return h.soapFault(err)
	}
	return EbMSAnswer{Status: http.StatusOK, ContentType: out.ContentType, Body: out.Body}
}

// acknowledgment is the Acknowledgment of a received user message, signed when the CPA asks.
func (h *Hub) acknowledgment(m *ebms.Message, pc *ebms.CPA, b *ebms.Binding) (*ebms.Outgoing, error) {
	r := h.reply()
	var signed []byte
	if b.AckSignatureRequested() {
		if r.Signer = h.signerFor(nil); r.Signer == nil {
			return nil, &ebms.Error{Code: ebms.CodeSecurityFailure, Severity: ebms.SeverityError,
				Description: "de CPA vraagt een ondertekende bevestiging, maar het knooppunt heeft geen sleutel om mee te ondertekenen"}
		}
		signed = m.Envelope
	}
	return ebms.BuildAcknowledgment(&m.Header, signed, r)
}

// buildOutgoing makes the ebMS message of a send.
func (h *Hub) buildOutgoing(s Send, c CPA, payload []byte) (string, []byte, error) {
	if s.Kind == sendSignal {
		return s.ContentType, s.Payload, nil
	}
	pc, err := h.parsedCPA(c)
	if err != nil {
		return "", nil, err
	}
	hub := ebms.PartyID{Type: ebms.PartyTypeOIN, Value: c.HubOIN}
	b, err := pc.Binding(hub, "", ebms.Service{Value: c.Service}, s.Action)
	if err != nil {
		return "", nil, err
	}
	u := b.UserMessage(s.MessageID, ebms.Part{ContentID: "payload-" + s.MessageID, ContentType: "application/xml", Data: payload}, h.clock.Now())
	u.ConversationID = s.ConversationID
	var signer *ebms.Signer
	if b.Signed() {
		if signer = h.signerFor(nil); signer == nil {
			return "", nil, errors.New("de CPA eist ondertekening, maar het knooppunt heeft geen sleutel (--ebms-key)")
		}
	}
	out, err := ebms.BuildUserMessage(u, signer)
	if err != nil {
		return "", nil, err
	}
	return out.ContentType, out.Body, nil
}

// readAnswer reads a partner's synchronous answer: an Acknowledgment of s, a MessageError, or
// nothing (the Acknowledgment comes on its own).
func (h *Hub) readAnswer(s Send, c CPA, res PostResult) (ack bool, fault string, err error) {
	if len(res.Body) == 0 {
		return false, "", nil
	}
	m, err := ebms.ParseMessage(res.ContentType, res.Body)
	if err != nil {
		return false, "", err
	}
	switch m.Kind() {
	case ebms.KindAcknowledgment:
		if m.Acknowledgment == nil || (m.Acknowledgment.RefToMessageID != s.MessageID && m.Header.RefToMessageID != s.MessageID) {
			return false, "", fmt.Errorf("Acknowledgment voor een ander bericht")
		}
		if m.Header.From.OIN() != c.OIN {
			return false, "", fmt.Errorf("Acknowledgment van OIN %s, niet van %s", m.Header.From.OIN(), c.OIN)
		}
		if m.Signed {
			pc, err := h.parsedCPA(c)
			if err != nil {
				return false, "", err
			}
			if err := h.verifySignature(m, pc); err != nil {
				return false, "", err
			}
		}
		return true, "", nil
	case ebms.KindMessageError:
		reason := "MessageError van de partner"
		if m.ErrorList != nil && len(m.ErrorList.Errors) > 0 {
			reason += ": " + m.ErrorList.Errors[0].Error()
		}
		return false, reason, nil
	}
	return false, "", nil
}
