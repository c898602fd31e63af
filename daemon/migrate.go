package daemon

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/storage/cassandra"
	"github.com/hookd/hookd/storage/postgres"
)

// MigrateOptions are the inputs of `hookd migrate`.
type MigrateOptions struct {
	IO         *iostreams.IOStreams
	ConfigFile string
	DryRun     bool
	Only       string
	Timeout    time.Duration
}

func newCmdMigrate(ios *iostreams.IOStreams, runF func(context.Context, *MigrateOptions) error) *cobra.Command {
	opts := &MigrateOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the PostgreSQL and Cassandra schemas up to date",
		Long: `Apply hookd's PostgreSQL migrations and Cassandra schema. It is safe to run
again (nothing changes when the schemas are current) and from several
processes at once (PostgreSQL migrations take an advisory lock; CQL changes
are idempotent and wait for schema agreement). The Cassandra keyspace is
created when missing, replicated as cassandra.replication_* say.`,
		Example: `  hookd migrate
  hookd migrate --dry-run
  hookd migrate --only postgres --config /etc/hookd/hookd.yaml`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Only != "" && opts.Only != "postgres" && opts.Only != "cassandra" {
				return cmdutil.Usagef("invalid value %q for --only: want postgres or cassandra", opts.Only)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runMigrate(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.ConfigFile, "config", "", "YAML configuration file (default: $HOOKD_CONFIG)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "list what would be applied, change nothing")
	cmd.Flags().StringVar(&opts.Only, "only", "", "migrate one store only: postgres or cassandra")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 5*time.Minute, "give up after this long")
	return cmd
}

func runMigrate(ctx context.Context, opts *MigrateOptions) error {
	l, err := config.Load(config.Options{File: configFile(opts.ConfigFile), Environ: os.Environ(), WithoutEncryptionKey: true})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	out := opts.IO.Out
	verb := "applied"
	if opts.DryRun {
		verb = "pending"
	}
	if opts.Only != "cassandra" {
		results, err := postgres.Migrate(ctx, l.Postgres.DSN, postgres.MigrateOptions{DryRun: opts.DryRun})
		for _, r := range results {
			fmt.Fprintf(out, "postgres: %s %05d %s\n", verb, r.Version, r.Name)
		}
		if err != nil {
			return err
		}
		if len(results) == 0 {
			fmt.Fprintln(out, "postgres: schema is up to date")
		}
	}
	if opts.Only != "postgres" {
		if err := migrateCassandra(ctx, l, opts, verb); err != nil {
			return err
		}
	}
	return nil
}

func migrateCassandra(ctx context.Context, l *config.Loaded, opts *MigrateOptions, verb string) error {
	c := l.Cassandra
	session, err := cassandra.Connect(ctx, cassandra.Config{
		Hosts: c.Hosts, Consistency: c.Consistency, Username: c.Username, Password: c.Password, Timeout: c.Timeout,
	})
	if err != nil {
		return err
	}
	defer session.Close()
	mo := cassandra.MigrateOptions{
		Keyspace:       c.Keyspace,
		CreateKeyspace: true,
		Replication:    cassandra.Replication{Class: c.ReplicationClass, Factor: c.ReplicationFactor},
	}
	if len(c.ReplicationDCs) > 0 {
		mo.Replication.DataCenters = map[string]int{}
		for _, dc := range c.ReplicationDCs {
			name, n, _ := strings.Cut(dc, ":")
			f, _ := strconv.Atoi(n) // validated by config
			mo.Replication.DataCenters[name] = f
		}
	}
	var done []cassandra.Migration
	if opts.DryRun {
		done, err = cassandra.Pending(ctx, session, mo)
	} else {
		done, err = cassandra.Migrate(ctx, session, mo)
	}
	for _, m := range done {
		fmt.Fprintf(opts.IO.Out, "cassandra: %s %03d %s\n", verb, m.Version, m.Name)
	}
	if err != nil {
		return err
	}
	if len(done) == 0 {
		fmt.Fprintln(opts.IO.Out, "cassandra: schema is up to date")
	}
	return nil
}
