// Package ids makes hookd's identifiers: a short type prefix and 26
// characters of Crockford base32 holding a millisecond timestamp and 80
// random bits, so ids sort by creation time (keyset paging relies on it),
// and deterministic ids derived from other ids, so a retried write of the
// same fact is an upsert rather than a duplicate.
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// Prefixes of the ids hookd makes.
const (
	Endpoint  = "ep"
	Secret    = "sec"
	APIKey    = "key"
	Event     = "evt"
	Delivery  = "msg"
	Attempt   = "att"
	ReplayJob = "rpl"
)

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var (
	mu       sync.Mutex
	lastMS   uint64
	lastRand [10]byte
)

// New returns prefix_XXXXXXXXXXXXXXXXXXXXXXXXXX. Ids made in the same
// millisecond by this process still sort in the order they were made.
func New(prefix string) string {
	ms := uint64(time.Now().UnixMilli())
	var b [16]byte
	mu.Lock()
	if ms <= lastMS {
		// Same (or an earlier, after a clock step) millisecond: keep the
		// last timestamp and increment the random part.
		ms = lastMS
		for i := len(lastRand) - 1; i >= 0; i-- {
			lastRand[i]++
			if lastRand[i] != 0 {
				break
			}
		}
	} else {
		lastMS = ms
		if _, err := rand.Read(lastRand[:]); err != nil {
			panic("ids: crypto/rand failed: " + err.Error())
		}
	}
	binary.BigEndian.PutUint64(b[:8], ms<<16)
	copy(b[6:], lastRand[:])
	mu.Unlock()
	return prefix + "_" + encode(b)
}

// Derive returns a deterministic id of the given prefix for the parts: the
// same parts always give the same id, different parts (practically) never.
func Derive(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		// Length-prefixed, so ("ab","c") and ("a","bc") differ.
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	return prefix + "_" + encode(b)
}

// HasPrefix reports whether id looks like an id of that prefix.
func HasPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(rest) != 26 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !strings.ContainsRune(alphabet, rune(rest[i])) {
			return false
		}
	}
	return true
}

// encode writes 128 bits as 26 base32 characters (the top two bits of
// the first character are always zero).
func encode(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
