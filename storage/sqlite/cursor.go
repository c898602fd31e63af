package sqlite

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hookd/hookd/storage"
)

// Cursor kinds: a cursor names the list it belongs to, so a cursor of one
// list given to another is refused instead of silently misread.
const (
	kindEndpoints   = "ep"
	kindAPIKeys     = "key"
	kindReplayJobs  = "rpl"
	kindAttempts    = "att"
	kindDeadLetters = "dlq"
)

type cursorEnvelope struct {
	Kind string          `json:"k"`
	Pos  json.RawMessage `json:"p"`
}

// position is a page position a cursor carries.
type position interface {
	valid() bool
}

// idCursor continues a list in id order after (or before) ID.
type idCursor struct {
	After string `json:"a"`
}

func (c idCursor) valid() bool { return c.After != "" }

// attemptCursor continues a newest-first attempt list after the attempt
// (T, ID): T is its start in unix milliseconds. F is the fingerprint of
// the filter the list was made with.
type attemptCursor struct {
	T  int64  `json:"t"`
	ID string `json:"i"`
	F  string `json:"f"`
}

func (c attemptCursor) valid() bool { return c.F != "" }

// deadLetterCursor continues a newest-first dead-letter list after the
// dead letter (T, E, D): T is its DeadAt in unix milliseconds, E and D its
// endpoint and delivery ids. F is the filter's fingerprint.
type deadLetterCursor struct {
	T int64  `json:"t"`
	E string `json:"e"`
	D string `json:"d"`
	F string `json:"f"`
}

func (c deadLetterCursor) valid() bool { return c.F != "" }

// fingerprint identifies a filter, so a cursor is only accepted with the
// filter it was made for (as the Cassandra store does): continuing a list
// with another filter would silently skip or repeat records.
func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}

// timeKey is a filter time as the fingerprint sees it: whole
// milliseconds, the precision the log keeps.
func timeKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(millis(t), 10)
}

func encodeCursor(kind string, pos position) string {
	p, err := json.Marshal(pos)
	if err != nil {
		panic("sqlite: cursor not encodable: " + err.Error())
	}
	return storage.EncodeCursor(cursorEnvelope{Kind: kind, Pos: p})
}

// decodeCursor reads cursor into pos; an empty cursor leaves pos zero. A
// cursor that is not one this store made for kind is ErrInvalidCursor.
func decodeCursor[P position](cursor, kind string, pos *P) error {
	if cursor == "" {
		return nil
	}
	var env cursorEnvelope
	if err := storage.DecodeCursor(cursor, &env); err != nil {
		return err
	}
	if env.Kind != kind {
		return fmt.Errorf("cursor of another list: %w", storage.ErrInvalidCursor)
	}
	dec := json.NewDecoder(bytes.NewReader(env.Pos))
	dec.DisallowUnknownFields()
	if err := dec.Decode(pos); err != nil || dec.More() || !(*pos).valid() {
		return storage.ErrInvalidCursor
	}
	return nil
}
