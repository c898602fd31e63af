package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/hookd/hookd/internal/api"
)

// StatsPane shows an endpoint's stats as the server computes them over
// its window (GET /v1/endpoints/{id}/stats).
type StatsPane struct {
	pane
	loc      *time.Location
	endpoint string
	req      int // numbers requests, so that a late answer for another endpoint is ignored
	stats    *api.EndpointStats
	err      error
}

// statsMsg answers a request for an endpoint's stats.
type statsMsg struct {
	req   int
	stats api.EndpointStats
	err   error
}

// NewStatsPane returns an empty stats pane.
func NewStatsPane(styles *Styles, loc *time.Location) StatsPane {
	return StatsPane{pane: newPane(styles), loc: loc}
}

// Init implements tea.Model.
func (p StatsPane) Init() tea.Cmd { return nil }

// Update scrolls and takes in the answer.
func (p StatsPane) Update(msg tea.Msg) (StatsPane, tea.Cmd) {
	if sm, ok := msg.(statsMsg); ok {
		if sm.req != p.req {
			return p, nil
		}
		p.err = sm.err
		if sm.err == nil {
			p.stats = &sm.stats
		}
		p.render(false)
		return p, nil
	}
	p.pane = p.update(msg)
	return p, nil
}

// View renders the pane.
func (p StatsPane) View() string { return p.view() }

// SetSize fits the pane in width×height cells.
func (p *StatsPane) SetSize(width, height int) {
	p.setSize(width, height)
	if p.endpoint != "" {
		p.render(true)
	}
}

// Load starts over for endpoint; the caller fetches with request number
// it returns.
func (p *StatsPane) Load(endpoint string) int {
	p.req++
	p.endpoint, p.stats, p.err = endpoint, nil, nil
	p.render(false)
	return p.req
}

func (p *StatsPane) render(keep bool) {
	s := p.styles
	p.title = "Endpoint " + clean(p.endpoint, false)
	var b strings.Builder
	switch {
	case p.err != nil:
		b.WriteString(s.Bad.Render(clean(errorText(p.err), false)))
	case p.stats == nil:
		b.WriteString(s.Dim.Render("loading stats…"))
	default:
		st := p.stats
		field := func(name, value string) {
			fmt.Fprintf(&b, "%s %s\n", s.Label.Render(fmt.Sprintf("%-14s", name)), value)
		}
		field("Window", fmt.Sprintf("last %s (%d attempts sampled)", time.Duration(st.Window), st.Sampled))
		enabled := s.Good.Render("enabled")
		if !st.Enabled {
			enabled = s.Bad.Render("disabled")
			if st.DisabledFor != "" {
				enabled += " (" + clean(st.DisabledFor, false) + ")"
			}
		}
		field("State", enabled+", circuit "+clean(st.CircuitState, false))
		field("Delivered", fmt.Sprintf("%d", st.Delivered))
		field("Failed", fmt.Sprintf("%d", st.Failed))
		field("Success rate", fmt.Sprintf("%.1f%%", st.SuccessRate*100))
		field("Latency", fmt.Sprintf("p50 %s  p90 %s  p99 %s", latency(time.Duration(st.LatencyP50)),
			latency(time.Duration(st.LatencyP90)), latency(time.Duration(st.LatencyP99))))
		if st.LastAttemptAt != nil {
			field("Last attempt", st.LastAttemptAt.In(p.loc).Format("2006-01-02 15:04:05 MST"))
		}
		if st.LastError != "" {
			at := ""
			if st.LastErrorAt != nil {
				at = " at " + st.LastErrorAt.In(p.loc).Format("15:04:05")
			}
			field("Last error", s.Bad.Render(clean(st.LastError, false))+at)
		}
		if len(st.Outcomes) > 0 {
			b.WriteString("\n" + s.Bold.Render("Outcomes") + "\n")
			names := make([]string, 0, len(st.Outcomes))
			for o := range st.Outcomes {
				names = append(names, o)
			}
			sort.Strings(names)
			for _, o := range names {
				name := clean(o, false)
				fmt.Fprintf(&b, "  %s%s %d\n", s.Outcome(name), strings.Repeat(" ", max(18-len(name), 0)), st.Outcomes[o])
			}
		}
	}
	p.setContent(strings.TrimRight(b.String(), "\n"), keep)
}
