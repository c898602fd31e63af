package subscriptions

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/hookd/hookd/internal/domain"
)

// benchSet is a synthetic but realistic configuration: 500 event types
// (domain.entity.action), a tenant per 20 endpoints plus 10% of endpoints
// without a tenant, and per endpoint either 1-5 exact types (89%), a
// prefix ("order.*" or "order.item.*") with up to two exact types (10%),
// or "*" (1%); 5% disabled.
type benchSet struct {
	endpoints []domain.Endpoint
	index     *Index
	hits      []lookup // (tenant, type) pairs with at least one match
	misses    []lookup // pairs with none: known tenants, unsubscribed types
}

type lookup struct{ tenant, eventType string }

var (
	benchMu   sync.Mutex
	benchSets = map[int]*benchSet{}
)

func benchTypes() []string {
	domains := []string{"order", "invoice", "payment", "user", "account", "shipment", "refund", "subscription", "product", "cart"}
	entities := []string{"item", "line", "note", "address", "status", "tax", "discount", "fee", "owner", "attachment"}
	actions := []string{"created", "updated", "deleted", "failed", "completed"}
	var types []string
	for _, d := range domains {
		for _, e := range entities {
			for _, a := range actions {
				types = append(types, d+"."+e+"."+a)
			}
		}
	}
	return types
}

func makeBenchEndpoints(n int, seed uint64) []domain.Endpoint {
	r := rand.New(rand.NewPCG(seed, 7))
	types := benchTypes()
	// Popular types are subscribed to more: a Zipf spread over the pool.
	zipf := rand.NewZipf(r, 1.1, 4, uint64(len(types)-1))
	tenants := max(n/20, 1)
	eps := make([]domain.Endpoint, n)
	for i := range eps {
		tenant := ""
		if r.IntN(10) > 0 {
			tenant = fmt.Sprintf("tenant-%05d", r.IntN(tenants))
		}
		var filters []string
		switch k := r.IntN(100); {
		case k == 0:
			filters = []string{"*"}
		case k <= 10:
			t := types[zipf.Uint64()]
			if r.IntN(2) == 0 {
				filters = []string{t[:indexByte(t, '.')+1] + "*"}
			} else {
				filters = []string{t[:lastIndexByte(t, '.')+1] + "*"}
			}
			for range r.IntN(3) {
				filters = append(filters, types[zipf.Uint64()])
			}
		default:
			for range 1 + r.IntN(5) {
				filters = append(filters, types[zipf.Uint64()])
			}
		}
		eps[i] = domain.Endpoint{
			ID:         fmt.Sprintf("ep_%08d", i),
			TenantID:   tenant,
			URL:        fmt.Sprintf("https://hooks.example.com/%d", i),
			EventTypes: filters,
			Enabled:    r.IntN(20) > 0,
		}
	}
	return eps
}

func indexByte(s string, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func lastIndexByte(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func getBenchSet(b *testing.B, n int) *benchSet {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if s, ok := benchSets[n]; ok {
		return s
	}
	s := &benchSet{endpoints: makeBenchEndpoints(n, uint64(n)), index: NewIndex()}
	s.index.Replace(s.endpoints)
	r := rand.New(rand.NewPCG(3, 4))
	types := benchTypes()
	for len(s.hits) < 4096 {
		e := s.endpoints[r.IntN(len(s.endpoints))]
		f := e.EventTypes[r.IntN(len(e.EventTypes))]
		typ := f
		if f == "*" || f[len(f)-1] == '*' {
			typ = types[r.IntN(len(types))]
			if !domain.MatchEventType(f, typ) {
				continue
			}
		}
		s.hits = append(s.hits, lookup{e.TenantID, typ})
	}
	for tries := 0; len(s.misses) < 4096 && tries < 1e6; tries++ {
		e := s.endpoints[r.IntN(len(s.endpoints))]
		typ := types[r.IntN(len(types))]
		if len(s.index.Match(e.TenantID, typ)) == 0 {
			s.misses = append(s.misses, lookup{e.TenantID, typ})
		}
	}
	if len(s.misses) < 4096 {
		b.Fatalf("only %d misses found", len(s.misses))
	}
	benchSets[n] = s
	return s
}

// BenchmarkLookup measures one lookup per op. "Match" is the allocating
// form (shared slice for a single list), "AppendMatch" reuses a buffer as
// the dispatcher would.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, kind := range []string{"hit", "miss"} {
			b.Run(fmt.Sprintf("endpoints=%d/%s/Match", n, kind), func(b *testing.B) {
				s := getBenchSet(b, n)
				ls := s.hits
				if kind == "miss" {
					ls = s.misses
				}
				matches := 0
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					l := ls[i%len(ls)]
					matches += len(s.index.Match(l.tenant, l.eventType))
					i++
				}
				b.ReportMetric(float64(matches)/float64(i), "matches/op")
			})
			b.Run(fmt.Sprintf("endpoints=%d/%s/AppendMatch", n, kind), func(b *testing.B) {
				s := getBenchSet(b, n)
				ls := s.hits
				if kind == "miss" {
					ls = s.misses
				}
				buf := make([]*domain.Endpoint, 0, 1024)
				matches := 0
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					l := ls[i%len(ls)]
					buf = s.index.AppendMatch(buf[:0], l.tenant, l.eventType)
					matches += len(buf)
					i++
				}
				b.ReportMetric(float64(matches)/float64(i), "matches/op")
			})
		}
		// The same hit again and again: the CPU cost of a lookup with the
		// index in cache, where the cases above mostly measure memory
		// latency.
		b.Run(fmt.Sprintf("endpoints=%d/hot-hit/AppendMatch", n), func(b *testing.B) {
			s := getBenchSet(b, n)
			l := s.hits[0]
			buf := make([]*domain.Endpoint, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = s.index.AppendMatch(buf[:0], l.tenant, l.eventType)
			}
			b.ReportMetric(float64(len(buf)), "matches/op")
		})
		b.Run(fmt.Sprintf("endpoints=%d/hit/AppendMatch-parallel", n), func(b *testing.B) {
			s := getBenchSet(b, n)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]*domain.Endpoint, 0, 1024)
				i := rand.IntN(len(s.hits))
				for pb.Next() {
					l := s.hits[i%len(s.hits)]
					buf = s.index.AppendMatch(buf[:0], l.tenant, l.eventType)
					i++
				}
			})
		})
	}
}

// BenchmarkUpdate measures one Upsert into a populated index: what a
// change notification costs the daemon.
func BenchmarkUpdate(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("endpoints=%d/Upsert", n), func(b *testing.B) {
			eps := makeBenchEndpoints(n, uint64(n))
			ix := NewIndex()
			ix.Replace(eps)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e := eps[i%len(eps)]
				e.Enabled = !e.Enabled
				eps[i%len(eps)] = e
				ix.Upsert(e)
				i++
			}
		})
		b.Run(fmt.Sprintf("endpoints=%d/Replace", n), func(b *testing.B) {
			eps := makeBenchEndpoints(n, uint64(n))
			ix := NewIndex()
			b.ReportAllocs()
			for b.Loop() {
				ix.Replace(eps)
			}
		})
	}
}
