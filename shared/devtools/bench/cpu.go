package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
)

// cpuTicks is the machine's CPU time so far from /proc/stat: all ticks and
// idle ones (idle and iowait), summed over every core. ok is false where
// /proc/stat cannot be read (not Linux).
type cpuTicks struct {
	total, idle float64
	ok          bool
}

func readCPU() cpuTicks {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return cpuTicks{}
	}
	var t cpuTicks
	for i, f := range fields[1:] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return cpuTicks{}
		}
		t.total += v
		if i == 3 || i == 4 { // idle, iowait
			t.idle += v
		}
	}
	t.ok = true
	return t
}

// busySince is the share of the machine's CPU (all cores) in use between
// from and now, in [0, 1]; -1 when it cannot be measured. A phase whose
// share is near 1 was bounded by the machine's cores, not by its calls'
// round trips, which is what the account joins' ratio depends on.
func busySince(from cpuTicks) float64 {
	to := readCPU()
	if !from.ok || !to.ok || to.total <= from.total {
		return -1
	}
	return 1 - (to.idle-from.idle)/(to.total-from.total)
}

// cores is how many cores the busy shares are of.
func cores() int { return runtime.NumCPU() }
