// Command report turns the output of bench/run.sh's measurements into the Markdown table that
// bench/results/latest.md and docs/benchmarks.md carry, and checks the targets of the issue
// "Benchmarks: how fast, how small, and how it scales".
//
// It reads `go test -bench` output (several runs of each benchmark, as -count gives them) and
// reports medians with a distribution-free 95% confidence interval, the way benchstat does, so
// that the table needs no benchstat; benchstat's own table is appended when run.sh made one.
//
//	go run ./bench/report -raw bench/results/raw.txt -bin bin/rqlite-fn [flags]
//
// Exit status: 0 when the report was written, even with targets missed (the table says which);
// 1 with -strict when a target is missed, and always when the image is over its size limit (a size
// does not depend on the machine's load, so it is asserted like the allocation budget); 2 on bad
// input.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Targets of the issue. MB is 10^6 bytes, the unit `ls -l` sizes are usually quoted in.
const (
	targetProcessWall  = 10 * time.Millisecond
	targetProcessRSS   = 20e6
	target1000Specs    = time.Second
	targetFlatRatio    = 1.25 // ns/spec at 1,000 specs (and at each step) over ns/spec at 1
	targetVotersRatio  = 1.10 // 99 voters over 3: "the same within noise"
	targetKustomize    = 1.3  // kustomize build with the function over the static build
	targetBinarySize   = 15e6
	targetImageSize    = 20e6 // the function image as the engine stores it (docker image inspect .Size)
	initTraceRuns      = 15
	topInits, topSizes = 8, 12
)

type options struct {
	raw, bin, syms, budget, benchstat, out string
	image                                  string
	hyperfine                              stringList
	meta                                   stringList
	strict                                 bool
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	var o options
	flag.StringVar(&o.raw, "raw", "", "go test -bench output (required)")
	flag.StringVar(&o.bin, "bin", "", "the release binary: its size and start-up (GODEBUG=inittrace=1)")
	flag.StringVar(&o.image, "image", "", "the function image in the local Docker engine: its size (docker image inspect)")
	flag.StringVar(&o.syms, "syms", "", "the same binary built without -s -w: where its size comes from")
	flag.StringVar(&o.budget, "budget", "", "go test -v output of TestAllocationBudget")
	flag.StringVar(&o.benchstat, "benchstat", "", "benchstat's table of -raw, appended verbatim")
	flag.Var(&o.hyperfine, "hyperfine", "hyperfine --export-json file (repeatable)")
	flag.Var(&o.meta, "meta", "key=value for the header: date, machine, versions (repeatable)")
	flag.StringVar(&o.out, "out", "", "also write the report to this file")
	flag.BoolVar(&o.strict, "strict", false, "exit 1 when a target is missed")
	flag.Parse()
	if o.raw == "" {
		fmt.Fprintln(os.Stderr, "report: -raw is required")
		os.Exit(2)
	}
	md, missed, hard, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(2)
	}
	os.Stdout.WriteString(md)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(2)
		}
	}
	if hard > 0 || (missed > 0 && o.strict) {
		os.Exit(1)
	}
}

func build(o options) (string, int, int, error) {
	raw, err := os.ReadFile(o.raw)
	if err != nil {
		return "", 0, 0, err
	}
	res := parseBench(raw)
	if len(res) == 0 {
		return "", 0, 0, fmt.Errorf("%s: no benchmark results", o.raw)
	}
	r := &report{res: res}
	var b strings.Builder
	b.WriteString("# rqlite-fn benchmarks\n\n")
	for _, kv := range o.meta {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "- %s: %s\n", k, v)
	}
	b.WriteString("\nMedians of repeated runs (`-count`), ± the distribution-free 95% confidence interval of the " +
		"median as benchstat computes it (n/a with fewer than 6 runs). Wall times depend on what else the machine " +
		"runs; CPU times (user + system) and allocation counts much less so.\n\n")

	var binSize int64
	if o.bin != "" {
		st, err := os.Stat(o.bin)
		if err != nil {
			return "", 0, 0, err
		}
		binSize = st.Size()
	}
	var imageSize int64
	if o.image != "" {
		if imageSize, err = inspectImageSize(o.image); err != nil {
			return "", 0, 0, err
		}
	}
	budget := ""
	if o.budget != "" {
		if data, err := os.ReadFile(o.budget); err == nil {
			budget = string(data)
		}
	}
	r.image, r.imageSize = o.image, imageSize
	r.targets(&b, binSize, budget)
	r.pipeline(&b)
	r.resourceLists(&b)
	r.processes(&b)
	r.kustomize(&b)
	r.containers(&b)
	if o.bin != "" {
		fmt.Fprintf(&b, "## Binary\n\n`%s`: %s bytes (%.1f MB).\n\n", o.bin, thousands(binSize), float64(binSize)/1e6)
		startup(&b, o.bin)
	}
	if o.syms != "" {
		if err := sizes(&b, o.syms); err != nil {
			fmt.Fprintf(&b, "(size breakdown failed: %v)\n\n", err)
		}
	}
	if budget != "" {
		b.WriteString("## Allocation budget (TestAllocationBudget)\n\n```\n")
		for _, l := range strings.Split(budget, "\n") {
			if strings.Contains(l, "allocs (budget") || strings.HasPrefix(strings.TrimSpace(l), "---") ||
				strings.Contains(l, "budget_test.go") {
				b.WriteString(strings.TrimSpace(l) + "\n")
			}
		}
		b.WriteString("```\n\n")
	}
	if len(o.hyperfine) > 0 {
		b.WriteString("## hyperfine (a second opinion on the process figures; it subtracts its shell's start-up)\n\n")
	}
	for _, h := range o.hyperfine {
		if err := hyperfine(&b, h); err != nil {
			fmt.Fprintf(&b, "(hyperfine %s: %v)\n\n", h, err)
		}
	}
	if o.benchstat != "" {
		if data, err := os.ReadFile(o.benchstat); err == nil && len(bytes.TrimSpace(data)) > 0 {
			b.WriteString("## benchstat\n\n```\n" + strings.TrimRight(string(data), "\n") + "\n```\n")
		}
	}
	return b.String(), r.missed, r.hard, nil
}

// --- parsing ----------------------------------------------------------------------------------

// results maps a benchmark's name (without the -GOMAXPROCS suffix) and unit to its samples.
type results map[string]map[string][]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

func parseBench(data []byte) results {
	res := results{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		if res[name] == nil {
			res[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	return res
}

// --- statistics -------------------------------------------------------------------------------

type summary struct {
	n              int
	median, lo, hi float64
	ok             bool // a confidence interval exists
}

// summarize computes the median and the order-statistic confidence interval around it: the
// widest [x(k), x(n+1-k)] whose coverage under Binomial(n, 1/2) is still at least 95%.
func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	m := s[n/2]
	if n%2 == 0 {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	sum := summary{n: n, median: m, lo: s[0], hi: s[n-1]}
	// P(Bin(n,1/2) < k) for growing k until the tails exceed 2.5% each.
	k := 0
	for j := 1; j <= n/2; j++ {
		if 2*binomCDF(n, j-1) <= 0.05 {
			k = j
		}
	}
	if k > 0 {
		sum.lo, sum.hi, sum.ok = s[k-1], s[n-k], true
	}
	return sum
}

func binomCDF(n, k int) float64 {
	p := 0.0
	for i := 0; i <= k; i++ {
		lg, _ := math.Lgamma(float64(n + 1))
		li, _ := math.Lgamma(float64(i + 1))
		lni, _ := math.Lgamma(float64(n - i + 1))
		p += math.Exp(lg - li - lni - float64(n)*math.Ln2)
	}
	return p
}

func (s summary) pm() string {
	if !s.ok || s.median == 0 {
		return fmt.Sprintf(" (n=%d)", s.n)
	}
	d := math.Max(s.median-s.lo, s.hi-s.median) / s.median * 100
	return fmt.Sprintf(" ±%.0f%%", d)
}

// --- the report -------------------------------------------------------------------------------

type report struct {
	res       results
	missed    int
	hard      int // missed targets that fail the run without -strict
	image     string
	imageSize int64
}

func (r *report) get(name, unit string) (summary, bool) {
	xs := r.res[name][unit]
	return summarize(xs), len(xs) > 0
}

func (r *report) row(b *strings.Builder, target, measured, limit string, ok, known bool) {
	status := "n/a"
	switch {
	case known && ok:
		status = "met"
	case known:
		status = "**missed**"
		r.missed++
	}
	fmt.Fprintf(b, "| %s | %s | %s | %s |\n", target, measured, limit, status)
}

func (r *report) targets(b *strings.Builder, binSize int64, budget string) {
	b.WriteString("## Targets\n\n| Target | Measured (median) | Limit | Status |\n|---|---|---|---|\n")

	wall, okW := r.get("Process/krm/specs=1", "ns/op")
	r.row(b, "one spec end to end as a process (wall)", dur(wall.median)+wall.pm(), "≤ "+dur(float64(targetProcessWall)), wall.median <= float64(targetProcessWall), okW)
	rss, okR := r.get("Process/krm/specs=1", "maxrss-B")
	r.row(b, "one spec end to end as a process (peak RSS)", mb(rss.median), fmt.Sprintf("≤ %.0f MB", targetProcessRSS/1e6), rss.median <= targetProcessRSS, okR)

	k, okK := r.get("ResourceList/specs=1000", "ns/op")
	r.row(b, "1,000 specs in one ResourceList (in-process KRM path)", dur(k.median)+k.pm(), "≤ "+dur(float64(target1000Specs)), k.median <= float64(target1000Specs), okK)
	kp, okKP := r.get("Process/krm/specs=1000", "ns/op")
	if okKP {
		rssK, _ := r.get("Process/krm/specs=1000", "maxrss-B")
		r.row(b, "1,000 specs in one ResourceList (process)", dur(kp.median)+kp.pm()+", peak RSS "+mb(rssK.median), "≤ "+dur(float64(target1000Specs)), kp.median <= float64(target1000Specs), true)
	}

	// Ratios between benchmarks compare CPU time when there is some: wall time on a shared machine
	// includes waiting for a core, which differs from one benchmark to the next.
	perSpec := "cpu-ns/spec"
	if _, ok := r.get("ResourceList/specs=10", perSpec); !ok {
		perSpec = "ns/spec"
	}
	one, ok1 := r.get("ResourceList/specs=1", "cpu-ns/op")
	if perSpec == "ns/spec" {
		one, ok1 = r.get("ResourceList/specs=1", "ns/spec")
	}
	worst, worstAt, okFlat := 0.0, "", ok1
	prev := one.median
	var last summary
	for _, n := range []int{10, 100, 1000} {
		s, ok := r.get(fmt.Sprintf("ResourceList/specs=%d", n), perSpec)
		if !ok {
			okFlat = false
			continue
		}
		if step := s.median / prev; step > worst {
			worst, worstAt = step, thousands(int64(n))
		}
		prev, last = s.median, s
	}
	overall := last.median / one.median
	r.row(b, "cost per spec flat from 1 to 1,000 ("+basis(perSpec)+")",
		fmt.Sprintf("%s/spec at 1, %s/spec at 1,000: ×%.2f (worst step ×%.2f, to %s)", dur(one.median), dur(last.median), overall, worst, worstAt),
		fmt.Sprintf("≤ ×%.2f", targetFlatRatio), overall <= targetFlatRatio && worst <= targetFlatRatio, okFlat)

	unit := "cpu-ns/op"
	if _, ok := r.get("Spec/voters=3", unit); !ok {
		unit = "ns/op"
	}
	v3, ok3 := r.get("Spec/voters=3", unit)
	v99, ok99 := r.get("Spec/voters=99", unit)
	a3, _ := r.get("Spec/voters=3", "allocs/op")
	a99, _ := r.get("Spec/voters=99", "allocs/op")
	o3, _ := r.get("Spec/voters=3", "MB/s")
	o99, _ := r.get("Spec/voters=99", "MB/s")
	w3, _ := r.get("Spec/voters=3", "ns/op")
	w99, _ := r.get("Spec/voters=99", "ns/op")
	// Per call, as users pay it: one process with a 3-voter and a 99-voter spec.
	p3, okP3 := r.get("Process/krm/voters=3", "cpu-ns/op")
	p99, okP99 := r.get("Process/krm/voters=99", "cpu-ns/op")
	// "Within noise": the ratio is under the limit, or the two medians' 95% confidence intervals
	// overlap, so the runs cannot tell the two apart.
	overlap := p3.ok && p99.ok && p99.lo <= p3.hi
	r.row(b, "99 voters cost the same as 3, per call (process CPU)",
		fmt.Sprintf("%s%s vs %s%s: ×%.2f", dur(p99.median), p99.pm(), dur(p3.median), p3.pm(), p99.median/p3.median),
		fmt.Sprintf("≤ ×%.2f or within the 95%% intervals", targetVotersRatio), p99.median/p3.median <= targetVotersRatio || overlap, okP3 && okP99)
	// The render alone, where the peers list (and the YAML it adds) is all that grows.
	r.row(b, "99 voters vs 3, render alone in-process ("+basis(unit)+")",
		fmt.Sprintf("%s vs %s: ×%.2f (allocs ×%.2f, YAML out ×%.2f)", dur(v99.median), dur(v3.median), v99.median/v3.median,
			a99.median/a3.median, (o99.median*w99.median)/(o3.median*w3.median)),
		fmt.Sprintf("≤ ×%.2f", targetVotersRatio), v99.median/v3.median <= targetVotersRatio, ok3 && ok99)

	for _, o := range r.overlays() {
		f, okF := r.get("Kustomize/overlay="+o+"/with=function", "ns/op")
		s, okS := r.get("Kustomize/overlay="+o+"/with=static", "ns/op")
		r.row(b, "`kustomize build` "+o+" with the function vs static YAML",
			fmt.Sprintf("%s vs %s: ×%.2f", dur(f.median), dur(s.median), f.median/s.median),
			fmt.Sprintf("≤ ×%.1f", targetKustomize), f.median/s.median <= targetKustomize, okF && okS)
	}
	r.row(b, "release binary size", fmt.Sprintf("%.2f MB", float64(binSize)/1e6), fmt.Sprintf("≤ %.0f MB", targetBinarySize/1e6), float64(binSize) <= targetBinarySize, binSize > 0)
	if r.image != "" {
		// Deterministic, so asserted: over the limit fails the run whatever -strict says.
		before := r.missed
		r.row(b, "function image size (`"+r.image+"`, docker image inspect)", fmt.Sprintf("%.2f MB (%s bytes)", float64(r.imageSize)/1e6, thousands(r.imageSize)),
			fmt.Sprintf("≤ %.0f MB", targetImageSize/1e6), float64(r.imageSize) <= targetImageSize, true)
		r.hard += r.missed - before
	}
	if budget != "" {
		pass := strings.Contains(budget, "--- PASS: TestAllocationBudget")
		r.row(b, "allocation budget (TestAllocationBudget)", map[bool]string{true: "within budget", false: "over budget"}[pass], "bench/budget_test.go", pass, true)
	}
	b.WriteString("\n")
}

func basis(unit string) string {
	if strings.HasPrefix(unit, "cpu-") {
		return "CPU time"
	}
	return "wall time"
}

func (r *report) overlays() []string {
	var out []string
	for name := range r.res {
		if rest, ok := strings.CutPrefix(name, "Kustomize/overlay="); ok {
			if o, ok := strings.CutSuffix(rest, "/with=function"); ok {
				out = append(out, o)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (r *report) pipeline(b *strings.Builder) {
	b.WriteString("## One spec in-process: decode → default → validate → model → render → encode\n\n" +
		"| Spec | wall/op | CPU/op | allocs/op | bytes allocated/op | YAML out |\n|---|---|---|---|---|---|\n")
	for _, c := range []string{"voters=3", "voters=9", "voters=99", "every-option"} {
		t, ok := r.get("Spec/"+c, "ns/op")
		if !ok {
			continue
		}
		a, _ := r.get("Spec/"+c, "allocs/op")
		by, _ := r.get("Spec/"+c, "B/op")
		mbs, _ := r.get("Spec/"+c, "MB/s")
		fmt.Fprintf(b, "| %s | %s%s | %s | %s | %s | %s |\n", c, dur(t.median), t.pm(), r.cpu("Spec/"+c, "cpu-ns/op"),
			thousands(int64(a.median)), mb(by.median), kb(mbs.median*1e6*t.median/1e9))
	}
	if t, ok := r.get("KustomizeInput", "ns/op"); ok {
		a, _ := r.get("KustomizeInput", "allocs/op")
		fmt.Fprintf(b, "\nOne kustomize generator call (base/spec/rqlite.yaml as functionConfig and item) through `cli.Main`: %s%s wall, %s CPU, %s allocs.\n",
			dur(t.median), t.pm(), r.cpu("KustomizeInput", "cpu-ns/op"), thousands(int64(a.median)))
	}
	b.WriteString("\n")
}

func (r *report) resourceLists(b *strings.Builder) {
	b.WriteString("## ResourceList through the binary's KRM code path (`cli.Main`, in-process)\n\n" +
		"| Specs | wall/op | wall/spec | CPU/spec | allocs/spec | bytes allocated/spec |\n|---|---|---|---|---|---|\n")
	for _, n := range []int{1, 10, 100, 1000} {
		name := fmt.Sprintf("ResourceList/specs=%d", n)
		t, ok := r.get(name, "ns/op")
		if !ok {
			continue
		}
		ps, _ := r.get(name, "ns/spec")
		a, _ := r.get(name, "allocs/op")
		by, _ := r.get(name, "B/op")
		cpuUnit := "cpu-ns/spec"
		if n == 1 {
			cpuUnit = "cpu-ns/op"
		}
		fmt.Fprintf(b, "| %s | %s%s | %s | %s | %s | %s |\n", thousands(int64(n)), dur(t.median), t.pm(), dur(ps.median),
			r.cpu(name, cpuUnit), thousands(int64(a.median/float64(n))), mb(by.median/float64(n)))
	}
	b.WriteString("\n")
}

// cpu formats a CPU-time metric, or n/a where the platform has none.
func (r *report) cpu(name, unit string) string {
	s, ok := r.get(name, unit)
	if !ok {
		return "n/a"
	}
	return dur(s.median) + s.pm()
}

func (r *report) processes(b *strings.Builder) {
	b.WriteString("## rqlite-fn as a process (release binary)\n\n| Case | wall | CPU (user+sys) | peak RSS |\n|---|---|---|---|\n")
	for _, c := range []struct{ name, label string }{
		{"version", "`rqlite-fn version` (start-up only)"},
		{"krm/specs=1", "KRM, one spec (a kustomize generator call)"},
		{"krm/specs=1000", "KRM, 1,000 specs"},
		{"krm/voters=3", "KRM, one spec with 3 voters"},
		{"krm/voters=99", "KRM, one spec with 99 voters"},
	} {
		t, ok := r.get("Process/"+c.name, "ns/op")
		if !ok {
			continue
		}
		cpu, _ := r.get("Process/"+c.name, "cpu-ns/op")
		rss, okR := r.get("Process/"+c.name, "maxrss-B")
		rs := "n/a"
		if okR {
			rs = mb(rss.median)
		}
		fmt.Fprintf(b, "| %s | %s%s | %s%s | %s |\n", c.label, dur(t.median), t.pm(), dur(cpu.median), cpu.pm(), rs)
	}
	b.WriteString("\n")
}

func (r *report) kustomize(b *strings.Builder) {
	ovs := r.overlays()
	if len(ovs) == 0 {
		return
	}
	b.WriteString("## `kustomize build --enable-alpha-plugins --enable-exec`: function vs static YAML\n\n" +
		"*replay* is the overlay with rqlite-fn replaced by a script that writes the function's recorded output: " +
		"what kustomize spends on running an exec function at all. CPU is kustomize's with the processes it waited for " +
		"(the function included); peak RSS is kustomize's own.\n\n" +
		"| Overlay | with the function | replay | static YAML | function / static (wall, CPU) | replay / static (CPU) | peak RSS (function / static) |\n" +
		"|---|---|---|---|---|---|---|\n")
	for _, o := range ovs {
		get := func(with, unit string) summary {
			s, _ := r.get("Kustomize/overlay="+o+"/with="+with, unit)
			return s
		}
		f, rp, s := get("function", "ns/op"), get("replay", "ns/op"), get("static", "ns/op")
		fc, rc, sc := get("function", "cpu-ns/op"), get("replay", "cpu-ns/op"), get("static", "cpu-ns/op")
		fr, sr := get("function", "maxrss-B"), get("static", "maxrss-B")
		replay, replayRatio := "n/a", "n/a"
		if rp.n > 0 {
			replay = fmt.Sprintf("%s%s (CPU %s)", dur(rp.median), rp.pm(), dur(rc.median))
			replayRatio = fmt.Sprintf("×%.2f", rc.median/sc.median)
		}
		fmt.Fprintf(b, "| %s | %s%s (CPU %s) | %s | %s%s (CPU %s) | ×%.2f, ×%.2f | %s | %s / %s |\n", o,
			dur(f.median), f.pm(), dur(fc.median), replay, dur(s.median), s.pm(), dur(sc.median),
			f.median/s.median, fc.median/sc.median, replayRatio, mb(fr.median), mb(sr.median))
	}
	b.WriteString("\n")
}

// inspectImageSize is the image's size as the engine reports it; a variable so that tests need no
// engine.
var inspectImageSize = func(image string) (int64, error) {
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Size}}", image).Output()
	if err != nil {
		return 0, fmt.Errorf("docker image inspect %s: %w (bench/run.sh builds it with make image)", image, err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("docker image inspect %s: size %q", image, out)
	}
	return n, nil
}

// containers reports BenchmarkContainer: the image against the binary it holds, each pair run
// alternately.
func (r *report) containers(b *strings.Builder) {
	type side struct{ name, unit string }
	rows := []struct {
		bench, label string
		a, b         side
	}{
		{"Container/noop", "`version`: start-up; the difference is what the engine costs per container", side{"binary", "binary-ns/op"}, side{"docker run", "docker-ns/op"}},
		{"Container/krm/specs=1", "one spec in KRM mode, kustomize's docker options", side{"binary", "binary-ns/op"}, side{"docker run", "docker-ns/op"}},
		{"Container/kustomize/three-node", "`kustomize build` overlays/three-node", side{"exec form", "exec-ns/op"}, side{"container form", "container-ns/op"}},
	}
	header := false
	for _, row := range rows {
		a, okA := r.get(row.bench, row.a.unit)
		c, okC := r.get(row.bench, row.b.unit)
		if !okA || !okC {
			continue
		}
		if !header {
			b.WriteString("## The function image vs the binary (wall time, alternating runs)\n\n" +
				"Each run executes both sides once, in alternating order, so both see the same load. A container's CPU is " +
				"spent by the engine's processes (dockerd, containerd, the shim, runc), not by the docker CLI, so only wall " +
				"time is compared.\n\n| Case | first | second | second − first | second / first |\n|---|---|---|---|---|\n")
			header = true
		}
		fmt.Fprintf(b, "| %s | %s %s%s | %s %s%s | %s | ×%.1f |\n", row.label, row.a.name, dur(a.median), a.pm(),
			row.b.name, dur(c.median), c.pm(), dur(c.median-a.median), c.median/a.median)
	}
	if header {
		b.WriteString("\n")
	}
}

// startup runs the binary with GODEBUG=inittrace=1 and reports the package initialisers that
// cost the most: they run before main on every call, `version` included.
func startup(b *strings.Builder, bin string) {
	per := map[string][]float64{}
	var totals []float64
	line := regexp.MustCompile(`^init (\S+) @[0-9.]+ ms, ([0-9.]+) ms clock`)
	for range initTraceRuns {
		cmd := exec.Command(bin, "version")
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(b, "(`%s version` failed: %v)\n\n", bin, err)
			return
		}
		total := 0.0
		seen := map[string]float64{}
		for _, l := range strings.Split(stderr.String(), "\n") {
			if m := line.FindStringSubmatch(l); m != nil {
				v, _ := strconv.ParseFloat(m[2], 64)
				seen[m[1]] += v
				total += v
			}
		}
		for p, v := range seen {
			per[p] = append(per[p], v)
		}
		totals = append(totals, total)
	}
	type pkg struct {
		name string
		ms   float64
	}
	var pkgs []pkg
	for p, v := range per {
		pkgs = append(pkgs, pkg{p, summarize(v).median})
	}
	slices.SortFunc(pkgs, func(a, c pkg) int { return cmp.Compare(c.ms, a.ms) })
	t := summarize(totals)
	fmt.Fprintf(b, "Package initialisation (`GODEBUG=inittrace=1 %s version`, median of %d runs): %.2f ms in %d packages. The costliest:\n\n"+
		"| Package | init clock |\n|---|---|\n", bin, initTraceRuns, t.median, len(pkgs))
	for _, p := range pkgs[:min(topInits, len(pkgs))] {
		fmt.Fprintf(b, "| %s | %.2f ms |\n", p.name, p.ms)
	}
	b.WriteString("\n")
}

// sizes attributes the symbols of an unstripped build to modules. Only symbols in sections that
// take room in the file count (not .bss); the sum is less than the file (pclntab, the symbol
// table and padding are nobody's), but the shares are what size work needs.
func sizes(b *strings.Builder, bin string) error {
	mods, err := modules(bin)
	if err != nil {
		return err
	}
	f, err := elf.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return err
	}
	by := map[string]int64{}
	var total int64
	for _, sym := range syms {
		if sym.Section == elf.SHN_UNDEF || int(sym.Section) >= len(f.Sections) || sym.Size == 0 {
			continue
		}
		if sec := f.Sections[sym.Section]; sec.Type == elf.SHT_NOBITS || sec.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		m := moduleOf(sym.Name, mods)
		by[m] += int64(sym.Size)
		total += int64(sym.Size)
	}
	type mod struct {
		name string
		size int64
	}
	var ms []mod
	for n, s := range by {
		ms = append(ms, mod{n, s})
	}
	slices.SortFunc(ms, func(a, c mod) int { return cmp.Compare(c.size, a.size) })
	fmt.Fprintf(b, "Where the size comes from (symbols of the same build without -s -w, by module; %s in all):\n\n| Module | symbols | share |\n|---|---|---|\n", mb(float64(total)))
	for _, m := range ms[:min(topSizes, len(ms))] {
		fmt.Fprintf(b, "| %s | %s | %.1f%% |\n", m.name, mb(float64(m.size)), float64(m.size)/float64(total)*100)
	}
	b.WriteString("\n")
	return nil
}

func modules(bin string) ([]string, error) {
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("go version -m: %w", err)
	}
	var mods []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "mod" || f[0] == "dep") {
			mods = append(mods, f[1])
		}
	}
	// Longest first, so that a nested module wins over its parent.
	slices.SortFunc(mods, func(a, c string) int { return cmp.Compare(len(c), len(a)) })
	return mods, nil
}

// moduleOf maps a symbol to its module: the package path is everything up to the first dot
// after the last slash, behind prefixes such as type: or go:itab.; generic instantiations count
// for the package of the generic function.
func moduleOf(sym string, mods []string) string {
	for _, p := range []string{"type:.eq.", "type:.hash.", "type:", "go:itab.", "go:info.", "go:string.", "go:func.", "go:", "*", "[]", "map[", "main."} {
		sym = strings.TrimPrefix(sym, p)
	}
	for _, m := range mods {
		if strings.HasPrefix(sym, m+"/") || strings.HasPrefix(sym, m+".") {
			return m
		}
	}
	return "Go runtime, standard library, linker data"
}

type hyperfineResult struct {
	Results []struct {
		Command string    `json:"command"`
		Median  float64   `json:"median"`
		Mean    float64   `json:"mean"`
		Stddev  float64   `json:"stddev"`
		User    float64   `json:"user"`
		System  float64   `json:"system"`
		Min     float64   `json:"min"`
		Max     float64   `json:"max"`
		Times   []float64 `json:"times"`
	} `json:"results"`
}

func hyperfine(b *strings.Builder, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var h hyperfineResult
	if err := json.Unmarshal(data, &h); err != nil {
		return err
	}
	if len(h.Results) == 0 {
		return nil
	}
	b.WriteString("| Command | median | mean ± σ | min … max | user + sys (mean) | runs |\n|---|---|---|---|---|---|\n")
	for _, r := range h.Results {
		fmt.Fprintf(b, "| `%s` | %s | %s ± %s | %s … %s | %s | %d |\n", r.Command, sec(r.Median), sec(r.Mean), sec(r.Stddev),
			sec(r.Min), sec(r.Max), sec(r.User+r.System), len(r.Times))
	}
	b.WriteString("\n")
	return nil
}

// --- formatting -------------------------------------------------------------------------------

func dur(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

func sec(s float64) string { return dur(s * 1e9) }

func mb(bytes float64) string { return fmt.Sprintf("%.1f MB", bytes/1e6) }

func kb(bytes float64) string { return fmt.Sprintf("%.1f kB", bytes/1e3) }

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
