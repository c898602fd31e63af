package cassandra

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hookd/hookd/cql"
	"github.com/hookd/hookd/internal/testenv"
)

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	src := `-- a comment; with a semicolon
CREATE TABLE a (x int PRIMARY KEY) WITH comment = 'it''s; fine -- really'; // trailing
/* block ; comment
   over lines */ CREATE TABLE "b;c" (y text PRIMARY KEY)
  WITH comment = $$dollar; quoted$$;
;;
  INSERT INTO a (x) VALUES (1)  -- no final semicolon`
	got, err := SplitStatements(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`CREATE TABLE a (x int PRIMARY KEY) WITH comment = 'it''s; fine -- really'`,
		`CREATE TABLE "b;c" (y text PRIMARY KEY)
  WITH comment = $$dollar; quoted$$`,
		`INSERT INTO a (x) VALUES (1)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("SplitStatements:\n got %q\nwant %q", got, want)
	}
	for _, bad := range []string{`SELECT 'open`, `/* open`, `SELECT $$ open`, `SELECT "open`} {
		if _, err := SplitStatements(bad); err == nil {
			t.Errorf("SplitStatements(%q): no error", bad)
		}
	}
}

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	good := fstest.MapFS{
		"010_later.cql": {Data: []byte("CREATE TABLE IF NOT EXISTS z (k int PRIMARY KEY);")},
		"002_second.cql": {Data: []byte("CREATE TABLE IF NOT EXISTS y (k int PRIMARY KEY); " +
			"CREATE TABLE IF NOT EXISTS y2 (k int PRIMARY KEY);")},
		"001_first.cql": {Data: []byte("CREATE TABLE IF NOT EXISTS x (k int PRIMARY KEY);")},
		"README.md":     {Data: []byte("not a migration")},
	}
	ms, err := LoadMigrations(good)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"first", "second", "later"}) || len(ms[1].Statements) != 2 {
		t.Errorf("LoadMigrations: %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"bad name":     {"1_x.cql": {Data: []byte("SELECT 1;")}},
		"duplicate":    {"001_a.cql": {Data: []byte("SELECT 1;")}, "0001_b.cql": {Data: []byte("SELECT 1;")}},
		"empty":        {"001_a.cql": {Data: []byte("-- nothing\n")}},
		"version 0":    {"000_a.cql": {Data: []byte("SELECT 1;")}},
		"unbalanced":   {"001_a.cql": {Data: []byte("SELECT 'x;")}},
		"upper case":   {"001_A.cql": {Data: []byte("SELECT 1;")}},
		"no version":   {"abc_a.cql": {Data: []byte("SELECT 1;")}},
		"dash in name": {"001_a-b.cql": {Data: []byte("SELECT 1;")}},
	} {
		if _, err := LoadMigrations(fsys); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestKeyspaceStatement(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r    Replication
		want string
	}{
		{Replication{}, `{'class': 'SimpleStrategy', 'replication_factor': 1}`},
		{Replication{Class: SimpleStrategy, Factor: 3}, `{'class': 'SimpleStrategy', 'replication_factor': 3}`},
		{
			Replication{Class: NetworkTopologyStrategy, DataCenters: map[string]int{"eu-west": 3, "dc1": 2}},
			`{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'eu-west': 3}`,
		},
	} {
		got, err := keyspaceStatement(MigrateOptions{Keyspace: "hookd", Replication: tc.r})
		if err != nil {
			t.Errorf("%+v: %v", tc.r, err)
			continue
		}
		if !strings.Contains(got, "CREATE KEYSPACE IF NOT EXISTS hookd WITH replication = "+tc.want) {
			t.Errorf("%+v: %s", tc.r, got)
		}
	}
	for _, r := range []Replication{
		{Class: "Other"},
		{Factor: -1},
		{Class: SimpleStrategy, DataCenters: map[string]int{"dc1": 3}},
		{Class: NetworkTopologyStrategy},
		{Class: NetworkTopologyStrategy, DataCenters: map[string]int{"dc1": 0}},
		{Class: NetworkTopologyStrategy, DataCenters: map[string]int{"dc'1": 3}},
	} {
		if _, err := keyspaceStatement(MigrateOptions{Keyspace: "hookd", Replication: r}); err == nil {
			t.Errorf("%+v: no error", r)
		}
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	admin, err := testenv.CassandraCluster(t, "").CreateSession()
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(admin.Close) // after the drop below: cleanups run last first
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ks := testenv.UniqueName(t, "m_", 48)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := admin.Query("DROP KEYSPACE IF EXISTS " + ks).ExecContext(ctx); err != nil {
			t.Errorf("drop %s: %v", ks, err)
		}
	})

	// Without CreateKeyspace, a missing keyspace is an error.
	if _, err := Migrate(ctx, admin, MigrateOptions{Keyspace: ks}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Migrate into a missing keyspace: %v", err)
	}
	if _, err := Migrate(ctx, admin, MigrateOptions{Keyspace: "bad-name"}); err == nil {
		t.Fatal("Migrate with a bad keyspace name: no error")
	}

	opts := MigrateOptions{Keyspace: ks, CreateKeyspace: true}
	all, err := LoadMigrations(cql.FS)
	if err != nil {
		t.Fatal(err)
	}
	// The dry run lists the bootstrap and every file, and changes nothing.
	pending, err := Pending(ctx, admin, opts)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	if len(pending) != len(all)+1 || pending[0].Name != "bootstrap" || !strings.HasPrefix(pending[0].Statements[0], "CREATE KEYSPACE IF NOT EXISTS "+ks) {
		t.Fatalf("Pending on an empty cluster: %+v", pending)
	}
	if _, err := Pending(ctx, admin, opts); err != nil {
		t.Fatalf("Pending again: %v", err)
	}
	var n int
	if err := admin.Query(`SELECT count(*) FROM system_schema.keyspaces WHERE keyspace_name = ?`, ks).ScanContext(ctx, &n); err != nil || n != 0 {
		t.Fatalf("dry run created the keyspace (%d, %v)", n, err)
	}

	var logged []string
	opts.Logf = func(format string, args ...any) { logged = append(logged, format) }
	applied, err := Migrate(ctx, admin, opts)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if len(applied) != len(all) || len(logged) != len(all) {
		t.Fatalf("Migrate applied %d migrations (logged %d), want %d", len(applied), len(logged), len(all))
	}

	// The tables are there, with a default TTL and, for the time series,
	// time-window compaction.
	iter := admin.Query(`SELECT table_name, default_time_to_live, compaction FROM system_schema.tables WHERE keyspace_name = ?`, ks).IterContext(ctx)
	var (
		table      string
		ttl        int
		compaction map[string]string
		tables     []string
	)
	for iter.Scan(&table, &ttl, &compaction) {
		tables = append(tables, table)
		if table == "schema_migrations" {
			if ttl != 0 {
				t.Errorf("schema_migrations has a TTL (%d): the schema history would expire", ttl)
			}
			continue
		}
		if ttl <= 0 {
			t.Errorf("%s: default_time_to_live %d", table, ttl)
		}
		twcs := strings.HasSuffix(compaction["class"], "TimeWindowCompactionStrategy")
		if twcs != (table != "dead_letters") {
			t.Errorf("%s: compaction %s", table, compaction["class"])
		}
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(tables)
	want := []string{
		"attempt_hours", "attempts_by_delivery", "attempts_by_endpoint", "attempts_by_event", "attempts_by_hour",
		"dead_letters", "dead_letters_by_day", "dead_letters_by_endpoint", "schema_migrations",
	}
	if !slices.Equal(tables, want) {
		t.Errorf("tables %v, want %v", tables, want)
	}

	// Running it again changes nothing.
	applied, err = Migrate(ctx, admin, opts)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate: applied %d, %v", len(applied), err)
	}
	pending, err = Pending(ctx, admin, opts)
	if err != nil || len(pending) != 0 {
		t.Fatalf("Pending after Migrate: %+v, %v", pending, err)
	}

	// A new file is applied alone.
	files := fstest.MapFS{}
	for _, m := range all {
		files[fileName(m)] = &fstest.MapFile{Data: []byte(strings.Join(m.Statements, ";\n") + ";")}
	}
	files["900_extra.cql"] = &fstest.MapFile{Data: []byte(`
		-- a later migration
		CREATE TABLE IF NOT EXISTS extra (k text PRIMARY KEY) WITH default_time_to_live = 60;
		ALTER TABLE extra ADD IF NOT EXISTS v int;`)}
	opts.Files = files
	pending, err = Pending(ctx, admin, opts)
	if err != nil || len(pending) != 1 || pending[0].Version != 900 || len(pending[0].Statements) != 2 {
		t.Fatalf("Pending with a new file: %+v, %v", pending, err)
	}
	applied, err = Migrate(ctx, admin, opts)
	if err != nil || len(applied) != 1 || applied[0].Name != "extra" {
		t.Fatalf("Migrate with a new file: %+v, %v", applied, err)
	}
	var versions []int
	iter = admin.Query(`SELECT version FROM ` + ks + `.schema_migrations`).IterContext(ctx)
	var v int
	for iter.Scan(&v) {
		versions = append(versions, v)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(versions)
	if len(versions) != len(all)+1 || versions[len(versions)-1] != 900 {
		t.Errorf("recorded versions %v", versions)
	}

	// A released file that was renamed is refused.
	delete(files, "900_extra.cql")
	files["900_renamed.cql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE IF NOT EXISTS extra (k text PRIMARY KEY);`)}
	if _, err := Migrate(ctx, admin, opts); err == nil || !strings.Contains(err.Error(), "renamed") {
		t.Errorf("Migrate with a renamed file: %v", err)
	}
}

func fileName(m Migration) string { return fmt.Sprintf("%03d_%s.cql", m.Version, m.Name) }
