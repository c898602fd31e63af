package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// TableKeyMap are the keys of the attempts table.
type TableKeyMap struct {
	scrollKeys
}

// DefaultTableKeyMap returns the table's keys.
func DefaultTableKeyMap() TableKeyMap { return TableKeyMap{defaultScrollKeys()} }

// ShortHelp implements help.KeyMap.
func (k TableKeyMap) ShortHelp() []key.Binding { return []key.Binding{k.Up, k.Down, k.Bottom} }

// FullHelp implements help.KeyMap.
func (k TableKeyMap) FullHelp() [][]key.Binding { return [][]key.Binding{k.bindings()} }

// Table is the scrolling list of attempts, newest at the bottom. It hands
// the bubbles table only the rows on screen, so that ten thousand rows cost
// no more to draw than forty. The selection is kept by row number: rows
// arriving or scrolling away do not move it, and at the newest row it
// follows new arrivals, as tail -f does.
type Table struct {
	Keys   TableKeyMap
	styles *Styles
	loc    *time.Location
	view   *RowView
	t      table.Model
	width  int
	height int

	sel    uint64 // Seq of the selected row; 0 before any
	top    uint64 // Seq of the first row on screen
	follow bool
	slack  int
}

// Column widths, without the one-cell gap after each.
const (
	colMarker   = 1
	colTime     = 12
	colAttempt  = 2
	colStatus   = 4
	colLatency  = 7
	colOutcome  = 17 // endpoint_disabled
	colMinFlex  = 6
	fixedWidths = colMarker + colTime + colAttempt + colStatus + colLatency + colOutcome + 6 + 2
)

// NewTable returns a table of the rows of view.
func NewTable(view *RowView, styles *Styles, loc *time.Location) Table {
	t := Table{Keys: DefaultTableKeyMap(), styles: styles, loc: loc, view: view, follow: true, slack: styles.outcomeSlack()}
	t.t = table.New(table.WithStyles(styles.Table), table.WithFocused(true))
	return t
}

// Init implements tea.Model.
func (t Table) Init() tea.Cmd { return nil }

// Update moves the selection.
func (t Table) Update(msg tea.Msg) (Table, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return t, nil
	}
	n := t.view.Len()
	if n == 0 {
		return t, nil
	}
	idx := t.index()
	page := max(t.rowsOnScreen()-1, 1)
	switch {
	case key.Matches(km, t.Keys.Up):
		idx--
	case key.Matches(km, t.Keys.Down):
		idx++
	case key.Matches(km, t.Keys.PageUp):
		idx -= page
	case key.Matches(km, t.Keys.PageDown):
		idx += page
	case key.Matches(km, t.Keys.Top):
		idx = 0
	case key.Matches(km, t.Keys.Bottom):
		idx = n - 1
	default:
		return t, nil
	}
	idx = min(max(idx, 0), n-1)
	t.sel = t.view.At(idx).Seq
	t.follow = idx == n-1
	t.Refresh()
	return t, nil
}

// View renders the table.
func (t Table) View() string {
	if t.width <= 0 || t.height <= 0 {
		return ""
	}
	lines := strings.Split(t.t.View(), "\n")
	if t.view.Len() == 0 {
		lines = lines[:1] // the header; the caller says why there is nothing
	}
	var b strings.Builder
	for i, line := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		// Cells are cut with "…" already; what overflows is the padding
		// of the outcome column (see SetSize).
		b.WriteString(ansi.Truncate(line, t.width, ""))
	}
	return b.String()
}

// SetSize fits the table in width×height cells, its header included.
func (t *Table) SetSize(width, height int) {
	t.width, t.height = width, height
	flex := max(width-fixedWidths, 2*colMinFlex)
	endpoint := max(flex/2, colMinFlex)
	event := max(flex-endpoint, colMinFlex)
	t.t.SetColumns([]table.Column{
		{Title: "", Width: colMarker},
		{Title: "TIME", Width: colTime},
		{Title: "ENDPOINT", Width: endpoint},
		{Title: "EVENT TYPE", Width: event},
		{Title: "#", Width: colAttempt},
		{Title: "HTTP", Width: colStatus},
		{Title: "LATENCY", Width: colLatency},
		// The last column takes the escape codes of its color too: the
		// table cuts cells by their length, not by what shows.
		{Title: "OUTCOME", Width: colOutcome + t.slack},
	})
	t.t.SetWidth(width)
	t.t.SetHeight(max(height, 2))
	t.Refresh()
}

// Selected returns the selected row.
func (t Table) Selected() (*Row, bool) {
	if t.view.Len() == 0 || t.sel == 0 {
		return nil, false
	}
	return t.view.At(t.index()), true
}

// Following reports whether the selection tracks the newest row.
func (t Table) Following() bool { return t.follow }

func (t Table) rowsOnScreen() int { return max(t.height-1, 1) }

// index is the selected row's position in the view: the row itself, the
// next one when it was filtered out, the oldest when it scrolled away.
func (t Table) index() int {
	n := t.view.Len()
	if t.follow || t.sel == 0 {
		return n - 1
	}
	return min(t.view.Index(t.sel), n-1)
}

// Refresh redraws the rows on screen after the view changed.
func (t *Table) Refresh() {
	n := t.view.Len()
	if n == 0 {
		t.sel, t.top = 0, 0
		t.t.SetRows(nil)
		return
	}
	idx := t.index()
	t.sel = t.view.At(idx).Seq
	rows := t.rowsOnScreen()
	top := t.view.Index(t.top)
	if t.top == 0 {
		top = idx
	}
	if idx < top {
		top = idx
	}
	if idx >= top+rows {
		top = idx - rows + 1
	}
	top = min(max(top, 0), max(n-rows, 0))
	t.top = t.view.At(top).Seq
	end := min(top+rows, n)
	out := make([]table.Row, 0, end-top)
	for i := top; i < end; i++ {
		out = append(out, t.cells(t.view.At(i), i == idx))
	}
	t.t.SetRows(out)
	t.t.SetCursor(idx - top)
}

func (t *Table) cells(r *Row, selected bool) table.Row {
	a := &r.Attempt
	marker := " "
	if selected {
		marker = "›"
	}
	status := "-"
	if a.StatusCode != 0 {
		status = strconv.Itoa(a.StatusCode)
	}
	return table.Row{
		marker,
		a.StartedAt.In(t.loc).Format("15:04:05.000"),
		clean(a.EndpointID, false),
		clean(a.EventType, false),
		strconv.Itoa(a.Attempt),
		status,
		latency(time.Duration(a.Duration)),
		t.styles.Outcome(clean(a.Outcome, false)),
	}
}

// latency rounds a duration to what a column of seven cells can show.
func latency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < 10*time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
