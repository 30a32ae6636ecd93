package main

import (
	"os"
	"strconv"
	"strings"
)

// cpuTicks is the machine's CPU time so far from /proc/stat: all ticks and
// idle ones (idle and iowait), summed over every core, and the number of
// cores that line covers. ok is false where /proc/stat cannot be read (not
// Linux).
type cpuTicks struct {
	total, idle float64
	cores       int
	ok          bool
}

func readCPU() cpuTicks {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}
	}
	lines := strings.Split(string(b), "\n")
	fields := strings.Fields(lines[0])
	if len(fields) < 5 || fields[0] != "cpu" {
		return cpuTicks{}
	}
	var t cpuTicks
	// user nice system idle iowait irq softirq steal; guest and guest_nice
	// (after steal) are already counted in user and nice.
	for i, f := range fields[1:min(len(fields), 9)] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return cpuTicks{}
		}
		t.total += v
		if i == 3 || i == 4 { // idle, iowait
			t.idle += v
		}
	}
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "cpu") {
			t.cores++
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
