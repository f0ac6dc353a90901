package ebms

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
)

// MaxParts bounds the MIME parts of one message: the SOAP envelope plus payloads. The StUF-GGk
// actions carry one payload; a few more leave room for a partner that adds an attachment.
const MaxParts = 16

// ErrTooLarge is returned (wrapped in nothing: compare with errors.Is) when a body is larger
// than the maximum the caller gave.
var ErrTooLarge = &Error{Code: CodeDeliveryFailure, Severity: SeverityError, Description: "het bericht is groter dan de hub aanneemt"}

// ReadMessage reads an HTTP request body of at most maxBytes and parses it with ParseMessage.
// A longer body is refused with ErrTooLarge after reading maxBytes+1 bytes, so an endless body
// costs no more than that.
func ReadMessage(contentType string, r io.Reader, maxBytes int64) (*Message, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, newError(CodeDeliveryFailure, "", "het bericht kon niet worden gelezen: %v", err)
	}
	if int64(len(body)) > maxBytes {
		return nil, ErrTooLarge
	}
	return ParseMessage(contentType, body)
}

// ParseMessage parses an ebMS message from its HTTP Content-Type and body: multipart/related
// (type text/xml; the SOAP envelope is the start part or the first part; the other parts are
// payloads by Content-ID), or a bare text/xml SOAP envelope (signals). It checks the envelope as
// an MSH does (versions, mustUnderstand, actors, required elements, Manifest resolving to parts)
// and refuses any DTD. Every error is an *Error with an ebMS code and a Dutch description.
func ParseMessage(contentType string, body []byte) (*Message, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, newError(CodeMimeProblem, "Content-Type", "Content-Type %q is onleesbaar: %v", contentType, err)
	}
	switch mt {
	case "text/xml":
		return parseEnvelope(body, nil)
	case "multipart/related":
	default:
		return nil, newError(CodeMimeProblem, "Content-Type", "Content-Type %q wordt niet ondersteund; verwacht multipart/related (type text/xml) of text/xml", mt)
	}
	if t := params["type"]; t != "" && !strings.EqualFold(t, "text/xml") {
		return nil, newError(CodeMimeProblem, "Content-Type", "multipart/related met type %q; ebMS 2.0 vraagt type text/xml", t)
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, newError(CodeMimeProblem, "Content-Type", "multipart/related zonder boundary")
	}
	start := strings.Trim(params["start"], "<> ")
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var envelope []byte
	parts := map[string]Part{}
	var order []string
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, newError(CodeMimeProblem, "", "de MIME-delen zijn onleesbaar: %v", err)
		}
		if i >= MaxParts {
			return nil, newError(CodeMimeProblem, "", "meer dan %d MIME-delen", MaxParts)
		}
		data, err := readPart(p)
		if err != nil {
			return nil, err
		}
		cid := strings.Trim(strings.TrimSpace(p.Header.Get("Content-Id")), "<>")
		ct := p.Header.Get("Content-Type")
		isEnvelope := envelope == nil && ((start != "" && cid == start) || (start == "" && i == 0))
		if isEnvelope {
			if m, _, err := mime.ParseMediaType(ct); err != nil || m != "text/xml" {
				return nil, newError(CodeMimeProblem, "Content-Type", "het SOAP-deel heeft Content-Type %q; verwacht text/xml", ct)
			}
			envelope = data
			continue
		}
		if cid == "" {
			return nil, newError(CodeMimeProblem, "Content-ID", "MIME-deel %d heeft geen Content-ID", i+1)
		}
		if _, dup := parts[cid]; dup {
			return nil, newError(CodeMimeProblem, "Content-ID", "Content-ID %q komt twee keer voor", cid)
		}
		parts[cid] = Part{ContentID: cid, ContentType: ct, Data: data}
		order = append(order, cid)
	}
	if envelope == nil {
		if start != "" {
			return nil, newError(CodeMimeProblem, "Content-Type", "het startdeel %q (de SOAP-envelop) ontbreekt", start)
		}
		return nil, newError(CodeMimeProblem, "", "het bericht heeft geen MIME-delen")
	}
	return parseEnvelope(envelope, parts)
}

// readPart reads one part's body, undoing a base64 or quoted-printable transfer encoding.
func readPart(p *multipart.Part) ([]byte, error) {
	var r io.Reader = p
	switch enc := strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding"))); enc {
	case "", "binary", "8bit", "7bit":
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: p})
	case "quoted-printable":
		r = quotedprintable.NewReader(p)
	default:
		return nil, newError(CodeMimeProblem, "Content-Transfer-Encoding", "Content-Transfer-Encoding %q wordt niet ondersteund", enc)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, newError(CodeMimeProblem, "", "MIME-deel %q is onleesbaar: %v", p.Header.Get("Content-Id"), err)
	}
	return data, nil
}

// newlineStripper drops CR and LF, which base64 in MIME carries every 76 characters.
type newlineStripper struct{ r io.Reader }

func (s *newlineStripper) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// Outgoing is a message ready to POST (or to write as an HTTP response): its headers' values
// and body. Send it with Content-Type ContentType and SOAPAction SOAPActionHeader.
type Outgoing struct {
	MessageID   string
	ContentType string
	Body        []byte
	// Envelope is the SOAP envelope inside Body (signed when a Signer was given).
	Envelope []byte
}

// packageMessage wraps the envelope and parts: a bare text/xml body when there are no parts,
// else multipart/related with the envelope as start part. Parts go byte for byte (binary).
func packageMessage(messageID string, envelope []byte, parts []Part) *Outgoing {
	if len(parts) == 0 {
		return &Outgoing{MessageID: messageID, ContentType: "text/xml; charset=UTF-8", Body: envelope, Envelope: envelope}
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	startID := "soappart-" + strings.TrimSuffix(strings.SplitN(messageID, "@", 2)[0], ">")
	write := func(cid, ct string, data []byte) {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", ct)
		h.Set("Content-Transfer-Encoding", "binary")
		h.Set("Content-ID", "<"+cid+">")
		pw, _ := w.CreatePart(h) // writing to a bytes.Buffer cannot fail
		_, _ = pw.Write(data)
	}
	write(startID, "text/xml; charset=UTF-8", envelope)
	for _, p := range parts {
		write(p.ContentID, p.ContentType, p.Data)
	}
	_ = w.Close()
	ct := mime.FormatMediaType("multipart/related", map[string]string{
		"boundary": w.Boundary(), "type": "text/xml", "start": "<" + startID + ">",
	})
	return &Outgoing{MessageID: messageID, ContentType: ct, Body: b.Bytes(), Envelope: envelope}
}
