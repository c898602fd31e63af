package tui

import (
	"github.com/charmbracelet/bubbles/key"
)

// KeyMap are the tail's keys that work on every screen.
type KeyMap struct {
	Pause   key.Binding
	Filter  key.Binding
	Open    key.Binding
	Replay  key.Binding
	Stats   key.Binding
	Help    key.Binding
	Back    key.Binding
	Quit    key.Binding
	ForceQ  key.Binding
	Refresh key.Binding
}

// DefaultKeyMap returns the tail's keys.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Pause:   key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "pause")),
		Filter:  key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Open:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details")),
		Replay:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "replay")),
		Stats:   key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "endpoint")),
		Help:    key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Back:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Quit:    key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQ:  key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		Refresh: key.NewBinding(key.WithKeys("ctrl+l"), key.WithHelp("ctrl+l", "redraw")),
	}
}

// ShortHelp is the footer's reminder.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Pause, k.Filter, k.Open, k.Replay, k.Stats, k.Help, k.Quit}
}

// FullHelp is the help screen's list.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Open, k.Pause, k.Filter, k.Replay, k.Stats, k.Help, k.Back, k.Quit}}
}

// scrollKeys are the moving keys the table and the panes share.
type scrollKeys struct {
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding
}

func defaultScrollKeys() scrollKeys {
	return scrollKeys{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f"), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "oldest")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "newest (follow)")),
	}
}

func (k scrollKeys) bindings() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}
}
