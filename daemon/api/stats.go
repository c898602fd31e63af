package api

import (
	"net/http"
	"slices"
	"time"

	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage"
)

// statsSample bounds the attempts an endpoint's stats are computed from:
// the newest ones in the window, enough for stable percentiles while the
// cost of one request stays bounded.
const statsSample = 5000

func (s *Server) endpointStats(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Log == nil {
		return unavailable("the delivery log")
	}
	window := time.Hour
	q := r.URL.Query()
	for name := range q {
		if name != "window" {
			return badField(name, "unknown parameter (allowed: window)")
		}
	}
	if v := q.Get("window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 31*24*time.Hour {
			return badField("window", "a duration from 1s to 744h (like 15m, 24h)")
		}
		window = d
	}
	e, err := s.endpointByPath(r)
	if err != nil {
		return err
	}
	now := s.now()
	st := wire.EndpointStats{
		EndpointID: e.ID, Window: wire.Duration(window), Outcomes: map[string]int{},
		CircuitState: "unknown", Enabled: e.Enabled, DisabledFor: e.DisabledReason,
	}
	if s.deps.CircuitState != nil {
		st.CircuitState = s.deps.CircuitState(e.ID)
	}
	var latencies []time.Duration
	req := storage.PageRequest{Limit: storage.MaxPageSize}
	f := domain.AttemptFilter{EndpointID: e.ID, Since: now.Add(-window)}
	for st.Sampled < statsSample {
		page, err := s.deps.Log.ListAttempts(r.Context(), f, req)
		if err != nil {
			return err
		}
		for i := range page.Items {
			a := &page.Items[i]
			st.Sampled++
			st.Outcomes[string(a.Outcome)]++
			if st.LastAttemptAt == nil {
				t := a.StartedAt
				st.LastAttemptAt = &t
			}
			switch a.Outcome {
			case domain.OutcomeDelivered:
				st.Delivered++
			case domain.OutcomeCircuitOpen, domain.OutcomeEndpointDisabled:
				// not sent: neither a success nor a failure of the endpoint
			default:
				st.Failed++
				if st.LastError == "" {
					st.LastError = a.Error
					if st.LastError == "" && a.StatusCode != 0 {
						st.LastError = "HTTP " + http.StatusText(a.StatusCode)
					}
					t := a.StartedAt
					st.LastErrorAt = &t
				}
			}
			if a.Outcome == domain.OutcomeDelivered || a.Outcome == domain.OutcomeFailed || a.Outcome == domain.OutcomeTimeout {
				latencies = append(latencies, a.Duration)
			}
		}
		if page.NextCursor == "" {
			break
		}
		req.Cursor = page.NextCursor
	}
	if n := st.Delivered + st.Failed; n > 0 {
		st.SuccessRate = float64(st.Delivered) / float64(n)
	}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		pct := func(p float64) wire.Duration {
			i := int(p * float64(len(latencies)-1))
			return wire.Duration(latencies[i])
		}
		st.LatencyP50, st.LatencyP90, st.LatencyP99 = pct(0.50), pct(0.90), pct(0.99)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
