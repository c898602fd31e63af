package tui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/hookd/hookd/internal/api"
)

// PaneKeyMap are the keys of a scrolling pane (details, stats, help).
type PaneKeyMap struct {
	scrollKeys
	Close key.Binding
}

// DefaultPaneKeyMap returns a pane's keys.
func DefaultPaneKeyMap() PaneKeyMap {
	return PaneKeyMap{
		scrollKeys: defaultScrollKeys(),
		Close:      key.NewBinding(key.WithKeys("esc", "backspace"), key.WithHelp("esc", "back to the table")),
	}
}

// ShortHelp implements help.KeyMap.
func (k PaneKeyMap) ShortHelp() []key.Binding { return []key.Binding{k.Up, k.Down, k.Close} }

// FullHelp implements help.KeyMap.
func (k PaneKeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{append(k.bindings(), k.Close)}
}

// pane is a titled viewport the detail, stats and help screens share.
type pane struct {
	Keys   PaneKeyMap
	styles *Styles
	vp     viewport.Model
	title  string
	width  int
}

func newPane(styles *Styles) pane {
	vp := viewport.New(0, 0)
	vp.KeyMap = viewport.KeyMap{} // the pane maps its own keys
	return pane{Keys: DefaultPaneKeyMap(), styles: styles, vp: vp}
}

func (p pane) update(msg tea.Msg) pane {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return p
	}
	switch {
	case key.Matches(km, p.Keys.Up):
		p.vp.ScrollUp(1)
	case key.Matches(km, p.Keys.Down):
		p.vp.ScrollDown(1)
	case key.Matches(km, p.Keys.PageUp):
		p.vp.PageUp()
	case key.Matches(km, p.Keys.PageDown):
		p.vp.PageDown()
	case key.Matches(km, p.Keys.Top):
		p.vp.GotoTop()
	case key.Matches(km, p.Keys.Bottom):
		p.vp.GotoBottom()
	}
	return p
}

func (p pane) view() string {
	title := p.styles.Title.Render(p.title)
	if !p.vp.AtTop() || !p.vp.AtBottom() {
		title += p.styles.Dim.Render(fmt.Sprintf("  %d%%", int(p.vp.ScrollPercent()*100)))
	}
	return truncate(title, p.width) + "\n" + p.vp.View()
}

func (p *pane) setSize(width, height int) {
	p.width = width
	p.vp.Width, p.vp.Height = width, max(height-1, 1)
}

// setContent wraps text to the pane's width; keep says whether to stay at
// the same scroll position (a refresh) or go back to the top (new text).
func (p *pane) setContent(text string, keep bool) {
	y := p.vp.YOffset
	p.vp.SetContent(lipgloss.NewStyle().Width(max(p.width, 1)).Render(text))
	if keep {
		p.vp.SetYOffset(y)
	} else {
		p.vp.GotoTop()
	}
}

// Detail shows one attempt: what was sent (headers as the server logged
// them, secrets already redacted), what came back, the error and the next
// retry, and the delivery's other attempts once they are loaded.
type Detail struct {
	pane
	loc      *time.Location
	row      Row
	shown    bool
	now      time.Time
	history  []api.Attempt
	histErr  error
	histWait bool
}

// NewDetail returns an empty detail pane.
func NewDetail(styles *Styles, loc *time.Location) Detail {
	return Detail{pane: newPane(styles), loc: loc}
}

// deliveryMsg carries a delivery's attempts for the detail pane.
type deliveryMsg struct {
	id       string
	delivery api.Delivery
	err      error
}

// Init implements tea.Model.
func (d Detail) Init() tea.Cmd { return nil }

// Update scrolls and takes in the delivery's history.
func (d Detail) Update(msg tea.Msg) (Detail, tea.Cmd) {
	if dm, ok := msg.(deliveryMsg); ok {
		if !d.shown || dm.id != d.row.Attempt.DeliveryID {
			return d, nil
		}
		d.history, d.histErr, d.histWait = dm.delivery.Attempts, dm.err, false
		d.render(true)
		return d, nil
	}
	d.pane = d.update(msg)
	return d, nil
}

// View renders the pane.
func (d Detail) View() string { return d.view() }

// SetSize fits the pane in width×height cells.
func (d *Detail) SetSize(width, height int) {
	d.setSize(width, height)
	if d.shown {
		d.render(true)
	}
}

// Show puts row in the pane, waiting for its delivery's history.
func (d *Detail) Show(row Row, now time.Time) {
	d.row, d.shown, d.now = row, true, now
	d.history, d.histErr, d.histWait = nil, nil, true
	d.render(false)
}

// Row is the attempt shown.
func (d Detail) Row() (Row, bool) { return d.row, d.shown }

func (d *Detail) render(keep bool) {
	a := &d.row.Attempt
	s := d.styles
	d.title = "Attempt " + clean(a.ID, false)
	var b strings.Builder
	field := func(name, value string) {
		fmt.Fprintf(&b, "%s %s\n", s.Label.Render(fmt.Sprintf("%-12s", name)), value)
	}
	field("Delivery", clean(a.DeliveryID, false))
	field("Event", clean(a.EventID, false)+" ("+clean(a.EventType, false)+")")
	field("Endpoint", clean(a.EndpointID, false))
	if a.TenantID != "" {
		field("Tenant", clean(a.TenantID, false))
	}
	field("Attempt", fmt.Sprintf("%d (generation %d)", a.Attempt, a.Generation))
	field("Started", a.StartedAt.In(d.loc).Format("2006-01-02 15:04:05.000 MST")+"  took "+latency(time.Duration(a.Duration)))
	outcome := s.Outcome(clean(a.Outcome, false))
	if a.StatusCode != 0 {
		outcome += fmt.Sprintf("  HTTP %d", a.StatusCode)
	}
	field("Outcome", outcome)
	if a.Error != "" {
		field("Error", s.Bad.Render(clean(a.Error, false)))
	}
	switch {
	case a.NextRetryAt != nil:
		field("Next retry", a.NextRetryAt.In(d.loc).Format("15:04:05")+" ("+until(d.now, *a.NextRetryAt)+")")
	case a.Outcome != "delivered":
		field("Next retry", "none (see the dead-letter queue; r replays)")
	}
	headers(&b, s, "Request headers (secrets redacted by the server)", a.RequestHeaders)
	headers(&b, s, "Response headers", a.ResponseHeaders)
	b.WriteString("\n" + s.Bold.Render(bodyTitle(a)) + "\n")
	if a.ResponseBody == "" {
		b.WriteString(s.Dim.Render("  (empty)") + "\n")
	} else {
		for _, line := range strings.Split(strings.TrimRight(clean(a.ResponseBody, true), "\n"), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	b.WriteString("\n" + s.Bold.Render("Attempts of this delivery") + "\n")
	switch {
	case d.histWait:
		b.WriteString(s.Dim.Render("  loading…") + "\n")
	case d.histErr != nil:
		b.WriteString(s.Bad.Render("  "+clean(errorText(d.histErr), false)) + "\n")
	case len(d.history) == 0:
		b.WriteString(s.Dim.Render("  none logged yet") + "\n")
	default:
		for _, h := range d.history {
			status := ""
			if h.StatusCode != 0 {
				status = " HTTP " + strconv.Itoa(h.StatusCode)
			}
			mark := "  "
			if h.ID == a.ID {
				mark = "› "
			}
			fmt.Fprintf(&b, "%sg%d #%d  %s  %s%s  %s\n", mark, h.Generation, h.Attempt, h.StartedAt.In(d.loc).Format("15:04:05.000"),
				s.Outcome(clean(h.Outcome, false)), status, latency(time.Duration(h.Duration)))
		}
	}
	d.setContent(strings.TrimRight(b.String(), "\n"), keep)
}

func headers(b *strings.Builder, s *Styles, title string, h map[string]string) {
	b.WriteString("\n" + s.Bold.Render(title) + "\n")
	if len(h) == 0 {
		b.WriteString(s.Dim.Render("  (none)") + "\n")
		return
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(b, "  %s: %s\n", s.Dim.Render(clean(k, false)), clean(h[k], false))
	}
}

func bodyTitle(a *api.Attempt) string {
	switch {
	case a.ResponseBodySize > int64(len(a.ResponseBody)):
		return fmt.Sprintf("Response body (first %d of %d bytes)", len(a.ResponseBody), a.ResponseBodySize)
	case a.ResponseBodySize > 0:
		return fmt.Sprintf("Response body (%d bytes)", a.ResponseBodySize)
	}
	return "Response body"
}

// until says how far t is from now, for people.
func until(now, t time.Time) string {
	d := t.Sub(now)
	if d < 0 {
		return "due"
	}
	return "in " + d.Round(time.Second).String()
}
