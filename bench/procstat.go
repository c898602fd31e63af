package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procSample is one reading of a process.
type procSample struct {
	CPU   time.Duration // user + system, including reaped children
	RSS   uint64        // bytes, now
	HWM   uint64        // bytes, peak RSS over the process's life (VmHWM)
	Alive bool
}

// readProc reads /proc/<pid>/stat and /proc/<pid>/status.
func readProc(pid int) procSample {
	var s procSample
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s
	}
	// Fields after the command name, which may contain spaces and ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return s
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
	if len(f) < 15 {
		return s
	}
	var ticks uint64
	for _, k := range []int{11, 12, 13, 14} {
		v, _ := strconv.ParseInt(f[k], 10, 64)
		if v > 0 {
			ticks += uint64(v)
		}
	}
	s.CPU = time.Duration(ticks) * time.Second / clockTicks
	s.Alive = f[0] != "Z" && f[0] != "X"
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s
	}
	sc := bufio.NewScanner(bytes.NewReader(st))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			s.RSS = kbField(line)
		case strings.HasPrefix(line, "VmHWM:"):
			s.HWM = kbField(line)
		}
	}
	return s
}

func kbField(line string) uint64 {
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	v, _ := strconv.ParseUint(f[1], 10, 64)
	return v << 10
}

// childrenOf lists the live children of pid (PostgreSQL backends).
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, c)
		}
	}
	return out
}

// machineCPU is the busy and total CPU time of the whole machine from
// /proc/stat (all cores).
type machineCPU struct {
	Busy, Total time.Duration
}

func readMachineCPU() machineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return machineCPU{}
	}
	var total, idle uint64
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 { // guest time is already in user
			break
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return machineCPU{Busy: time.Duration(total-idle) * time.Second / clockTicks, Total: time.Duration(total) * time.Second / clockTicks}
}

// tracked is a process the bench watches, found by a function because
// hookd is restarted in some scenarios and PostgreSQL's backends come and
// go.
type tracked struct {
	Name string
	pids func() []int // first is the main process
	// withChildren adds the live children's CPU (PostgreSQL).
	withChildren bool
}

// monitor samples the tracked processes every interval: peak RSS seen, and
// a time series of hookd's RSS.
type monitor struct {
	procs []tracked
	mu    sync.Mutex
	peak  map[string]uint64
	// series of RSS samples per process name
	series map[string][]rssPoint
	start  time.Time
	stop   chan struct{}
	done   chan struct{}
}

type rssPoint struct {
	T   float64 `json:"t_s"`
	RSS float64 `json:"rss_mb"`
}

func newMonitor(procs []tracked, every time.Duration) *monitor {
	m := &monitor{procs: procs, peak: map[string]uint64{}, series: map[string][]rssPoint{}, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			m.sample()
			select {
			case <-t.C:
			case <-m.stop:
				return
			}
		}
	}()
	return m
}

func (m *monitor) sample() {
	now := time.Since(m.start).Seconds()
	for _, p := range m.procs {
		pids := p.pids()
		if len(pids) == 0 {
			continue
		}
		s := readProc(pids[0])
		if !s.Alive {
			continue
		}
		m.mu.Lock()
		m.peak[p.Name] = max(m.peak[p.Name], s.RSS)
		m.series[p.Name] = append(m.series[p.Name], rssPoint{T: round1(now), RSS: round1(float64(s.RSS) / (1 << 20))})
		m.mu.Unlock()
	}
}

func (m *monitor) close() {
	close(m.stop)
	<-m.done
}

// peakRSS returns the largest RSS sampled for name.
func (m *monitor) peakRSS(name string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peak[name]
}

// rssSeries returns the samples of name taken between from and to
// (seconds since the monitor started; to ≤ 0 means until now).
func (m *monitor) rssSeries(name string, from, to float64) []rssPoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []rssPoint
	for _, p := range m.series[name] {
		if p.T >= from && (to <= 0 || p.T <= to) {
			out = append(out, p)
		}
	}
	return out
}

func (m *monitor) elapsed() float64 { return time.Since(m.start).Seconds() }

// cpuOf reads the CPU time of every tracked process now.
func cpuOf(procs []tracked) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, p := range procs {
		pids := p.pids()
		if len(pids) == 0 {
			continue
		}
		d := readProc(pids[0]).CPU
		if p.withChildren {
			for _, c := range childrenOf(pids[0]) {
				d += readProc(c).CPU
			}
		}
		out[p.Name] = d
	}
	return out
}

// hwmOf reads VmHWM of every tracked process now.
func hwmOf(procs []tracked) map[string]uint64 {
	out := map[string]uint64{}
	for _, p := range procs {
		if pids := p.pids(); len(pids) > 0 {
			out[p.Name] = readProc(pids[0]).HWM
		}
	}
	return out
}

// pidFile returns a function reading a pid file (scripts/testenv's).
func pidFile(path string) func() []int {
	return func() []int {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			return nil
		}
		return []int{pid}
	}
}

// machineInfo describes the machine for the report.
type machineInfo struct {
	CPUs      int     `json:"nproc"`
	CPUModel  string  `json:"cpu_model"`
	MemoryGiB float64 `json:"memory_gib"`
	Kernel    string  `json:"kernel,omitempty"`
	LoadAvg   string  `json:"loadavg_at_start"`
	GoVersion string  `json:"go_version"`
}

func readMachineInfo() machineInfo {
	mi := machineInfo{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				mi.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				mi.MemoryGiB = round1(float64(kbField(line)) / (1 << 30))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		mi.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			mi.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return mi
}
