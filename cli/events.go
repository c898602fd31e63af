package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
)

// NewCmdEvents builds `hookctl events`.
func NewCmdEvents(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "events",
		Aliases: []string{"event"},
		Short:   "Publish events and see where they went",
		Example: `  hookctl events send --type order.created --data '{"order_id": 42}'
  hookctl events get evt_123`,
		Args: cmdutil.NoArgs,
	}
	cmd.AddCommand(NewCmdEventSend(f, nil), NewCmdEventGet(f, nil))
	return cmd
}

// EventSendOptions are the inputs of `hookctl events send`.
type EventSendOptions struct {
	IO             *iostreams.IOStreams
	APIClient      func() (*api.Client, error)
	Request        api.PublishEventRequest
	IdempotencyKey string
	Output         string
	ctx            context.Context
}

// NewCmdEventSend builds `hookctl events send`.
func NewCmdEventSend(f *Factory, runF func(*EventSendOptions) error) *cobra.Command {
	opts := &EventSendOptions{IO: f.IOStreams, APIClient: f.apiClient}
	var data string
	cmd := &cobra.Command{
		Use:   "send --type TYPE [--data JSON | --data @FILE | --data -]",
		Short: "Publish an event to every endpoint subscribed to its type",
		Long: `Publish an event through hookd's API, which puts it on Kafka like any
producer's. The data is JSON: inline, @FILE to read a file, or - for stdin;
{} when not given.

An event id or an Idempotency-Key seen within 24h is not published again:
the answer says duplicate.`,
		Example: `  hookctl events send --type order.created --data '{"order_id": 42}'
  hookctl events send --type invoice.paid --data @invoice.json --tenant acme
  jq -c . order.json | hookctl events send --type order.created --data - --id evt_order_42
  hookctl events send --type ping -o json | jq -r .id`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			opts.Request.Type = strings.TrimSpace(opts.Request.Type)
			if opts.Request.Type == "" {
				return cmdutil.Usagef("--type is required")
			}
			raw, err := readEventData(opts.IO, data, cmd.Flags().Changed("data"))
			if err != nil {
				return err
			}
			opts.Request.Data, opts.ctx = raw, commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runEventSend(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Request.Type, "type", "t", "", "event type, e.g. order.created (required)")
	fl.StringVarP(&data, "data", "d", "", "event data: JSON, @FILE, or - for stdin (default {})")
	fl.StringVar(&opts.Request.TenantID, "tenant", "", "tenant: only that tenant's endpoints receive it")
	fl.StringVar(&opts.Request.ID, "id", "", "event id (default: a new one); the same id is not published twice")
	fl.StringVar(&opts.Request.Source, "source", "", "where the event comes from")
	fl.StringVar(&opts.IdempotencyKey, "idempotency-key", "", "a key that makes a repeated send a no-op")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

// readEventData reads --data. Only an explicit - reads stdin: a CI job's
// stdin is often open and never closed.
func readEventData(ios *iostreams.IOStreams, data string, given bool) (json.RawMessage, error) {
	var (
		b    []byte
		name = "--data"
		err  error
	)
	switch {
	case !given:
		return json.RawMessage("{}"), nil
	case data == "-":
		name = "stdin"
		if b, err = readCapped(ios.In, name); err != nil {
			return nil, err
		}
	case strings.HasPrefix(data, "@"):
		name = data[1:]
		f, err := os.Open(name)
		if err != nil {
			return nil, cmdutil.Usagef("--data: %v", err)
		}
		defer f.Close()
		if b, err = readCapped(f, name); err != nil {
			return nil, err
		}
	default:
		b = []byte(data)
	}
	if !json.Valid(b) {
		return nil, cmdutil.Usagef("%s is not valid JSON", name)
	}
	return json.RawMessage(b), nil
}

func runEventSend(opts *EventSendOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	r, err := c.PublishEvent(opts.ctx, opts.Request, opts.IdempotencyKey)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(r, func() error {
		if r.Duplicate {
			fmt.Fprintf(opts.IO.Out, "Event %s was already published; nothing was sent again.\n", r.ID)
		} else {
			fmt.Fprintf(opts.IO.Out, "Published event %s.\n", r.ID)
		}
		fmt.Fprintf(opts.IO.ErrOut, "See its deliveries: hookctl events get %s\n", r.ID)
		return nil
	})
}

// EventGetOptions are the inputs of `hookctl events get`.
type EventGetOptions struct {
	IO        *iostreams.IOStreams
	APIClient func() (*api.Client, error)
	ID        string
	Output    string
	ctx       context.Context
}

// NewCmdEventGet builds `hookctl events get`.
func NewCmdEventGet(f *Factory, runF func(*EventGetOptions) error) *cobra.Command {
	opts := &EventGetOptions{IO: f.IOStreams, APIClient: f.apiClient}
	cmd := &cobra.Command{
		Use:   "get EVENT_ID",
		Short: "Show an event's deliveries and their attempts",
		Example: `  hookctl events get evt_123
  hookctl events get evt_123 -o json | jq '.deliveries[] | {endpoint_id, state}'`,
		Args: cmdutil.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validateOutput(opts.Output); err != nil {
				return err
			}
			opts.ID, opts.ctx = args[0], commandContext(cmd)
			if runF != nil {
				return runF(opts)
			}
			return runEventGet(opts)
		},
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runEventGet(opts *EventGetOptions) error {
	c, err := opts.APIClient()
	if err != nil {
		return err
	}
	ev, err := c.GetEvent(opts.ctx, opts.ID)
	if err != nil {
		return err
	}
	p := newPrinter(opts.IO, opts.Output)
	return p.object(ev, func() error {
		if len(ev.Deliveries) == 0 {
			fmt.Fprintf(opts.IO.Out, "Event %s: no deliveries recorded (yet).\n", ev.EventID)
			return nil
		}
		fmt.Fprintf(opts.IO.Out, "Event %s: %d %s\n", ev.EventID, len(ev.Deliveries), plural(len(ev.Deliveries), "delivery", "deliveries"))
		for _, d := range ev.Deliveries {
			fmt.Fprintln(opts.IO.Out)
			if err := printDeliveryBlock(p, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// printDeliveryBlock shows a delivery and its attempts, oldest first.
func printDeliveryBlock(p *printer, d api.Delivery) error {
	head := p.table()
	head.row(styled("Delivery", styleBold), txt(d.DeliveryID), styled(d.State, stateStyle(d.State)))
	head.row(styled("Endpoint", styleBold), txt(d.EndpointID))
	head.row(styled("Event", styleBold), txt(d.EventID+" ("+d.EventType+")"))
	if err := head.flush(); err != nil {
		return err
	}
	if len(d.Attempts) == 0 {
		return nil
	}
	t := p.table("GEN", "#", "STARTED", "OUTCOME", "STATUS", "DURATION", "NEXT RETRY", "ERROR")
	t.indent = "  "
	for _, a := range d.Attempts {
		t.row(num(a.Generation), num(a.Attempt), p.when(a.StartedAt), styled(a.Outcome, stateStyle(a.Outcome)),
			statusCell(a.StatusCode), txt(duration(time.Duration(a.Duration))), txt(p.timePtr(a.NextRetryAt)), wide(a.Error, widthError))
	}
	return t.flush()
}

func statusCell(code int) cell {
	if code == 0 {
		return txt("")
	}
	return txt(strconv.Itoa(code))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
