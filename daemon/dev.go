package daemon

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/devkafka"
	"github.com/hookd/hookd/internal/iostreams"
)

// Files of a dev data directory.
const (
	devKeyFile   = "encryption.key" // HOOKD_ENCRYPTION_KEY of this directory
	devAdminFile = "admin.key"      // the admin API key, to restore hookctl's context
	devDBFile    = "hookd.db"       // SQLite: configuration and log
	devKafkaDir  = "kafka"          // the embedded broker's state
	devContext   = "dev"            // the hookctl context hookd dev keeps
)

// devLoopback lets deliveries reach receivers on this machine, which is
// what trying hookd out needs and production must not allow.
var devLoopback = []string{"127.0.0.0/8", "::1/128"}

// DevOptions are the inputs of `hookd dev`.
type DevOptions struct {
	IO         *iostreams.IOStreams
	DataDir    string
	Port       int
	KafkaPort  int
	KafkaSASL  string // user:password, empty for none
	ConfigFile string
	// Environ replaces the process environment when set (tests).
	Environ []string
	// Ready, when set, is called with the API's URL and the broker's
	// address once everything serves (tests).
	Ready func(apiURL, kafkaAddr string)
}

func newCmdDev(ios *iostreams.IOStreams) *cobra.Command {
	opts := &DevOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run all of hookd in one process, with no external services",
		Long: `Run hookd for trying it out and for development: an embedded
Kafka-protocol broker on 127.0.0.1 (any Kafka client can publish to it),
SQLite instead of PostgreSQL and Cassandra, and every role (api, dispatch,
logwriter) in this process. The dispatch, retry and log-writer code is the
one production runs; only the stores differ.

Everything is kept in the data directory: endpoints, the delivery log, the
dead-letter queue, and the Kafka topics with the events not yet delivered
and the pending retries. Stop hookd dev with Ctrl-C and start it again, or
kill it: nothing is lost. Remove the directory to start afresh.

Deliveries may reach loopback addresses (127.0.0.0/8, ::1), so receivers
on this machine (hookctl listen) work; production hookd refuses them.

On its first start hookd dev makes an encryption key and an admin API key
(both kept in the data directory, readable by you only) and saves a
hookctl context named "dev" (made current unless another one is).

Other settings come from --config and HOOKD_* variables as for hookd
serve; see hookd config keys.`,
		Example: `  hookd dev
  hookd dev --data-dir /tmp/hookd --port 8081 --kafka-port 19092
  hookd dev --kafka-sasl dev:dev-secret`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, p := range []struct {
				flag string
				v    int
			}{{"--port", opts.Port}, {"--kafka-port", opts.KafkaPort}} {
				if p.v < 0 || p.v > 65535 {
					return cmdutil.Usagef("%s %d is not a TCP port", p.flag, p.v)
				}
			}
			if opts.KafkaSASL != "" {
				if u, _, ok := strings.Cut(opts.KafkaSASL, ":"); !ok || u == "" {
					return cmdutil.Usagef("--kafka-sasl wants user:password")
				}
			}
			if strings.TrimSpace(opts.DataDir) == "" {
				return cmdutil.Usagef("--data-dir must not be empty")
			}
			return Dev(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.DataDir, "data-dir", ".hookd", "directory that keeps everything between runs")
	fl.IntVar(&opts.Port, "port", 8080, "port of the API on 127.0.0.1 (0: any free port)")
	fl.IntVar(&opts.KafkaPort, "kafka-port", 9092, "port of the embedded Kafka broker on 127.0.0.1 (0: any free port)")
	fl.StringVar(&opts.KafkaSASL, "kafka-sasl", "", "require Kafka clients to log in as user:password (SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN)")
	fl.StringVar(&opts.ConfigFile, "config", "", "YAML configuration file for other settings (default: $HOOKD_CONFIG)")
	return cmd
}

// Dev runs `hookd dev` until ctx ends.
func Dev(ctx context.Context, opts *DevOptions) error {
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	unlock, err := lockDataDir(dir)
	if err != nil {
		return err
	}
	defer unlock()

	encKey, err := devEncryptionKey(dir)
	if err != nil {
		return err
	}
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	warn := slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	user, pass, _ := strings.Cut(opts.KafkaSASL, ":")
	broker, err := devkafka.Start(devkafka.Options{
		Port: opts.KafkaPort, DataDir: filepath.Join(dir, devKafkaDir), User: user, Password: pass, Logger: warn,
	})
	if err != nil {
		return err
	}
	// Closed after Serve returns, so that hookd's last commits are in.
	defer broker.Close()

	flags := map[string]string{
		"roles":                strings.Join([]string{config.RoleAPI, config.RoleDispatch, config.RoleLogWriter}, ","),
		"kafka.brokers":        broker.Addr(),
		"http.addr":            net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)),
		"delivery.allow_cidrs": strings.Join(devLoopback, ","),
		"log.format":           "text",
		"encryption_key":       encKey,
		// The embedded broker speaks plaintext, whatever a production
		// HOOKD_* variable or --config file says.
		"kafka.tls.enabled": "false",
	}
	if user != "" {
		flags["kafka.sasl.mechanism"] = devkafka.Mechanisms[0]
		flags["kafka.sasl.username"] = user
		flags["kafka.sasl.password"] = pass
	} else {
		flags["kafka.sasl.mechanism"] = ""
	}
	l, err := config.Load(config.Options{File: configFile(opts.ConfigFile), Environ: environ, Flags: flags})
	if err != nil {
		return err
	}

	admin, firstStart, err := ensureDevAdminKey(ctx, dir, l)
	if err != nil {
		return err
	}

	fmt.Fprintf(opts.IO.ErrOut, "NOTICE: hookd dev delivers to loopback addresses (%s) so local receivers work; production hookd refuses them unless delivery.allow_cidrs says otherwise.\n",
		strings.Join(devLoopback, ", "))

	var apiURL string
	err = Serve(ctx, &ServeOptions{
		IO:         opts.IO,
		ConfigFile: opts.ConfigFile,
		Flags:      flags,
		Environ:    environ,
		Backends:   SQLiteBackends(filepath.Join(dir, devDBFile)),
		Listening: func(addr net.Addr) {
			apiURL = "http://" + addr.String()
		},
		Ready: func(net.Addr) {
			ctxNote := saveDevContext(apiURL, admin)
			printDevBanner(opts.IO.Out, devBanner{
				firstStart: firstStart, dataDir: opts.DataDir, apiURL: apiURL, kafka: broker.Addr(),
				eventsTopic: l.Kafka.EventsTopics[0], saslUser: user, context: ctxNote,
			})
			if opts.Ready != nil {
				opts.Ready(apiURL, broker.Addr())
			}
		},
	})
	var ce *config.Error
	if errors.As(err, &ce) && ce.Key == "http.addr" && ce.Source == "flag" {
		return fmt.Errorf("the API cannot listen on 127.0.0.1:%d (%s); choose another port with --port", opts.Port, ce.Msg)
	}
	return err
}

// devEncryptionKey returns the key of the data directory, making it on
// the first start. A database without its key cannot be opened: say so
// rather than make a new key that would not open its secrets.
func devEncryptionKey(dir string) (string, error) {
	path := filepath.Join(dir, devKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", fmt.Errorf("%s is empty; remove %s to start afresh", path, dir)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("encryption key: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, devDBFile)); err == nil {
		return "", fmt.Errorf("%s is missing but %s holds secrets sealed with it; restore the key, or remove %s to start afresh", path, devDBFile, dir)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	key := base64.StdEncoding.EncodeToString(raw[:])
	if err := writePrivate(path, key+"\n"); err != nil {
		return "", fmt.Errorf("encryption key: %w", err)
	}
	return key, nil
}

// writePrivate creates path, readable by its owner only; it never
// replaces an existing file.
func writePrivate(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, content); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	return f.Close()
}

// devTimeout bounds each store operation hookd dev does before serving.
const devTimeout = 30 * time.Second
