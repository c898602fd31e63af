package tui

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/hookd/hookd/internal/api"
)

func TestMain(m *testing.M) {
	// The bubbles components draw some parts with lipgloss's default
	// renderer: fix its profile too, so goldens never depend on the
	// terminal the tests run in.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// clock is the fixed time of the tests.
var clock = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// fakeActions records the calls the tail makes and answers from its fields.
type fakeActions struct {
	mu        sync.Mutex
	replays   []string // "endpoint/delivery"
	stats     []string
	lookups   []string
	replayErr error
	statsErr  error
	delivery  map[string]api.Delivery
}

func (f *fakeActions) ReplayDeadLetter(_ context.Context, endpointID, deliveryID string) (api.ReplayOneResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replays = append(f.replays, endpointID+"/"+deliveryID)
	if f.replayErr != nil {
		return api.ReplayOneResponse{}, f.replayErr
	}
	return api.ReplayOneResponse{DeliveryID: deliveryID, EndpointID: endpointID, Generation: 2}, nil
}

func (f *fakeActions) GetDelivery(_ context.Context, id string) (api.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, id)
	d, ok := f.delivery[id]
	if !ok {
		return api.Delivery{}, &api.Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such delivery"}
	}
	return d, nil
}

func (f *fakeActions) EndpointStats(_ context.Context, id string, _ time.Duration) (api.EndpointStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats = append(f.stats, id)
	if f.statsErr != nil {
		return api.EndpointStats{}, f.statsErr
	}
	last := clock.Add(-3 * time.Second)
	return api.EndpointStats{
		EndpointID: id, Window: api.Duration(time.Hour), Sampled: 120, Delivered: 100, Failed: 20, SuccessRate: 100.0 / 120,
		LatencyP50: api.Duration(80 * time.Millisecond), LatencyP90: api.Duration(250 * time.Millisecond), LatencyP99: api.Duration(time.Second),
		Outcomes: map[string]int{"delivered": 100, "failed": 15, "timeout": 5}, CircuitState: "closed",
		LastError: "HTTP 503", LastErrorAt: &last, LastAttemptAt: &last, Enabled: true,
	}, nil
}

func (f *fakeActions) calls() (replays, stats, lookups []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.replays...), append([]string(nil), f.stats...), append([]string(nil), f.lookups...)
}

// attempt makes the i-th attempt of a test: a mix of endpoints, types and
// outcomes, started 100ms apart, the 60th at the clock.
func attempt(i int) api.Attempt {
	endpoints := []string{"ep_orders", "ep_billing", "ep_audit"}
	types := []string{"order.created", "invoice.paid", "user.deleted", "order.shipped"}
	a := api.Attempt{
		ID:         fmt.Sprintf("att_%04d", i),
		DeliveryID: fmt.Sprintf("dlv_%04d", i),
		EventID:    fmt.Sprintf("evt_%04d", i),
		EventType:  types[i%len(types)],
		EndpointID: endpoints[i%len(endpoints)],
		Generation: 1,
		Attempt:    1 + i%3,
		StartedAt:  clock.Add(time.Duration(i-60) * 100 * time.Millisecond),
		Duration:   api.Duration(time.Duration(20+i%7*40) * time.Millisecond),
		StatusCode: 200,
		Outcome:    "delivered",
		RequestHeaders: map[string]string{
			"Content-Type":      "application/json",
			"Webhook-Id":        fmt.Sprintf("dlv_%04d", i),
			"Webhook-Signature": "[redacted]",
		},
		ResponseHeaders: map[string]string{"Content-Type": "text/plain"},
		ResponseBody:    "ok",
	}
	switch i % 5 {
	case 3:
		next := clock.Add(5 * time.Minute)
		a.StatusCode, a.Outcome, a.Error, a.NextRetryAt = 503, "failed", "HTTP 503 Service Unavailable", &next
		a.ResponseBody = "upstream down\n\x1b[31mretry later\x1b[0m"
	case 4:
		a.StatusCode, a.Outcome, a.Error = 0, "timeout", "no response within 10s"
		a.Duration = api.Duration(10 * time.Second)
	}
	return a
}

// newTestModel returns a tail at width×height fed by an inbox, with a
// fixed clock, UTC times and no colors.
func newTestModel(t testing.TB, width, height int, opts ...func(*Options)) (*Model, *Inbox, *fakeActions) {
	t.Helper()
	in := NewInbox(0)
	fa := &fakeActions{delivery: map[string]api.Delivery{}}
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	o := Options{
		Source: in, Actions: fa, Renderer: r, Now: func() time.Time { return clock }, Location: time.UTC,
		Title: "hookctl tail http://hookd.test",
	}
	for _, f := range opts {
		f(&o)
	}
	m := New(o)
	m.SetSize(width, height)
	return m, in, fa
}

// send runs msg through Update and then the commands it returns, the
// way the program would, except ticks (the test sends those).
func send(m *Model, msg tea.Msg) {
	_, cmd := m.Update(msg)
	if _, ok := msg.(tickMsg); ok {
		return // the next tick: a timer the test does without
	}
	run(m, cmd)
}

func run(m *Model, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	msg := cmd()
	switch msg := msg.(type) {
	case nil, tickMsg, tea.QuitMsg:
	case tea.BatchMsg:
		for _, c := range msg {
			run(m, c)
		}
	default:
		send(m, msg)
	}
}

func keyPress(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "space":
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func press(m *Model, keys ...string) {
	for _, k := range keys {
		send(m, keyPress(k))
	}
}

func typeText(m *Model, s string) {
	for _, r := range s {
		send(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
}

// feed puts n attempts (numbered from first) in the inbox and ticks.
func feed(m *Model, in *Inbox, first, n int) {
	for i := first; i < first+n; i++ {
		in.Put(attempt(i))
	}
	send(m, tickMsg{})
}
