package tui

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/api"
)

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestHighRateStaysBounded pushes 200k attempts, each with a 1 KiB body
// and headers (over 200 MB if kept), through the inbox and the tick's
// batch path, as a stream of thousands a second would: the ring keeps
// 10k rows, the filter's index stays within bounds, and the heap grows by
// what 10k rows take, not 200k. It counts; it does not time.
func TestHighRateStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes 200k attempts")
	}
	const total, perTick = 200_000, 5_000
	m, in, _ := newTestModel(t, 120, 40)
	body := strings.Repeat("x", 1000)
	mk := func(i int) api.Attempt {
		a := attempt(i)
		a.ID = fmt.Sprintf("att_%07d", i)
		a.ResponseBody = body + fmt.Sprint(i) // a string of its own per attempt
		return a
	}
	before := heapInuse()
	// Half the run with a filter on, so its index is exercised too.
	for i := 0; i < total; i++ {
		in.Put(mk(i))
		if (i+1)%perTick == 0 {
			send(m, tickMsg{})
			_ = m.View()
		}
		if i == total/2 {
			press(m, "/")
			typeText(m, "orders")
			press(m, "enter")
		}
	}
	if m.ring.Len() != DefaultCapacity {
		t.Fatalf("ring holds %d rows, want %d", m.ring.Len(), DefaultCapacity)
	}
	if n := m.view.Len(); n < DefaultCapacity/3-1 || n > DefaultCapacity/3+1 {
		t.Fatalf("filtered view %d rows", n)
	}
	if len(m.view.seqs) > 2*DefaultCapacity {
		t.Fatalf("filter index holds %d seqs", len(m.view.seqs))
	}
	if m.dropped != 0 {
		t.Fatalf("%d dropped although every batch fit the inbox", m.dropped)
	}
	if got := m.ring.At(m.ring.Len() - 1).Attempt.ID; got != fmt.Sprintf("att_%07d", total-1) {
		t.Fatalf("newest row %s", got)
	}
	after := heapInuse()
	grew := int64(after) - int64(before)
	// 10k rows of ~1.3 KiB with their maps, times two for the inbox and
	// the ring of a paused screen's worth: far below the 200+ MB pushed.
	const limit = 48 << 20
	t.Logf("heap in use grew by %.1f MiB for %d attempts", float64(grew)/(1<<20), total)
	if grew > limit {
		t.Fatalf("heap in use grew by %d MiB, want under %d MiB", grew>>20, limit>>20)
	}

	// A screen that stops draining while 200k arrive (a stalled UI) loses
	// the oldest, counts them, and never blocks the reader: every Put
	// above and here returned at once.
	done := make(chan struct{})
	go func() {
		for i := range total {
			in.Put(mk(total + i))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Put blocked")
	}
	send(m, tickMsg{})
	if m.dropped != total-DefaultCapacity {
		t.Fatalf("dropped %d, want %d", m.dropped, total-DefaultCapacity)
	}
	if got := m.ring.At(m.ring.Len() - 1).Attempt.ID; got != fmt.Sprintf("att_%07d", 2*total-1) {
		t.Fatalf("newest row %s", got)
	}
	if !strings.Contains(m.View(), fmt.Sprintf("%d not shown (too fast)", total-DefaultCapacity)) {
		t.Errorf("the header does not count the dropped:\n%s", m.View())
	}
	if grew := int64(heapInuse()) - int64(before); grew > limit {
		t.Fatalf("after the stall, heap in use grew by %d MiB", grew>>20)
	}
	// The rates counted every attempt the screen took in.
	if s := m.rates.Snapshot(clock); s.Total != total+DefaultCapacity {
		t.Errorf("rates counted %d", s.Total)
	}
}
