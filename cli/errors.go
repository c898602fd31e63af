package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"

	"github.com/spf13/cobra"

	"github.com/hookd/hookd/cli/ctxconfig"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/cmdutil"
)

// printError reports a failed command. API errors and an unreachable
// server get their own rendering, with a hint at what to change; the rest
// is printed as both binaries print errors.
func printError(w io.Writer, cmd *cobra.Command, err error) {
	var (
		apiErr  *api.Error
		unreach *api.UnreachableError
	)
	switch {
	case err == nil || errors.Is(err, cmdutil.ErrSilent):
	case errors.As(err, &unreach):
		fmt.Fprintf(w, "error: cannot reach hookd at %s: %v\n", unreach.Server, transportCause(unreach.Err))
		fmt.Fprintf(w, "hint: the server comes from %s. Is hookd running there? Pick another context with `hookctl config use-context NAME`, or set %s.\n",
			serverSource(), ctxconfig.EnvServer)
	case errors.As(err, &apiErr):
		printAPIError(w, apiErr)
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "error: interrupted")
	default:
		cmdutil.PrintError(w, cmd, err)
	}
}

func printAPIError(w io.Writer, e *api.Error) {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	fmt.Fprintf(w, "error: %s\n", msg)
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, e.Fields[k])
	}
	if e.RequestID != "" {
		fmt.Fprintf(w, "request id: %s\n", e.RequestID)
	}
	switch e.Status {
	case http.StatusUnauthorized:
		fmt.Fprintf(w, "hint: the server refused the API key from %s. Set a valid key with `hookctl config set-context NAME --api-key-stdin`, or in %s.\n",
			keySource(), ctxconfig.EnvAPIKey)
	case http.StatusForbidden:
		fmt.Fprintln(w, "hint: the API key lacks the scope this needs; an admin can create a key that has it with `hookctl keys create --scope SCOPE`.")
	}
}

// transportCause drops the "Get \"http://...\":" prefix a *url.Error adds:
// the server is already named.
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timed out")
		}
		return ue.Err
	}
	return err
}

// serverSource names where the server came from, for hints.
func serverSource() string {
	if os.Getenv(ctxconfig.EnvServer) != "" {
		return ctxconfig.EnvServer
	}
	if file, err := ctxconfig.Load(); err == nil && file.CurrentContext != "" {
		return fmt.Sprintf("context %q", file.CurrentContext)
	}
	return "the configuration"
}

func keySource() string {
	if os.Getenv(ctxconfig.EnvAPIKey) != "" {
		return ctxconfig.EnvAPIKey
	}
	if file, err := ctxconfig.Load(); err == nil && file.CurrentContext != "" {
		return fmt.Sprintf("context %q", file.CurrentContext)
	}
	return "the configuration"
}
