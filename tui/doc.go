// Package tui holds hookctl's terminal interfaces (bubbletea models), one
// model per component, each with Init, Update, View, SetSize and a key map.
package tui
