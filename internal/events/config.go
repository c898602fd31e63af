package events

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

// Message is a consumed Kafka record, in the decoder's own terms so that
// this package (and its tests and fuzzing) do not depend on a Kafka
// client.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	// Timestamp is the record's timestamp; the zero time means none.
	Timestamp time.Time
}

// Header is a Kafka record header. Kafka allows a key to repeat.
type Header struct {
	Key   []byte
	Value []byte
}

// Defaults.
const (
	DefaultMaxMessageBytes = 1 << 20
	DefaultMaxDepth        = 64
	DefaultTenantHeader    = "hookd-tenant"
	DefaultTenantExtension = "tenant"
)

// Limits on the strings an event carries, so one event's row and log
// lines stay of a predictable size.
const (
	MaxIDLength     = 255
	MaxSourceLength = 2048
)

// RawTopic says how to read a topic of raw payloads.
type RawTopic struct {
	// Type is the event type of every message on the topic.
	Type string
	// Text delivers the value, which must be valid UTF-8, as a JSON
	// string instead of requiring it to be JSON.
	Text bool
}

// Config configures a Decoder. The zero value is usable: every zero field
// takes its default.
type Config struct {
	// MaxMessageBytes bounds key, value and headers together.
	MaxMessageBytes int
	// MaxDepth bounds the nesting of arrays and objects, the envelope
	// included.
	MaxDepth int
	// RawTopics maps topics of raw payloads to how to read them.
	RawTopics map[string]RawTopic
	// TenantHeader is the Kafka header that can carry the tenant in any
	// format.
	TenantHeader string
	// TenantExtension is the CloudEvents extension attribute holding the
	// tenant (in binary mode, the ce_<name> header).
	TenantExtension string
	// Now is the clock used when a message has neither a time nor a Kafka
	// timestamp; nil means time.Now.
	Now func() time.Time
}

// ceExtensionRe is the CloudEvents 1.0 rule for attribute names.
var ceExtensionRe = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// headerNameRe is what the decoder accepts as a (lower-cased) tenant
// header name: an HTTP token, short enough to match without allocating.
var headerNameRe = regexp.MustCompile("^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$")

// ceReserved are CloudEvents attribute names an extension cannot take.
var ceReserved = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true,
	"time": true, "datacontenttype": true, "dataschema": true, "data": true,
}

// Decoder decodes messages into events. It is immutable after NewDecoder
// and safe for concurrent use.
type Decoder struct {
	maxBytes   int
	maxDepth   int
	raw        map[string]RawTopic
	tenantHdr  string // lower-case
	ext        string // CloudEvents tenant extension name
	extHdr     string // "ce_" + ext
	now        func() time.Time
	extIsNamed bool // ext == "tenant": the extension shares the native member's slot
}

// NewDecoder checks cfg and returns a Decoder. Configuration mistakes are
// reported here, at startup, rather than as a stream of malformed events.
func NewDecoder(cfg Config) (*Decoder, error) {
	d := &Decoder{
		maxBytes:  cfg.MaxMessageBytes,
		maxDepth:  cfg.MaxDepth,
		tenantHdr: strings.ToLower(strings.TrimSpace(cfg.TenantHeader)),
		ext:       strings.TrimSpace(cfg.TenantExtension),
		now:       cfg.Now,
		raw:       make(map[string]RawTopic, len(cfg.RawTopics)),
	}
	var errs []error
	if d.maxBytes < 0 {
		errs = append(errs, errors.New("max message bytes must not be negative"))
	}
	if d.maxBytes == 0 {
		d.maxBytes = DefaultMaxMessageBytes
	}
	if d.maxDepth < 0 {
		errs = append(errs, errors.New("max depth must not be negative"))
	}
	if d.maxDepth == 0 {
		d.maxDepth = DefaultMaxDepth
	}
	if d.tenantHdr == "" {
		d.tenantHdr = DefaultTenantHeader
	}
	if !headerNameRe.MatchString(d.tenantHdr) || strings.HasPrefix(d.tenantHdr, "ce_") || d.tenantHdr == "content-type" {
		errs = append(errs, fmt.Errorf("tenant header %q must be a header name of at most 64 bytes, not content-type or a ce_ header", d.tenantHdr))
	}
	if d.ext == "" {
		d.ext = DefaultTenantExtension
	}
	if !ceExtensionRe.MatchString(d.ext) || ceReserved[d.ext] {
		errs = append(errs, fmt.Errorf("tenant extension %q is not a CloudEvents extension name (1-20 lower-case letters or digits, not a core attribute)", d.ext))
	}
	d.extHdr = "ce_" + d.ext
	d.extIsNamed = d.ext == "tenant"
	if d.now == nil {
		d.now = time.Now
	}
	for topic, rt := range cfg.RawTopics {
		typ := domain.NormalizeEventType(rt.Type)
		switch {
		case topic == "":
			errs = append(errs, errors.New("raw topics: empty topic name"))
		case !domain.ValidEventType(typ):
			errs = append(errs, fmt.Errorf("raw topic %s: %q is not a valid event type", topic, rt.Type))
		}
		d.raw[topic] = RawTopic{Type: typ, Text: rt.Text}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return d, nil
}
