package lanes_test

import (
	"context"
	"fmt"

	"github.com/hookd/hookd/internal/lanes"
)

// The dispatcher asks before each attempt and never waits on an endpoint:
// a refusal sends the delivery to a retry tier at once.
func Example() {
	l, err := lanes.New(lanes.Config{MaxInFlight: 2000, DefaultConcurrency: 16})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	lim := lanes.Limits{MaxConcurrency: 1, RatePerSec: 50} // from the endpoint's configuration

	first, d := l.Acquire(ctx, "ep_1", lim)
	fmt.Println("first:", d.Reason)

	// While the first delivery is in flight, a second one to the same
	// endpoint is refused: it goes to a retry tier, the partition moves on.
	_, d = l.Acquire(ctx, "ep_1", lim)
	fmt.Println("second:", d.Reason)

	// ... deliver the first, then report how it went.
	first.Release(lanes.Result{Success: true})

	state, _, failureRate := l.State("ep_1")
	fmt.Println("breaker:", state, failureRate)
	// Output:
	// first: admitted
	// second: saturated
	// breaker: closed 0
}
