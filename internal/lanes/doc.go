// Package lanes is the dispatcher's admission control: before each
// delivery attempt it asks "may I send to this endpoint now?", and the
// answer comes at once.
//
// It enforces, per endpoint, a bound on in-flight deliveries
// (MaxConcurrency), a token-bucket rate limit (RatePerSec) and a circuit
// breaker, and, per process, a bound on all in-flight deliveries
// (Config.MaxInFlight). It is what makes DESIGN.md's Isolation and Bounded
// memory invariants hold in the dispatcher.
//
// # Never wait behind one endpoint
//
// The Kafka commit watermark of a partition only moves past a message when
// every delivery from it is durable. If the dispatcher waited for a slow
// endpoint's lane to free up, every other endpoint sharing that partition
// would wait too. So every per-endpoint reason to refuse is answered
// immediately with a Decision (ReasonSaturated, ReasonRateLimited,
// ReasonCircuitOpen), and the dispatcher moves the delivery to a retry
// tier, which is durable, and goes on. The only per-endpoint wait is for a
// rate token due within Config.MaxRateWait (a few milliseconds at most),
// which smooths bursts without parking deliveries that are only
// microseconds early.
//
// # Global backpressure waits
//
// The process-wide bound is different: when it is reached, the process as
// a whole is at capacity, and pushing every delivery to the retry tiers
// would only move the load (and produce Kafka writes and retry attempts)
// without making progress. So Acquire waits for a global slot, as long as
// ctx allows, which slows consumption: backpressure as it should be. The
// per-endpoint checks run before the global wait, so a delivery for a
// saturated, rate-limited or circuit-open endpoint is still refused (after
// at most Config.SaturationWait for a saturated one, and only four times
// as many callers wait as the endpoint's concurrency) and never queues for a
// global slot. Set Config.NoGlobalWait to refuse
// with ReasonGlobalLimit instead (for callers that must not block at all);
// pass a ctx with a deadline to bound the wait.
//
// Can hung endpoints fill the global bound? Only when more than
// MaxInFlight/MaxConcurrency of them hang at once; each such endpoint's
// deliveries end at the attempt timeout, and after ConsecutiveTimeouts of
// them its breaker opens, so the global slots they hold are returned within
// about one attempt timeout. Size MaxInFlight well above MaxConcurrency
// times the number of endpoints expected to misbehave together.
//
// # Rate limit
//
// A token bucket per endpoint: RatePerSec tokens per second, burst
// max(1, ceil(RatePerSec)), so an endpoint limited to R/s may receive up to
// about one second's worth of deliveries at once after being idle (a
// receiver that promised R/s can take that), and a fractional rate such as
// 0.5/s still admits one delivery. The bucket is refilled lazily from the
// clock at each Acquire: no timers, no goroutines. A token is taken only
// when the delivery is admitted by every other check, and after any wait
// for a global slot, so waiting deliveries cannot bank tokens and then
// burst together. RatePerSec 0 means unlimited.
//
// # Circuit breaker
//
// Per endpoint, three states:
//
//   - Closed: everything is admitted (subject to the other limits).
//     Outcomes are counted over a rolling window (Breaker.Window, 30 s, in
//     ten buckets). The breaker opens when the window holds at least
//     MinRequests (20) outcomes and more than FailureRate (50%) of them
//     failed, or after ConsecutiveTimeouts (5) timeouts with no success
//     between them. The second rule is there because a hanging endpoint is
//     the most harmful kind (it holds lanes for a whole attempt timeout)
//     and also the slowest to produce outcomes: with 16 lanes and a 15 s
//     timeout it would take most of a minute to reach 20 outcomes.
//   - Open: everything is refused with ReasonCircuitOpen for a cool-down
//     (CoolDown, 30 s), with Decision.RetryAfter telling how long is left.
//   - Half-open: after the cool-down, up to HalfOpenProbes (1) deliveries
//     at a time go through as probes. The first probe to succeed closes the
//     breaker; the first to fail reopens it with the cool-down doubled, up
//     to MaxCoolDown (5 min). A breaker that trips again within one window
//     of closing also doubles its cool-down, so an endpoint that flaps
//     backs off instead of being probed every 30 s; one that stays closed
//     for a window starts again from CoolDown.
//
// Probes are real deliveries, not synthetic requests: receivers see nothing
// they did not ask for. Transitions are lazy (open becomes half-open on the
// first Acquire after the cool-down), so an idle endpoint costs nothing.
//
// Only outcomes of deliveries admitted under the current breaker state are
// counted: a delivery admitted before the breaker opened that times out
// minutes later says nothing new, and must not reopen a breaker that has
// just closed. Results with Aborted set (the attempt never got an answer
// for reasons of our own, such as shutdown) are not counted at all.
//
// Rejections (saturated, rate-limited, open) are not outcomes: they say
// nothing about the endpoint's health.
//
// # Memory
//
// Per endpoint: one lane of about 250 bytes (plus its id and map entry),
// created at the first Acquire.
// A lane with nothing in flight, not used for IdleTTL (10 min), with a full
// token bucket and a closed breaker (or an open one idle for IdleTTL plus
// its cool-down) is evicted: forgetting it changes nothing a new lane would
// not do. Eviction is amortized: each of the map's shards is swept at most
// every IdleTTL/4, by the Acquire that finds it due, so there is no
// background goroutine and the work is proportional to the lanes that
// exist. A shard's map is rebuilt when it has shrunk to a quarter of its
// peak, since Go maps do not give memory back on delete.
//
// # Cost
//
// Acquire takes one shard read lock (for the lookup) and the endpoint's
// own mutex, plus one compare-and-swap on the global counter; Release
// takes the endpoint's mutex and decrements the counter. Neither allocates
// once the endpoint's lane exists, and endpoints never contend with each
// other except on the global counter. Each reads the monotonic clock once,
// which is about half of their cost.
package lanes
