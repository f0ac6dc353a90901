package exchange

import (
	"encoding/json"
	"strconv"
	"time"
)

// messageJSON is json.Marshal(m), byte for byte, written by hand: the engine stores one
// Message per accepted message (3,000 in a large ZIP), and encoding/json's reflection and its
// compaction of time.Time's MarshalJSON cost about 2.5 µs and 8 allocations per message.
// Anything it does not write the plain way (a string with a character encoding/json escapes,
// a time encoding/json formats otherwise or refuses) it leaves to encoding/json for that
// value, so the bytes stay those of json.Marshal: TestMessageJSONIsJSONMarshal compares them,
// and fails when Message or StatusEvent gains a field.
func messageJSON(m *Message) ([]byte, error) {
	b := make([]byte, 0, 384+len(m.File)+len(m.Referentie)+96*len(m.History))
	var err error
	b = strconv.AppendUint(append(b, `{"id":`...), m.ID, 10)
	b = appendJSONString(append(b, `,"product":`...), string(m.Product))
	b = appendJSONString(append(b, `,"functie":`...), m.Functie)
	b = appendJSONString(append(b, `,"referentienummer":`...), m.Referentie)
	if m.CrossRef != "" {
		b = appendJSONString(append(b, `,"crossrefnummer":`...), m.CrossRef)
	}
	b = appendJSONString(append(b, `,"zender":`...), m.Zender)
	b = appendJSONString(append(b, `,"ontvanger":`...), m.Ontvanger)
	b = appendJSONString(append(b, `,"postbus":`...), m.Mailbox)
	b = appendJSONString(append(b, `,"aanleveraar":`...), m.Uploader)
	b = strconv.AppendUint(append(b, `,"aanlevering":`...), m.UploadID, 10)
	b = strconv.AppendInt(append(b, `,"volgnummer":`...), int64(m.Entry), 10)
	b = appendJSONString(append(b, `,"bestand":`...), m.File)
	b = strconv.AppendInt(append(b, `,"grootte":`...), m.Size, 10)
	if b, err = appendJSONTime(append(b, `,"ontvangen_op":`...), m.ReceivedAt); err != nil {
		return nil, err
	}
	if m.DeliveryID != 0 {
		b = strconv.AppendUint(append(b, `,"aflevering":`...), m.DeliveryID, 10)
	}
	b = appendJSONString(append(b, `,"status":`...), string(m.Status))
	b = append(b, `,"historie":`...)
	if m.History == nil {
		return append(b, "null}"...), nil
	}
	b = append(b, '[')
	for i, e := range m.History {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendJSONTime(append(b, `{"tijd":`...), e.At); err != nil {
			return nil, err
		}
		b = appendJSONString(append(b, `,"status":`...), string(e.Status))
		if e.Code != "" {
			b = appendJSONString(append(b, `,"code":`...), string(e.Code))
		}
		if e.By != "" {
			b = appendJSONString(append(b, `,"door":`...), e.By)
		}
		if e.Detail != "" {
			b = appendJSONString(append(b, `,"detail":`...), e.Detail)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// appendJSONString appends s as encoding/json writes it. Printable ASCII other than '"', '\\'
// and the HTML characters it escapes (<, >, &) goes as it is; a string with anything else is
// left to encoding/json, whose rules for control characters, invalid UTF-8 and U+2028/9 are
// then the ones that apply.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time.MarshalJSON writes it (RFC 3339 with nanoseconds,
// quoted). Years outside 0–9999 and zone offsets that are not whole minutes below 24 hours,
// which MarshalJSON refuses or RFC 3339 cannot show, are left to encoding/json.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	_, off := t.Zone()
	if y := t.Year(); y < 0 || y > 9999 || off%60 != 0 || off <= -24*3600 || off >= 24*3600 {
		q, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		return append(b, q...), nil
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}
