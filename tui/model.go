package tui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/hookd/hookd/internal/api"
)

// Actions are the API calls the tail makes for the user. *api.Client
// implements them.
type Actions interface {
	ReplayDeadLetter(ctx context.Context, endpointID, deliveryID string) (api.ReplayOneResponse, error)
	GetDelivery(ctx context.Context, id string) (api.Delivery, error)
	EndpointStats(ctx context.Context, id string, window time.Duration) (api.EndpointStats, error)
}

// Options configure a tail.
type Options struct {
	// Source feeds attempts; required.
	Source Source
	// Actions replays and looks things up; required.
	Actions Actions
	// Context bounds the actions' requests (context.Background when nil).
	Context context.Context
	// Renderer renders the styles; lipgloss's default when nil.
	Renderer *lipgloss.Renderer
	// Now is the clock of the rates and relative times (time.Now when nil).
	Now func() time.Time
	// Location shows times (time.Local when nil).
	Location *time.Location
	// Capacity is how many rows are kept (DefaultCapacity when <= 0).
	Capacity int
	// Tick is how often arrivals are applied and the screen redrawn
	// (DefaultTick when <= 0).
	Tick time.Duration
	// Title heads the screen, e.g. the server and the stream's filters.
	Title string
}

// DefaultTick is how often the tail takes in what arrived: often enough
// to look live, rarely enough that thousands of attempts a second cost a
// few redraws, not thousands.
const DefaultTick = 100 * time.Millisecond

// actionTimeout bounds a replay or lookup.
const actionTimeout = 30 * time.Second

type screen int

const (
	screenTable screen = iota
	screenDetail
	screenStats
	screenHelp
)

// tickMsg asks the tail to take in what arrived.
type tickMsg struct{}

// replayMsg answers a replay.
type replayMsg struct {
	row  Row
	resp api.ReplayOneResponse
	err  error
}

// statusKind colors the status line.
type statusKind int

const (
	statusInfo statusKind = iota
	statusGood
	statusBad
)

// Model is hookctl tail's screen: a header with the connection state and
// rates, the table of attempts, and the panes that open over it (details,
// endpoint stats, help), with a filter line and a yes/no question on the
// footer. Arrivals are taken from the Source on a tick, in one batch, so
// the reader of the stream never waits for the screen.
type Model struct {
	Keys KeyMap

	opts    Options
	ctx     context.Context
	styles  *Styles
	ring    *Ring
	pending *Ring // arrivals while paused
	view    *RowView
	rates   Rates
	scratch []api.Attempt

	header  Header
	table   Table
	detail  Detail
	stats   StatsPane
	help    Help
	filter  FilterBar
	confirm Confirm

	screen       screen
	filterText   string
	paused       bool
	pendingTotal int
	dropped      uint64
	state        ConnState
	now          time.Time
	status       string
	statusKind   statusKind
	err          error
	width        int
	height       int
}

// New returns a tail. Run it with tea.NewProgram.
func New(opts Options) *Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Capacity <= 0 {
		opts.Capacity = DefaultCapacity
	}
	if opts.Tick <= 0 {
		opts.Tick = DefaultTick
	}
	if opts.Title == "" {
		opts.Title = "hookctl tail"
	}
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	styles := NewStyles(opts.Renderer)
	ring := NewRing(opts.Capacity)
	view := NewRowView(ring)
	m := &Model{
		Keys:    DefaultKeyMap(),
		opts:    opts,
		ctx:     ctx,
		styles:  styles,
		ring:    ring,
		pending: NewRing(opts.Capacity),
		view:    view,
		header:  NewHeader(styles),
		table:   NewTable(view, styles, opts.Location),
		detail:  NewDetail(styles, opts.Location),
		stats:   NewStatsPane(styles, opts.Location),
		filter:  NewFilterBar(styles),
		confirm: NewConfirm(styles),
		now:     opts.Now(),
	}
	m.help = NewHelp(styles, m.Keys, m.table.Keys)
	m.updateHeader()
	return m
}

// Init starts the ticks.
func (m *Model) Init() tea.Cmd { return m.tick() }

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.opts.Tick, func(time.Time) tea.Msg { return tickMsg{} })
}

// Err is the stream's error when it gave up (the tail then quits).
func (m *Model) Err() error { return m.err }

// Update handles keys, ticks, resizes and the answers of actions.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.SetSize(msg.Width, msg.Height)
		return m, nil
	case tickMsg:
		m.takeIn()
		if m.state.Phase == PhaseFailed {
			m.err = m.state.Err
			if m.err == nil {
				m.err = errors.New("the stream stopped")
			}
			return m, tea.Quit
		}
		return m, m.tick()
	case tea.KeyMsg:
		return m, m.key(msg)
	case confirmedMsg:
		if !msg.yes {
			m.setStatus(statusInfo, "Replay canceled; nothing changed.")
			return m, nil
		}
		a := msg.subject.Attempt
		m.setStatus(statusInfo, "Replaying delivery "+clean(a.DeliveryID, false)+"…")
		return m, m.replay(msg.subject)
	case replayMsg:
		m.replayed(msg)
		return m, nil
	case deliveryMsg:
		var cmd tea.Cmd
		m.detail, cmd = m.detail.Update(msg)
		return m, cmd
	case statsMsg:
		var cmd tea.Cmd
		m.stats, cmd = m.stats.Update(msg)
		return m, cmd
	}
	// Anything else (the filter cursor's messages) goes to the filter.
	var cmd tea.Cmd
	m.filter, cmd = m.filter.Update(msg)
	return m, cmd
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	if key.Matches(msg, m.Keys.ForceQ) {
		return tea.Quit
	}
	if m.filter.Active() {
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Update(msg)
		m.applyFilter(m.filter.Value())
		return cmd
	}
	if m.confirm.Active() {
		var cmd tea.Cmd
		m.confirm, cmd = m.confirm.Update(msg)
		return cmd
	}
	switch {
	case key.Matches(msg, m.Keys.Quit):
		return tea.Quit
	case key.Matches(msg, m.Keys.Refresh):
		return tea.ClearScreen
	case key.Matches(msg, m.Keys.Help):
		if m.screen == screenHelp {
			m.screen = screenTable
		} else {
			m.screen = screenHelp
		}
		return nil
	case key.Matches(msg, m.Keys.Pause):
		m.togglePause()
		return nil
	case key.Matches(msg, m.Keys.Filter):
		m.screen = screenTable
		return m.filter.Start()
	case key.Matches(msg, m.Keys.Replay) && (m.screen == screenTable || m.screen == screenDetail):
		m.askReplay()
		return nil
	case key.Matches(msg, m.Keys.Stats) && (m.screen == screenTable || m.screen == screenDetail):
		return m.openStats()
	case key.Matches(msg, m.Keys.Open) && m.screen == screenTable:
		return m.openDetail()
	}
	var cmd tea.Cmd
	switch m.screen {
	case screenTable:
		if key.Matches(msg, m.Keys.Back) {
			m.status = ""
			return nil
		}
		m.table, cmd = m.table.Update(msg)
	case screenDetail:
		if key.Matches(msg, m.detail.Keys.Close) {
			m.screen = screenTable
			return nil
		}
		m.detail, cmd = m.detail.Update(msg)
	case screenStats:
		if key.Matches(msg, m.stats.Keys.Close) {
			m.screen = screenTable
			return nil
		}
		m.stats, cmd = m.stats.Update(msg)
	case screenHelp:
		if key.Matches(msg, m.help.Keys.Close) {
			m.screen = screenTable
			return nil
		}
		m.help, cmd = m.help.Update(msg)
	}
	return cmd
}

// takeIn applies what the source delivered since the last tick.
func (m *Model) takeIn() {
	m.now = m.opts.Now()
	b := m.opts.Source.Drain(m.scratch[:0])
	m.apply(b.Attempts)
	// The scratch slice is reused; its copies must not keep bodies alive.
	clear(b.Attempts)
	m.scratch = b.Attempts
	m.dropped += b.Dropped
	m.state = b.State
	if b.Notice != "" {
		m.setStatus(statusInfo, b.Notice)
	}
	m.updateHeader()
}

func (m *Model) apply(batch []api.Attempt) {
	for i := range batch {
		a := &batch[i]
		m.rates.Add(a, m.now)
		if m.paused {
			m.pending.Push(*a)
			m.pendingTotal++
			continue
		}
		m.view.Add(m.ring.Push(*a))
	}
	if len(batch) > 0 && !m.paused {
		m.table.Refresh()
	}
}

func (m *Model) togglePause() {
	m.paused = !m.paused
	if m.paused {
		m.updateHeader()
		return
	}
	for i := range m.pending.Len() {
		m.view.Add(m.ring.Push(m.pending.At(i).Attempt))
	}
	if dropped := m.pendingTotal - m.pending.Len(); dropped > 0 {
		m.setStatus(statusInfo, fmt.Sprintf("%d of the rows that came while paused were older than the last %d and are not shown.", dropped, m.ring.Cap()))
	}
	m.pending = NewRing(m.ring.Cap())
	m.pendingTotal = 0
	m.table.Refresh()
	m.updateHeader()
}

func (m *Model) applyFilter(s string) {
	s = strings.TrimSpace(s)
	if s == m.filterText {
		return
	}
	m.filterText = s
	m.view.SetFilter(ParseFilter(s))
	m.table.Refresh()
	m.updateHeader()
}

func (m *Model) openDetail() tea.Cmd {
	row, ok := m.table.Selected()
	if !ok {
		return nil
	}
	m.screen = screenDetail
	m.detail.Show(*row, m.now)
	id := row.Attempt.DeliveryID
	ctx, actions := m.ctx, m.opts.Actions
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		d, err := actions.GetDelivery(ctx, id)
		return deliveryMsg{id: id, delivery: d, err: err}
	}
}

func (m *Model) openStats() tea.Cmd {
	row, ok := m.current()
	if !ok {
		return nil
	}
	m.screen = screenStats
	id := row.Attempt.EndpointID
	req := m.stats.Load(id)
	ctx, actions := m.ctx, m.opts.Actions
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		st, err := actions.EndpointStats(ctx, id, 0)
		return statsMsg{req: req, stats: st, err: err}
	}
}

// current is the attempt the user is looking at: the detail pane's, or
// the table's selection.
func (m *Model) current() (Row, bool) {
	if m.screen == screenDetail {
		return m.detail.Row()
	}
	row, ok := m.table.Selected()
	if !ok {
		return Row{}, false
	}
	return *row, true
}

func (m *Model) askReplay() {
	row, ok := m.current()
	if !ok {
		m.setStatus(statusInfo, "No attempt selected.")
		return
	}
	a := row.Attempt
	m.confirm.Ask(fmt.Sprintf("Replay delivery %s to %s from the dead-letter queue?", clean(a.DeliveryID, false), clean(a.EndpointID, false)), row)
}

func (m *Model) replay(row Row) tea.Cmd {
	ctx, actions := m.ctx, m.opts.Actions
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, actionTimeout)
		defer cancel()
		resp, err := actions.ReplayDeadLetter(ctx, row.Attempt.EndpointID, row.Attempt.DeliveryID)
		return replayMsg{row: row, resp: resp, err: err}
	}
}

func (m *Model) replayed(msg replayMsg) {
	id := clean(msg.row.Attempt.DeliveryID, false)
	if msg.err != nil {
		var ae *api.Error
		if errors.As(msg.err, &ae) && ae.Status == http.StatusNotFound {
			m.setStatus(statusBad, fmt.Sprintf("Not replayed: delivery %s is not in the dead-letter queue (HTTP 404); only dead letters can be replayed.", id))
			return
		}
		m.setStatus(statusBad, "Replay of "+id+" failed: "+clean(errorText(msg.err), false))
		return
	}
	m.setStatus(statusGood, fmt.Sprintf("Replayed delivery %s to %s (generation %d).", id, clean(msg.resp.EndpointID, false), msg.resp.Generation))
}

func (m *Model) setStatus(kind statusKind, s string) {
	m.status, m.statusKind = s, kind
}

func (m *Model) updateHeader() {
	m.header, _ = m.header.Update(HeaderInfo{
		Title: m.opts.Title, State: m.state, Now: m.now, Rates: m.rates.Snapshot(m.now),
		Rows: m.view.Len(), Paused: m.paused, Pending: m.pendingTotal,
		Filter: m.filterText, Dropped: m.dropped,
	})
}

// SetSize lays the screen out in width×height cells.
func (m *Model) SetSize(width, height int) {
	m.width, m.height = width, height
	body := max(height-m.header.Height()-1, 1)
	m.header.SetSize(width, height)
	m.table.SetSize(width, body)
	m.detail.SetSize(width, body)
	m.stats.SetSize(width, body)
	m.help.SetSize(width, body)
	m.filter.SetSize(width, 1)
	m.confirm.SetSize(width, 1)
}

// View renders the screen: exactly height lines, none wider than width.
func (m *Model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	if m.width < 20 || m.height < 5 {
		return truncate("hookctl tail: the terminal is too small", m.width)
	}
	body := max(m.height-m.header.Height()-1, 1)
	var main string
	switch m.screen {
	case screenDetail:
		main = m.detail.View()
	case screenStats:
		main = m.stats.View()
	case screenHelp:
		main = m.help.View()
	default:
		main = m.table.View()
		if m.view.Len() == 0 {
			main += "\n" + m.styles.Dim.Render(m.emptyText())
		}
	}
	return m.header.View() + "\n" + fit(main, m.width, body) + "\n" + m.footer()
}

func (m *Model) emptyText() string {
	if m.filterText != "" && m.ring.Len() > 0 {
		return "  No row matches the filter."
	}
	return "  Waiting for attempts…"
}

func (m *Model) footer() string {
	switch {
	case m.filter.Active():
		return m.filter.View()
	case m.confirm.Active():
		return m.confirm.View()
	case m.status != "":
		st := m.styles.Bold
		switch m.statusKind {
		case statusGood:
			st = m.styles.Good
		case statusBad:
			st = m.styles.Bad
		}
		return truncate(st.Render(m.status), m.width)
	}
	var keys []key.Binding
	switch m.screen {
	case screenTable:
		keys = m.Keys.ShortHelp()
	case screenDetail:
		keys = []key.Binding{m.detail.Keys.Close, m.Keys.Replay, m.Keys.Stats, m.detail.Keys.Down, m.Keys.Quit}
	default:
		keys = []key.Binding{m.help.Keys.Close, m.help.Keys.Down, m.Keys.Quit}
	}
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		h := k.Help()
		parts = append(parts, m.styles.Key.Render(h.Key)+" "+m.styles.Dim.Render(h.Desc))
	}
	return truncate(strings.Join(parts, m.styles.Dim.Render(" · ")), m.width)
}

// fit pads or cuts s to exactly height lines of at most width cells.
func fit(s string, width, height int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > height {
		lines = lines[:height]
	}
	for i, l := range lines {
		lines[i] = truncate(l, width)
	}
	for len(lines) < height {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// errorText is an error as one line; an API error with its status.
func errorText(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		msg := ae.Message
		if msg == "" {
			msg = http.StatusText(ae.Status)
		}
		if ae.Status != 0 && !strings.Contains(msg, fmt.Sprint(ae.Status)) {
			msg += fmt.Sprintf(" (HTTP %d)", ae.Status)
		}
		return msg
	}
	var ue *api.UnreachableError
	if errors.As(err, &ue) {
		return "cannot reach " + ue.Server + ": " + rootCause(ue.Err).Error()
	}
	return err.Error()
}

// rootCause drops the wrapping a *url.Error adds (method and URL): the
// server is already named.
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
