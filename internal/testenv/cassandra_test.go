package testenv_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/hookd/hookd/internal/testenv"
)

func TestCassandraTTLAndTimeWindowCompaction(t *testing.T) {
	t.Parallel()
	keyspace, session := testenv.CassandraKeyspace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	err := session.Query(`CREATE TABLE attempts (
		endpoint_id text,
		attempt_id  timeuuid,
		status      int,
		PRIMARY KEY (endpoint_id, attempt_id)
	) WITH default_time_to_live = 86400
	  AND compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', 'compaction_window_size': 1}`).ExecContext(ctx)
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	if err := session.AwaitSchemaAgreement(ctx); err != nil {
		t.Fatalf("schema agreement: %v", err)
	}

	// The table options are what we asked for.
	var defaultTTL int
	var compaction map[string]string
	err = session.Query(`SELECT default_time_to_live, compaction FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?`,
		keyspace, "attempts").ScanContext(ctx, &defaultTTL, &compaction)
	if err != nil {
		t.Fatalf("read table options: %v", err)
	}
	if defaultTTL != 86400 {
		t.Errorf("default_time_to_live = %d, want 86400", defaultTTL)
	}
	if !strings.HasSuffix(compaction["class"], "TimeWindowCompactionStrategy") {
		t.Errorf("compaction class = %q, want TimeWindowCompactionStrategy", compaction["class"])
	}

	// A row written without TTL gets the table default.
	if err := session.Query(`INSERT INTO attempts (endpoint_id, attempt_id, status) VALUES (?, now(), ?)`, "ep_default", 200).ExecContext(ctx); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var ttl int
	if err := session.Query(`SELECT TTL(status) FROM attempts WHERE endpoint_id = ?`, "ep_default").ScanContext(ctx, &ttl); err != nil {
		t.Fatalf("read ttl: %v", err)
	}
	if ttl <= 86000 || ttl > 86400 {
		t.Errorf("TTL of a row written without one = %d, want close to the 86400 default", ttl)
	}

	// A row written with a 2 s TTL is readable, then gone.
	if err := session.Query(`INSERT INTO attempts (endpoint_id, attempt_id, status) VALUES (?, now(), ?) USING TTL 2`, "ep_short", 500).ExecContext(ctx); err != nil {
		t.Fatalf("insert with ttl: %v", err)
	}
	var status int
	if err := session.Query(`SELECT status FROM attempts WHERE endpoint_id = ?`, "ep_short").ScanContext(ctx, &status); err != nil || status != 500 {
		t.Fatalf("row right after insert: status %d, err %v", status, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := session.Query(`SELECT status FROM attempts WHERE endpoint_id = ?`, "ep_short").ScanContext(ctx, &status)
		if errors.Is(err, gocql.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("row with a 2 s TTL still readable after 20 s")
		}
		time.Sleep(250 * time.Millisecond)
	}
}
