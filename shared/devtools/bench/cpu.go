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

// localNames names the local AWS's processes by pid (set by run).
var localNames = map[string]string{}

// procCPU is one process's CPU time so far (user and system ticks of all
// its threads) and the label it is reported under.
type procCPU struct {
	label string
	ticks float64
}

// procTicks reads every live user-space process's CPU time by pid. The
// label is its command name, with the local AWS's processes named by what
// they serve (localNames, by pid) and the bench itself called "bench". It says where
// a phase's CPU went: the local AWS, the Lambda processes, or the bench's
// proxy and runtime. Kernel threads (children of kthreadd) are left out:
// they rename themselves with the work they run.
func procTicks() map[string]procCPU {
	m := map[string]procCPU{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return m
	}
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		comm := s[open+1 : closing]
		// After the name: state ppid pgrp session tty_nr tpgid flags minflt
		// cminflt majflt cmajflt utime stime ...
		f := strings.Fields(s[closing+1:])
		if len(f) < 13 || f[1] == "2" || pid == "2" {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		label := comm
		switch {
		case pid == self:
			label = "bench (proxy, Lambda runtime)"
		case localNames[pid] != "":
			label = "local AWS (" + localNames[pid] + ")"
		case comm == "bootstrap":
			label = "Lambda processes"
		}
		m[pid] = procCPU{label: label, ticks: u + st}
	}
	return m
}

// procSince is the CPU seconds each label of procTicks used since from,
// over the processes that lived through the whole interval.
func procSince(from map[string]procCPU) map[string]float64 {
	out := map[string]float64{}
	for pid, now := range procTicks() {
		if was, ok := from[pid]; ok && now.ticks > was.ticks {
			out[now.label] += (now.ticks - was.ticks) / 100 // USER_HZ is 100 on Linux
		}
	}
	return out
}
