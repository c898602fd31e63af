// Package tui holds hookctl's terminal interfaces (bubbletea models), one
// model per component, each with Init, Update, View, SetSize and a key map.
//
// Model is `hookctl tail`: a Header (connection state, rates of the last
// minute), a Table of attempts over a Ring of the newest rows, and the
// Detail, StatsPane and Help screens, with a FilterBar and a Confirm
// question on the footer line. The stream reader fills an Inbox (a Source)
// that never blocks; the model drains it on a tick and applies the batch,
// so thousands of attempts a second cost a few redraws.
package tui
