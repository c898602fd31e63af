package stats

import "fmt"

// Ledger accounts for every delivery a run asked for. Expected is the sum
// over published events (acknowledged by Kafka) of the endpoints each
// event matches. Delivered counts distinct deliveries (by webhook-id)
// that an endpoint accepted; Dead counts distinct deliveries in the
// dead-letter queue; Pending is what is neither, yet: still in the events
// topic, in a retry tier or in flight. Duplicates counts arrivals of a
// delivery already accepted (allowed by at-least-once, but counted).
type Ledger struct {
	Published  uint64 `json:"published_events"`
	Expected   uint64 `json:"expected_deliveries"`
	Delivered  uint64 `json:"delivered"`
	Dead       uint64 `json:"dead"`
	Pending    int64  `json:"pending"`
	Duplicates uint64 `json:"duplicates"`
	// Overlap counts deliveries both accepted and dead-lettered (an
	// endpoint answered 2xx after hookd had given up on the attempt, e.g.
	// a slow answer past the timeout). They are counted once, as
	// delivered.
	Overlap uint64 `json:"delivered_and_dead,omitempty"`
	// PendingInKafka is the retry-tier backlog hookd reports through its
	// consumer group (retry records not yet consumed), plus unconsumed
	// events times their fan-out: where the pending deliveries should be.
	PendingInKafka int64 `json:"pending_in_kafka"`
	// Closed is true when nothing is pending.
	Closed bool `json:"closed"`
	// Problem is set when the books do not balance (more accounted for
	// than was asked for).
	Problem string `json:"problem,omitempty"`
}

// Close computes Pending = Expected − Delivered − (Dead − Overlap) and
// checks the books: Pending can never be negative.
func (l *Ledger) Close() {
	dead := l.Dead - min(l.Overlap, l.Dead)
	l.Pending = int64(l.Expected) - int64(l.Delivered) - int64(dead)
	l.Closed = l.Pending == 0
	l.Problem = ""
	if l.Pending < 0 {
		l.Problem = fmt.Sprintf("%d more deliveries accounted for than expected", -l.Pending)
	}
}

// String is the one-line form used in tables.
func (l Ledger) String() string {
	s := fmt.Sprintf("expected %d = delivered %d + dead %d + pending %d; duplicates %d", l.Expected, l.Delivered, l.Dead-min(l.Overlap, l.Dead), l.Pending, l.Duplicates)
	if l.Problem != "" {
		s += " (" + l.Problem + ")"
	}
	return s
}
