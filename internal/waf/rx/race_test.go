//go:build race

package rx

// raceEnabled is whether the race detector is on (rx_test.go's corpus
// tests take a sample under it).
const raceEnabled = true
