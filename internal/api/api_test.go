package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDurationJSON(t *testing.T) {
	for in, want := range map[string]time.Duration{`"30s"`: 30 * time.Second, `"1h5m"`: 65 * time.Minute, `90`: 90 * time.Second, `0.5`: 500 * time.Millisecond} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || time.Duration(d) != want {
			t.Errorf("%s: %v %v, want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{`"soon"`, `-1`, `true`, `"1x"`, `1e300`, `{}`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s accepted as %v", in, time.Duration(d))
		}
	}
	b, _ := json.Marshal(Duration(90 * time.Second))
	if string(b) != `"1m30s"` {
		t.Errorf("marshal: %s", b)
	}
}

func TestClientErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/endpoints/bad":
			w.Header().Set("X-Request-Id", "req-1")
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":{"code":"invalid_request","message":"invalid request","fields":{"url":"required"}}}`)
		case "/v1/endpoints/html":
			w.WriteHeader(502)
			_, _ = io.WriteString(w, "<html>bad gateway</html>")
		default:
			if r.Header.Get("Authorization") != "Bearer k" {
				t.Errorf("authorization %q", r.Header.Get("Authorization"))
			}
			_, _ = io.WriteString(w, `{"id":"ep_1","url":"https://x","event_types":["*"],"signing_scheme":"standard","retry_policy":{},"enabled":true,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","version":1,"timeout":"10s"}`)
		}
	}))
	defer srv.Close()
	c := NewClient(srv.URL+"/", "k")
	ep, err := c.GetEndpoint(context.Background(), "ep_1")
	if err != nil || ep.ID != "ep_1" || time.Duration(ep.Timeout) != 10*time.Second {
		t.Fatalf("get: %+v %v", ep, err)
	}
	_, err = c.GetEndpoint(context.Background(), "bad")
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || e.Fields["url"] != "required" || e.RequestID != "req-1" || !strings.Contains(e.Error(), "url: required") {
		t.Fatalf("400: %#v", err)
	}
	_, err = c.GetEndpoint(context.Background(), "html")
	if !errors.As(err, &e) || e.Status != 502 || !strings.Contains(e.Message, "bad gateway") {
		t.Fatalf("502: %#v", err)
	}
	_, err = NewClient("http://127.0.0.1:1", "k").GetEndpoint(context.Background(), "x")
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestStreamParsing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Last-Event-ID") != "e-1" {
			t.Errorf("Last-Event-ID %q", r.Header.Get("Last-Event-ID"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 2; i <= 3; i++ {
			fmt.Fprintf(w, ": ping\n\nid: e-%d\nevent: attempt\ndata: {\"id\":\"att_%d\",\"outcome\":\"delivered\"}\n\n", i, i)
		}
		_, _ = io.WriteString(w, "event: dropped\ndata: {}\n\n")
	}))
	defer srv.Close()
	var got []string
	err := NewClient(srv.URL, "k").Stream(context.Background(), ListQuery{}, "e-1", nil, func(m StreamMessage) error {
		got = append(got, m.ID+"="+m.Attempt.ID)
		return nil
	})
	if !errors.Is(err, ErrStreamDropped) || strings.Join(got, ",") != "e-2=att_2,e-3=att_3" {
		t.Fatalf("stream: %v %v", got, err)
	}
}
