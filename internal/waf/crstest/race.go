//go:build race

package crstest

// raceEnabled is whether the race detector is on (the corpus
// tests take a sample under it).
const raceEnabled = true
