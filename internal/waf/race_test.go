//go:build race

package waf

// raceEnabled is whether the race detector is on (rx_test.go's corpus
// tests take a sample under it).
const raceEnabled = true
