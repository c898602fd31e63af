package tui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// ConfirmKeyMap are the keys of a yes/no question.
type ConfirmKeyMap struct {
	Yes key.Binding
	No  key.Binding
}

// DefaultConfirmKeyMap returns the question's keys.
func DefaultConfirmKeyMap() ConfirmKeyMap {
	return ConfirmKeyMap{
		Yes: key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
		No:  key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "no")),
	}
}

// ShortHelp implements help.KeyMap.
func (k ConfirmKeyMap) ShortHelp() []key.Binding { return []key.Binding{k.Yes, k.No} }

// FullHelp implements help.KeyMap.
func (k ConfirmKeyMap) FullHelp() [][]key.Binding { return [][]key.Binding{k.ShortHelp()} }

// Confirm asks a yes/no question on the footer line before something that
// changes the server. Any key but yes declines: a stray key must not
// replay anything.
type Confirm struct {
	Keys     ConfirmKeyMap
	styles   *Styles
	question string
	subject  Row
	active   bool
	width    int
}

// confirmedMsg says the question was answered.
type confirmedMsg struct {
	yes     bool
	subject Row
}

// NewConfirm returns an idle question.
func NewConfirm(styles *Styles) Confirm {
	return Confirm{Keys: DefaultConfirmKeyMap(), styles: styles}
}

// Init implements tea.Model.
func (c Confirm) Init() tea.Cmd { return nil }

// Ask puts question about subject.
func (c *Confirm) Ask(question string, subject Row) {
	c.question, c.subject, c.active = question, subject, true
}

// Update takes the answer.
func (c Confirm) Update(msg tea.Msg) (Confirm, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !c.active || !ok {
		return c, nil
	}
	c.active = false
	answer := confirmedMsg{yes: key.Matches(km, c.Keys.Yes), subject: c.subject}
	return c, func() tea.Msg { return answer }
}

// View renders the question.
func (c Confirm) View() string {
	return truncate(c.styles.Warn.Render(c.question)+" "+c.styles.Key.Render("[y/N]"), c.width)
}

// SetSize gives the line its width.
func (c *Confirm) SetSize(width, _ int) { c.width = width }

// Active reports whether the question waits for an answer.
func (c Confirm) Active() bool { return c.active }
