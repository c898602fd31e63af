// Package cli is hookctl's command tree. Commands are built as
// NewCmdX(f, runF): flags parse into an options struct, and the run function
// takes its dependencies from the Factory, so tests swap them.
package cli

import (
	"github.com/hookd/hookd/cli/ctxconfig"
	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/iostreams"
)

// Factory hands commands their dependencies.
type Factory struct {
	IOStreams *iostreams.IOStreams
	// APIClient returns a client of the hookd server of the current
	// context, HOOKCTL_SERVER and HOOKCTL_API_KEY overriding it. Nil means
	// exactly that; tests point it at a fake server.
	APIClient func() (*api.Client, error)
}

// NewFactory returns the Factory of a real process.
func NewFactory() *Factory {
	return &Factory{IOStreams: iostreams.System(), APIClient: clientFromConfig}
}

// apiClient is what commands call: the factory's APIClient, or the
// configured server when none was set, so a Factory literal still works.
func (f *Factory) apiClient() (*api.Client, error) {
	if f.APIClient != nil {
		return f.APIClient()
	}
	return clientFromConfig()
}

func clientFromConfig() (*api.Client, error) {
	file, err := ctxconfig.Load()
	if err != nil {
		return nil, err
	}
	t, err := file.Resolve()
	if err != nil {
		return nil, err
	}
	return api.NewClient(t.Server, t.APIKey), nil
}
