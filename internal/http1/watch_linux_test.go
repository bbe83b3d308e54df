package http1

import "testing"

// TestPeekAfterWakeWhenIdle: the watch's peek skips its system call only
// when it was woken after finding nothing and no handler runs (the read of
// the next head tells data from the end). A first look, and every look
// while a handler runs, peeks. A descriptor that is not open tells which:
// a peek on it fails (EBADF) and reports the client gone.
func TestPeekAfterWakeWhenIdle(t *testing.T) {
	const notOpen = ^uintptr(0)
	for _, tc := range []struct {
		name   string
		state  uint8
		active bool
		want   uint8
	}{
		{"woken, idle: no syscall", peekParked, false, peekWoken},
		{"woken, handler running: peeks", peekParked, true, peekGone},
		{"first look, idle: peeks", peekNone, false, peekGone},
		{"first look, handler running: peeks", peekNone, true, peekGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &conn{peekState: tc.state}
			c.active.Store(tc.active)
			if !c.peek(notOpen) {
				t.Fatal("peek asked to wait")
			}
			if c.peekState != tc.want {
				t.Fatalf("peekState %d, want %d", c.peekState, tc.want)
			}
		})
	}
}
