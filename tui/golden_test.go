package tui

import (
	"bytes"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"

	"github.com/hookd/hookd/internal/api"
)

// The golden files in testdata hold the main screens at fixed sizes, as
// the running program shows them (a fixed clock, UTC, no colors). After a
// deliberate change, regenerate them with
//
//	go test ./tui/ -run Golden -update
//
// and read the diff.

const goldenWait = 10 * time.Second

// goldenScreen runs the tail as a program at width×height with 60 rows,
// presses keys, waits until the screen shows want, quits, and compares
// the final screen with the golden file of the test.
func goldenScreen(t *testing.T, width, height int, keys []string, want string) {
	t.Helper()
	m, in, fa := newTestModel(t, width, height)
	for i := range 60 {
		a := attempt(i)
		in.Put(a)
		fa.delivery[a.DeliveryID] = api.Delivery{DeliveryID: a.DeliveryID, Attempts: []api.Attempt{a}}
	}
	in.SetState(ConnState{Phase: PhaseLive})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(width, height))
	wait := func(text string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(text)) },
			teatest.WithDuration(goldenWait), teatest.WithCheckInterval(10*time.Millisecond))
	}
	if len(keys) == 0 {
		wait(want)
	} else {
		wait("60 rows")
		for _, k := range keys {
			tm.Send(keyPress(k))
		}
		wait(want)
	}
	tm.Send(keyPress("q"))
	final, ok := tm.FinalModel(t, teatest.WithFinalTimeout(goldenWait)).(*Model)
	if !ok {
		t.Fatal("the program ended with another model")
	}
	teatest.RequireEqualOutput(t, []byte(final.View()))
}

func TestGoldenTable80x24(t *testing.T) {
	goldenScreen(t, 80, 24, []string{"up", "up"}, "› 15:09:25.700")
}

func TestGoldenTable120x40(t *testing.T) {
	goldenScreen(t, 120, 40, nil, "› 15:09:25.900")
}

func TestGoldenDetail80x24(t *testing.T) {
	// The delivery's history is below the fold at this size.
	goldenScreen(t, 80, 24, []string{"up", "enter"}, "Request headers")
}

func TestGoldenDetail120x40(t *testing.T) {
	goldenScreen(t, 120, 40, []string{"up", "up", "enter"}, "› g1 #1  15:09:25.700")
}

func TestGoldenHelp80x24(t *testing.T) {
	goldenScreen(t, 80, 24, []string{"?"}, "newest row")
}

func TestGoldenHelp120x40(t *testing.T) {
	goldenScreen(t, 120, 40, []string{"?"}, "an empty filter shows every row")
}

func TestGoldenFilteredPaused120x40(t *testing.T) {
	goldenScreen(t, 120, 40, []string{"/", "o", "r", "d", "e", "r", "enter", "space"}, "PAUSED · 0 new")
}
