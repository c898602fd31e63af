// Command hookctl is the command-line tool for hookd.
package main

import (
	"os"

	"github.com/hookd/hookd/cli"
)

func main() {
	os.Exit(cli.Main())
}
