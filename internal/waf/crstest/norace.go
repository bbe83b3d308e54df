//go:build !race

package crstest

const raceEnabled = false
