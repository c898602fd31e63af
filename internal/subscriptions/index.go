package subscriptions

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hookd/hookd/internal/domain"
)

// The index is a snapshot (table) that readers load with one atomic load
// and never lock, and that writers replace as a whole. Copying a whole
// snapshot per change would cost O(endpoints); instead its entries are
// spread over numShards shards by key hash, and a change copies the shard
// array plus the maps of only the shards it touches. An update costs
// O(numShards + keys/numShards + endpoints under the touched keys), and
// readers still see every change atomically: a lookup runs against the old
// snapshot or the new one, never a mix of both.
//
// numShards balances the two costs of an update (the shard array copy
// against the copy of each touched shard's maps) at about 100k endpoints
// with a few filters each.
const (
	shardBits = 10
	numShards = 1 << shardBits
)

// keyBufSize is the stack buffer lookups build their keys in: room for a
// tenant and an event type of usual length. Longer ones still work; they
// cost one allocation.
const keyBufSize = 192

// maxDepth bounds the per-depth bookkeeping of prefix filters; prefixes
// with maxDepth dots or more share the last bit of a tenant's mask.
const maxDepth = 63

// Index maps (tenant, event type) to the endpoints subscribed to it. It is
// safe for concurrent use: lookups never block and never see a partial
// update; updates are serialized among themselves. The zero Index is empty
// and ready to use.
//
// Endpoints returned by lookups are shared by every caller and by the
// index itself: they must be treated as read-only, slices and maps
// included. The index copies what it is given, so callers may keep using
// the values they pass in.
type Index struct {
	cur atomic.Pointer[table]
	mu  sync.Mutex // serializes writers; readers never take it
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	ix := &Index{}
	ix.mu.Lock()
	ix.tableLocked()
	ix.mu.Unlock()
	return ix
}

// table is one immutable snapshot of the index.
type table struct {
	seed   maphash.Seed
	shards [numShards]shard
	// irregular holds prefix filters whose prefix does not end in '.'
	// ("order*"). Validation refuses them, so this is empty in practice;
	// it exists so that the index agrees with domain.MatchEventType on
	// whatever the store holds instead of silently skipping a filter.
	irregular []irregularEntry
	size      int
}

// shard holds the entries whose key hashes to it. A key starts with a
// tenant key (see appendTenantKey): alone in tenants, followed by an event
// type in exact, by a prefix including its final '.' in prefix. Every list
// is sorted by endpoint id and has cap == len, so a caller appending to a
// list the index returned gets a new array rather than writing into ours.
type shard struct {
	tenants map[string]*tenantInfo
	exact   map[string][]*domain.Endpoint
	prefix  map[string][]*domain.Endpoint
	ids     map[string]*domain.Endpoint
}

// tenantInfo is what a lookup learns from its first probe: the tenant's
// "*" subscribers, and which probes can find anything at all. Most tenants
// have no prefix filters, or only at one depth, so most lookups skip most
// prefix probes; a tenant without endpoints costs one probe.
type tenantInfo struct {
	all []*domain.Endpoint
	// exact counts the tenant's exact (endpoint, type) entries, and
	// prefixes its prefix entries by depth (the number of dots).
	exact    int
	prefixes [maxDepth + 1]int32
	// mask has bit d set when prefixes[d] > 0.
	mask uint64
}

func (ti *tenantInfo) empty() bool {
	return len(ti.all) == 0 && ti.exact == 0 && ti.mask == 0
}

func (ti *tenantInfo) count(kind slotKind, depth, n int) {
	switch kind {
	case kindExact:
		ti.exact += n
	case kindPrefix:
		d := min(depth, maxDepth)
		ti.prefixes[d] += int32(n)
		if ti.prefixes[d] > 0 {
			ti.mask |= 1 << d
		} else {
			ti.mask &^= 1 << d
		}
	}
}

type irregularEntry struct {
	tenant string
	prefix string // the filter without its final '*'
	ep     *domain.Endpoint
}

type slotKind uint8

const (
	kindAll slotKind = iota
	kindExact
	kindPrefix
)

// appendTenantKey appends the length-prefixed tenant that starts every
// key. The length prefix keeps (tenant, type) pairs from colliding
// whatever bytes a tenant holds, and it keeps each prefix key a prefix of
// the exact key, so one buffer serves every probe of a lookup.
func appendTenantKey(b []byte, tenant string) []byte {
	b = binary.AppendUvarint(b, uint64(len(tenant)))
	return append(b, tenant...)
}

func (t *table) shardOf(key []byte) *shard {
	return &t.shards[maphash.Bytes(t.seed, key)&(numShards-1)]
}

func (t *table) shardOfString(key string) *shard {
	return &t.shards[maphash.String(t.seed, key)&(numShards-1)]
}

const (
	stageExact uint8 = iota
	stagePrefix
	stageAll
	stageDone
)

// probe walks the lists that can hold matches for one lookup: the exact
// type, each proper prefix ending in '.' at a depth where the tenant has
// prefix filters, and "*". Every endpoint sits in at most one of them for
// a given type (see reduceFilters), so their concatenation needs no
// deduplication.
type probe struct {
	t     *table
	ti    *tenantInfo
	key   []byte // tenant key + event type
	base  int    // length of the tenant key
	stage uint8
	pos   int // where in the event type the search for the next '.' resumes
	depth int // dots before pos
}

func (t *table) probe(buf []byte, tenant, eventType string) probe {
	key := appendTenantKey(buf, tenant)
	p := probe{t: t, base: len(key)}
	p.ti = t.shardOf(key).tenants[string(key)]
	if p.ti == nil {
		p.stage = stageDone
		return p
	}
	p.key = append(key, eventType...)
	return p
}

// next returns the next non-empty list, or false when there is none.
func (p *probe) next() ([]*domain.Endpoint, bool) {
	for {
		switch p.stage {
		case stageExact:
			p.stage = stagePrefix
			if p.ti.exact > 0 {
				if l := p.t.shardOf(p.key).exact[string(p.key)]; len(l) > 0 {
					return l, true
				}
			}
		case stagePrefix:
			typ := p.key[p.base:]
			i := bytes.IndexByte(typ[p.pos:], '.')
			// Stop at the last '.' (a prefix must be shorter than the
			// type it matches) or when no deeper prefix filter exists.
			if i < 0 || p.pos+i+1 >= len(typ) || p.ti.mask>>min(p.depth+1, maxDepth) == 0 {
				p.stage = stageAll
				continue
			}
			p.pos += i + 1
			p.depth++
			if p.ti.mask&(1<<min(p.depth, maxDepth)) == 0 {
				continue
			}
			k := p.key[:p.base+p.pos]
			if l := p.t.shardOf(k).prefix[string(k)]; len(l) > 0 {
				return l, true
			}
		case stageAll:
			p.stage = stageDone
			if len(p.ti.all) > 0 {
				return p.ti.all, true
			}
		default:
			return nil, false
		}
	}
}

func (t *table) appendIrregular(dst []*domain.Endpoint, tenant, eventType string) []*domain.Endpoint {
	for _, ir := range t.irregular {
		if ir.tenant == tenant && len(eventType) > len(ir.prefix) && strings.HasPrefix(eventType, ir.prefix) {
			dst = append(dst, ir.ep)
		}
	}
	return dst
}

// emptyTable serves lookups on a zero Index before its first update.
var emptyTable = &table{seed: maphash.MakeSeed()}

func (ix *Index) load() *table {
	if t := ix.cur.Load(); t != nil {
		return t
	}
	return emptyTable
}

// Match returns the endpoints subscribed to events of eventType from
// tenant ("" for events without a tenant). The order is unspecified.
//
// Disabled endpoints are included, with Enabled false: the dispatcher must
// park their deliveries as dead letters (reason endpoint_disabled), never
// skip them, and it can only do that if it sees them.
//
// When a single filter key matches, which is the common case, the slice is
// the index's own and costs no allocation; otherwise it is new. Either way
// neither the slice nor the endpoints may be modified. Callers that look up
// in a loop should prefer AppendMatch with a reused buffer.
func (ix *Index) Match(tenant, eventType string) []*domain.Endpoint {
	t := ix.load()
	eventType = domain.NormalizeEventType(eventType)
	var buf [keyBufSize]byte
	p := t.probe(buf[:0], tenant, eventType)
	first, ok := p.next()
	if !ok {
		if len(t.irregular) == 0 {
			return nil
		}
		return t.appendIrregular(nil, tenant, eventType)
	}
	second, ok := p.next()
	if !ok && len(t.irregular) == 0 {
		return first
	}
	out := make([]*domain.Endpoint, 0, len(first)+len(second))
	out = append(out, first...)
	for l := second; ok; l, ok = p.next() {
		out = append(out, l...)
	}
	return t.appendIrregular(out, tenant, eventType)
}

// AppendMatch appends to dst the endpoints Match would return and returns
// the extended slice. It allocates nothing when dst has room, so a caller
// reusing dst[:0] across events looks up without garbage.
func (ix *Index) AppendMatch(dst []*domain.Endpoint, tenant, eventType string) []*domain.Endpoint {
	t := ix.load()
	eventType = domain.NormalizeEventType(eventType)
	var buf [keyBufSize]byte
	p := t.probe(buf[:0], tenant, eventType)
	for l, ok := p.next(); ok; l, ok = p.next() {
		dst = append(dst, l...)
	}
	return t.appendIrregular(dst, tenant, eventType)
}

// AppendEnabled is AppendMatch without the disabled endpoints. The
// delivery pipeline must not use it: deliveries for a disabled endpoint
// are parked as dead letters (endpoint_disabled), never dropped, so it
// needs AppendMatch. This is for reports and previews.
func (ix *Index) AppendEnabled(dst []*domain.Endpoint, tenant, eventType string) []*domain.Endpoint {
	n := len(dst)
	dst = ix.AppendMatch(dst, tenant, eventType)
	kept := dst[:n]
	for _, e := range dst[n:] {
		if e.Enabled {
			kept = append(kept, e)
		}
	}
	clear(dst[len(kept):]) // drop the references the caller's buffer would keep
	return kept
}

// Endpoint returns the indexed endpoint with the given id (read-only), so
// that work that names an endpoint, such as a retry, finds its current
// configuration without a database round trip.
func (ix *Index) Endpoint(id string) (*domain.Endpoint, bool) {
	return ix.load().endpoint(id)
}

func (t *table) endpoint(id string) (*domain.Endpoint, bool) {
	e, ok := t.shardOfString(id).ids[id]
	return e, ok
}

// Len returns the number of endpoints indexed.
func (ix *Index) Len() int { return ix.load().size }

// Upsert adds e, or replaces the endpoint with its id: entries of filters
// or a tenant it no longer has are gone when Upsert returns.
func (ix *Index) Upsert(e domain.Endpoint) {
	ix.apply(map[string]*domain.Endpoint{e.ID: cloneEndpoint(&e)})
}

// Remove removes the endpoint with the given id, if indexed.
func (ix *Index) Remove(id string) {
	ix.apply(map[string]*domain.Endpoint{id: nil})
}

// Replace replaces the whole content of the index with all, for full
// reloads. Readers switch from the old content to the new at once. When
// ids repeat, the last one wins.
func (ix *Index) Replace(all []domain.Endpoint) {
	eps := make([]*domain.Endpoint, len(all))
	for i := range all {
		eps[i] = cloneEndpoint(&all[i])
	}
	ix.replaceOwned(eps)
}

// tableLocked returns the current table, making the first one on first
// use; its seed is kept by every later table, as the shard of a key must
// not change from one table to the next. ix.mu must be held.
func (ix *Index) tableLocked() *table {
	if t := ix.cur.Load(); t != nil {
		return t
	}
	t := &table{seed: maphash.MakeSeed()}
	ix.cur.Store(t)
	return t
}

// scratch holds buffers that forEachSlot reuses from one endpoint to the
// next, so a full reload does not allocate them per endpoint.
type scratch struct {
	key             []byte
	exact, prefixes []string
}

// forEachSlot calls slot for every entry e is indexed under: kindAll (key
// is the tenant key tk), kindExact (tk + type) and kindPrefix (tk + prefix,
// with the prefix's depth); and irregular for each prefix filter that
// cannot be indexed by key. tk and key are valid during the call only.
func forEachSlot(e *domain.Endpoint, sc *scratch, slot func(kind slotKind, tk, key []byte, depth int), irregular func(irregularEntry)) {
	all, exact, prefixes := reduceFilters(e.EventTypes, sc)
	b := appendTenantKey(sc.key[:0], e.TenantID)
	base := len(b)
	switch {
	case all:
		slot(kindAll, b, b, 0)
	default:
		for _, x := range exact {
			b = append(b[:base], x...)
			slot(kindExact, b[:base], b, 0)
		}
		for _, p := range prefixes {
			if strings.HasSuffix(p, ".") {
				b = append(b[:base], p...)
				slot(kindPrefix, b[:base], b, strings.Count(p, "."))
			} else {
				irregular(irregularEntry{tenant: e.TenantID, prefix: p, ep: e})
			}
		}
	}
	sc.key = b
}

// replaceOwned is Replace for endpoints the index may keep as they are.
func (ix *Index) replaceOwned(eps []*domain.Endpoint) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	old := ix.tableLocked()
	t := &table{seed: old.seed}

	// Ids first: a later endpoint with the same id replaces an earlier
	// one, and only the endpoints still there afterwards are indexed.
	perShard := len(eps)/numShards + len(eps)/(4*numShards) + 1
	for _, e := range eps {
		ids := &t.shardOfString(e.ID).ids
		if *ids == nil {
			*ids = make(map[string]*domain.Endpoint, perShard)
		}
		(*ids)[e.ID] = e
	}
	// Lists are built behind pointers so that appending to an existing
	// key converts no key to a string; only new keys allocate one.
	type building struct {
		tenants       map[string]*tenantInfo
		exact, prefix map[string]*[]*domain.Endpoint
	}
	var bs [numShards]building
	var sc scratch
	var ti *tenantInfo // of the endpoint being indexed
	for _, e := range eps {
		if cur, _ := t.endpoint(e.ID); cur != e {
			continue
		}
		t.size++
		ti = nil
		forEachSlot(e, &sc, func(kind slotKind, tk, key []byte, depth int) {
			if ti == nil {
				b := &bs[maphash.Bytes(t.seed, tk)&(numShards-1)]
				if ti = b.tenants[string(tk)]; ti == nil {
					ti = &tenantInfo{}
					if b.tenants == nil {
						b.tenants = map[string]*tenantInfo{}
					}
					b.tenants[string(tk)] = ti
				}
			}
			if kind == kindAll {
				ti.all = append(ti.all, e)
				return
			}
			ti.count(kind, depth, 1)
			b := &bs[maphash.Bytes(t.seed, key)&(numShards-1)]
			m := &b.exact
			if kind == kindPrefix {
				m = &b.prefix
			}
			l := (*m)[string(key)]
			if l == nil {
				l = new([]*domain.Endpoint)
				if *m == nil {
					*m = map[string]*[]*domain.Endpoint{}
				}
				(*m)[string(key)] = l
			}
			*l = append(*l, e)
		}, func(ir irregularEntry) {
			t.irregular = append(t.irregular, ir)
		})
	}
	finish := func(src map[string]*[]*domain.Endpoint) map[string][]*domain.Endpoint {
		if len(src) == 0 {
			return nil
		}
		out := make(map[string][]*domain.Endpoint, len(src))
		for k, l := range src {
			slices.SortFunc(*l, byID)
			out[k] = slices.Clip(*l)
		}
		return out
	}
	for i := range bs {
		s := &t.shards[i]
		s.tenants = bs[i].tenants
		for _, info := range s.tenants {
			slices.SortFunc(info.all, byID)
			info.all = slices.Clip(info.all)
		}
		s.exact = finish(bs[i].exact)
		s.prefix = finish(bs[i].prefix)
	}
	ix.cur.Store(t)
}

// apply makes one atomic change: each id maps to its new endpoint, or to
// nil for a removal. The endpoints are kept as they are.
func (ix *Index) apply(changes map[string]*domain.Endpoint) {
	if len(changes) == 0 {
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	old := ix.tableLocked()
	nt := new(table)
	*nt = *old // copies the shard array (map references), not the maps
	ed := editor{t: nt}

	type slotRef struct {
		kind slotKind
		key  string
	}
	// touched collects, for every key an old or a new version uses, the
	// endpoints to add under it; every changed id is first removed from
	// every touched key, so a filter or tenant dropped by an update goes.
	touched := map[slotRef][]*domain.Endpoint{}
	// deltas holds the changes to the counters of each touched tenant.
	type tenantDelta struct {
		exact    int
		prefixes [maxDepth + 1]int
	}
	deltas := map[string]*tenantDelta{}
	irregularTouched := false
	var sc scratch
	visit := func(e *domain.Endpoint, n int) {
		forEachSlot(e, &sc, func(kind slotKind, tk, key []byte, depth int) {
			d := deltas[string(tk)]
			if d == nil {
				d = &tenantDelta{}
				deltas[string(tk)] = d
			}
			switch kind {
			case kindExact:
				d.exact += n
			case kindPrefix:
				d.prefixes[min(depth, maxDepth)] += n
			}
			ref := slotRef{kind, string(key)}
			if n > 0 {
				touched[ref] = append(touched[ref], e)
			} else if _, ok := touched[ref]; !ok {
				touched[ref] = nil
			}
		}, func(irregularEntry) { irregularTouched = true })
	}
	for id, ne := range changes {
		if oe, ok := old.endpoint(id); ok {
			nt.size--
			visit(oe, -1)
		}
		ids := ed.shard(nt.shardIndex(id)).ids()
		if ne == nil {
			delete(ids, id)
			continue
		}
		ids[id] = ne
		nt.size++
		visit(ne, 1)
	}

	alls := map[string][]*domain.Endpoint{}
	for ref, adds := range touched {
		if ref.kind == kindAll {
			var cur []*domain.Endpoint
			if ti := old.shardOfString(ref.key).tenants[ref.key]; ti != nil {
				cur = ti.all
			}
			alls[ref.key] = mergeByID(cur, adds, changes)
			continue
		}
		m := ed.shard(nt.shardIndex(ref.key)).lists(ref.kind)
		if list := mergeByID(m[ref.key], adds, changes); len(list) > 0 {
			m[ref.key] = list
		} else {
			delete(m, ref.key)
		}
	}
	for tk, d := range deltas {
		m := ed.shard(nt.shardIndex(tk)).tenants()
		ti := &tenantInfo{}
		if o := m[tk]; o != nil {
			*ti = *o
		}
		ti.exact += d.exact
		for depth, n := range d.prefixes {
			if n != 0 {
				ti.count(kindPrefix, depth, n)
			}
		}
		if l, ok := alls[tk]; ok {
			ti.all = l
		}
		if ti.empty() {
			delete(m, tk)
		} else {
			m[tk] = ti
		}
	}

	if irregularTouched {
		var irr []irregularEntry
		for _, ir := range old.irregular {
			if _, changed := changes[ir.ep.ID]; !changed {
				irr = append(irr, ir)
			}
		}
		for _, ne := range changes {
			if ne != nil {
				forEachSlot(ne, &sc, func(slotKind, []byte, []byte, int) {}, func(ir irregularEntry) { irr = append(irr, ir) })
			}
		}
		nt.irregular = irr
	}
	ix.cur.Store(nt)
}

func (t *table) shardIndex(key string) uint64 {
	return maphash.String(t.seed, key) & (numShards - 1)
}

// editor makes the copy-on-write copies of one update: each map of a
// touched shard is cloned before its first change, so the maps of the old
// snapshot, which readers may be using, are never written.
type editor struct {
	t     *table
	edits map[uint64]*shardEdit
}

type shardEdit struct {
	s                        *shard
	tenantsOwned, exactOwned bool
	prefixOwned, idsOwned    bool
}

func (ed *editor) shard(i uint64) *shardEdit {
	if se, ok := ed.edits[i]; ok {
		return se
	}
	if ed.edits == nil {
		ed.edits = map[uint64]*shardEdit{}
	}
	se := &shardEdit{s: &ed.t.shards[i]}
	ed.edits[i] = se
	return se
}

// own clones *m on its first use in this update and returns it.
func own[V any](m *map[string]V, owned *bool) map[string]V {
	if !*owned {
		*owned = true
		*m = maps.Clone(*m)
		if *m == nil {
			*m = map[string]V{}
		}
	}
	return *m
}

func (se *shardEdit) ids() map[string]*domain.Endpoint { return own(&se.s.ids, &se.idsOwned) }

func (se *shardEdit) tenants() map[string]*tenantInfo {
	return own(&se.s.tenants, &se.tenantsOwned)
}

func (se *shardEdit) lists(kind slotKind) map[string][]*domain.Endpoint {
	if kind == kindExact {
		return own(&se.s.exact, &se.exactOwned)
	}
	return own(&se.s.prefix, &se.prefixOwned)
}

// mergeByID returns list without the changed ids, plus adds, sorted by id
// and clipped. list is shared with readers and left as it is.
func mergeByID(list, adds []*domain.Endpoint, changed map[string]*domain.Endpoint) []*domain.Endpoint {
	out := make([]*domain.Endpoint, 0, len(list)+len(adds))
	slices.SortFunc(adds, byID)
	i := 0
	for _, e := range list {
		if _, ok := changed[e.ID]; ok {
			continue
		}
		for i < len(adds) && adds[i].ID < e.ID {
			out = append(out, adds[i])
			i++
		}
		out = append(out, e)
	}
	out = append(out, adds[i:]...)
	return slices.Clip(out)
}

func byID(a, b *domain.Endpoint) int { return strings.Compare(a.ID, b.ID) }

// reduceFilters normalizes an endpoint's filters and leaves out every
// filter that another one covers ("order.created" under "order.*",
// "order.item.*" under "order.*", everything under "*"). What remains
// selects pairwise disjoint sets of types: two prefixes overlap only when
// one starts with the other, and an exact type overlaps a prefix only when
// the prefix matches it. So an endpoint sits in at most one of the lists a
// lookup visits, and lookups need no deduplication.
//
// A prefix is returned without its final '*'. The results live in sc's
// buffers until its next use.
func reduceFilters(filters []string, sc *scratch) (all bool, exact, prefixes []string) {
	exact, prefixes = sc.exact[:0], sc.prefixes[:0]
	defer func() { sc.exact, sc.prefixes = exact[:0], prefixes[:0] }()
	for _, f := range filters {
		f = domain.NormalizeEventType(f)
		if f == "*" {
			return true, exact[:0], prefixes[:0]
		}
		if p, ok := strings.CutSuffix(f, "*"); ok {
			prefixes = append(prefixes, p)
		} else {
			exact = append(exact, f)
		}
	}
	// Shortest first, so a prefix is checked against every shorter one
	// that could cover it.
	slices.SortFunc(prefixes, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	kept := prefixes[:0]
	for _, p := range prefixes {
		if !slices.ContainsFunc(kept, func(q string) bool { return strings.HasPrefix(p, q) }) {
			kept = append(kept, p)
		}
	}
	prefixes = kept
	slices.Sort(exact)
	exact = slices.Compact(exact)
	keptExact := exact[:0]
	for _, x := range exact {
		if !slices.ContainsFunc(kept, func(q string) bool { return len(x) > len(q) && strings.HasPrefix(x, q) }) {
			keptExact = append(keptExact, x)
		}
	}
	exact = keptExact
	return false, exact, prefixes
}

// cloneEndpoint returns a deep copy of e, so that the index's endpoints,
// which readers share without locks, cannot change under them.
func cloneEndpoint(e *domain.Endpoint) *domain.Endpoint {
	c := *e
	c.EventTypes = slices.Clone(e.EventTypes)
	c.Headers = maps.Clone(e.Headers)
	c.Labels = maps.Clone(e.Labels)
	c.SuccessStatusCodes = slices.Clone(e.SuccessStatusCodes)
	c.RetryPolicy.Schedule = slices.Clone(e.RetryPolicy.Schedule)
	if x := e.RetryPolicy.Exponential; x != nil {
		xc := *x
		c.RetryPolicy.Exponential = &xc
	}
	return &c
}
