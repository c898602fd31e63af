package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// HeaderKeyMap is empty: the header only shows.
type HeaderKeyMap struct{}

// ShortHelp implements help.KeyMap.
func (HeaderKeyMap) ShortHelp() []key.Binding { return nil }

// FullHelp implements help.KeyMap.
func (HeaderKeyMap) FullHelp() [][]key.Binding { return nil }

// HeaderInfo is what the header shows; the tail sends one on every tick.
type HeaderInfo struct {
	Title   string
	State   ConnState
	Now     time.Time
	Rates   RateSnapshot
	Rows    int
	Paused  bool
	Pending int
	Filter  string
	Dropped uint64
}

// Header shows the connection state and live rates over the last minute
// on two lines.
type Header struct {
	Keys   HeaderKeyMap
	styles *Styles
	info   HeaderInfo
	width  int
}

// NewHeader returns a header.
func NewHeader(styles *Styles) Header { return Header{styles: styles} }

// Init implements tea.Model.
func (h Header) Init() tea.Cmd { return nil }

// Update takes a HeaderInfo.
func (h Header) Update(msg tea.Msg) (Header, tea.Cmd) {
	if info, ok := msg.(HeaderInfo); ok {
		h.info = info
	}
	return h, nil
}

// SetSize gives the header its width.
func (h *Header) SetSize(width, _ int) { h.width = width }

// Height is the header's number of lines.
func (h Header) Height() int { return 2 }

// View renders the header.
func (h Header) View() string {
	s, in := h.styles, h.info
	sep := s.Dim.Render(" · ")
	// The state comes first so that a narrow screen never cuts it off.
	parts := []string{h.state()}
	if in.Paused {
		parts = append(parts, s.Warn.Render(fmt.Sprintf("PAUSED · %d new", in.Pending)))
	}
	parts = append(parts, fmt.Sprintf("%d rows", in.Rows))
	if in.Filter != "" {
		parts = append(parts, "filter "+s.Bold.Render(clean(in.Filter, false)))
	}
	if in.Dropped > 0 {
		parts = append(parts, s.Bad.Render(fmt.Sprintf("%d not shown (too fast)", in.Dropped)))
	}
	if in.Title != "" {
		parts = append(parts, s.Title.Render(in.Title))
	}
	line1 := strings.Join(parts, sep)

	r := in.Rates
	fail := fmt.Sprintf("fail %.1f%%", r.FailurePct)
	switch {
	case r.Total == 0:
	case r.FailurePct >= 10:
		fail = s.Bad.Render(fail)
	case r.FailurePct > 0:
		fail = s.Warn.Render(fail)
	default:
		fail = s.Good.Render(fail)
	}
	pct := func(d time.Duration) string {
		if d == 0 {
			return "-"
		}
		return approx(d)
	}
	stats := fmt.Sprintf("%s/s  %s  p50 %s  p99 %s  ", rate(r.PerSecond), fail, pct(r.P50), pct(r.P99))
	label := s.Dim.Render("last 1m ")
	spark := sparkline(r.PerSec[:], min(windowSeconds, h.width-ansi.StringWidth(stats)-ansi.StringWidth(label)))
	line2 := label + stats + s.Good.Render(spark)
	return truncate(line1, h.width) + "\n" + truncate(line2, h.width)
}

func (h Header) state() string {
	s, st := h.styles, h.info.State
	switch st.Phase {
	case PhaseLive:
		return s.Good.Render("● live")
	case PhaseReconnecting:
		msg := fmt.Sprintf("↻ reconnecting (attempt %d", st.Attempt)
		if !st.Retry.IsZero() && st.Retry.After(h.info.Now) {
			msg += ", in " + st.Retry.Sub(h.info.Now).Round(time.Second).String()
		}
		msg += ")"
		if st.Err != nil {
			msg += ": " + clean(errorText(st.Err), false)
		}
		return s.Warn.Render(msg)
	case PhaseFailed:
		msg := "✗ stopped"
		if st.Err != nil {
			msg += ": " + clean(errorText(st.Err), false)
		}
		return s.Bad.Render(msg)
	}
	return s.Dim.Render("◌ connecting…")
}

func rate(r float64) string {
	switch {
	case r == 0:
		return "0"
	case r < 10:
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.0f", r)
}
