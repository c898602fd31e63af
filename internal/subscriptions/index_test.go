package subscriptions

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/domain"
)

func ep(id, tenant string, enabled bool, filters ...string) domain.Endpoint {
	return domain.Endpoint{ID: id, TenantID: tenant, URL: "https://example.com/" + id, EventTypes: filters, Enabled: enabled}
}

func ids(eps []*domain.Endpoint) []string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.ID
	}
	slices.Sort(out)
	return out
}

// bruteForce is the definition the index must agree with.
func bruteForce(all map[string]domain.Endpoint, tenant, eventType string) []string {
	eventType = domain.NormalizeEventType(eventType)
	out := []string{}
	for _, e := range all {
		if e.TenantID != tenant {
			continue
		}
		for _, f := range e.EventTypes {
			if domain.MatchEventType(domain.NormalizeEventType(f), eventType) {
				out = append(out, e.ID)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestMatchSemantics(t *testing.T) {
	endpoints := []domain.Endpoint{
		ep("e01", "", true, "order.created"),
		ep("e02", "", true, "order.*"),
		ep("e03", "", true, "*"),
		ep("e04", "acme", true, "order.created"),
		ep("e05", "acme", true, "order.*", "order.created", "order.item.*", "order.item.added"),
		ep("e06", "", true, "order.item.*"),
		ep("e07", "", true, "Invoice.Paid"),
		ep("e08", "", false, "invoice.paid"),
		ep("e09", "globex", true, "*", "order.created", "order.*"),
		ep("e10", "", true, "user.created", "user.deleted", "user.created"),
		ep("e11", "", true, " Refund.* "),
	}
	ix := NewIndex()
	model := map[string]domain.Endpoint{}
	for _, e := range endpoints {
		ix.Upsert(e)
		model[e.ID] = e
	}
	cases := []struct {
		name, tenant, eventType string
		want                    []string
	}{
		{"exact, prefix and star", "", "order.created", []string{"e01", "e02", "e03"}},
		{"nested prefix", "", "order.item.added", []string{"e02", "e03", "e06"}},
		{"prefix needs a further segment", "", "order", []string{"e03"}},
		{"trailing dot is not under the prefix", "", "order.", []string{"e03"}},
		{"prefix stops at a segment boundary", "", "orders.created", []string{"e03"}},
		{"event type case", "", "ORDER.Created", []string{"e01", "e02", "e03"}},
		{"event type spaces", "", "  order.created ", []string{"e01", "e02", "e03"}},
		{"filter case", "", "invoice.paid", []string{"e03", "e07", "e08"}},
		{"filter spaces and case on a prefix", "", "refund.issued", []string{"e03", "e11"}},
		{"tenant sees only its endpoints", "acme", "order.created", []string{"e04", "e05"}},
		{"overlapping filters appear once", "acme", "order.item.added", []string{"e05"}},
		{"star with overlaps appears once", "globex", "order.created", []string{"e09"}},
		{"tenant star", "globex", "anything.at.all", []string{"e09"}},
		{"tenant without subscriptions", "acme", "user.created", nil},
		{"unknown tenant", "initech", "order.created", nil},
		{"tenant ids are case-sensitive", "ACME", "order.created", nil},
		{"duplicate filter", "", "user.created", []string{"e03", "e10"}},
		{"no tenant: only tenantless endpoints", "", "user.deleted", []string{"e03", "e10"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == nil {
				tc.want = []string{}
			}
			if got := ids(ix.Match(tc.tenant, tc.eventType)); !slices.Equal(got, tc.want) {
				t.Errorf("Match(%q, %q) = %v, want %v", tc.tenant, tc.eventType, got, tc.want)
			}
			if got := ids(ix.AppendMatch(nil, tc.tenant, tc.eventType)); !slices.Equal(got, tc.want) {
				t.Errorf("AppendMatch(%q, %q) = %v, want %v", tc.tenant, tc.eventType, got, tc.want)
			}
			if bf := bruteForce(model, tc.tenant, tc.eventType); !slices.Equal(bf, tc.want) {
				t.Errorf("test case disagrees with domain.MatchEventType: %v", bf)
			}
		})
	}

	t.Run("disabled endpoints are returned, flagged", func(t *testing.T) {
		for _, e := range ix.Match("", "invoice.paid") {
			if e.ID == "e08" && e.Enabled {
				t.Error("e08 is disabled but Enabled is true")
			}
		}
		if got := ids(ix.AppendEnabled(nil, "", "invoice.paid")); !slices.Equal(got, []string{"e03", "e07"}) {
			t.Errorf("AppendEnabled = %v, want [e03 e07]", got)
		}
	})
	if ix.Len() != len(endpoints) {
		t.Errorf("Len = %d, want %d", ix.Len(), len(endpoints))
	}
}

func TestUpdatesReplaceOldEntries(t *testing.T) {
	ix := NewIndex()
	ix.Upsert(ep("a", "", true, "order.created", "invoice.*"))
	ix.Upsert(ep("b", "", true, "order.created"))

	check := func(tenant, typ string, want ...string) {
		t.Helper()
		if want == nil {
			want = []string{}
		}
		if got := ids(ix.Match(tenant, typ)); !slices.Equal(got, want) {
			t.Errorf("Match(%q, %q) = %v, want %v", tenant, typ, got, want)
		}
	}
	check("", "order.created", "a", "b")
	check("", "invoice.paid", "a")

	// New filters: the old ones go.
	ix.Upsert(ep("a", "", true, "user.*"))
	check("", "order.created", "b")
	check("", "invoice.paid")
	check("", "user.created", "a")

	// New tenant: gone from the old tenant.
	ix.Upsert(ep("a", "acme", true, "user.*"))
	check("", "user.created")
	check("acme", "user.created", "a")

	// Disabled: still returned, flagged.
	ix.Upsert(ep("a", "acme", false, "user.*"))
	if got := ix.Match("acme", "user.created"); len(got) != 1 || got[0].Enabled {
		t.Errorf("disabled endpoint: got %v", got)
	}
	if got := ix.AppendEnabled(nil, "acme", "user.created"); len(got) != 0 {
		t.Errorf("AppendEnabled returned a disabled endpoint")
	}

	ix.Remove("a")
	check("acme", "user.created")
	if _, ok := ix.Endpoint("a"); ok {
		t.Error("Endpoint(a) still found after Remove")
	}
	ix.Remove("never-there")
	if ix.Len() != 1 {
		t.Errorf("Len = %d, want 1", ix.Len())
	}

	// Replace drops everything not in the new set.
	ix.Replace([]domain.Endpoint{ep("c", "", true, "*"), ep("d", "acme", true, "x.y"), ep("c", "", true, "order.*")})
	check("", "order.created", "c")
	check("", "user.created")
	check("acme", "x.y", "d")
	if ix.Len() != 2 {
		t.Errorf("Len after Replace = %d, want 2", ix.Len())
	}
	if e, ok := ix.Endpoint("d"); !ok || e.TenantID != "acme" {
		t.Errorf("Endpoint(d) = %v, %v", e, ok)
	}
}

func TestZeroIndex(t *testing.T) {
	var ix Index
	if got := ix.Match("", "a.b"); got != nil {
		t.Errorf("empty index matched %v", got)
	}
	if ix.Len() != 0 {
		t.Error("empty index has a length")
	}
	ix.Upsert(ep("a", "", true, "a.*"))
	if got := ids(ix.Match("", "a.b")); !slices.Equal(got, []string{"a"}) {
		t.Errorf("got %v", got)
	}
}

func TestLongKeys(t *testing.T) {
	ix := NewIndex()
	tenant := strings.Repeat("t", domain.MaxTenantLength)
	typ := strings.Repeat("abcdefghi.", 25) + "x"
	ix.Upsert(ep("a", tenant, true, typ))
	ix.Upsert(ep("b", tenant, true, strings.Repeat("abcdefghi.", 20)+"*"))
	if got := ids(ix.Match(tenant, typ)); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("got %v", got)
	}

	// Prefixes deeper than the per-depth bookkeeping goes.
	deep := strings.Repeat("s.", 80) + "x"
	ix.Upsert(ep("c", "", true, strings.Repeat("s.", 64)+"*"))
	ix.Upsert(ep("d", "", true, strings.Repeat("s.", 70)+"*"))
	ix.Upsert(ep("e", "", true, strings.Repeat("s.", 81)+"*"))
	if got := ids(ix.Match("", deep)); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("deep prefixes: got %v", got)
	}
	ix.Remove("c")
	ix.Remove("d")
	if got := ids(ix.Match("", deep)); len(got) != 0 {
		t.Errorf("deep prefixes after removal: got %v", got)
	}
}

// TestIrregularFilters covers prefix filters that validation refuses
// ("order*"): the index must still agree with domain.MatchEventType on
// whatever the store holds.
func TestIrregularFilters(t *testing.T) {
	ix := NewIndex()
	ix.Upsert(ep("a", "", true, "order*"))
	ix.Upsert(ep("b", "", true, "order.*"))
	ix.Upsert(ep("c", "t", true, "order*"))
	ix.Upsert(ep("d", "", true, "ord*", "order.created"))
	for _, tc := range []struct {
		typ  string
		want []string
	}{
		{"order.created", []string{"a", "b", "d"}},
		{"orders", []string{"a", "d"}},
		{"order", []string{"d"}},
		{"other", nil},
	} {
		want := tc.want
		if want == nil {
			want = []string{}
		}
		if got := ids(ix.Match("", tc.typ)); !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %v, want %v", tc.typ, got, want)
		}
	}
	ix.Upsert(ep("a", "", true, "order.created"))
	ix.Remove("d")
	if got := ids(ix.Match("", "orders")); len(got) != 0 {
		t.Errorf("irregular entries left after update: %v", got)
	}
}

// TestAgainstBruteForce applies random updates and compares every lookup
// with the definition.
func TestAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	segs := []string{"a", "b", "c", "ab"}
	randType := func() string {
		n := 1 + r.IntN(3)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = segs[r.IntN(len(segs))]
		}
		return strings.Join(parts, ".")
	}
	randFilter := func() string {
		switch r.IntN(10) {
		case 0:
			return "*"
		case 1, 2, 3:
			return randType() + ".*"
		case 4:
			return randType() + "*" // irregular
		default:
			return randType()
		}
	}
	tenants := []string{"", "t1", "t2"}
	randEndpoint := func(id string) domain.Endpoint {
		filters := make([]string, 1+r.IntN(4))
		for i := range filters {
			filters[i] = randFilter()
		}
		return ep(id, tenants[r.IntN(len(tenants))], r.IntN(4) > 0, filters...)
	}
	var types []string
	for range 60 {
		types = append(types, randType())
	}
	types = append(types, "", "a.", ".a", "a..b")

	ix := NewIndex()
	model := map[string]domain.Endpoint{}
	verify := func(step string) {
		t.Helper()
		for _, tenant := range append(tenants, "t3") {
			for _, typ := range types {
				want := bruteForce(model, tenant, typ)
				if got := ids(ix.Match(tenant, typ)); !slices.Equal(got, want) {
					t.Fatalf("%s: Match(%q, %q) = %v, want %v", step, tenant, typ, got, want)
				}
			}
		}
		if ix.Len() != len(model) {
			t.Fatalf("%s: Len = %d, want %d", step, ix.Len(), len(model))
		}
	}
	for round := range 40 {
		switch round % 8 {
		case 0:
			var all []domain.Endpoint
			clear(model)
			for i := range 80 {
				e := randEndpoint(fmt.Sprintf("e%03d", r.IntN(100+i)))
				all = append(all, e)
				model[e.ID] = e
			}
			ix.Replace(all)
		default:
			for range 10 {
				id := fmt.Sprintf("e%03d", r.IntN(120))
				if r.IntN(5) == 0 {
					ix.Remove(id)
					delete(model, id)
				} else {
					e := randEndpoint(id)
					ix.Upsert(e)
					model[id] = e
				}
			}
			changes := map[string]*domain.Endpoint{}
			for range 10 {
				id := fmt.Sprintf("e%03d", r.IntN(120))
				if r.IntN(5) == 0 {
					changes[id] = nil
					delete(model, id)
				} else {
					e := randEndpoint(id)
					changes[id] = &e
					model[id] = e
				}
			}
			ix.apply(changes)
		}
		verify(fmt.Sprintf("round %d", round))
	}
}

func TestIndexCopiesInput(t *testing.T) {
	e := ep("a", "", true, "order.created")
	e.Headers = map[string]string{"X-A": "1"}
	e.Labels = map[string]string{"team": "x"}
	e.SuccessStatusCodes = []int{200}
	e.RetryPolicy.Schedule = []time.Duration{time.Second}
	ix := NewIndex()
	ix.Upsert(e)
	e.Headers["X-A"] = "2"
	e.Labels["team"] = "y"
	e.EventTypes[0] = "user.created"
	e.SuccessStatusCodes[0] = 500
	e.RetryPolicy.Schedule[0] = time.Hour
	got, _ := ix.Endpoint("a")
	if got.Headers["X-A"] != "1" || got.Labels["team"] != "x" || got.EventTypes[0] != "order.created" ||
		got.SuccessStatusCodes[0] != 200 || got.RetryPolicy.Schedule[0] != time.Second {
		t.Errorf("the index shares memory with its input: %+v", got)
	}
}

// TestCloneCoversEveryReference fails when domain.Endpoint gains a field
// that shares memory (map, slice, pointer) and cloneEndpoint does not know
// about it yet.
func TestCloneCoversEveryReference(t *testing.T) {
	known := map[string]bool{
		"EventTypes": true, "Headers": true, "Labels": true, "SuccessStatusCodes": true,
		"RetryPolicy.Schedule": true, "RetryPolicy.Exponential": true,
	}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for f := range typ.Fields() {
			name := prefix + f.Name
			switch f.Type.Kind() {
			case reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func:
				if !known[name] {
					t.Errorf("domain.Endpoint.%s shares memory; make cloneEndpoint copy it, then add it here", name)
				}
			case reflect.Struct:
				if f.Type.PkgPath() != "time" {
					walk(name+".", f.Type)
				}
			}
		}
	}
	walk("", reflect.TypeFor[domain.Endpoint]())
}

func TestMatchReturnsSharedListSafely(t *testing.T) {
	ix := NewIndex()
	ix.Upsert(ep("a", "", true, "x.y"))
	ix.Upsert(ep("b", "", true, "x.y"))
	got := ix.Match("", "x.y")
	if cap(got) != len(got) {
		t.Fatalf("shared list has spare capacity (%d > %d): an append would write into the index", cap(got), len(got))
	}
	_ = append(got, &domain.Endpoint{ID: "z"})
	if again := ids(ix.Match("", "x.y")); !slices.Equal(again, []string{"a", "b"}) {
		t.Errorf("index changed by a caller's append: %v", again)
	}
}

func TestLookupAllocations(t *testing.T) {
	ix := NewIndex()
	ix.Upsert(ep("a", "acme", true, "order.created"))
	ix.Upsert(ep("b", "acme", true, "order.*"))
	ix.Upsert(ep("c", "acme", true, "user.created"))
	buf := make([]*domain.Endpoint, 0, 16)
	for _, tc := range []struct {
		name string
		fn   func()
		max  float64
	}{
		{"Match single list", func() { _ = ix.Match("acme", "user.created") }, 0},
		{"Match miss", func() { _ = ix.Match("acme", "nothing.here") }, 0},
		{"Match several lists", func() { _ = ix.Match("acme", "order.created") }, 1},
		{"AppendMatch with room", func() { buf = ix.AppendMatch(buf[:0], "acme", "order.created") }, 0},
		{"AppendEnabled with room", func() { buf = ix.AppendEnabled(buf[:0], "acme", "order.created") }, 0},
	} {
		if n := testing.AllocsPerRun(200, tc.fn); n > tc.max {
			t.Errorf("%s: %v allocations per lookup, want at most %v", tc.name, n, tc.max)
		}
	}
}

// TestConcurrentLookupsAndUpdates runs lookups while updates and full
// reloads apply (run it with -race). Lookups must never see a partial
// update: no duplicates, only endpoints whose own filters match, and the
// endpoints no update touches always present.
func TestConcurrentLookupsAndUpdates(t *testing.T) {
	ix := NewIndex()
	stable := []domain.Endpoint{
		ep("stable-exact", "acme", true, "order.created"),
		ep("stable-prefix", "acme", true, "order.*"),
		ep("stable-star", "acme", true, "*"),
	}
	base := slices.Clone(stable)
	for i := range 200 {
		base = append(base, ep(fmt.Sprintf("m%03d", i), "acme", true, "order.created"))
	}
	ix.Replace(base)

	var stop atomic.Bool
	var wg sync.WaitGroup
	var lookups atomic.Int64
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			buf := make([]*domain.Endpoint, 0, 512)
			for n := 0; !stop.Load(); n++ {
				typ := "order.created"
				if (n+g)%2 == 1 {
					typ = "order.item.added"
				}
				buf = ix.AppendMatch(buf[:0], "acme", typ)
				seen := map[string]bool{}
				for _, e := range buf {
					if seen[e.ID] {
						errs <- fmt.Errorf("%s appears twice for %s", e.ID, typ)
						return
					}
					seen[e.ID] = true
					if e.TenantID != "acme" || !slices.ContainsFunc(e.EventTypes, func(f string) bool { return domain.MatchEventType(f, typ) }) {
						errs <- fmt.Errorf("%s (%v, tenant %q) returned for %s", e.ID, e.EventTypes, e.TenantID, typ)
						return
					}
				}
				for _, s := range stable {
					if !seen[s.ID] && (typ == "order.created" || s.ID != "stable-exact") {
						errs <- fmt.Errorf("%s missing for %s", s.ID, typ)
						return
					}
				}
				lookups.Add(1)
			}
		})
	}
	filterSets := [][]string{{"order.created"}, {"order.*"}, {"order.*", "order.created", "*"}, {"user.*"}}
	deadline := time.Now().Add(time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		id := fmt.Sprintf("m%03d", i%200)
		switch i % 50 {
		case 0:
			ix.Replace(base)
		case 1:
			ix.Remove(id)
		default:
			tenant := "acme"
			if i%7 == 0 {
				tenant = "other"
			}
			ix.Upsert(ep(id, tenant, i%3 != 0, filterSets[i%len(filterSets)]...))
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if lookups.Load() == 0 {
		t.Error("no lookups ran")
	}
}

func TestReduceFilters(t *testing.T) {
	for _, tc := range []struct {
		in              []string
		all             bool
		exact, prefixes []string
	}{
		{[]string{"a.b", "a.*"}, false, nil, []string{"a."}},
		{[]string{"a.b.*", "a.*", "b.*"}, false, nil, []string{"a.", "b."}},
		{[]string{"a.b", "A.B", "c.d"}, false, []string{"a.b", "c.d"}, nil},
		{[]string{"a", "a.*"}, false, []string{"a"}, []string{"a."}},
		{[]string{"a.*", "*"}, true, nil, nil},
		{[]string{"ab.*", "a.*"}, false, nil, []string{"a.", "ab."}},
	} {
		all, exact, prefixes := reduceFilters(tc.in, &scratch{})
		if all != tc.all || !slices.Equal(exact, tc.exact) || !slices.Equal(prefixes, tc.prefixes) {
			t.Errorf("reduceFilters(%v) = %v %v %v, want %v %v %v", tc.in, all, exact, prefixes, tc.all, tc.exact, tc.prefixes)
		}
	}
}
