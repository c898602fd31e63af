package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/cmdutil"
	"github.com/hookd/hookd/internal/iostreams"
)

// maxBodyBytes bounds a body read from a file or stdin: a webhook payload,
// not an arbitrary stream.
const maxBodyBytes = 32 << 20

// bodySource is where a command reads a payload from: --body, --body-file
// or stdin, exactly one of them.
type bodySource struct {
	Body     string
	BodyFile string
	bodySet  bool
}

func (b *bodySource) readBody(ios *iostreams.IOStreams, allowStdin bool) ([]byte, error) {
	switch {
	case b.bodySet && b.BodyFile != "":
		return nil, cmdutil.Usagef("--body and --body-file cannot be used together")
	case b.bodySet:
		return []byte(b.Body), nil
	case b.BodyFile == "-":
		return readCapped(ios.In, "stdin")
	case b.BodyFile != "":
		f, err := os.Open(b.BodyFile)
		if err != nil {
			return nil, cmdutil.Usagef("--body-file: %v", err)
		}
		defer f.Close()
		return readCapped(f, b.BodyFile)
	case allowStdin && !ios.IsStdinTTY():
		return readCapped(ios.In, "stdin")
	}
	return nil, cmdutil.Usagef("no body: give --body, --body-file, or pipe it on stdin")
}

func readCapped(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > maxBodyBytes {
		return nil, cmdutil.Usagef("%s is larger than %d MiB", name, maxBodyBytes>>20)
	}
	return b, nil
}

// secretSource is where a command reads a signing secret from: --secret,
// --secret-file or HOOKCTL_WEBHOOK_SECRET, in that order.
type secretSource struct {
	Secret     string
	SecretFile string
}

const secretEnv = "HOOKCTL_WEBHOOK_SECRET" //nolint:gosec // the name of a variable, not a secret

func (s *secretSource) readSecret() (string, error) {
	if s.Secret != "" && s.SecretFile != "" {
		return "", cmdutil.Usagef("--secret and --secret-file cannot be used together")
	}
	if s.SecretFile != "" {
		b, err := os.ReadFile(s.SecretFile)
		if err != nil {
			return "", cmdutil.Usagef("--secret-file: %v", err)
		}
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
		return "", cmdutil.Usagef("--secret-file %s is empty", s.SecretFile)
	}
	if s.Secret != "" {
		return s.Secret, nil
	}
	if v := strings.TrimSpace(os.Getenv(secretEnv)); v != "" {
		return v, nil
	}
	return "", cmdutil.Usagef("no secret: give --secret, --secret-file or set %s", secretEnv)
}

// parseTime accepts RFC 3339 or unix seconds.
func parseTime(flag, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var unix int64
	if _, err := fmt.Sscanf(s, "%d", &unix); err == nil && fmt.Sprint(unix) == s {
		return time.Unix(unix, 0), nil
	}
	return time.Time{}, cmdutil.Usagef("%s %q is neither RFC 3339 (2026-01-02T15:04:05Z) nor unix seconds", flag, s)
}

// parseHeaderFlags turns repeated "Name: value" flags into pairs.
func parseHeaderFlags(values []string) ([][2]string, error) {
	out := make([][2]string, 0, len(values))
	for _, v := range values {
		name, value, ok := strings.Cut(v, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
			return nil, cmdutil.Usagef("-H %q is not 'Name: value'", v)
		}
		out = append(out, [2]string{name, strings.TrimSpace(value)})
	}
	return out, nil
}

func checkOutput(o string, allowed ...string) error {
	for _, a := range allowed {
		if o == a {
			return nil
		}
	}
	return cmdutil.Usagef("invalid value %q for --output: want %s", o, strings.Join(allowed, " or "))
}
