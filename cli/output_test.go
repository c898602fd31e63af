package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
)

func TestRelative(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := map[time.Duration]string{
		0:                   "just now",
		45 * time.Second:    "45s ago",
		3 * time.Minute:     "3m ago",
		-5 * time.Minute:    "in 5m",
		26 * time.Hour:      "26h ago",
		72 * time.Hour:      "3d ago",
		90 * 24 * time.Hour: now.Add(-90 * 24 * time.Hour).Local().Format("2006-01-02"),
	}
	for d, want := range cases {
		if got := relative(now, now.Add(-d)); got != want {
			t.Errorf("relative(-%v) = %q, want %q", d, got, want)
		}
	}
}

// YAML keeps the JSON names and order, and quotes strings that would
// read back as something else.
func TestYAMLMatchesJSON(t *testing.T) {
	var b bytes.Buffer
	v := map[string]any{"b": "true", "a": []string{"007", "x: y"}, "c": 1.5}
	if err := writeYAML(&b, v); err != nil {
		t.Fatal(err)
	}
	want := "a:\n  - \"007\"\n  - 'x: y'\nb: \"true\"\nc: 1.5\n"
	if b.String() != want {
		t.Errorf("yaml\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFetchPagesStopsOnARepeatedCursor(t *testing.T) {
	calls := 0
	_, err := fetchPages(t.Context(), listFlags{All: true}, func(_ context.Context, cursor string) (api.Page[int], error) {
		calls++
		return api.Page[int]{Items: []int{calls}, NextCursor: "same"}, nil
	})
	if err == nil || calls != 2 {
		t.Errorf("err %v after %d calls", err, calls)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     {},
		"90m":                  now.Add(-90 * time.Minute),
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"2026-01-02T03:04:05Z": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		"1700000000":           time.Unix(1700000000, 0),
	} {
		got, err := parseSince("--since", in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-1h", "1y"} {
		if _, err := parseSince("--since", in, now); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
			t.Errorf("parseSince(%q) = %v, want a usage error", in, err)
		}
	}
}

// Every command has Short and Example text; every command that prints API
// data takes -o.
func TestEveryCommandIsDocumented(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	root := NewCmdRoot(&Factory{IOStreams: ios})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("%s has no Short", c.CommandPath())
		}
		apiCmd := false
		for _, top := range []string{"endpoints", "events", "deliveries", "attempts", "dlq", "keys", "completion"} {
			if strings.HasPrefix(c.CommandPath(), "hookctl "+top) {
				apiCmd = true
			}
		}
		if apiCmd && c.Example == "" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
		if apiCmd && c.Runnable() && strings.HasSuffix(c.Name(), "list") && c.Flags().Lookup("output") == nil {
			t.Errorf("%s has no -o", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func TestCompletion(t *testing.T) {
	fake := newFakeAPI(t)
	fake.handle("GET /v1/endpoints", 200, api.Page[api.Endpoint]{Items: []api.Endpoint{{ID: "ep_1", URL: "https://a"}, {ID: "ep_2", URL: "https://b"}}})
	fake.handle("GET /v1/dlq", 200, api.Page[api.DeadLetter]{Items: []api.DeadLetter{{DeliveryID: "msg_9", EventType: "x", Reason: "gone"}}})

	r := hookctl(t, fake, []string{"__complete", "endpoints", "get", "ep_"})
	r.wantCode(t, cmdutil.ExitOK)
	wantContains(t, "stdout", r.stdout, "ep_1\thttps://a\n", "ep_2\thttps://b\n", ":4\n")

	r = hookctl(t, fake, []string{"__complete", "dlq", "replay", "ep_1", ""})
	wantContains(t, "stdout", r.stdout, "msg_9\tx gone\n")
	if q := fake.requests()[1].Query; q != "endpoint=ep_1&limit=200" {
		t.Errorf("dead-letter completion query %q", q)
	}

	r = hookctl(t, fake, []string{"__complete", "deliveries", "list", "--endpoint", ""})
	wantContains(t, "stdout", r.stdout, "ep_1\thttps://a\n")

	// An unreachable server completes nothing, silently.
	r = hookctl(t, nil, []string{"__complete", "endpoints", "get", ""})
	r.wantCode(t, cmdutil.ExitOK)
	if strings.Contains(r.stdout, "ep_") || strings.Contains(r.stderr, "error") {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}

	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := hookctl(t, nil, []string{"completion", shell})
		r.wantCode(t, cmdutil.ExitOK)
		if !strings.Contains(r.stdout, "hookctl") {
			t.Errorf("%s completion:\n%.200s", shell, r.stdout)
		}
	}
	hookctl(t, nil, []string{"completion", "tcsh"}).wantCode(t, cmdutil.ExitUsage)
	hookctl(t, nil, []string{"completion"}).wantCode(t, cmdutil.ExitUsage)
}

// Ctrl-C at a prompt ends the command: Main catches the signal, so the
// prompt must give up on its own.
func TestConfirmGivesUpWhenInterrupted(t *testing.T) {
	ios, _, _, errOut := iostreams.Test()
	ios.SetTTY(true)
	pr, pw := io.Pipe()
	defer pw.Close()
	ios.In = pr
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	err := confirm(ctx, ios, false, "Delete?")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("confirm = %v, want context.Canceled", err)
	}
	if !strings.HasPrefix(errOut.String(), "Delete? [y/N] ") {
		t.Errorf("stderr %q", errOut.String())
	}
}
