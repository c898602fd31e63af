package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	wire "github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/apikey"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/storage/sqlite"
	"github.com/hookd/hookd/storage/storagetest"
)

type countingPublisher struct{ n atomic.Int32 }

func (p *countingPublisher) Produce(context.Context, []*sarama.ProducerMessage) error {
	p.n.Add(1)
	return nil
}

// A key whose publish is under way (claimed as pending) makes a repeat
// wait (409) instead of answering "duplicate" for an event that may never
// be published; a pending claim left by a process that died expires, and
// the next repeat publishes.
func TestPublishPendingClaim(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "h.db"), storagetest.NewBox(t), sqlite.Options{PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, hash, _ := apikey.Generate()
	if err := db.CreateAPIKey(ctx, domain.APIKey{ID: "key_1", Name: "t", Hash: hash, Scopes: []string{domain.ScopeAdmin}, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	pub := &countingPublisher{}
	now := time.Now().UTC()
	s, err := New(Deps{Config: db, Publisher: pub}, Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	post := func(idem string) (int, wire.PublishEventResponse) {
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/events", strings.NewReader(`{"type":"a.b","data":{}}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Idempotency-Key", idem)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		b, _ := io.ReadAll(w.Result().Body)
		var res wire.PublishEventResponse
		_ = json.Unmarshal(b, &res)
		return w.Code, res
	}

	// An in-progress publish elsewhere.
	claim := claimKeyOf("k:", "busy")
	if _, ok, err := db.ClaimEventKey(ctx, claim, pendingPrefix+"evt_x", now, now.Add(pendingClaim)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if code, _ := post("busy"); code != http.StatusConflict || pub.n.Load() != 0 {
		t.Fatalf("repeat of a pending publish: %d, %d published", code, pub.n.Load())
	}
	// Its process died: once the pending claim expires, a repeat publishes
	// and its key is then held for the whole window.
	now = now.Add(pendingClaim + time.Second)
	code, first := post("busy")
	if code != http.StatusAccepted || first.Duplicate || pub.n.Load() != 1 {
		t.Fatalf("after the pending claim expired: %d %+v, %d published", code, first, pub.n.Load())
	}
	now = now.Add(time.Hour)
	code, again := post("busy")
	if code != http.StatusAccepted || !again.Duplicate || again.ID != first.ID || pub.n.Load() != 1 {
		t.Fatalf("repeat within the window: %d %+v, %d published", code, again, pub.n.Load())
	}
}
