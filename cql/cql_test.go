package cql_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hookd/hookd/cql"
	"github.com/hookd/hookd/storage/cassandra"
)

// TestSchemaFilesFollowTheRules checks the rules of the package comment on
// every embedded file, so a new migration cannot quietly break re-runs or
// retention.
func TestSchemaFilesFollowTheRules(t *testing.T) {
	ms, err := cassandra.LoadMigrations(cql.FS)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no schema files embedded")
	}
	createTable := regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?([A-Za-z0-9_."]+)`)
	for _, m := range ms {
		for i, stmt := range m.Statements {
			where := fmt.Sprintf("%03d_%s statement %d", m.Version, m.Name, i+1)
			upper := strings.ToUpper(stmt)
			switch {
			case strings.HasPrefix(upper, "CREATE"):
				if !strings.Contains(upper, "IF NOT EXISTS") {
					t.Errorf("%s: CREATE without IF NOT EXISTS", where)
				}
			case strings.HasPrefix(upper, "ALTER TABLE"):
				if !strings.Contains(upper, "IF NOT EXISTS") && !strings.Contains(upper, "IF EXISTS") {
					t.Errorf("%s: ALTER TABLE without IF [NOT] EXISTS", where)
				}
			case strings.HasPrefix(upper, "DROP"):
				if !strings.Contains(upper, "IF EXISTS") {
					t.Errorf("%s: DROP without IF EXISTS", where)
				}
			default:
				t.Errorf("%s: only idempotent DDL belongs in schema files: %.40s", where, stmt)
			}
			if g := createTable.FindStringSubmatch(stmt); g != nil {
				if strings.Contains(g[2], ".") {
					t.Errorf("%s: table %s is qualified; the runner picks the keyspace", where, g[2])
				}
				if !strings.Contains(stmt, "default_time_to_live") {
					t.Errorf("%s: table %s has no default_time_to_live", where, g[2])
				}
			}
		}
	}
}
