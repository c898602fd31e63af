package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// Help is the help screen: every key, and what the filter matches.
type Help struct {
	pane
	global KeyMap
	table  TableKeyMap
}

// NewHelp returns the help screen for these key maps.
func NewHelp(styles *Styles, global KeyMap, table TableKeyMap) Help {
	h := Help{pane: newPane(styles), global: global, table: table}
	h.title = "Help"
	return h
}

// Init implements tea.Model.
func (h Help) Init() tea.Cmd { return nil }

// Update scrolls.
func (h Help) Update(msg tea.Msg) (Help, tea.Cmd) {
	h.pane = h.update(msg)
	return h, nil
}

// View renders the screen.
func (h Help) View() string { return h.view() }

// SetSize fits the screen in width×height cells.
func (h *Help) SetSize(width, height int) {
	h.setSize(width, height)
	h.render()
}

func (h *Help) render() {
	s := h.styles
	var b strings.Builder
	type entry struct {
		k    key.Binding
		desc string
	}
	section := func(title string, entries ...entry) {
		b.WriteString(s.Bold.Render(title) + "\n")
		for _, e := range entries {
			fmt.Fprintf(&b, "  %s %s\n", s.Key.Render(fmt.Sprintf("%-8s", e.k.Help().Key)), e.desc)
		}
		b.WriteString("\n")
	}
	g, t := h.global, h.table
	section("Attempts",
		entry{t.Up, "previous row"}, entry{t.Down, "next row"},
		entry{t.PageUp, "page up"}, entry{t.PageDown, "page down"},
		entry{t.Top, "oldest row"}, entry{t.Bottom, "newest row; the selection then follows new rows"},
		entry{g.Open, "details: headers, response, error, next retry, other attempts"},
		entry{g.Pause, "pause or resume; new rows wait, counted in the header"})
	section("Actions",
		entry{g.Replay, "replay the delivery from the dead-letter queue (asks first)"},
		entry{g.Stats, "the endpoint's stats over the server's window"},
		entry{g.Filter, "filter the rows (see below)"})
	section("Screens",
		entry{g.Help, "this help"}, entry{g.Back, "back to the table"},
		entry{g.Quit, "quit (ctrl+c too)"})
	b.WriteString(s.Bold.Render("Filter") + "\n")
	b.WriteString("  / filters the rows on screen, client side: each word must appear\n" +
		"  in the endpoint id, event type or outcome, ignoring case. The\n" +
		"  stream itself is filtered by the command's flags (--endpoint,\n" +
		"  --event-type, --outcome, --tenant). enter keeps the filter, esc\n" +
		"  puts the old one back, an empty filter shows every row.\n")
	h.setContent(strings.TrimRight(b.String(), "\n"), false)
}
