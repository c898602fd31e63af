package dispatch

import (
	"math/rand/v2"
	"sync"
	"testing"
)

func TestWatermarkNeverPassesUnfinishedWork(t *testing.T) {
	w := NewWatermark()
	for _, o := range []int64{10, 11, 13, 20} { // gaps are fine
		if err := w.Start(o); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		done   int64
		commit int64
		moved  bool
	}{
		{13, -1, false}, // 10 and 11 still running
		{11, -1, false},
		{10, 14, true}, // 10, 11, 13 all done: next to read is 14
		{20, 21, true},
	}
	for _, s := range steps {
		got, moved, err := w.Done(s.done)
		if err != nil || got != s.commit || moved != s.moved {
			t.Fatalf("Done(%d) = %d, %v, %v; want %d, %v", s.done, got, moved, err, s.commit, s.moved)
		}
	}
	if w.InFlight() != 0 {
		t.Fatalf("in flight %d", w.InFlight())
	}
	if _, _, err := w.Done(20); err == nil {
		t.Fatal("done twice accepted")
	}
	if err := w.Start(15); err == nil {
		t.Fatal("out-of-order start accepted")
	}
}

// Random completion orders: the commit offset is always exactly one past
// the longest done prefix.
func TestWatermarkRandomOrder(t *testing.T) {
	for round := range 50 {
		r := rand.New(rand.NewPCG(uint64(round), 7))
		n := 500 + r.IntN(3000)
		w := NewWatermark()
		for i := range n {
			if err := w.Start(int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		done := make([]bool, n)
		prefix := 0
		for _, i := range r.Perm(n) {
			done[i] = true
			for prefix < n && done[prefix] {
				prefix++
			}
			got, _, err := w.Done(int64(i))
			if err != nil {
				t.Fatal(err)
			}
			want := int64(prefix)
			if prefix == 0 {
				want = -1
			}
			if got != want {
				t.Fatalf("round %d: after finishing %d, commit %d, want %d", round, i, got, want)
			}
		}
	}
}

func TestWatermarkConcurrent(t *testing.T) {
	w := NewWatermark()
	const n = 20000
	for i := range n {
		_ = w.Start(int64(i))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				if _, _, err := w.Done(int64(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if w.Committed() != n || w.InFlight() != 0 {
		t.Fatalf("committed %d, in flight %d", w.Committed(), w.InFlight())
	}
}

func BenchmarkWatermark(b *testing.B) {
	w := NewWatermark()
	b.ReportAllocs()
	for i := range b.N {
		_ = w.Start(int64(i))
		if i >= 64 {
			_, _, _ = w.Done(int64(i - 64))
		}
	}
}
