package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/hookd/hookd/internal/api"
)

// FilterKeyMap are the keys of the filter line.
type FilterKeyMap struct {
	Apply  key.Binding
	Cancel key.Binding
}

// DefaultFilterKeyMap returns the filter line's keys.
func DefaultFilterKeyMap() FilterKeyMap {
	return FilterKeyMap{
		Apply:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep the filter")),
		Cancel: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "put the old filter back")),
	}
}

// ShortHelp implements help.KeyMap.
func (k FilterKeyMap) ShortHelp() []key.Binding { return []key.Binding{k.Apply, k.Cancel} }

// FullHelp implements help.KeyMap.
func (k FilterKeyMap) FullHelp() [][]key.Binding { return [][]key.Binding{k.ShortHelp()} }

// FilterBar edits the client-side filter. The rows follow each keystroke;
// esc puts the filter back as it was.
type FilterBar struct {
	Keys   FilterKeyMap
	input  textinput.Model
	active bool
	prev   string
	width  int
}

// NewFilterBar returns an inactive filter line.
func NewFilterBar(styles *Styles) FilterBar {
	in := textinput.New()
	in.Prompt = "/"
	in.Placeholder = "endpoint, event type or outcome"
	in.PromptStyle = styles.Key
	in.PlaceholderStyle = styles.Dim
	in.Cursor.Style = styles.Table.Selected
	in.Cursor.SetMode(cursor.CursorStatic) // a blinking cursor redraws the screen for nothing
	in.CharLimit = 200
	return FilterBar{Keys: DefaultFilterKeyMap(), input: in}
}

// Init implements tea.Model.
func (f FilterBar) Init() tea.Cmd { return nil }

// Update edits the filter while it is active.
func (f FilterBar) Update(msg tea.Msg) (FilterBar, tea.Cmd) {
	if !f.active {
		return f, nil
	}
	if km, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(km, f.Keys.Apply):
			f.active = false
			f.input.Blur()
			return f, nil
		case key.Matches(km, f.Keys.Cancel):
			f.active = false
			f.input.Blur()
			f.input.SetValue(f.prev)
			return f, nil
		}
	}
	var cmd tea.Cmd
	f.input, cmd = f.input.Update(msg)
	return f, cmd
}

// View renders the line.
func (f FilterBar) View() string { return truncate(f.input.View(), f.width) }

// SetSize gives the line its width.
func (f *FilterBar) SetSize(width, _ int) {
	f.width = width
	f.input.Width = max(width-2, 1)
}

// Start begins editing.
func (f *FilterBar) Start() tea.Cmd {
	f.active, f.prev = true, f.input.Value()
	f.input.CursorEnd()
	return f.input.Focus()
}

// Active reports whether the filter is being edited.
func (f FilterBar) Active() bool { return f.active }

// Value is the filter as typed.
func (f FilterBar) Value() string { return f.input.Value() }

// SetValue replaces the filter.
func (f *FilterBar) SetValue(s string) { f.input.SetValue(s) }

// ParseFilter compiles a filter: every word must be a substring of the
// endpoint id, event type or outcome, ignoring case. An empty filter is
// nil: everything matches.
func ParseFilter(s string) func(*api.Attempt) bool {
	words := strings.Fields(strings.ToLower(s))
	if len(words) == 0 {
		return nil
	}
	return func(a *api.Attempt) bool {
		for _, w := range words {
			if !containsFold(a.EndpointID, w) && !containsFold(a.EventType, w) && !containsFold(a.Outcome, w) {
				return false
			}
		}
		return true
	}
}

// containsFold is strings.Contains ignoring ASCII case, without
// allocating: filtering 10k rows on each keystroke stays cheap. word is
// lower-case.
func containsFold(s, word string) bool {
	n := len(word)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for j < n {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != word[j] {
				break
			}
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}
