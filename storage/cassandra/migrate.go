package cassandra

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/hookd/hookd/cql"
)

// Replication strategies for a keyspace that Migrate creates.
const (
	SimpleStrategy          = "SimpleStrategy"
	NetworkTopologyStrategy = "NetworkTopologyStrategy"
)

// Replication says how a keyspace created by Migrate is replicated. The
// zero value is SimpleStrategy with one replica: right for a laptop or a
// test node, wrong for production, where NetworkTopologyStrategy with a
// factor per data center (usually 3) is the norm.
type Replication struct {
	// Class is SimpleStrategy (default) or NetworkTopologyStrategy.
	Class string
	// Factor is the replication factor of SimpleStrategy (default 1).
	Factor int
	// DataCenters maps data-center names to replication factors, for
	// NetworkTopologyStrategy.
	DataCenters map[string]int
}

// MigrateOptions configures Migrate and Pending.
type MigrateOptions struct {
	// Keyspace receives the schema. Required.
	Keyspace string
	// CreateKeyspace creates Keyspace with Replication when it is missing.
	// An existing keyspace is never altered.
	CreateKeyspace bool
	Replication    Replication
	// Files holds the NNN_name.cql files; nil means the embedded cql.FS.
	Files fs.FS
	// Consistency of the reads and writes of schema_migrations (default
	// LOCAL_QUORUM).
	Consistency gocql.Consistency
	// Logf, when set, is told about each migration applied.
	Logf func(format string, args ...any)
}

// Migration is one schema file: its version, name and statements.
type Migration struct {
	Version    int
	Name       string
	Statements []string
}

// bootstrapVersion marks the pseudo-migration that creates the keyspace
// and the schema_migrations table in Pending's answer.
const bootstrapVersion = 0

var (
	keyspaceNameRe  = regexp.MustCompile(`^[A-Za-z0-9_]{1,48}$`)
	migrationFileRe = regexp.MustCompile(`^([0-9]{3,})_([a-z0-9_]+)\.cql$`)
)

// ValidKeyspace reports whether name can be used unquoted as a keyspace
// name. hookd only accepts such names so they can be written into CQL
// text without any escaping.
func ValidKeyspace(name string) bool { return keyspaceNameRe.MatchString(name) }

// LoadMigrations reads the NNN_name.cql files of fsys (other files are
// ignored), in version order.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("cassandra: read schema files: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".cql" {
			continue
		}
		m := migrationFileRe.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("cassandra: schema file %s: name is not NNN_name.cql", e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil || v <= bootstrapVersion {
			return nil, fmt.Errorf("cassandra: schema file %s: version must be a positive number", e.Name())
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("cassandra: schema files %s and %s have the same version %d", other, e.Name(), v)
		}
		seen[v] = e.Name()
		src, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("cassandra: read schema file %s: %w", e.Name(), err)
		}
		stmts, err := SplitStatements(string(src))
		if err != nil {
			return nil, fmt.Errorf("cassandra: schema file %s: %w", e.Name(), err)
		}
		if len(stmts) == 0 {
			return nil, fmt.Errorf("cassandra: schema file %s holds no statement", e.Name())
		}
		out = append(out, Migration{Version: v, Name: m[2], Statements: stmts})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

// SplitStatements cuts CQL source into statements at the semicolons that
// end them, dropping comments ('--' and '//' to the end of the line, '/*
// */' blocks) and blank statements. Semicolons and comment markers inside
// string literals ('...', $$...$$) and quoted identifiers ("...") are text,
// not syntax. An unterminated literal or comment is an error, so a typo
// cannot silently swallow the rest of a file.
func SplitStatements(src string) ([]string, error) {
	var (
		out []string
		cur strings.Builder
	)
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ';':
			flush()
			i++
		case c == '-' && strings.HasPrefix(src[i:], "--"), c == '/' && strings.HasPrefix(src[i:], "//"):
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				i = len(src)
			} else {
				i += end // keep the newline as a separator
			}
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated /* comment at offset %d", i)
			}
			cur.WriteByte(' ')
			i += 2 + end + 2
		case c == '$' && strings.HasPrefix(src[i:], "$$"):
			end := strings.Index(src[i+2:], "$$")
			if end < 0 {
				return nil, fmt.Errorf("unterminated $$ string at offset %d", i)
			}
			cur.WriteString(src[i : i+2+end+2])
			i += 2 + end + 2
		case c == '\'' || c == '"':
			// Quotes are escaped by doubling them: 'it''s', "a""b".
			j := i + 1
			for {
				k := strings.IndexByte(src[j:], c)
				if k < 0 {
					return nil, fmt.Errorf("unterminated %c quote at offset %d", c, i)
				}
				j += k + 1
				if j < len(src) && src[j] == c {
					j++
					continue
				}
				break
			}
			cur.WriteString(src[i:j])
			i = j
		default:
			cur.WriteByte(c)
			i++
		}
	}
	flush()
	return out, nil
}

// keyspaceStatement is the CREATE KEYSPACE for opts.
func keyspaceStatement(opts MigrateOptions) (string, error) {
	r := opts.Replication
	var repl string
	switch r.Class {
	case "", SimpleStrategy:
		f := r.Factor
		if f == 0 {
			f = 1
		}
		if f < 1 {
			return "", fmt.Errorf("cassandra: replication factor %d: must be at least 1", f)
		}
		if len(r.DataCenters) > 0 {
			return "", errors.New("cassandra: replication data centers need NetworkTopologyStrategy")
		}
		repl = fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", f)
	case NetworkTopologyStrategy:
		if len(r.DataCenters) == 0 {
			return "", errors.New("cassandra: NetworkTopologyStrategy needs at least one data center and its replication factor")
		}
		var b strings.Builder
		b.WriteString("{'class': 'NetworkTopologyStrategy'")
		for _, dc := range slices.Sorted(maps.Keys(r.DataCenters)) {
			f := r.DataCenters[dc]
			if f < 1 {
				return "", fmt.Errorf("cassandra: replication factor %d for data center %q: must be at least 1", f, dc)
			}
			if dc == "" || strings.ContainsAny(dc, "'\\\x00\n") {
				return "", fmt.Errorf("cassandra: data center name %q is not allowed", dc)
			}
			fmt.Fprintf(&b, ", '%s': %d", dc, f)
		}
		b.WriteString("}")
		repl = b.String()
	default:
		return "", fmt.Errorf("cassandra: replication class %q: want %s or %s", r.Class, SimpleStrategy, NetworkTopologyStrategy)
	}
	return fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s AND durable_writes = true", opts.Keyspace, repl), nil
}

const migrationsTableStmt = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    int PRIMARY KEY,
    name       text,
    applied_at timestamp
) WITH comment = 'hookd: CQL schema versions applied by hookd migrate'`

// plan works out what Migrate would do: the bootstrap statements still
// needed (keyspace, schema_migrations) and the migrations not yet applied.
func plan(ctx context.Context, session *gocql.Session, opts MigrateOptions) (bootstrap []string, pending []Migration, err error) {
	if session == nil {
		return nil, nil, errors.New("cassandra: migrate: no session")
	}
	if !ValidKeyspace(opts.Keyspace) {
		return nil, nil, fmt.Errorf("cassandra: migrate: keyspace name %q: want 1 to 48 letters, digits or underscores", opts.Keyspace)
	}
	files := opts.Files
	if files == nil {
		files = cql.FS
	}
	all, err := LoadMigrations(files)
	if err != nil {
		return nil, nil, err
	}
	cons := opts.consistency()

	ksExists, err := rowExists(ctx, session.Query(
		`SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?`, opts.Keyspace).Consistency(gocql.One))
	if err != nil {
		return nil, nil, fmt.Errorf("cassandra: migrate: look up keyspace %s: %w", opts.Keyspace, err)
	}
	if !ksExists {
		if !opts.CreateKeyspace {
			return nil, nil, fmt.Errorf("cassandra: migrate: keyspace %s does not exist (create it, or let migrate create it)", opts.Keyspace)
		}
		stmt, err := keyspaceStatement(opts)
		if err != nil {
			return nil, nil, err
		}
		return []string{stmt, migrationsTableStmt}, all, nil
	}
	tableExists, err := rowExists(ctx, session.Query(
		`SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'schema_migrations'`,
		opts.Keyspace).Consistency(gocql.One))
	if err != nil {
		return nil, nil, fmt.Errorf("cassandra: migrate: look up %s.schema_migrations: %w", opts.Keyspace, err)
	}
	if !tableExists {
		return []string{migrationsTableStmt}, all, nil
	}

	applied := map[int]string{}
	iter := session.Query(`SELECT version, name FROM ` + opts.Keyspace + `.schema_migrations`).
		Consistency(cons).Idempotent(true).IterContext(ctx)
	var (
		v    int
		name string
	)
	for iter.Scan(&v, &name) {
		applied[v] = name
	}
	if err := iter.Close(); err != nil {
		return nil, nil, fmt.Errorf("cassandra: migrate: read %s.schema_migrations: %w", opts.Keyspace, err)
	}
	for _, m := range all {
		got, done := applied[m.Version]
		switch {
		case !done:
			pending = append(pending, m)
		case got != m.Name:
			return nil, nil, fmt.Errorf("cassandra: migrate: version %d is recorded as %q but the file is %03d_%s.cql; a released schema file was renamed or replaced",
				m.Version, got, m.Version, m.Name)
		}
	}
	return nil, pending, nil
}

func (o MigrateOptions) consistency() gocql.Consistency {
	if o.Consistency == gocql.Any {
		return gocql.LocalQuorum
	}
	return o.Consistency
}

// Pending returns what Migrate would apply, without changing anything:
// the dry run of `hookd migrate --dry-run`. When the keyspace or the
// schema_migrations table is missing, the first entry (version 0,
// "bootstrap") holds the statements that create them.
func Pending(ctx context.Context, session *gocql.Session, opts MigrateOptions) ([]Migration, error) {
	bootstrap, pending, err := plan(ctx, session, opts)
	if err != nil {
		return nil, err
	}
	if len(bootstrap) > 0 {
		pending = append([]Migration{{Version: bootstrapVersion, Name: "bootstrap", Statements: bootstrap}}, pending...)
	}
	return pending, nil
}

// Migrate brings the keyspace's schema up to date: it creates the keyspace
// when asked and the schema_migrations table, then applies each schema
// file not recorded there, in version order, statement by statement,
// waiting for schema agreement after each one (so the next statement, and
// the daemons that start next, see the change on every node), and records
// the version once the whole file is applied. A file that fails half-way
// is not recorded and is applied again next time, which is safe because
// its DDL is idempotent. Running Migrate on an up-to-date schema changes
// nothing. It returns the migrations it applied.
//
// Run one Migrate at a time per cluster (a deploy job, not every daemon
// at start): Cassandra does not serialize concurrent CREATE TABLE of the
// same table on different coordinators.
//
// Statements run in the target keyspace through the protocol's per-query
// keyspace, which needs native protocol v5 (Cassandra 4.0 or later).
func Migrate(ctx context.Context, session *gocql.Session, opts MigrateOptions) ([]Migration, error) {
	bootstrap, pending, err := plan(ctx, session, opts)
	if err != nil {
		return nil, err
	}
	for _, stmt := range bootstrap {
		q := session.Query(stmt)
		if !strings.HasPrefix(stmt, "CREATE KEYSPACE") {
			q = q.SetKeyspace(opts.Keyspace)
		}
		if err := applyDDL(ctx, session, q); err != nil {
			return nil, fmt.Errorf("cassandra: migrate: bootstrap %s: %w", opts.Keyspace, err)
		}
	}
	cons := opts.consistency()
	var applied []Migration
	for _, m := range pending {
		for i, stmt := range m.Statements {
			if err := applyDDL(ctx, session, session.Query(stmt).SetKeyspace(opts.Keyspace)); err != nil {
				return applied, fmt.Errorf("cassandra: migrate: %03d_%s.cql statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		err := session.Query(`INSERT INTO `+opts.Keyspace+`.schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now()).Consistency(cons).Idempotent(true).ExecContext(ctx)
		if err != nil {
			return applied, fmt.Errorf("cassandra: migrate: record version %d: %w", m.Version, err)
		}
		applied = append(applied, m)
		if opts.Logf != nil {
			opts.Logf("cassandra: applied schema %03d_%s (%d statements) to %s", m.Version, m.Name, len(m.Statements), opts.Keyspace)
		}
	}
	return applied, nil
}

func applyDDL(ctx context.Context, session *gocql.Session, q *gocql.Query) error {
	if err := q.Consistency(gocql.One).ExecContext(ctx); err != nil {
		return err
	}
	if err := session.AwaitSchemaAgreement(ctx); err != nil {
		return fmt.Errorf("schema agreement: %w", err)
	}
	return nil
}

func rowExists(ctx context.Context, q *gocql.Query) (bool, error) {
	var s string
	err := q.ScanContext(ctx, &s)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}
