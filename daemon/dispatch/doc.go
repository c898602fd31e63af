// Package dispatch is hookd's delivery engine: it consumes events from
// Kafka, fans each out to the subscribed endpoints, delivers, and moves
// what fails to the retry tiers or the dead-letter queue, committing a
// partition's offset only past messages whose every delivery is durable.
package dispatch
