//go:build !unix

package bench

import "time"

func cpuTime() time.Duration { return -1 }
