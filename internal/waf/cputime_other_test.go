//go:build !unix

package waf

import "time"

func cpuTime() time.Duration { return 0 }
