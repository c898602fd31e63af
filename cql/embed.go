package cql

import "embed"

// FS holds the schema files (NNN_name.cql), embedded so that the hookd
// binary can migrate a cluster without shipping the files next to it.
//
//go:embed *.cql
var FS embed.FS
