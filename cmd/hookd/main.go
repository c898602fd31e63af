// Command hookd is the webhook delivery daemon.
package main

import (
	"os"

	"github.com/hookd/hookd/daemon"
)

func main() {
	os.Exit(daemon.Main())
}
