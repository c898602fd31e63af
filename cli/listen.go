package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/signature"
)

// ListenOptions are the inputs of `hookctl listen`.
type ListenOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	secretSource
	Port       int
	EndpointID string
	Status     int
	FailRate   float64
	Delay      time.Duration
	Tolerance  time.Duration
	Output     string
	ctx        context.Context

	// checkSignatures is set when a secret was given.
	checkSignatures bool
	// ready, when set, is called with the address once it listens (tests).
	ready func(net.Addr)
	// random decides the failures; nil means math/rand.
	random func() float64
}

// Output formats of listen.
const (
	listenText  = "text"
	listenJSONL = "jsonl"
)

// listenShutdown bounds the wait for answers still being delayed at Ctrl-C.
const listenShutdown = 5 * time.Second

// NewCmdListen builds `hookctl listen`.
func NewCmdListen(f *Factory, runF func(*ListenOptions) error) *cobra.Command {
	opts := &ListenOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:   "listen",
		Short: "Receive webhooks on this machine: print each delivery and answer as told",
		Long: `Run a local receiver on 127.0.0.1 that prints every request it gets (method,
path, headers, the body as indented JSON), checks its signature, and answers
with --status. Point an endpoint at it to see what hookd sends; make it fail
(--fail-rate) or slow (--delay) to watch retries and the dead-letter queue.
Any path is accepted. Ctrl-C prints a summary.

Signatures are checked with the endpoint's signing secret: --secret,
--secret-file or HOOKCTL_WEBHOOK_SECRET (any scheme: Standard Webhooks,
Stripe, GitHub). hookd shows a secret only when it makes it, so create the
endpoint with a secret you chose (endpoints create --secret) or keep the one
it printed.

--endpoint ID asks hookd (the current context) for that endpoint, warns if
its URL does not lead to this listener, and prints only the requests to its
URL's path, labeled with its ID; others are answered but not shown.
Deliveries do not name their endpoint, so give endpoints sharing a listener
different paths. --endpoint cannot check signatures by itself: the API never
returns a secret again; add --secret for that.

Only hookd dev delivers to 127.0.0.1: production hookd refuses loopback
addresses unless delivery.allow_cidrs allows them.`,
		Example: `  hookctl listen
  hookctl secret generate > whsec.txt
  hookctl listen --secret-file whsec.txt --port 4000
  hookctl listen --fail-rate 0.3 --delay 200ms
  hookctl listen --status 410                      # hookd disables the endpoint
  hookctl listen --endpoint ep_123 -o jsonl | jq .body`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(opts.Output, listenText, listenJSONL); err != nil {
				return err
			}
			if opts.Port < 0 || opts.Port > 65535 {
				return cmdutil.Usagef("--port %d is not a TCP port", opts.Port)
			}
			if opts.Status < 200 || opts.Status > 599 {
				return cmdutil.Usagef("--status %d is not a final HTTP status (200-599)", opts.Status)
			}
			if opts.FailRate < 0 || opts.FailRate > 1 {
				return cmdutil.Usagef("--fail-rate must be between 0 and 1")
			}
			if opts.Delay < 0 || opts.Delay > 10*time.Minute {
				return cmdutil.Usagef("--delay must be between 0 and 10m")
			}
			if opts.Tolerance <= 0 {
				return cmdutil.Usagef("--tolerance must be above zero")
			}
			opts.EndpointID = strings.TrimSpace(opts.EndpointID)
			if cmd.Flags().Changed("endpoint") && opts.EndpointID == "" {
				return cmdutil.Usagef("--endpoint must not be empty")
			}
			opts.checkSignatures = opts.Secret != "" || opts.SecretFile != "" || strings.TrimSpace(os.Getenv(secretEnv)) != ""
			opts.ctx = commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runListen(opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&opts.Port, "port", "p", 4000, "port on 127.0.0.1 (0: any free port)")
	fl.StringVar(&opts.Secret, "secret", "", "signing secret to check signatures with (whsec_...)")
	fl.StringVar(&opts.SecretFile, "secret-file", "", "read the signing secret from a file")
	fl.StringVar(&opts.EndpointID, "endpoint", "", "show only deliveries to this endpoint's URL path (asks hookd for it)")
	fl.IntVar(&opts.Status, "status", http.StatusOK, "status to answer with")
	fl.Float64Var(&opts.FailRate, "fail-rate", 0, "fraction of requests answered 500 instead, at random (0 to 1)")
	fl.DurationVar(&opts.Delay, "delay", 0, "wait this long before answering, e.g. 200ms")
	fl.DurationVar(&opts.Tolerance, "tolerance", signature.DefaultTolerance, "how far a signed timestamp may be from now")
	fl.StringVarP(&opts.Output, "output", "o", listenText, "output format: text or jsonl (one JSON object per request)")
	cmd.MarkFlagsMutuallyExclusive("secret", "secret-file")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{listenText, listenJSONL}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// listenDelivery is one request as listen prints it with -o jsonl.
type listenDelivery struct {
	Time       time.Time         `json:"time"`
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	Query      string            `json:"query,omitempty"`
	EndpointID string            `json:"endpoint_id,omitempty"`
	WebhookID  string            `json:"webhook_id,omitempty"`
	Headers    map[string]string `json:"headers"`
	// Body is the body as JSON when it is JSON, else as a string.
	Body      json.RawMessage `json:"body"`
	Signature listenSignature `json:"signature"`
	Status    int             `json:"status"`
	// Failed says the status is a --fail-rate failure.
	Failed bool          `json:"failed,omitempty"`
	Delay  time.Duration `json:"-"`
}

type listenSignature struct {
	Checked bool   `json:"checked"`
	Valid   bool   `json:"valid"`
	Scheme  string `json:"scheme,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// MarshalJSON writes Delay in milliseconds, as its name says.
func (d listenDelivery) MarshalJSON() ([]byte, error) {
	type plain listenDelivery
	return json.Marshal(struct {
		plain
		Delay int64 `json:"delay_ms,omitempty"`
	}{plain(d), d.Delay.Milliseconds()})
}

// listener answers and prints requests and keeps the summary.
type listener struct {
	opts     *ListenOptions
	secret   string
	endpoint *api.Endpoint
	path     string // the endpoint's URL path; empty: show every request

	mu       sync.Mutex // serializes printing and the counters
	total    int
	ignored  int
	byStatus map[int]int
	failed   int
	ids      map[string]struct{}
	valid    int
	invalid  int
}

func runListen(opts *ListenOptions) error {
	l := &listener{opts: opts, byStatus: map[int]int{}, ids: map[string]struct{}{}}
	if opts.checkSignatures {
		s, err := opts.readSecret()
		if err != nil {
			return err
		}
		if err := signature.ValidateSecret(s); err != nil {
			return cmdutil.Usagef("the signing secret: %v", err)
		}
		l.secret = s
	}
	if opts.random == nil {
		opts.random = rand.Float64
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(opts.ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)))
	if err != nil {
		return fmt.Errorf("listen on 127.0.0.1:%d: %w (choose another with --port)", opts.Port, err)
	}
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		return fmt.Errorf("listen on 127.0.0.1:%d: not a TCP address: %v", opts.Port, ln.Addr())
	}

	if opts.EndpointID != "" {
		if err := l.lookupEndpoint(addr); err != nil {
			_ = ln.Close()
			return err
		}
	}
	l.printBanner(addr)

	srv := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 1 << 20}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if opts.ready != nil {
		opts.ready(addr)
	}
	select {
	case err := <-served:
		return err
	case <-opts.ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), listenShutdown)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	l.printSummary()
	return nil
}

// lookupEndpoint fetches the endpoint of --endpoint and checks that its
// URL leads here.
func (l *listener) lookupEndpoint(addr *net.TCPAddr) error {
	c, err := l.opts.APIClient()
	if err != nil {
		return fmt.Errorf("--endpoint needs hookd's API: %w", err)
	}
	ctx, cancel := context.WithTimeout(l.opts.ctx, 30*time.Second)
	defer cancel()
	ep, err := c.GetEndpoint(ctx, l.opts.EndpointID)
	if err != nil {
		return err
	}
	l.endpoint = &ep
	u, err := url.Parse(ep.URL)
	if err != nil {
		return fmt.Errorf("endpoint %s has a URL hookctl cannot read: %w", ep.ID, err)
	}
	l.path = u.EscapedPath()
	if l.path == "" {
		l.path = "/"
	}
	if !leadsHere(u, addr) {
		fmt.Fprintf(l.opts.IO.ErrOut, "Warning: endpoint %s delivers to %s, not to this listener (http://%s); change it with\n  hookctl endpoints update %s --url http://%s%s\n",
			ep.ID, ep.URL, addr, ep.ID, addr, l.path)
	}
	if !ep.Enabled {
		fmt.Fprintf(l.opts.IO.ErrOut, "Warning: endpoint %s is disabled (%s): its deliveries wait in the dead-letter queue. Enable it with: hookctl endpoints enable %s\n",
			ep.ID, ep.DisabledReason, ep.ID)
	}
	return nil
}

// leadsHere reports whether u is an http URL of this machine's loopback
// on the listener's port.
func leadsHere(u *url.URL, addr *net.TCPAddr) bool {
	if u.Scheme != "http" {
		return false
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	if port != strconv.Itoa(addr.Port) {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (l *listener) printBanner(addr *net.TCPAddr) {
	o := l.opts
	w := o.IO.ErrOut
	answer := strconv.Itoa(o.Status)
	if o.FailRate > 0 {
		answer += fmt.Sprintf(", or 500 to %s of them at random", ratePercent(o.FailRate))
	}
	if o.Delay > 0 {
		answer += ", after " + o.Delay.String()
	}
	fmt.Fprintf(w, "Listening on http://%s (any path); answering %s. Ctrl-C to stop.\n", addr, answer)
	if l.endpoint != nil {
		fmt.Fprintf(w, "Showing deliveries to endpoint %s (path %s) only.\n", l.endpoint.ID, l.path)
	} else {
		fmt.Fprintf(w, "Point an endpoint here: hookctl endpoints create --url http://%s/webhooks\n", addr)
	}
	if l.secret != "" {
		fmt.Fprintln(w, "Checking signatures with the secret given.")
	} else {
		fmt.Fprintln(w, "Not checking signatures: give the endpoint's secret with --secret or --secret-file.")
	}
}

func ratePercent(f float64) string {
	return strconv.FormatFloat(f*100, 'f', -1, 64) + "%"
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	if len(body) > maxBodyBytes {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	now := time.Now()
	d := listenDelivery{
		Time: now.UTC(), Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		WebhookID: firstHeader(r.Header, "webhook-id", "X-GitHub-Delivery"),
		Headers:   flatHeaders(r.Header), Body: jsonOrString(body),
		Status: l.opts.Status, Delay: l.opts.Delay,
	}
	if l.opts.random() < l.opts.FailRate {
		d.Status, d.Failed = http.StatusInternalServerError, true
	}
	if l.secret != "" {
		res := signature.Verify(signature.VerifyInput{
			Secrets: []string{l.secret}, Header: r.Header, Body: body, Tolerance: l.opts.Tolerance, Now: now,
		})
		d.Signature = listenSignature{Checked: true, Valid: res.Valid, Scheme: res.Scheme, Reason: res.Reason, Detail: res.Detail}
	}
	shown := l.path == "" || d.Path == l.path
	if shown && l.endpoint != nil {
		d.EndpointID = l.endpoint.ID
	}
	l.record(d, shown)

	if d.Delay > 0 {
		t := time.NewTimer(d.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(d.Status)
	if d.Failed {
		_, _ = io.WriteString(w, `{"error":"hookctl listen --fail-rate"}`+"\n")
	} else {
		_, _ = io.WriteString(w, `{"received":true}`+"\n")
	}
}

// record counts d and prints it when shown.
func (l *listener) record(d listenDelivery, shown bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !shown {
		l.ignored++
		return
	}
	l.total++
	l.byStatus[d.Status]++
	if d.Failed {
		l.failed++
	}
	if d.WebhookID != "" {
		l.ids[d.WebhookID] = struct{}{}
	}
	switch {
	case !d.Signature.Checked:
	case d.Signature.Valid:
		l.valid++
	default:
		l.invalid++
	}
	out := l.opts.IO.Out
	if l.opts.Output == listenJSONL {
		_ = writeJSON(out, d, false)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "── %s  %s %s", d.Time.Local().Format("15:04:05.000"), d.Method, d.Path)
	if d.Query != "" {
		b.WriteString("?" + d.Query)
	}
	if d.EndpointID != "" {
		b.WriteString("  " + d.EndpointID)
	}
	fmt.Fprintf(&b, "  → %d", d.Status)
	if d.Failed {
		b.WriteString(" (--fail-rate)")
	}
	if d.Delay > 0 {
		b.WriteString(" after " + d.Delay.String())
	}
	b.WriteString("\n")
	names := make([]string, 0, len(d.Headers))
	for k := range d.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\n", k, d.Headers[k])
	}
	switch s := d.Signature; {
	case !s.Checked:
		b.WriteString("Signature: not checked (no secret given)\n")
	case s.Valid:
		fmt.Fprintf(&b, "Signature: valid (%s)\n", s.Scheme)
	default:
		fmt.Fprintf(&b, "Signature: INVALID: %s: %s\n", s.Reason, s.Detail)
	}
	b.WriteString("\n")
	var str string
	if json.Unmarshal(d.Body, &str) == nil {
		b.WriteString(str)
	} else {
		b.WriteString(prettyJSON(d.Body))
	}
	b.WriteString("\n\n")
	_, _ = io.WriteString(out, b.String())
}

func (l *listener) printSummary() {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.opts.IO.ErrOut
	fmt.Fprintf(w, "\nReceived %d %s", l.total, plural(l.total, "request", "requests"))
	if len(l.ids) > 0 {
		fmt.Fprintf(w, " (%d distinct %s)", len(l.ids), plural(len(l.ids), "webhook-id", "webhook-ids"))
	}
	codes := make([]int, 0, len(l.byStatus))
	for c := range l.byStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d answered %d", l.byStatus[c], c))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, ": %s", strings.Join(parts, ", "))
	}
	if l.failed > 0 {
		fmt.Fprintf(w, " (%d by --fail-rate)", l.failed)
	}
	fmt.Fprintln(w, ".")
	if l.secret != "" && l.total > 0 {
		fmt.Fprintf(w, "Signatures: %d valid, %d invalid.\n", l.valid, l.invalid)
	}
	if l.ignored > 0 {
		fmt.Fprintf(w, "Not shown: %d %s to other paths than endpoint %s's.\n", l.ignored, plural(l.ignored, "request", "requests"), l.endpoint.ID)
	}
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// flatHeaders joins repeated headers with ", " under their lower-case
// names, as HTTP/2 and the Standard Webhooks examples write them.
func flatHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return out
}

// jsonOrString keeps a JSON body as it is and turns anything else into a
// JSON string, so -o jsonl lines are always valid JSON.
func jsonOrString(b []byte) json.RawMessage {
	if len(b) > 0 && json.Valid(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}
