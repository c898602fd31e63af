package tui

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/hookd/hookd/internal/api"
)

func selectedID(t *testing.T, m *Model) string {
	t.Helper()
	row, ok := m.table.Selected()
	if !ok {
		t.Fatal("no row selected")
	}
	return row.Attempt.ID
}

func wantView(t *testing.T, m *Model, wants ...string) {
	t.Helper()
	v := m.View()
	for _, w := range wants {
		if !strings.Contains(v, w) {
			t.Errorf("screen lacks %q:\n%s", w, v)
		}
	}
}

func dontWantView(t *testing.T, m *Model, nots ...string) {
	t.Helper()
	v := m.View()
	for _, w := range nots {
		if strings.Contains(v, w) {
			t.Errorf("screen has %q:\n%s", w, v)
		}
	}
}

func TestSelectionFollowsAndStays(t *testing.T) {
	m, in, _ := newTestModel(t, 80, 24)
	wantView(t, m, "Waiting for attempts")
	feed(m, in, 0, 30)
	if got := selectedID(t, m); got != "att_0029" {
		t.Fatalf("selected %s, want the newest", got)
	}
	press(m, "up", "up")
	if got := selectedID(t, m); got != "att_0027" || m.table.Following() {
		t.Fatalf("selected %s (following %v), want att_0027", got, m.table.Following())
	}
	// New rows do not move the selection off the row being read.
	feed(m, in, 30, 5)
	if got := selectedID(t, m); got != "att_0027" {
		t.Fatalf("after new rows, selected %s", got)
	}
	wantView(t, m, "› 15:09:22.700 ep_orders")
	press(m, "G")
	if got := selectedID(t, m); got != "att_0034" || !m.table.Following() {
		t.Fatalf("G selected %s (following %v)", got, m.table.Following())
	}
	feed(m, in, 35, 1)
	if got := selectedID(t, m); got != "att_0035" {
		t.Fatalf("following, selected %s", got)
	}
	press(m, "g")
	if got := selectedID(t, m); got != "att_0000" {
		t.Fatalf("g selected %s", got)
	}
	wantView(t, m, "› 15:09:20.000")
	press(m, "j", "k", "down")
	if got := selectedID(t, m); got != "att_0001" {
		t.Fatalf("selected %s", got)
	}
}

func TestPauseHoldsRows(t *testing.T) {
	m, in, _ := newTestModel(t, 80, 24)
	feed(m, in, 0, 5)
	press(m, "space")
	feed(m, in, 5, 7)
	if m.view.Len() != 5 {
		t.Fatalf("paused, the table has %d rows, want 5", m.view.Len())
	}
	wantView(t, m, "PAUSED · 7 new", "5 rows")
	dontWantView(t, m, "att_0011")
	// The rates go on while paused.
	if s := m.rates.Snapshot(clock); s.Total != 12 {
		t.Errorf("rates counted %d, want 12", s.Total)
	}
	press(m, "space")
	if m.view.Len() != 12 || selectedID(t, m) != "att_0011" {
		t.Fatalf("resumed: %d rows, selected %s", m.view.Len(), selectedID(t, m))
	}
	dontWantView(t, m, "PAUSED")
}

func TestPauseOverflowKeepsTheNewest(t *testing.T) {
	m, in, _ := newTestModel(t, 80, 24, func(o *Options) { o.Capacity = 10 })
	press(m, "space")
	feed(m, in, 0, 25)
	wantView(t, m, "PAUSED · 25 new")
	press(m, "space")
	if m.ring.Len() != 10 || m.ring.At(0).Attempt.ID != "att_0015" {
		t.Fatalf("ring %d rows from %s", m.ring.Len(), m.ring.At(0).Attempt.ID)
	}
	wantView(t, m, "15 of the rows that came while paused")
}

func TestFilter(t *testing.T) {
	m, in, _ := newTestModel(t, 100, 30)
	feed(m, in, 0, 30)
	press(m, "/")
	typeText(m, "BILL")
	if m.view.Len() != 10 {
		t.Fatalf("filter bill: %d rows, want 10", m.view.Len())
	}
	wantView(t, m, "/BILL", "filter BILL")
	dontWantView(t, m, "ep_orders", "ep_audit")
	// Every word must match, in any of the three fields.
	typeText(m, " timeout")
	if m.view.Len() != 2 {
		t.Fatalf("bill timeout: %d rows, want 2", m.view.Len())
	}
	press(m, "esc")
	if m.view.Len() != 30 || m.filterText != "" {
		t.Fatalf("esc: %d rows, filter %q; want the old (empty) filter back", m.view.Len(), m.filterText)
	}
	press(m, "/")
	typeText(m, "invoice")
	press(m, "enter")
	if m.view.Len() != 8 || m.filter.Active() {
		t.Fatalf("invoice: %d rows, active %v", m.view.Len(), m.filter.Active())
	}
	// Keys go to the table again, and new rows are filtered as they come.
	press(m, "q")
	feed(m, in, 30, 8)
	if m.view.Len() != 10 {
		t.Fatalf("after 8 more, %d rows match, want 10", m.view.Len())
	}
	for i := range m.view.Len() {
		if a := m.view.At(i).Attempt; a.EventType != "invoice.paid" {
			t.Fatalf("row %d is %s", i, a.EventType)
		}
	}
	press(m, "/")
	send(m, tea.KeyMsg{Type: tea.KeyCtrlU}) // clears the line
	typeText(m, "nothing-matches")
	press(m, "enter")
	wantView(t, m, "No row matches the filter")
}

func TestRingBound(t *testing.T) {
	m, in, _ := newTestModel(t, 80, 24, func(o *Options) { o.Capacity = 100 })
	press(m, "/")
	typeText(m, "orders")
	press(m, "enter")
	for i := 0; i < 1000; i += 50 {
		feed(m, in, i, 50)
	}
	if m.ring.Len() != 100 || m.ring.FirstSeq() != 901 {
		t.Fatalf("ring %d rows from seq %d", m.ring.Len(), m.ring.FirstSeq())
	}
	// The filtered view forgets evicted rows and stays within bounds.
	if n := m.view.Len(); n < 33 || n > 34 {
		t.Fatalf("filtered view %d rows", n)
	}
	if len(m.view.seqs) > 2*m.ring.Cap() {
		t.Fatalf("filtered view holds %d seqs", len(m.view.seqs))
	}
	if got := selectedID(t, m); got != "att_0999" {
		t.Fatalf("selected %s", got)
	}
}

func TestEvictedSelectionMovesToOldest(t *testing.T) {
	m, in, _ := newTestModel(t, 80, 24, func(o *Options) { o.Capacity = 20 })
	feed(m, in, 0, 20)
	press(m, "g")
	feed(m, in, 20, 5)
	if got := selectedID(t, m); got != "att_0005" {
		t.Fatalf("selected %s, want the oldest left", got)
	}
}

func TestDetailPane(t *testing.T) {
	m, in, fa := newTestModel(t, 100, 40)
	a3 := attempt(3)
	fa.delivery["dlv_0003"] = api.Delivery{DeliveryID: "dlv_0003", Attempts: []api.Attempt{attempt(2), a3}}
	feed(m, in, 0, 5)
	press(m, "up")
	press(m, "enter")
	if m.screen != screenDetail {
		t.Fatal("enter did not open the detail pane")
	}
	wantView(t, m,
		"Attempt att_0003", "dlv_0003", "evt_0003 (order.shipped)", "ep_orders",
		"failed  HTTP 503", "HTTP 503 Service Unavailable", "Next retry", "15:14:26 (in 5m0s)",
		"Request headers (secrets redacted by the server)", "Webhook-Signature: [redacted]",
		"Response headers", "Content-Type: text/plain",
		"upstream down", "�[31mretry later",
		"Attempts of this delivery", "› g1 #1  15:09:20.300  failed HTTP 503  140ms",
	)
	if strings.Contains(m.View(), "\x1b") {
		t.Error("the response body's escape codes reached the screen")
	}
	if _, _, lookups := fa.calls(); len(lookups) != 1 || lookups[0] != "dlv_0003" {
		t.Errorf("lookups %v", lookups)
	}
	press(m, "esc")
	if m.screen != screenTable {
		t.Fatal("esc did not close the pane")
	}
	// A delivery the log does not know yet: the pane says so.
	press(m, "up", "enter")
	wantView(t, m, "no such delivery (HTTP 404)")
}

func TestReplayAsksFirst(t *testing.T) {
	m, in, fa := newTestModel(t, 120, 30)
	feed(m, in, 0, 4)
	press(m, "r")
	wantView(t, m, "Replay delivery dlv_0003 to ep_orders from the dead-letter queue? [y/N]")
	press(m, "n")
	if replays, _, _ := fa.calls(); len(replays) != 0 {
		t.Fatalf("n replayed %v", replays)
	}
	wantView(t, m, "Replay canceled")
	// Any key but y declines, even one that means something else.
	press(m, "r", "q")
	if replays, _, _ := fa.calls(); len(replays) != 0 {
		t.Fatalf("q replayed %v", replays)
	}
	press(m, "r", "y")
	replays, _, _ := fa.calls()
	if len(replays) != 1 || replays[0] != "ep_orders/dlv_0003" {
		t.Fatalf("replays %v", replays)
	}
	wantView(t, m, "Replayed delivery dlv_0003 to ep_orders (generation 2).")

	// From the detail pane, the attempt shown is the one replayed.
	fa.replayErr = &api.Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such dead letter"}
	press(m, "up", "enter", "r", "y")
	replays, _, _ = fa.calls()
	if len(replays) != 2 || replays[1] != "ep_audit/dlv_0002" {
		t.Fatalf("replays %v", replays)
	}
	wantView(t, m, "Not replayed: delivery dlv_0002 is not in the dead-letter queue (HTTP 404)")

	fa.replayErr = &api.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "the key lacks scope dlq:replay"}
	press(m, "r", "y")
	wantView(t, m, "Replay of dlv_0002 failed: the key lacks scope dlq:replay (HTTP 403)")
}

func TestEndpointStats(t *testing.T) {
	m, in, fa := newTestModel(t, 100, 30)
	feed(m, in, 0, 3)
	press(m, "e")
	if _, stats, _ := fa.calls(); len(stats) != 1 || stats[0] != "ep_audit" {
		t.Fatalf("stats calls %v", stats)
	}
	wantView(t, m, "Endpoint ep_audit", "last 1h0m0s (120 attempts sampled)", "enabled, circuit closed",
		"83.3%", "p50 80ms  p90 250ms  p99 1s", "Last error     HTTP 503", "timeout")
	press(m, "esc")
	fa.statsErr = &api.Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such endpoint"}
	press(m, "e")
	wantView(t, m, "no such endpoint (HTTP 404)")
	// A late answer for an endpoint no longer shown is dropped.
	send(m, statsMsg{req: 1, stats: api.EndpointStats{EndpointID: "ep_old"}})
	wantView(t, m, "no such endpoint")
}

func TestHelpAndQuit(t *testing.T) {
	m, in, _ := newTestModel(t, 80, 24)
	feed(m, in, 0, 3)
	press(m, "?")
	wantView(t, m, "Help", "replay the delivery from the dead-letter queue")
	press(m, "?")
	if m.screen != screenTable {
		t.Fatal("? did not close the help")
	}
	for _, k := range []string{"q", "ctrl+c"} {
		_, cmd := m.Update(keyPress(k))
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Fatalf("%s did not quit", k)
		}
	}
	// While typing a filter, q is a letter; ctrl+c still quits.
	press(m, "/")
	_, cmd := m.Update(keyPress("q"))
	if cmd != nil {
		if _, ok := cmd().(tea.QuitMsg); ok {
			t.Fatal("q quit while typing a filter")
		}
	}
	_, cmd = m.Update(keyPress("ctrl+c"))
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("ctrl+c did not quit while typing a filter")
	}
}

func TestConnectionState(t *testing.T) {
	m, in, _ := newTestModel(t, 120, 24)
	wantView(t, m, "◌ connecting…")
	in.SetState(ConnState{Phase: PhaseLive})
	send(m, tickMsg{})
	wantView(t, m, "● live")
	in.SetState(ConnState{Phase: PhaseReconnecting, Attempt: 3, Err: errors.New("connection refused"), Retry: clock.Add(4 * time.Second)})
	send(m, tickMsg{})
	wantView(t, m, "↻ reconnecting (attempt 3, in 4s): connection refused")
	in.Notify("Showing the newest 10000 attempts")
	send(m, tickMsg{})
	wantView(t, m, "Showing the newest 10000 attempts")

	in.SetState(ConnState{Phase: PhaseFailed, Err: &api.Error{Status: 401, Message: "invalid API key"}})
	_, cmd := m.Update(tickMsg{})
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("a failed stream did not end the tail")
	}
	if m.Err() == nil || !strings.Contains(m.Err().Error(), "invalid API key") {
		t.Fatalf("Err() = %v", m.Err())
	}
}

func TestResize(t *testing.T) {
	m, in, _ := newTestModel(t, 80, 24)
	feed(m, in, 0, 100)
	sizes := [][2]int{{80, 24}, {120, 40}, {40, 10}, {200, 60}, {20, 5}, {10, 3}, {81, 25}}
	screens := [][]string{nil, {"enter"}, {"esc", "?"}, {"esc", "e"}, {"esc", "/"}}
	for _, keys := range screens {
		press(m, keys...)
		for _, sz := range sizes {
			send(m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			v := m.View()
			lines := strings.Split(v, "\n")
			if sz[0] >= 20 && sz[1] >= 5 && len(lines) != sz[1] {
				t.Errorf("%v after %v: %d lines, want %d", sz, keys, len(lines), sz[1])
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w > sz[0] {
					t.Errorf("%v after %v: line %d is %d wide: %q", sz, keys, i, w, l)
				}
			}
		}
	}
	// Back at a normal size, the selection is still on screen.
	press(m, "esc", "esc")
	send(m, tea.WindowSizeMsg{Width: 80, Height: 10})
	wantView(t, m, "› ")
}

func TestInboxDropsOldest(t *testing.T) {
	in := NewInbox(10)
	for i := range 25 {
		in.Put(attempt(i))
	}
	b := in.Drain(nil)
	if len(b.Attempts) != 10 || b.Attempts[0].ID != "att_0015" || b.Attempts[9].ID != "att_0024" || b.Dropped != 15 {
		t.Fatalf("drained %d from %s, dropped %d", len(b.Attempts), b.Attempts[0].ID, b.Dropped)
	}
	if b := in.Drain(nil); len(b.Attempts) != 0 || b.Dropped != 0 {
		t.Fatalf("second drain %d, dropped %d", len(b.Attempts), b.Dropped)
	}
}

func TestRates(t *testing.T) {
	var r Rates
	now := clock
	// 100 attempts a second for 30 seconds, 10% failing, latencies
	// 10ms..1000ms evenly.
	for s := range 30 {
		for i := range 100 {
			a := api.Attempt{
				StartedAt: now.Add(-time.Duration(s) * time.Second), Outcome: "delivered",
				Duration: api.Duration(time.Duration(i+1) * 10 * time.Millisecond),
			}
			if i%10 == 0 {
				a.Outcome = "failed"
			}
			r.Add(&a, now)
		}
	}
	old := api.Attempt{StartedAt: now.Add(-2 * time.Minute), Outcome: "delivered", Duration: api.Duration(time.Second)}
	r.Add(&old, now)
	s := r.Snapshot(now)
	if s.Total != 3000 {
		t.Fatalf("total %d", s.Total)
	}
	if s.PerSecond < 99 || s.PerSecond > 101 {
		t.Errorf("rate %.1f/s, want 100", s.PerSecond)
	}
	if s.FailurePct != 10 {
		t.Errorf("failures %.1f%%", s.FailurePct)
	}
	near := func(name string, got, want time.Duration) {
		if d := float64(got-want) / float64(want); d < -0.06 || d > 0.06 {
			t.Errorf("%s %s, want about %s", name, got, want)
		}
	}
	near("p50", s.P50, 500*time.Millisecond)
	near("p99", s.P99, 990*time.Millisecond)
	// A minute later, all of it has left the window.
	if s := r.Snapshot(now.Add(time.Minute)); s.Total != 0 || s.P50 != 0 {
		t.Errorf("a minute later: %+v", s)
	}
	if got := sparkline([]int{0, 1, 4, 8}, 3); got != "▂▅█" {
		t.Errorf("sparkline %q", got)
	}
}

func TestParseFilter(t *testing.T) {
	a := &api.Attempt{EndpointID: "ep_Billing", EventType: "invoice.paid", Outcome: "timeout"}
	for filter, want := range map[string]bool{
		"": true, "bill": true, "BILL paid": true, "time": true, "bill orders": false, "ep_billing invoice timeout": true,
	} {
		match := ParseFilter(filter)
		if got := match == nil || match(a); got != want {
			t.Errorf("%q: %v, want %v", filter, got, want)
		}
	}
}

func TestColorsKeepTheLayout(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	m, in, _ := newTestModel(t, 80, 24, func(o *Options) { o.Renderer = r })
	feed(m, in, 0, 40)
	for _, keys := range [][]string{nil, {"enter"}, {"esc", "?"}} {
		press(m, keys...)
		v := m.View()
		if !strings.Contains(v, "\x1b[") {
			t.Fatalf("no colors after %v", keys)
		}
		lines := strings.Split(v, "\n")
		if len(lines) != 24 {
			t.Errorf("after %v: %d lines", keys, len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > 80 {
				t.Errorf("after %v: line %d is %d wide", keys, i, w)
			}
			if strings.HasSuffix(ansi.Strip(l), "…") && i == 2 && keys == nil {
				t.Errorf("the table header is cut: %q", ansi.Strip(l))
			}
		}
	}
	press(m, "esc")
	if !strings.Contains(m.View(), "m"+"delivered\x1b[") || !strings.Contains(m.View(), "m"+"failed\x1b[") {
		t.Errorf("the outcomes are not colored:\n%q", m.View())
	}
}
