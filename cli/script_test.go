package cli_test

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hookd/hookd/cli"
	"github.com/hookd/hookd/daemon"
)

// The .txtar scripts in testdata/script run the real command trees as
// black boxes: arguments in, stdout, stderr and exit code out.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"hookctl": func() { os.Exit(cli.Main()) },
		"hookd":   func() { os.Exit(daemon.Main()) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
