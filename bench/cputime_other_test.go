//go:build !unix

package bench

import "time"

// cpuTime is not measured here; zero leaves the CPU column empty.
func cpuTime() time.Duration { return 0 }
