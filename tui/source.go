package tui

import (
	"sync"
	"time"

	"github.com/hookd/hookd/internal/api"
)

// Phase is where the connection to the live stream stands.
type Phase int

// Phases of ConnState.
const (
	PhaseConnecting   Phase = iota // before the first connection
	PhaseLive                      // connected and streaming
	PhaseReconnecting              // the stream broke; waiting to connect again
	PhaseFailed                    // gave up: an error retrying cannot fix
)

// ConnState is the state of the stream that feeds the tail.
type ConnState struct {
	Phase Phase
	// Attempt counts the reconnection attempts since the stream was last
	// live (PhaseReconnecting).
	Attempt int
	// Err is why the stream broke (PhaseReconnecting, PhaseFailed).
	Err error
	// Retry is when the next connection attempt starts (PhaseReconnecting).
	Retry time.Time
}

// Batch is what a Source delivered since it was last drained.
type Batch struct {
	// Attempts, oldest first, appended to the slice passed to Drain.
	Attempts []api.Attempt
	// Dropped counts the attempts lost since the last drain because the
	// source's buffer was full: the screen could not keep up.
	Dropped uint64
	// State is the stream's newest connection state.
	State ConnState
	// Notice is a message for the status line ("" when none), such as a
	// history that was cut short.
	Notice string
}

// Source feeds the tail. The model drains it on every tick, so a source
// must buffer what arrives in between, and the reader that fills it must
// never wait for the screen.
type Source interface {
	Drain(dst []api.Attempt) Batch
}

// Inbox is the Source the stream reader fills: Put never blocks; when the
// screen falls behind by more than the buffer holds, the oldest attempts
// are dropped and counted (the ring would have evicted them anyway). It is
// safe for one reader goroutine and the UI to use at once.
type Inbox struct {
	mu      sync.Mutex
	buf     []api.Attempt // circular: buf[head] is the oldest of n
	head, n int
	dropped uint64
	state   ConnState
	notice  string
}

// NewInbox returns an inbox that holds up to size attempts between
// drains (DefaultCapacity when size <= 0).
func NewInbox(size int) *Inbox {
	if size <= 0 {
		size = DefaultCapacity
	}
	return &Inbox{buf: make([]api.Attempt, size)}
}

// Put adds an attempt.
func (in *Inbox) Put(a api.Attempt) {
	in.mu.Lock()
	if in.n == len(in.buf) {
		in.buf[in.head] = a
		in.head = (in.head + 1) % len(in.buf)
		in.dropped++
	} else {
		in.buf[(in.head+in.n)%len(in.buf)] = a
		in.n++
	}
	in.mu.Unlock()
}

// SetState records the stream's connection state.
func (in *Inbox) SetState(s ConnState) {
	in.mu.Lock()
	in.state = s
	in.mu.Unlock()
}

// Notify leaves a message for the status line.
func (in *Inbox) Notify(msg string) {
	in.mu.Lock()
	in.notice = msg
	in.mu.Unlock()
}

// Drain implements Source.
func (in *Inbox) Drain(dst []api.Attempt) Batch {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i := range in.n {
		j := (in.head + i) % len(in.buf)
		dst = append(dst, in.buf[j])
		in.buf[j] = api.Attempt{} // release its maps and body
	}
	b := Batch{Attempts: dst, Dropped: in.dropped, State: in.state, Notice: in.notice}
	in.head, in.n, in.dropped, in.notice = 0, 0, 0, ""
	return b
}
