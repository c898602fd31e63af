package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hookd/hookd/internal/domain"
)

// Payload returns the body hookd POSTs for e:
//
//	{"id":<id>,"type":<type>,"timestamp":<RFC 3339 UTC>,"data":<data>}
//
// The output is a pure function of e, built by hand rather than by
// encoding/json so that neither a Go upgrade nor a change to domain.Event's
// struct tags can change a single byte: signatures are over these bytes,
// and receivers comparing a retry with the original must see the same
// body. Data is copied in verbatim. An error means e could not have come
// from Decode (no id, an invalid type, no time, data that is not JSON).
func Payload(e domain.Event) ([]byte, error) {
	if err := checkEvent(&e); err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(e.ID)+len(e.Type)+len(e.Data)+96)
	b = append(b, `{"id":`...)
	b = appendJSONString(b, e.ID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"timestamp":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	b = append(b, e.Data...)
	b = append(b, '}')
	return b, nil
}

// MarshalEnvelope returns e as a native envelope,
//
//	{"id":..,"type":..,"tenant":..,"source":..,"time":..,"data":..}
//
// (tenant and source only when set), for producers inside hookd (the
// events API, replays) to publish: Decode gives back an equal event.
func MarshalEnvelope(e domain.Event) ([]byte, error) {
	if err := checkEvent(&e); err != nil {
		return nil, err
	}
	if domain.ValidateTenant(e.TenantID) != nil {
		return nil, fmt.Errorf("events: tenant %s is not valid", quote(e.TenantID))
	}
	if len(e.Source) > MaxSourceLength || hasControl(e.Source) || !utf8.ValidString(e.Source) {
		return nil, errors.New("events: source is not valid")
	}
	b := make([]byte, 0, len(e.ID)+len(e.Type)+len(e.TenantID)+len(e.Source)+len(e.Data)+128)
	b = append(b, `{"id":`...)
	b = appendJSONString(b, e.ID)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.Type)
	if e.TenantID != "" {
		b = append(b, `,"tenant":`...)
		b = appendJSONString(b, e.TenantID)
	}
	if e.Source != "" {
		b = append(b, `,"source":`...)
		b = appendJSONString(b, e.Source)
	}
	b = append(b, `,"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	b = append(b, e.Data...)
	b = append(b, '}')
	return b, nil
}

// checkEvent checks what Payload and MarshalEnvelope need to produce valid
// JSON that Decode would accept.
func checkEvent(e *domain.Event) error {
	switch {
	case e.ID == "" || len(e.ID) > MaxIDLength || hasControl(e.ID) || !utf8.ValidString(e.ID):
		return fmt.Errorf("events: id %s is not valid", quote(e.ID))
	case !domain.ValidEventType(e.Type):
		return fmt.Errorf("events: type %s is not valid", quote(e.Type))
	case e.Time.IsZero():
		return errors.New("events: the event has no time")
	}
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("events: time %s cannot be written as RFC 3339", e.Time)
	}
	data := trimSpace(e.Data)
	if len(data) == 0 || !json.Valid(data) || string(data) == "null" {
		return errors.New("events: data is not a JSON value")
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. It escapes only what JSON
// requires, plus U+2028 and U+2029 (so the output is also safe inside
// JavaScript); invalid UTF-8 becomes U+FFFD. The rules are fixed here, not
// borrowed from encoding/json, because the bytes are signed.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
