package quickstart

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A step is a code block of README.md preceded by a marker comment:
//
//	<!-- quickstart: NAME [background|interactive|skip ...] -->
//
// Each line of a plain block is a command run to its end (a trailing
// backslash continues it). In a background block the last line keeps
// running, as in a terminal of its own: it replaces (after a Ctrl-C) what
// ran before in that terminal, hookd dev's or hookctl listen's. An
// interactive block is a command for a person at a terminal; the test runs
// it in its non-interactive form. A skip block is not run; its marker says
// why.
type step struct {
	name  string
	kind  string
	lines []string
}

var markerRE = regexp.MustCompile("(?m)^<!-- quickstart: (\\S+)(?: (\\S+))?[^\\n]*-->\\n```sh\\n((?s:.*?))```")

func readSteps(t *testing.T) []step {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var steps []step
	for _, m := range markerRE.FindAllStringSubmatch(string(b), -1) {
		s := step{name: m[1], kind: m[2]}
		var cur string
		for _, line := range strings.Split(m[3], "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			if strings.HasSuffix(line, "\\") {
				cur += strings.TrimSuffix(line, "\\")
				continue
			}
			s.lines = append(s.lines, cur+line)
			cur = ""
		}
		steps = append(steps, s)
	}
	if n := strings.Count(string(b), "<!-- quickstart:"); n != len(steps) {
		t.Fatalf("README.md has %d quickstart markers but %d of them precede a ```sh block", n, len(steps))
	}
	return steps
}

// quickstart is the state of a run through the README.
type quickstart struct {
	t          *testing.T
	work       string
	env        []string
	apiPort    int
	kafkaPort  int
	listenPort int
	// Background processes by terminal, and what last ran there.
	running map[string]*proc
	stopped map[string]*proc
	// failedID is the webhook-id of the delivery that failed.
	failedID string
}

// adapt turns a README command into the one the test runs: the binaries
// just built rather than go run, and free ports rather than the defaults,
// so the test runs beside anything else on the machine.
func (q *quickstart) adapt(line string) string {
	line = strings.ReplaceAll(line, "go run ./cmd/hookd ", "hookd ")
	line = strings.ReplaceAll(line, "127.0.0.1:4000", "127.0.0.1:"+strconv.Itoa(q.listenPort))
	line = strings.ReplaceAll(line, "--port 4000", "--port "+strconv.Itoa(q.listenPort))
	if strings.HasPrefix(line, "hookd dev") {
		line += fmt.Sprintf(" --port %d --kafka-port %d", q.apiPort, q.kafkaPort)
	}
	if strings.Contains(line, "4000") || strings.Contains(line, "go run") {
		q.t.Fatalf("the test does not know how to run %q", line)
	}
	return line
}

func terminal(line string) string {
	switch {
	case strings.HasPrefix(line, "hookd dev"):
		return "hookd"
	case strings.HasPrefix(line, "hookctl listen"):
		return "listener"
	}
	return line
}

// check says what a step must print. Plain steps get their commands'
// results. wait > 0 makes the check poll for that long; rerun runs the
// step's commands again on each poll (for reads of state that settles).
type check struct {
	wait  time.Duration
	rerun bool
	fn    func(q *quickstart, rs []result) error
}

func has(what, got string, wants ...string) error {
	for _, w := range wants {
		if !strings.Contains(got, w) {
			return fmt.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
	return nil
}

func ok(rs []result) error {
	for _, r := range rs {
		if r.code != 0 {
			return fmt.Errorf("command failed:\n%s", r)
		}
	}
	return nil
}

var webhookIDRE = regexp.MustCompile(`(?m)^webhook-id: (msg_\w+)$`)

func (q *quickstart) checks() map[string]check {
	listener := func() *proc { return q.running["listener"] }
	return map[string]check{
		"dev": {wait: 45 * time.Second, fn: func(q *quickstart, _ []result) error {
			d := q.running["hookd"]
			if err := has("hookd dev's stdout", d.out.String(), "hookd dev is ready", fmt.Sprintf("http://127.0.0.1:%d", q.apiPort),
				`hookctl context "dev" (now current)`, "hookctl listen --port 4000", "hookctl events send"); err != nil {
				return err
			}
			return has("hookd dev's stderr", d.err.String(), "NOTICE: hookd dev delivers to loopback addresses")
		}},
		"build": {},
		"listen": {wait: 10 * time.Second, fn: func(q *quickstart, rs []result) error {
			if err := ok(rs); err != nil {
				return err
			}
			if b, err := os.ReadFile(filepath.Join(q.work, ".hookd", "whsec.txt")); err != nil || !strings.HasPrefix(string(b), "whsec_") {
				return fmt.Errorf(".hookd/whsec.txt: %q, %w", b, err)
			}
			return has("the listener's stderr", listener().err.String(),
				fmt.Sprintf("Listening on http://127.0.0.1:%d (any path); answering 200.", q.listenPort), "Checking signatures with the secret given.")
		}},
		"endpoint": {fn: func(_ *quickstart, rs []result) error {
			if err := ok(rs); err != nil {
				return err
			}
			return has("endpoints create", rs[0].stdout, "ID:", "ep_", fmt.Sprintf("http://127.0.0.1:%d/webhooks", q.listenPort), "order.*", "2s, 4s, 8s")
		}},
		"send": {wait: 15 * time.Second, fn: func(_ *quickstart, rs []result) error {
			if err := ok(rs); err != nil {
				return err
			}
			if err := has("events send", rs[0].stdout, "Published event evt_"); err != nil {
				return err
			}
			return has("the listener's stdout", listener().out.String(), "POST /webhooks  → 200", "Signature: valid (standard)", `"order_id": 42`, `"type": "order.created"`)
		}},
		"tail": {wait: 15 * time.Second, rerun: true, fn: func(_ *quickstart, rs []result) error {
			if err := ok(rs); err != nil {
				return err
			}
			if strings.Contains(rs[0].cmd, "tail") {
				return has("tail", rs[0].stdout, `"delivery_id":"msg_`, `"event_type":"order.created"`)
			}
			return has("attempts list", rs[0].stdout, "order.created", "delivered")
		}},
		"failing": {wait: 10 * time.Second, fn: func(q *quickstart, _ []result) error {
			if err := has("the first listener's stderr on Ctrl-C", q.stopped["listener"].err.String(),
				"Received 1 request (1 distinct webhook-id): 1 answered 200.", "Signatures: 1 valid, 0 invalid."); err != nil {
				return err
			}
			return has("the failing listener's stderr", listener().err.String(), "answering 200, or 500 to 100% of them at random.")
		}},
		"send-failing": {wait: 15 * time.Second, fn: func(q *quickstart, rs []result) error {
			if err := ok(rs); err != nil {
				return err
			}
			out := listener().out.String()
			if err := has("the failing listener's stdout", out, "POST /webhooks  → 500 (--fail-rate)", `"order_id": 43`, "Signature: valid (standard)"); err != nil {
				return err
			}
			m := webhookIDRE.FindStringSubmatch(out)
			if m == nil {
				return fmt.Errorf("no webhook-id in:\n%s", out)
			}
			q.failedID = m[1]
			return nil
		}},
		"dlq": {wait: 45 * time.Second, rerun: true, fn: func(q *quickstart, rs []result) error {
			if err := ok(rs); err != nil {
				return err
			}
			return has("dlq list", rs[0].stdout, q.failedID, "exhausted", "order.created", "500")
		}},
		"recovered": {wait: 10 * time.Second, fn: func(q *quickstart, _ []result) error {
			// hookd tried it at once and after 2, 4 and 8 seconds.
			if err := has("the failing listener's stderr on Ctrl-C", q.stopped["listener"].err.String(),
				"Received 4 requests (1 distinct webhook-id): 4 answered 500 (4 by --fail-rate).", "Signatures: 4 valid, 0 invalid."); err != nil {
				return err
			}
			return has("the listener's stderr", listener().err.String(), "answering 200.")
		}},
		"replay": {wait: 20 * time.Second, fn: func(q *quickstart, rs []result) error {
			if err := ok(rs); err != nil {
				return err
			}
			if err := has("dlq replay", rs[0].stdout, "1 replayed, 0 skipped, 0 failed of 1"); err != nil {
				return err
			}
			// The same delivery again, with the same webhook-id.
			return has("the listener's stdout", listener().out.String(), "webhook-id: "+q.failedID, `"order_id": 43`, "POST /webhooks  → 200")
		}},
		"restart": {wait: 45 * time.Second, fn: func(q *quickstart, _ []result) error {
			old := q.stopped["hookd"]
			if old.waitErr != nil {
				return fmt.Errorf("hookd dev exited with %w on Ctrl-C", old.waitErr)
			}
			if err := has("the first hookd dev's stderr", old.err.String(), `msg="hookd stopped" error=<nil>`); err != nil {
				return err
			}
			return has("hookd dev's stdout", q.running["hookd"].out.String(), "hookd dev ready: API http://127.0.0.1:", "(kept from earlier runs)")
		}},
		"still-there": {fn: func(q *quickstart, rs []result) error {
			if err := ok(rs); err != nil {
				return err
			}
			return has("endpoints list", rs[0].stdout, fmt.Sprintf("http://127.0.0.1:%d/webhooks", q.listenPort))
		}},
	}
}

// The README's quickstart, command by command, against a real hookd dev
// and hookctl listen.
func TestREADMEQuickstart(t *testing.T) {
	work := t.TempDir()
	q := &quickstart{
		t: t, work: work, env: env(work),
		apiPort: freePort(t), kafkaPort: freePort(t), listenPort: freePort(t),
		running: map[string]*proc{}, stopped: map[string]*proc{},
	}
	steps := readSteps(t)
	checks := q.checks()
	seen := map[string]bool{}
	for _, s := range steps {
		if seen[s.name] {
			t.Fatalf("README.md: two quickstart steps named %q", s.name)
		}
		seen[s.name] = true
		if _, ok := checks[s.name]; !ok {
			t.Fatalf("README.md has a quickstart step %q that this test does not check; add it to checks()", s.name)
		}
	}
	for name := range checks {
		if !seen[name] {
			t.Fatalf("the test checks a quickstart step %q that README.md no longer has", name)
		}
	}

	for _, s := range steps {
		c := checks[s.name]
		t.Logf("step %s (%s): %q", s.name, s.kind, s.lines)
		run := func() []result { return q.run(s) }
		rs := run()
		if c.fn == nil {
			continue
		}
		deadline := time.Now().Add(c.wait)
		for {
			err := c.fn(q, rs)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("step %s: %v", s.name, err)
			}
			time.Sleep(250 * time.Millisecond)
			if c.rerun {
				rs = run()
			}
		}
	}

	// Ctrl-C ends both cleanly.
	for _, term := range []string{"listener", "hookd"} {
		if err := q.running[term].interrupt(t, 30*time.Second); err != nil {
			t.Errorf("%s exited with %v on Ctrl-C", term, err)
		}
	}
}

// run runs a step's commands and returns the results of those that ran
// to their end.
func (q *quickstart) run(s step) []result {
	t := q.t
	switch s.kind {
	case "skip":
		return nil
	case "interactive":
		if len(s.lines) != 1 || !strings.HasPrefix(s.lines[0], "hookctl tail") {
			t.Fatalf("the test does not know how to run %q without a terminal", s.lines)
		}
		// tail is a TUI on a terminal; --count prints the attempts as
		// JSON lines instead. Without tail, the log shows the same.
		if help := sh(t, q.work, q.env, "hookctl tail --help"); help.code == 0 && strings.Contains(help.stdout, "--count") {
			// The attempt reaches the log a moment after the receiver
			// sees it; until then tail waits for a live one.
			return []result{shWithin(t, q.work, q.env, q.adapt(s.lines[0])+" --count 1 -o jsonl", 5*time.Second)}
		}
		t.Log("hookctl tail --count is not available: checking hookctl attempts list instead")
		return []result{sh(t, q.work, q.env, "hookctl attempts list")}
	case "background":
		var rs []result
		for _, line := range s.lines[:len(s.lines)-1] {
			rs = append(rs, sh(t, q.work, q.env, q.adapt(line)))
		}
		line := q.adapt(s.lines[len(s.lines)-1])
		term := terminal(line)
		if p := q.running[term]; p != nil {
			if err := p.interrupt(t, 30*time.Second); err != nil && term == "listener" {
				t.Fatalf("the listener exited with %v on Ctrl-C", err)
			}
			q.stopped[term] = p
		}
		q.running[term] = startProc(t, term, q.work, q.env, "sh", "-c", "exec "+line)
		return rs
	case "":
		var rs []result
		for _, line := range s.lines {
			rs = append(rs, sh(t, q.work, q.env, q.adapt(line)))
		}
		return rs
	}
	t.Fatalf("README.md: unknown kind %q of quickstart step %s", s.kind, s.name)
	return nil
}
