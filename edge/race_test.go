//go:build race

package edge

// raceEnabled: the race detector is on (tests that measure heap or feed
// many readings skip).
const raceEnabled = true
