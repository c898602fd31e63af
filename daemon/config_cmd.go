package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/config"
	"github.com/hookd/hookd/internal/iostreams"
)

// newCmdConfig builds `hookd config`: list the settings, and check a
// configuration before deploying it.
func newCmdConfig(ios *iostreams.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "List hookd's settings or check a configuration",
		Long: `hookd reads its settings from defaults, a YAML file (--config or
HOOKD_CONFIG), HOOKD_* environment variables and flags, each overriding the
one before. Every setting has one key: kafka.sasl.username is

  kafka:
    sasl:
      username: ...

in the file and HOOKD_KAFKA_SASL_USERNAME in the environment.`,
		Args: cmdutil.NoArgs,
	}

	var output string
	keys := &cobra.Command{
		Use:     "keys",
		Short:   "List every setting with its variable and meaning",
		Example: "  hookd config keys\n  hookd config keys -o json | jq -r '.[].env'",
		Args:    cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			all := config.Keys()
			switch output {
			case "json":
				enc := json.NewEncoder(ios.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(all)
			case "table":
				tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KEY\tVARIABLE\tMEANING")
				for _, k := range all {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Key, k.Env, k.Help)
				}
				return tw.Flush()
			}
			return cmdutil.Usagef("invalid value %q for --output: want table or json", output)
		},
	}
	keys.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")

	var file string
	check := &cobra.Command{
		Use:   "check",
		Short: "Load and validate the configuration, and print it with secrets hidden",
		Example: `  hookd config check --config /etc/hookd/hookd.yaml
  HOOKD_KAFKA_BROKERS=kafka-1:9092,kafka-2:9092 hookd config check`,
		Args: cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			l, err := config.Load(config.Options{File: configFile(file), Environ: os.Environ()})
			if err != nil {
				return err
			}
			values := l.Redacted()
			names := make([]string, 0, len(values))
			for k := range values {
				names = append(names, k)
			}
			sort.Strings(names)
			tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tVALUE\tFROM")
			for _, k := range names {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k, values[k], l.Source(k))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(ios.ErrOut, "configuration is valid")
			return nil
		},
	}
	check.Flags().StringVar(&file, "config", "", "YAML configuration file (default: $HOOKD_CONFIG)")

	cmd.AddCommand(keys, check)
	return cmd
}

// configFile returns the file named by the flag, else by HOOKD_CONFIG.
func configFile(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv("HOOKD_CONFIG")
}
