package tui

import (
	"strings"
	"unicode"

	"github.com/charmbracelet/bubbles/table"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/hookd/hookd/internal/domain"
)

// Styles are the tail's colors, made with one renderer so that a test (or
// NO_COLOR) can fix the color profile for all of them.
type Styles struct {
	Title    lipgloss.Style
	Dim      lipgloss.Style
	Bold     lipgloss.Style
	Good     lipgloss.Style
	Warn     lipgloss.Style
	Bad      lipgloss.Style
	Key      lipgloss.Style
	Label    lipgloss.Style
	Table    table.Styles
	outcomes map[string]lipgloss.Style
}

// NewStyles returns the styles rendered by r (lipgloss's default renderer
// when nil).
func NewStyles(r *lipgloss.Renderer) *Styles {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	ns := r.NewStyle
	green, red, yellow, magenta, gray := lipgloss.Color("2"), lipgloss.Color("1"), lipgloss.Color("3"), lipgloss.Color("5"), lipgloss.Color("8")
	s := &Styles{
		Title: ns().Bold(true),
		Dim:   ns().Foreground(gray),
		Bold:  ns().Bold(true),
		Good:  ns().Foreground(green),
		Warn:  ns().Foreground(yellow),
		Bad:   ns().Foreground(red),
		Key:   ns().Bold(true),
		Label: ns().Bold(true),
		Table: table.Styles{
			Header:   ns().Bold(true).PaddingRight(1),
			Cell:     ns().PaddingRight(1),
			Selected: ns().Reverse(true),
		},
		outcomes: map[string]lipgloss.Style{
			string(domain.OutcomeDelivered):        ns().Foreground(green),
			string(domain.OutcomeFailed):           ns().Foreground(red),
			string(domain.OutcomeTimeout):          ns().Foreground(magenta),
			string(domain.OutcomeConnectionError):  ns().Foreground(magenta),
			string(domain.OutcomeBlocked):          ns().Foreground(red),
			string(domain.OutcomeCircuitOpen):      ns().Foreground(yellow),
			string(domain.OutcomeEndpointDisabled): ns().Foreground(yellow),
		},
	}
	return s
}

// Outcome colors an outcome.
func (s *Styles) Outcome(o string) string {
	st, ok := s.outcomes[o]
	if !ok {
		return o
	}
	return st.Render(o)
}

// outcomeSlack is how many bytes of escape codes the widest colored
// outcome carries: the table truncates by byte-ish width, not by what
// shows, so the outcome column is widened by this much.
func (s *Styles) outcomeSlack() int {
	slack := 0
	for o, st := range s.outcomes {
		r := st.Render(o)
		slack = max(slack, len(r)-ansi.StringWidth(r))
	}
	return slack
}

// clean makes text from the network safe to print on a terminal: a
// response body or header could carry escape sequences that would move
// the cursor or retitle the window. Control characters become "�"; with
// multiline, newlines stay and tabs become spaces.
func clean(s string, multiline bool) string {
	ok := true
	for _, r := range s {
		if isControl(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' && multiline:
			b.WriteRune(r)
		case r == '\t' && multiline:
			b.WriteString("    ")
		case r == '\t':
			b.WriteByte(' ')
		case r == '\r' && multiline:
		case isControl(r):
			b.WriteRune('�')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// truncate cuts s (which may hold escape codes) to width cells.
func truncate(s string, width int) string {
	if width <= 0 {
		return ""
	}
	return ansi.Truncate(s, width, "…")
}
