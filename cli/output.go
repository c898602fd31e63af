package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/iostreams"
)

// Output formats of commands that print data.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatJSONL = "jsonl"
	formatYAML  = "yaml"
)

var outputFormats = []string{formatTable, formatJSON, formatJSONL, formatYAML}

// addOutputFlag registers -o on a command that prints data.
func addOutputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", formatTable, "output format: table, json, jsonl or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(outputFormats, cobra.ShellCompDirectiveNoFileComp))
}

func validateOutput(o string) error {
	return checkOutput(o, outputFormats...)
}

// printer writes what commands print, in the format -o asked for. Tables
// on a terminal are for people (color, truncated cells, relative times);
// piped, they stay tables but plain, so scripts see whole values.
type printer struct {
	out    io.Writer
	errOut io.Writer
	format string
	tty    bool
	color  bool
	now    time.Time
}

func newPrinter(ios *iostreams.IOStreams, format string) *printer {
	return &printer{
		out:    ios.Out,
		errOut: ios.ErrOut,
		format: format,
		tty:    ios.IsStdoutTTY(),
		color:  ios.ColorEnabled(),
		now:    time.Now(),
	}
}

// object prints one API object; table renders it for people.
func (p *printer) object(v any, table func() error) error {
	switch p.format {
	case formatJSON:
		return writeJSON(p.out, v, true)
	case formatJSONL:
		return writeJSON(p.out, v, false)
	case formatYAML:
		return writeYAML(p.out, v)
	}
	return table()
}

// printPage prints a list: the page itself as JSON or YAML (what the API
// answered), one item a line as JSONL, or a table. A page with more
// behind it says how to get the rest, on stderr.
func printPage[T any](p *printer, page api.Page[T], noun string, table func(*tableWriter)) error {
	if page.Items == nil {
		page.Items = []T{}
	}
	switch p.format {
	case formatJSON:
		return writeJSON(p.out, page, true)
	case formatYAML:
		return writeYAML(p.out, page)
	case formatJSONL:
		for _, it := range page.Items {
			if err := writeJSON(p.out, it, false); err != nil {
				return err
			}
		}
		return nil
	}
	if len(page.Items) == 0 {
		fmt.Fprintf(p.errOut, "No %s found.\n", noun)
		return nil
	}
	t := p.table()
	table(t)
	if err := t.flush(); err != nil {
		return err
	}
	if page.NextCursor != "" {
		fmt.Fprintf(p.errOut, "More %s: pass --all, or --cursor %s for the next page.\n", noun, page.NextCursor)
	}
	return nil
}

func writeJSON(w io.Writer, v any, pretty bool) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if pretty {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// writeYAML goes through JSON so that YAML has the API's field names and
// order (Go's yaml tags would otherwise decide them).
func writeYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	blockStyle(&doc)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return enc.Close()
}

// blockStyle undoes the flow style and quoting that parsing JSON leaves on
// the nodes; the encoder quotes again where YAML needs it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// Colors of table cells (ANSI SGR codes).
const (
	styleNone   = ""
	styleGreen  = "32"
	styleRed    = "31"
	styleYellow = "33"
	styleBold   = "1"
)

// Cell width caps on a terminal; piped output is never cut.
const (
	widthURL   = 48
	widthError = 60
	widthList  = 40
)

type cell struct {
	text  string
	style string
	max   int
}

// tableWriter aligns columns itself rather than with text/tabwriter, which
// would count color escapes as width.
type tableWriter struct {
	p      *printer
	header []string
	rows   [][]cell
	indent string
}

func (p *printer) table(header ...string) *tableWriter {
	return &tableWriter{p: p, header: header}
}

func (t *tableWriter) setHeader(h ...string) { t.header = h }

func (t *tableWriter) row(cells ...cell) { t.rows = append(t.rows, cells) }

func (t *tableWriter) flush() error {
	var all [][]cell
	if len(t.header) > 0 {
		h := make([]cell, len(t.header))
		for i, s := range t.header {
			h[i] = cell{text: s, style: styleBold}
		}
		all = append(all, h)
	}
	all = append(all, t.rows...)
	var widths []int
	for _, r := range all {
		for i := range r {
			r[i].text = t.p.fit(r[i])
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i].text))
		}
	}
	var b strings.Builder
	for _, r := range all {
		b.WriteString(t.indent)
		for i, c := range r {
			last := i == len(r)-1
			b.WriteString(t.p.paint(c.text, c.style))
			if !last {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(t.p.out, b.String())
	return err
}

// fit makes a cell one line, never empty (so columns stay split by
// whitespace for awk), and short on a terminal.
func (p *printer) fit(c cell) string {
	s := strings.Join(strings.Fields(c.text), " ")
	if s == "" {
		return "-"
	}
	if p.tty && c.max > 0 && utf8.RuneCountInString(s) > c.max {
		r := []rune(s)
		return string(r[:c.max-1]) + "…"
	}
	return s
}

func (p *printer) paint(s, style string) string {
	if !p.color || style == styleNone {
		return s
	}
	return "\x1b[" + style + "m" + s + "\x1b[0m"
}

func txt(s string) cell                  { return cell{text: s} }
func wide(s string, width int) cell      { return cell{text: s, max: width} }
func styled(s, style string) cell        { return cell{text: s, style: style} }
func num[N int | int64](n N) cell        { return cell{text: fmt.Sprint(n)} }
func (p *printer) when(t time.Time) cell { return cell{text: p.time(t)} }

// fields prints one object as "Name: value" lines.
func (p *printer) fields(rows ...[2]string) error {
	t := p.table()
	for _, r := range rows {
		t.row(styled(r[0]+":", styleBold), txt(r[1]))
	}
	return t.flush()
}

// time shows t relative to now for people and as RFC 3339 for scripts.
func (p *printer) time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if !p.tty {
		return t.UTC().Format(time.RFC3339)
	}
	return relative(p.now, t)
}

func (p *printer) timePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return p.time(*t)
}

func relative(now, t time.Time) string {
	d := now.Sub(t)
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, ""
	}
	var s string
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d/time.Hour))
	case d < 60*24*time.Hour:
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	default:
		return t.Local().Format("2006-01-02")
	}
	if suffix == "" {
		return "in " + s
	}
	return s + suffix
}

// duration rounds a measured duration for reading.
func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// stateStyle colors the words that say whether things went well.
func stateStyle(s string) string {
	switch s {
	case "enabled", "delivered", "done", "active", "closed":
		return styleGreen
	case "retrying", "pending", "running", "half_open", "circuit_open":
		return styleYellow
	case "":
		return styleNone
	}
	return styleRed
}

// prettyJSON indents a raw JSON payload for a detail view.
func prettyJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}
