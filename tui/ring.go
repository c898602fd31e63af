package tui

import (
	"sort"

	"github.com/hookd/hookd/internal/api"
)

// DefaultCapacity is how many rows the tail keeps: older ones scroll away.
const DefaultCapacity = 10000

// maxBodyPreview is how much of a response body a row keeps for the
// detail pane: the server sends up to 4 KiB per attempt, and 10k rows of
// that would be most of the tail's memory for text nobody scrolls through.
const maxBodyPreview = 1024

// Row is one attempt in the tail, numbered in arrival order.
type Row struct {
	Seq     uint64
	Attempt api.Attempt
}

// Ring keeps the newest rows up to its capacity. Its sequence numbers are
// contiguous, so a row is found by its number in constant time.
type Ring struct {
	buf     []Row
	head, n int
	next    uint64 // Seq of the next row pushed
}

// NewRing returns a ring of capacity rows (DefaultCapacity when <= 0).
func NewRing(capacity int) *Ring {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Ring{buf: make([]Row, capacity), next: 1}
}

// Push adds a as the newest row, evicting the oldest when full.
func (r *Ring) Push(a api.Attempt) *Row {
	if len(a.ResponseBody) > maxBodyPreview {
		a.ResponseBody = truncateUTF8(a.ResponseBody, maxBodyPreview)
	}
	var i int
	if r.n == len(r.buf) {
		i = r.head
		r.head = (r.head + 1) % len(r.buf)
	} else {
		i = (r.head + r.n) % len(r.buf)
		r.n++
	}
	r.buf[i] = Row{Seq: r.next, Attempt: a}
	r.next++
	return &r.buf[i]
}

// Len is the number of rows held.
func (r *Ring) Len() int { return r.n }

// Cap is the most rows the ring holds.
func (r *Ring) Cap() int { return len(r.buf) }

// At returns the i-th row, oldest first.
func (r *Ring) At(i int) *Row { return &r.buf[(r.head+i)%len(r.buf)] }

// FirstSeq is the Seq of the oldest row held (the next Seq when empty).
func (r *Ring) FirstSeq() uint64 { return r.next - uint64(r.n) }

// LastSeq is the Seq of the newest row (0 when empty).
func (r *Ring) LastSeq() uint64 {
	if r.n == 0 {
		return 0
	}
	return r.next - 1
}

// BySeq returns the row numbered seq, if it is still held.
func (r *Ring) BySeq(seq uint64) (*Row, bool) {
	first := r.FirstSeq()
	if seq < first || seq >= r.next {
		return nil, false
	}
	return r.At(int(seq - first)), true
}

// RowView is the rows the table shows: all of the ring, or with a filter
// the Seqs of the rows that match, in order.
type RowView struct {
	ring     *Ring
	filtered bool
	match    func(*api.Attempt) bool
	seqs     []uint64
	start    int // seqs[:start] are evicted
}

// NewRowView returns a view of all of ring.
func NewRowView(ring *Ring) *RowView { return &RowView{ring: ring} }

// Len is the number of rows in the view.
func (v *RowView) Len() int {
	if !v.filtered {
		return v.ring.Len()
	}
	v.trim()
	return len(v.seqs) - v.start
}

// At returns the i-th row of the view, oldest first.
func (v *RowView) At(i int) *Row {
	if !v.filtered {
		return v.ring.At(i)
	}
	v.trim()
	row, _ := v.ring.BySeq(v.seqs[v.start+i])
	return row
}

// Index is the position of seq in the view, or of the first row after
// it when it is not there.
func (v *RowView) Index(seq uint64) int {
	if !v.filtered {
		first := v.ring.FirstSeq()
		if seq < first {
			return 0
		}
		return min(int(seq-first), v.ring.Len())
	}
	v.trim()
	live := v.seqs[v.start:]
	return sort.Search(len(live), func(i int) bool { return live[i] >= seq })
}

// Add records a row just pushed to the ring.
func (v *RowView) Add(row *Row) {
	if v.filtered && v.match(&row.Attempt) {
		v.seqs = append(v.seqs, row.Seq)
	}
}

// trim forgets evicted rows, compacting now and then so that seqs stays
// within twice the ring's size.
func (v *RowView) trim() {
	first := v.ring.FirstSeq()
	for v.start < len(v.seqs) && v.seqs[v.start] < first {
		v.start++
	}
	if v.start > 0 && v.start >= len(v.seqs)/2 {
		n := copy(v.seqs, v.seqs[v.start:])
		v.seqs = v.seqs[:n]
		v.start = 0
	}
}

// SetFilter filters the whole ring again with match (nil: no filter).
func (v *RowView) SetFilter(match func(*api.Attempt) bool) {
	if match == nil {
		v.filtered, v.match, v.seqs, v.start = false, nil, nil, 0
		return
	}
	v.filtered, v.match, v.start = true, match, 0
	v.seqs = v.seqs[:0]
	for i := range v.ring.Len() {
		if row := v.ring.At(i); match(&row.Attempt) {
			v.seqs = append(v.seqs, row.Seq)
		}
	}
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
