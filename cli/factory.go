// Package cli is hookctl's command tree. Commands are built as
// NewCmdX(f, runF): flags parse into an options struct, and the run function
// takes its dependencies from the Factory, so tests swap them.
package cli

import "github.com/hookd/hookd/internal/iostreams"

// Factory hands commands their dependencies.
type Factory struct {
	IOStreams *iostreams.IOStreams
}

// NewFactory returns the Factory of a real process.
func NewFactory() *Factory {
	return &Factory{IOStreams: iostreams.System()}
}
