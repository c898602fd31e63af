package daemon

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/metrics"
)

// The front handler serves the metrics on GET /metrics before the API is up.
func TestListenServesMetrics(t *testing.T) {
	l, err := config.Load(config.Options{Flags: map[string]string{"http.addr": "127.0.0.1:0"}, WithoutEncryptionKey: true})
	if err != nil {
		t.Fatal(err)
	}
	met := metrics.New()
	met.Attempt("delivered", 0)
	srv, ln, err := listen(l, newFrontHandler(met, newReadiness()))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+ln.Addr().String()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	if want := `hookd_deliveries_total{outcome="delivered"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("GET /metrics lacks %q", want)
	}
}
