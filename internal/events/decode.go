package events

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/ids"
)

// Headers the decoder reads; see readHeaders.
const (
	hContentType = iota
	hSpecVersion
	hID
	hType
	hSource
	hTime
	hExt
	hTenant
	numHeaders
)

var headerNames = [numHeaders]string{
	hContentType: "content-type",
	hSpecVersion: "ce_specversion",
	hID:          "ce_id",
	hType:        "ce_type",
	hSource:      "ce_source",
	hTime:        "ce_time",
	// hExt and hTenant depend on the configuration.
}

// Top-level members the decoder reads; see members.
const (
	fID = iota
	fType
	fSource
	fTime
	fTenant
	fTenantID
	fData
	fDataBase64
	fSpecVersion
	fDataContentType
	fExt
	numFields
)

// headerSet holds the values of the headers hookd reads.
type headerSet struct {
	val [numHeaders]string
	has [numHeaders]bool
}

// attrs are an event's attributes as a format gave them, before the
// checks every format shares.
type attrs struct {
	id, typ, source, time, tenant string
	hasTenant                     bool
	data                          []byte // valid JSON, trimmed, still aliasing the message
}

// Decode turns msg into an event. Every error it returns is a
// *MalformedError: the message can never become a valid event, so the
// caller dead-letters it with the error's Reason and moves on. Decode
// never panics, whatever msg holds.
func (d *Decoder) Decode(msg Message) (domain.Event, error) {
	ev, merr := d.decode(&msg)
	if merr != nil {
		return domain.Event{}, merr
	}
	return ev, nil
}

func (d *Decoder) decode(msg *Message) (domain.Event, *MalformedError) {
	size := len(msg.Key) + len(msg.Value)
	for _, h := range msg.Headers {
		size += len(h.Key) + len(h.Value)
	}
	if size > d.maxBytes {
		return domain.Event{}, malformed(ReasonTooLarge, "%d bytes, more than the limit of %d", size, d.maxBytes)
	}
	if len(msg.Value) == 0 {
		return domain.Event{}, malformed(ReasonEmpty, "the message has no value")
	}
	hs, merr := d.readHeaders(msg.Headers)
	if merr != nil {
		return domain.Event{}, merr
	}
	if !utf8.Valid(msg.Value) {
		return domain.Event{}, malformed(ReasonInvalidUTF8, "the value is not valid UTF-8")
	}

	var mediaType string
	if hs.has[hContentType] {
		mediaType, merr = parseContentType(hs.val[hContentType])
		if merr != nil {
			return domain.Event{}, merr
		}
	}

	var a attrs
	switch {
	case mediaType == "application/cloudevents+json":
		a, merr = d.object(msg.Value, true)
	case strings.HasPrefix(mediaType, "application/cloudevents"):
		return domain.Event{}, malformed(ReasonUnsupportedContentType, "%s: only single events in structured JSON are supported", quote(mediaType))
	case hs.has[hSpecVersion]:
		a, merr = d.binary(msg.Value, &hs, mediaType)
	default:
		if rt, ok := d.raw[msg.Topic]; ok {
			a, merr = d.rawPayload(msg.Value, rt, mediaType)
			break
		}
		if mediaType != "" && !isJSONMediaType(mediaType) {
			return domain.Event{}, malformed(ReasonUnsupportedContentType, "%s: events must be JSON", quote(mediaType))
		}
		a, merr = d.object(msg.Value, false)
	}
	if merr != nil {
		return domain.Event{}, merr
	}
	return d.build(msg, &a, &hs)
}

// readHeaders picks the headers hookd reads, matching names without
// regard to ASCII case. A header that repeats must repeat its value.
func (d *Decoder) readHeaders(headers []Header) (headerSet, *MalformedError) {
	var hs headerSet
	for _, h := range headers {
		slot := d.headerSlot(h.Key)
		if slot < 0 {
			continue
		}
		if !utf8.Valid(h.Value) {
			return hs, malformed(ReasonInvalidUTF8, "header %s is not valid UTF-8", d.headerName(slot))
		}
		v := string(h.Value)
		if hs.has[slot] && hs.val[slot] != v {
			return hs, malformed(ReasonDuplicateField, "header %s appears twice with different values", d.headerName(slot))
		}
		hs.val[slot], hs.has[slot] = v, true
	}
	return hs, nil
}

func (d *Decoder) headerName(slot int) string {
	switch slot {
	case hExt:
		return d.extHdr
	case hTenant:
		return d.tenantHdr
	}
	return headerNames[slot]
}

func (d *Decoder) headerSlot(key []byte) int {
	const maxName = 64
	if len(key) > maxName {
		return -1
	}
	var buf [maxName]byte
	lower := buf[:len(key)]
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower) {
	case "content-type":
		return hContentType
	case "ce_specversion":
		return hSpecVersion
	case "ce_id":
		return hID
	case "ce_type":
		return hType
	case "ce_source":
		return hSource
	case "ce_time":
		return hTime
	case d.extHdr:
		return hExt
	case d.tenantHdr:
		return hTenant
	}
	return -1
}

// parseContentType returns the lower-case media type of a content-type
// value, refusing a charset other than UTF-8: JSON is UTF-8 (RFC 8259).
func parseContentType(v string) (string, *MalformedError) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return "", malformed(ReasonUnsupportedContentType, "content type %s cannot be parsed", quote(v))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return "", malformed(ReasonUnsupportedContentType, "charset %s: only UTF-8 is supported", quote(cs))
	}
	return mt, nil
}

// isJSONMediaType reports whether a (lower-case) media type is JSON.
func isJSONMediaType(mt string) bool {
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// object reads a JSON object value: CloudEvents structured mode when the
// content type says so (ce) or when the object has a specversion member,
// the native envelope otherwise.
func (d *Decoder) object(value []byte, ce bool) (attrs, *MalformedError) {
	if tooDeep(value, d.maxDepth) {
		return attrs{}, malformed(ReasonTooDeep, "nesting deeper than %d levels", d.maxDepth)
	}
	if !json.Valid(value) {
		return attrs{}, malformed(ReasonInvalidJSON, "the value is not valid JSON")
	}
	var f [numFields][]byte
	isObject, merr := members(value, func(name, raw []byte) *MalformedError {
		slot := d.fieldSlot(name)
		if slot < 0 {
			return nil
		}
		if f[slot] != nil {
			return malformed(ReasonDuplicateField, "member %s appears more than once", quote(string(name)))
		}
		f[slot] = raw
		return nil
	})
	if merr != nil {
		return attrs{}, merr
	}
	if !isObject {
		return attrs{}, malformed(ReasonInvalidEnvelope, "the value is JSON but not an object")
	}
	if ce || f[fSpecVersion] != nil {
		return d.structured(&f)
	}
	return d.native(&f)
}

func (d *Decoder) fieldSlot(name []byte) int {
	switch string(name) {
	case "id":
		return fID
	case "type":
		return fType
	case "source":
		return fSource
	case "time":
		return fTime
	case "tenant":
		return fTenant
	case "tenant_id":
		return fTenantID
	case "data":
		return fData
	case "data_base64":
		return fDataBase64
	case "specversion":
		return fSpecVersion
	case "datacontenttype":
		return fDataContentType
	case d.ext:
		return fExt
	}
	return -1
}

// stringMembers reads the members every JSON format shares.
func stringMembers(f *[numFields][]byte, a *attrs) *MalformedError {
	var present, ok bool
	if a.id, _, ok = jsonString(f[fID]); !ok {
		return malformed(ReasonInvalidID, "id must be a string")
	}
	if a.typ, _, ok = jsonString(f[fType]); !ok {
		return malformed(ReasonInvalidType, "type must be a string")
	}
	if a.source, _, ok = jsonString(f[fSource]); !ok {
		return malformed(ReasonInvalidSource, "source must be a string")
	}
	if a.time, present, ok = jsonString(f[fTime]); !ok || (present && a.time == "") {
		return malformed(ReasonInvalidTime, "time must be an RFC 3339 string")
	}
	return nil
}

func (d *Decoder) structured(f *[numFields][]byte) (attrs, *MalformedError) {
	var a attrs
	spec, present, ok := jsonString(f[fSpecVersion])
	switch {
	case !present:
		return a, malformed(ReasonUnsupportedSpecVersion, "specversion is missing")
	case !ok || spec != "1.0":
		return a, malformed(ReasonUnsupportedSpecVersion, "specversion %s: only 1.0 is supported", quote(string(f[fSpecVersion])))
	}
	if merr := stringMembers(f, &a); merr != nil {
		return a, merr
	}
	ext := f[fExt]
	if d.extIsNamed {
		ext = f[fTenant]
	}
	if a.tenant, a.hasTenant, ok = jsonString(ext); !ok {
		return a, malformed(ReasonInvalidTenant, "%s must be a string", d.ext)
	}
	dct, present, ok := jsonString(f[fDataContentType])
	if !ok {
		return a, malformed(ReasonUnsupportedContentType, "datacontenttype must be a string")
	}
	if present {
		mt, merr := parseContentType(dct)
		if merr != nil {
			return a, merr
		}
		if !isJSONMediaType(mt) {
			return a, malformed(ReasonUnsupportedContentType, "datacontenttype %s: data must be JSON", quote(dct))
		}
	}
	// A null member is an absent one, for data as for every attribute.
	data, b64 := f[fData], f[fDataBase64]
	if string(data) == "null" {
		data = nil
	}
	if string(b64) == "null" {
		b64 = nil
	}
	switch {
	case data != nil && b64 != nil:
		return a, malformed(ReasonInvalidData, "data and data_base64 are both set")
	case b64 != nil:
		s, _, ok := jsonString(b64)
		if !ok {
			return a, malformed(ReasonInvalidData, "data_base64 must be a string")
		}
		decoded, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			decoded, err = base64.RawStdEncoding.DecodeString(s)
		}
		if err != nil {
			return a, malformed(ReasonInvalidData, "data_base64 is not valid base64")
		}
		if !utf8.Valid(decoded) {
			return a, malformed(ReasonInvalidData, "data_base64 does not hold UTF-8 JSON")
		}
		var merr *MalformedError
		if a.data, merr = d.checkData(decoded, ReasonInvalidData); merr != nil {
			return a, merr
		}
	case data == nil:
		return a, malformed(ReasonMissingData, "the event has no data")
	default:
		a.data = data
	}
	return a, nil
}

func (d *Decoder) native(f *[numFields][]byte) (attrs, *MalformedError) {
	var a attrs
	if merr := stringMembers(f, &a); merr != nil {
		return a, merr
	}
	tenant, hasTenant, ok := jsonString(f[fTenant])
	if !ok {
		return a, malformed(ReasonInvalidTenant, "tenant must be a string")
	}
	tenantID, hasTenantID, ok := jsonString(f[fTenantID])
	if !ok {
		return a, malformed(ReasonInvalidTenant, "tenant_id must be a string")
	}
	if hasTenant && hasTenantID && tenant != tenantID {
		return a, malformed(ReasonInvalidTenant, "tenant %s and tenant_id %s differ", quote(tenant), quote(tenantID))
	}
	a.tenant, a.hasTenant = tenant, hasTenant || hasTenantID
	if hasTenantID {
		a.tenant = tenantID
	}
	if f[fData] == nil || string(f[fData]) == "null" {
		return a, malformed(ReasonMissingData, "the event has no data")
	}
	a.data = f[fData]
	return a, nil
}

func (d *Decoder) binary(value []byte, hs *headerSet, mediaType string) (attrs, *MalformedError) {
	var a attrs
	if spec := hs.val[hSpecVersion]; spec != "1.0" {
		return a, malformed(ReasonUnsupportedSpecVersion, "ce_specversion %s: only 1.0 is supported", quote(spec))
	}
	if mediaType != "" && !isJSONMediaType(mediaType) {
		return a, malformed(ReasonUnsupportedContentType, "%s: data must be JSON", quote(mediaType))
	}
	a.id, a.typ, a.source = hs.val[hID], hs.val[hType], hs.val[hSource]
	a.time, a.tenant, a.hasTenant = hs.val[hTime], hs.val[hExt], hs.has[hExt]
	if hs.has[hTime] && a.time == "" {
		return a, malformed(ReasonInvalidTime, "ce_time is empty")
	}
	var merr *MalformedError
	a.data, merr = d.checkData(value, ReasonInvalidJSON)
	return a, merr
}

func (d *Decoder) rawPayload(value []byte, rt RawTopic, mediaType string) (attrs, *MalformedError) {
	a := attrs{typ: rt.Type}
	if rt.Text {
		// The value is already known to be valid UTF-8.
		a.data = appendJSONString(make([]byte, 0, len(value)+2), string(value))
		return a, nil
	}
	if mediaType != "" && !isJSONMediaType(mediaType) {
		return a, malformed(ReasonUnsupportedContentType, "%s: raw payloads on this topic must be JSON", quote(mediaType))
	}
	var merr *MalformedError
	a.data, merr = d.checkData(value, ReasonInvalidJSON)
	return a, merr
}

// checkData checks bytes that are to be an event's data on their own (not
// inside an envelope already checked): bounded depth, valid JSON, not null.
// invalid is the reason to give for bytes that are not JSON.
func (d *Decoder) checkData(b []byte, invalid string) ([]byte, *MalformedError) {
	b = trimSpace(b)
	if tooDeep(b, d.maxDepth) {
		return nil, malformed(ReasonTooDeep, "data nests deeper than %d levels", d.maxDepth)
	}
	if len(b) == 0 || !json.Valid(b) {
		return nil, malformed(invalid, "data is not valid JSON")
	}
	if string(b) == "null" {
		return nil, malformed(ReasonMissingData, "data is null")
	}
	return b, nil
}

// build applies the rules every format shares and makes the event.
func (d *Decoder) build(msg *Message, a *attrs, hs *headerSet) (domain.Event, *MalformedError) {
	var ev domain.Event

	if strings.TrimSpace(a.typ) == "" {
		return ev, malformed(ReasonMissingType, "the event has no type")
	}
	ev.Type = domain.NormalizeEventType(a.typ)
	if !domain.ValidEventType(ev.Type) {
		return ev, malformed(ReasonInvalidType, "%s is not an event type (lower-case letters, digits, '_' and '-' in dot-separated parts, at most %d bytes)", quote(a.typ), domain.MaxEventTypeLength)
	}

	switch {
	case a.id == "":
		ev.ID = ids.Derive(ids.Event, msg.Topic, strconv.Itoa(int(msg.Partition)), strconv.FormatInt(msg.Offset, 10))
	case len(a.id) > MaxIDLength || hasControl(a.id):
		return ev, malformed(ReasonInvalidID, "id %s must be at most %d bytes without control characters", quote(a.id), MaxIDLength)
	default:
		ev.ID = a.id
	}

	if len(a.source) > MaxSourceLength || hasControl(a.source) {
		return ev, malformed(ReasonInvalidSource, "source must be at most %d bytes without control characters", MaxSourceLength)
	}
	ev.Source = a.source

	if a.time == "" {
		ev.Time = d.fallbackTime(msg.Timestamp)
	} else {
		t, err := parseTime(a.time)
		if err != nil {
			return ev, malformed(ReasonInvalidTime, "time %s is not an RFC 3339 time between years 1 and 9999", quote(a.time))
		}
		ev.Time = t
	}

	tenant := a.tenant
	if hs.has[hTenant] {
		h := hs.val[hTenant]
		if a.hasTenant && h != tenant {
			return ev, malformed(ReasonInvalidTenant, "header %s says %s, the event says %s", d.tenantHdr, quote(h), quote(tenant))
		}
		tenant = h
	}
	if domain.ValidateTenant(tenant) != nil {
		return ev, malformed(ReasonInvalidTenant, "%s is not a tenant id (at most %d letters, digits, '_', '.', ':' and '-')", quote(tenant), domain.MaxTenantLength)
	}
	ev.TenantID = tenant

	// Copy: the event outlives the message, and must not pin or share
	// the client's buffer.
	ev.Data = append(json.RawMessage(nil), a.data...)
	return ev, nil
}

// fallbackTime is the time of an event that does not give one: its Kafka
// timestamp, or now when the record has none (or an absurd one that could
// not be written as RFC 3339).
func (d *Decoder) fallbackTime(ts time.Time) time.Time {
	if ts.IsZero() || ts.Unix() <= 0 || ts.Year() > 9999 {
		ts = d.now()
	}
	return ts.UTC()
}

// parseTime parses an RFC 3339 time strictly and returns it in UTC. The
// shape is checked by hand because time.Parse falls back to a lenient
// parser (one-digit hours, for one) when the strict one fails. The year, in
// UTC, must be 1 to 9999 so that Payload can write it back as RFC 3339.
func parseTime(s string) (time.Time, error) {
	if !rfc3339Shape(s) {
		return time.Time{}, errors.New("not RFC 3339")
	}
	// RFC 3339 allows "t" and "z" in lower case; time.Parse does not.
	if s[10] == 't' || s[len(s)-1] == 'z' {
		s = strings.ToUpper(s)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, errors.New("year out of range")
	}
	return t, nil
}

// rfc3339Shape reports whether s looks like
// YYYY-MM-DDTHH:MM:SS[.F...](Z|+HH:MM|-HH:MM); ranges are left to
// time.Parse.
func rfc3339Shape(s string) bool {
	const pattern = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(pattern)+1 {
		return false
	}
	for i := 0; i < len(pattern); i++ {
		c := s[i]
		switch pattern[i] {
		case 'd':
			if c < '0' || c > '9' {
				return false
			}
		case 'T':
			if c != 'T' && c != 't' {
				return false
			}
		default:
			if c != pattern[i] {
				return false
			}
		}
	}
	rest := s[len(pattern):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	switch {
	case rest == "Z" || rest == "z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		return isDigit(rest[1]) && isDigit(rest[2]) && isDigit(rest[4]) && isDigit(rest[5])
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}
