package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// writeResult writes res to dir/<scenario>-<timestamp>.json.
func writeResult(dir string, res *result) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	name := filepath.Join(dir, fmt.Sprintf("%s-%s.json", res.Scenario, res.Started.UTC().Format("20060102T150405Z")))
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return "", err
	}
	return name, os.WriteFile(name, append(b, '\n'), 0o600)
}

// latestResult reads the newest dir/<scenario>-*.json.
func latestResult(dir, scenario string) (*result, string) {
	files, _ := filepath.Glob(filepath.Join(dir, scenario+"-*.json"))
	if len(files) == 0 {
		return nil, ""
	}
	sort.Strings(files) // timestamps sort as text
	f := files[len(files)-1]
	b, err := os.ReadFile(f)
	if err != nil {
		return nil, ""
	}
	var res result
	if json.Unmarshal(b, &res) != nil {
		return nil, ""
	}
	return &res, f
}

func fmtF(v float64, prec int) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// printResult prints one scenario as a table.
func printResult(w io.Writer, res *result) {
	fmt.Fprintf(w, "\n== %s: %s (%s, %s)\n", res.Scenario, res.Title, res.Started.UTC().Format(time.RFC3339), res.Finished.Sub(res.Started).Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\toffered/s\tdelivered/s\tp50 ms\tp99 ms\tp99.9 ms\thookd cores\thookd µs/dlv\thookd RSS MB\tlogwriter cores\trecv cores\tkafka cores\tcass cores\tpg cores\tother cores\tmachine cores\tlag ev/retry/log\tresult\t")
	for _, st := range res.Steps {
		x := st.Window
		verdict := ""
		if st.Pass != nil {
			verdict = "ok"
			if !*st.Pass {
				verdict = "BEHIND"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d/%d\t%s\t\n",
			st.Name, fmtF(x.OfferedDeliveriesPerS, 0), fmtF(x.DeliveredPerS, 0), fmtF(x.Latency.P50, 1), fmtF(x.Latency.P99, 1), fmtF(x.Latency.P999, 1),
			fmtF(x.CPUCores[procHookd], 2), fmtF(x.HookdMicrosPerD, 0), fmtF(x.HookdPeakRSSMB, 0), fmtF(x.CPUCores[procLogWriter], 2),
			fmtF(x.CPUCores[procReceiver], 2), fmtF(x.CPUCores[procKafka], 2), fmtF(x.CPUCores[procCassandra], 2), fmtF(x.CPUCores[procPostgres], 2),
			fmtF(x.OtherCores, 2), fmtF(x.MachineCores, 2), x.LagEnd.Events, x.LagEnd.Retries, x.LagEnd.LogWriter, verdict)
	}
	_ = tw.Flush()
	for _, k := range sortedKeys(res.Summary) {
		v := res.Summary[k]
		if m, ok := v.(map[string]any); ok {
			var parts []string
			for _, mk := range sortedKeys(m) {
				parts = append(parts, fmt.Sprintf("%s=%v", mk, m[mk]))
			}
			fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(parts, " "))
			continue
		}
		fmt.Fprintf(w, "  %s: %v\n", k, v)
	}
	if res.Ledger != nil {
		fmt.Fprintf(w, "  ledger: %s; pending in Kafka %d\n", res.Ledger.String(), res.Ledger.PendingInKafka)
	}
	if len(res.Processes) > 0 {
		var parts []string
		for _, name := range procOrder {
			p, ok := res.Processes[name]
			if !ok {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %.0fs CPU, peak RSS %.0f MB (HWM %.0f)", name, p.CPUSeconds, p.PeakRSSMB, p.HWMMB))
		}
		fmt.Fprintf(w, "  processes: %s\n", strings.Join(parts, "; "))
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}
