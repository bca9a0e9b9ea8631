package bench

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/cli"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
)

// ResourceList sizes for BenchmarkResourceList; bench/report checks that the cost per spec stays
// flat across them.
var listSizes = []int{1, 10, 100, 1000}

// renderSpec is decode → default → validate → model → render → encode, what `rqlite-fn render`
// does per document.
func renderSpec(doc []byte) ([]byte, error) {
	res := generate.FromYAML(doc)
	if res.Problems.HasErrors() {
		return nil, res.Problems
	}
	return render.EncodeAll(res.Objects)
}

// BenchmarkSpec is the pipeline for one spec, without the ResourceList around it.
func BenchmarkSpec(b *testing.B) {
	for _, c := range specCases(b) {
		b.Run(c.name, func(b *testing.B) {
			out, err := renderSpec(c.doc)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(out)))
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := renderSpec(c.doc); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b, 1)
		})
	}
}

// runKRM is the binary's KRM mode in-process: cli.Main without arguments, exactly what main does
// with os.Stdin and os.Stdout.
func runKRM(in []byte, stdout io.Writer) error {
	var stderr bytes.Buffer
	if code := cli.Main(nil, bytes.NewReader(in), stdout, &stderr); code != 0 {
		return fmt.Errorf("exit %d: %s", code, stderr.String())
	}
	return nil
}

// BenchmarkResourceList is the KRM path (parse the ResourceList, run every spec, upsert, encode
// the ResourceList) for packages of 1 to 1,000 specs. ns/spec is what must stay flat.
func BenchmarkResourceList(b *testing.B) {
	for _, n := range listSizes {
		b.Run(fmt.Sprintf("specs=%d", n), func(b *testing.B) {
			in := resourceList(n)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			first := true
			cpu := startCPU()
			for b.Loop() {
				// The first output is checked, inside the loop: at 1,000 specs a separate
				// warm-up run would double the benchmark's time for nothing.
				var out bytes.Buffer
				w := io.Writer(io.Discard)
				if first {
					w = &out
				}
				if err := runKRM(in, w); err != nil {
					b.Fatal(err)
				}
				if first {
					if got := bytes.Count(out.Bytes(), []byte("\n  kind: StatefulSet\n")); got != n {
						b.Fatalf("%d StatefulSets in the output, want %d", got, n)
					}
					first = false
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/spec")
			cpu.report(b, n)
		})
	}
}

// BenchmarkKustomizeInput is one `kustomize build` of the base as the function sees it.
func BenchmarkKustomizeInput(b *testing.B) {
	in := kustomizeResourceList(b)
	if err := runKRM(in, io.Discard); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if err := runKRM(in, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b, 1)
}

// cpuMeter reports CPU time next to wall time. On a shared machine wall time includes waiting
// for a core; CPU time much less so, which makes it the better basis for ratios between
// benchmarks run minutes apart.
type cpuMeter time.Duration

func startCPU() cpuMeter { return cpuMeter(cpuTime()) }

// report adds cpu-ns/op and, for n > 1, cpu-ns/spec. It must run after the loop, whose first
// iteration clears earlier metrics; the loop's own bookkeeping is noise next to a render.
func (c cpuMeter) report(b *testing.B, n int) {
	if c < 0 {
		return
	}
	used := float64(cpuTime() - time.Duration(c))
	b.ReportMetric(used/float64(b.N), "cpu-ns/op")
	if n > 1 {
		b.ReportMetric(used/float64(b.N*n), "cpu-ns/spec")
	}
}
