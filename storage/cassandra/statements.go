package cassandra

import "strings"

// statements are built once per store, with the keyspace written into
// them, so every execution of one statement has the same text and the
// driver reuses its prepared form.
type statements struct {
	insAttempt, insAttemptByEndpoint, insAttemptByHour, insAttemptHour string
	insAttemptByEvent                                                  string
	selDelivery, selAttempt, selHours, selEventDeliveries              string
	scanAttemptsByEndpoint, scanAttemptsByHour                         string

	insDeadLetter, insDeadLetterByEndpoint, insDeadLetterByDay string
	selDeadLetter, selDeadLetterTTL, updReplayed               string
	delDeadLetter, delDeadLetterByEndpoint, delDeadLetterByDay string
	scanDeadLettersByEndpoint, scanDeadLettersByDay            string
}

const attemptColumns = `delivery_id, attempt_id, event_id, event_type, endpoint_id, tenant_id, generation, attempt_number,
	started_at, duration_ns, status_code, outcome, error_message, request_headers, response_headers,
	response_body, response_body_sha256, response_body_size, next_retry_at`

const deadLetterColumns = `endpoint_id, delivery_id, event_id, event_type, tenant_id, reason, last_error, last_status_code,
	attempts, generation, dead_at, payload, replayed_at`

func newStatements(ks string) statements {
	r := strings.NewReplacer("KS.", ks+".")
	return statements{
		insAttempt: r.Replace(`INSERT INTO KS.attempts_by_delivery (` + attemptColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`),
		insAttemptByEndpoint: r.Replace(`INSERT INTO KS.attempts_by_endpoint
			(endpoint_id, day, started_at, attempt_id, delivery_id, event_type, outcome, tenant_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`),
		insAttemptByHour: r.Replace(`INSERT INTO KS.attempts_by_hour
			(hour, shard, started_at, attempt_id, delivery_id, endpoint_id, event_type, outcome, tenant_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`),
		insAttemptHour: r.Replace(`INSERT INTO KS.attempt_hours (day, hour) VALUES (?, ?) USING TTL ?`),
		selDelivery:    r.Replace(`SELECT ` + attemptColumns + ` FROM KS.attempts_by_delivery WHERE delivery_id = ?`),
		selAttempt:     r.Replace(`SELECT ` + attemptColumns + ` FROM KS.attempts_by_delivery WHERE delivery_id = ? AND attempt_id = ?`),
		selHours:       r.Replace(`SELECT hour FROM KS.attempt_hours WHERE day = ? AND hour <= ? AND hour >= ?`),
		scanAttemptsByEndpoint: r.Replace(`SELECT started_at, attempt_id, delivery_id, event_type, outcome, tenant_id
			FROM KS.attempts_by_endpoint WHERE endpoint_id = ? AND day = ?
			AND (started_at, attempt_id) < (?, ?) AND started_at >= ? LIMIT ?`),
		scanAttemptsByHour: r.Replace(`SELECT started_at, attempt_id, delivery_id, endpoint_id, event_type, outcome, tenant_id
			FROM KS.attempts_by_hour WHERE hour = ? AND shard = ?
			AND (started_at, attempt_id) < (?, ?) AND started_at >= ? LIMIT ?`),
		insAttemptByEvent: r.Replace(`INSERT INTO KS.attempts_by_event (event_id, delivery_id, attempt_id, endpoint_id)
			VALUES (?, ?, ?, ?) USING TTL ?`),
		// One row per delivery: the first of its group (every attempt of a
		// delivery has the same endpoint). LIMIT counts groups.
		selEventDeliveries: r.Replace(`SELECT delivery_id, endpoint_id FROM KS.attempts_by_event
			WHERE event_id = ? GROUP BY delivery_id LIMIT ?`),

		insDeadLetter: r.Replace(`INSERT INTO KS.dead_letters (` + deadLetterColumns + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`),
		insDeadLetterByEndpoint: r.Replace(`INSERT INTO KS.dead_letters_by_endpoint
			(endpoint_id, day, dead_at, delivery_id, event_type, reason, tenant_id)
			VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ?`),
		insDeadLetterByDay: r.Replace(`INSERT INTO KS.dead_letters_by_day
			(day, shard, dead_at, endpoint_id, delivery_id, event_type, reason, tenant_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`),
		selDeadLetter:    r.Replace(`SELECT ` + deadLetterColumns + ` FROM KS.dead_letters WHERE endpoint_id = ? AND delivery_id = ?`),
		selDeadLetterTTL: r.Replace(`SELECT dead_at, TTL(dead_at) FROM KS.dead_letters WHERE endpoint_id = ? AND delivery_id = ?`),
		updReplayed:      r.Replace(`UPDATE KS.dead_letters USING TTL ? SET replayed_at = ? WHERE endpoint_id = ? AND delivery_id = ?`),
		delDeadLetter:    r.Replace(`DELETE FROM KS.dead_letters WHERE endpoint_id = ? AND delivery_id = ?`),
		delDeadLetterByEndpoint: r.Replace(`DELETE FROM KS.dead_letters_by_endpoint
			WHERE endpoint_id = ? AND day = ? AND dead_at = ? AND delivery_id = ?`),
		delDeadLetterByDay: r.Replace(`DELETE FROM KS.dead_letters_by_day
			WHERE day = ? AND shard = ? AND dead_at = ? AND endpoint_id = ? AND delivery_id = ?`),
		scanDeadLettersByEndpoint: r.Replace(`SELECT dead_at, delivery_id, event_type, reason, tenant_id
			FROM KS.dead_letters_by_endpoint WHERE endpoint_id = ? AND day = ?
			AND (dead_at, delivery_id) < (?, ?) AND dead_at >= ? LIMIT ?`),
		scanDeadLettersByDay: r.Replace(`SELECT dead_at, endpoint_id, delivery_id, event_type, reason, tenant_id
			FROM KS.dead_letters_by_day WHERE day = ? AND shard = ?
			AND (dead_at, endpoint_id, delivery_id) < (?, ?, ?) AND dead_at >= ? LIMIT ?`),
	}
}
