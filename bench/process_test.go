//go:build bench && linux

package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The benchmarks in this file run real processes: the release binary that `make build` writes
// (what kustomize, kpt and Argo CD start) and kustomize. bench/run.sh names them through
// RQLITE_FN_BIN and KUSTOMIZE_BIN; without those the benchmarks are skipped, so that
// `go test -tags bench -bench . ./bench/` still runs the in-process ones.
//
// Besides ns/op (wall time of one process, start to exit) each reports cpu-ns/op (user + system
// time of the process, which contention from other processes on the machine inflates far less
// than wall time) and, when GNU time is available (TIME_BIN, default /usr/bin/time), maxrss-B:
// the peak resident set of one extra run outside the timed loop. The peak is GNU
// time's %M and not the rusage this process gets from wait4: Go starts children with
// vfork+exec, and Linux carries the parent's high-water mark over the exec, so every direct child
// of the test binary would report at least the test binary's own size.

func binary(b *testing.B, env string) string {
	b.Helper()
	p := os.Getenv(env)
	if p == "" {
		b.Skipf("%s is not set; bench/run.sh sets it", env)
	}
	if _, err := os.Stat(p); err != nil {
		b.Fatalf("%s: %v", env, err)
	}
	return p
}

type processStats struct {
	cpu time.Duration
}

// run starts the command once and returns its stdout; the wall time is the benchmark's.
func (s *processStats) run(b *testing.B, cmd *exec.Cmd) []byte {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return stdout.Bytes()
}

// report must come after the timed loop: the loop's first iteration clears earlier metrics.
func (s *processStats) report(b *testing.B, rss int64) {
	b.ReportMetric(float64(s.cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if rss >= 0 {
		b.ReportMetric(float64(rss), "maxrss-B")
	}
}

// peakRSS runs the command once more, untimed, under GNU time and returns its peak resident set
// in bytes, or -1 without GNU time. Once per -count is enough: the peak barely varies, and the
// report takes the median over the counts.
func peakRSS(b *testing.B, newCmd func() *exec.Cmd) int64 {
	b.Helper()
	timeBin := os.Getenv("TIME_BIN")
	if timeBin == "" {
		timeBin = "/usr/bin/time"
	}
	if _, err := os.Stat(timeBin); err != nil {
		return -1 // the report says n/a
	}
	var peak int64
	{
		cmd := newCmd()
		cmd.Args = append([]string{timeBin, "-f", "maxrss-KiB=%M"}, cmd.Args...)
		cmd.Path = timeBin
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = nil, &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		var kib int64
		if _, err := fmt.Sscanf(lines[len(lines)-1], "maxrss-KiB=%d", &kib); err != nil {
			b.Fatalf("%s: no maxrss in %q", timeBin, stderr.String())
		}
		peak = kib * 1024
	}
	return peak
}

// BenchmarkProcess is rqlite-fn as orchestrators run it: a new process per call. version is the
// start-up cost alone (runtime and package initialisation); krm is KRM mode on stdin.
func BenchmarkProcess(b *testing.B) {
	bin := binary(b, "RQLITE_FN_BIN")
	cases := []struct {
		name  string
		args  []string
		stdin []byte
	}{
		{"version", []string{"version"}, nil},
		{"krm/specs=1", nil, kustomizeResourceList(b)},
		{"krm/specs=1000", nil, resourceList(1000)},
		// What a call costs users for a small and the largest voter set: the target "99 voters
		// cost the same as 3" is judged on these.
		{"krm/voters=3", nil, votersResourceList(3)},
		{"krm/voters=99", nil, votersResourceList(99)},
	}
	for _, c := range cases {
		newCmd := func() *exec.Cmd {
			cmd := exec.Command(bin, c.args...)
			cmd.Stdin = bytes.NewReader(c.stdin)
			return cmd
		}
		b.Run(c.name, func(b *testing.B) {
			rss := peakRSS(b, newCmd)
			var st processStats
			for b.Loop() {
				st.run(b, newCmd())
			}
			st.report(b, rss)
		})
	}
}

// BenchmarkKustomize builds every overlay three ways: with the function (what users run); with
// the function replaced by a script that replays the function's recorded output (what kustomize
// itself spends on running an exec function and taking its output in, whatever the function);
// and from the overlay's output committed as static YAML (testdata/overlays/<name>.yaml as the
// only resource of a kustomization). function/static is the function's overhead the issue asks
// about; replay splits it into kustomize's part and rqlite-fn's.
func BenchmarkKustomize(b *testing.B) {
	kustomize := binary(b, "KUSTOMIZE_BIN")
	fnBin := binary(b, "RQLITE_FN_BIN")
	if filepath.Base(fnBin) != "rqlite-fn" {
		b.Fatal("RQLITE_FN_BIN must be named rqlite-fn: the specs name the function by that bare name")
	}
	// The overlays find the function on PATH by its bare name, so a directory first on PATH
	// decides which rqlite-fn runs: the release binary, a recorder or a replayer.
	recorder, replayer := b.TempDir(), b.TempDir()
	// `verify` (the namespaced overlay's transformer) writes its input back unchanged, so its
	// replay is cat; only the generator's output is recorded.
	write(b, filepath.Join(recorder, "rqlite-fn"), "#!/bin/sh\nif [ \"$1\" = verify ]; then exec \"$RQLITE_FN_REAL\" \"$@\"; fi\n"+
		"\"$RQLITE_FN_REAL\" \"$@\" | tee \"$RQLITE_FN_RECORDING\"\n", 0o755)
	write(b, filepath.Join(replayer, "rqlite-fn"), "#!/bin/sh\nif [ \"$1\" = verify ]; then exec cat; fi\n"+
		"cat >/dev/null\nexec cat \"$RQLITE_FN_RECORDING\"\n", 0o755)
	pathWith := func(dir string) string {
		return "PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")
	}
	overlays, err := filepath.Glob(filepath.Join("..", "overlays", "*", "kustomization.yaml"))
	if err != nil || len(overlays) == 0 {
		b.Fatalf("no overlays: %v", err)
	}
	for _, k := range overlays {
		dir, _ := filepath.Abs(filepath.Dir(k))
		name := filepath.Base(dir)
		golden, err := os.ReadFile(filepath.Join(testdata, "overlays", name+".yaml"))
		if err != nil {
			b.Fatalf("overlay %s has no static counterpart: %v", name, err)
		}
		static := b.TempDir()
		write(b, filepath.Join(static, "kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- static.yaml\n", 0o644)
		write(b, filepath.Join(static, "static.yaml"), string(golden), 0o644)
		recording := filepath.Join(b.TempDir(), "recording.yaml")
		build := func(dir string, env ...string) func() *exec.Cmd {
			return func() *exec.Cmd {
				cmd := exec.Command(kustomize, "build", "--enable-alpha-plugins", "--enable-exec", dir)
				cmd.Env = append(append(os.Environ(), "RQLITE_FN_REAL="+fnBin, "RQLITE_FN_RECORDING="+recording), env...)
				return cmd
			}
		}
		var st processStats
		recorded := st.run(b, build(dir, pathWith(recorder))())
		outputs := map[string][]byte{}
		for _, v := range []struct {
			with string
			cmd  func() *exec.Cmd
		}{
			{"function", build(dir, pathWith(filepath.Dir(fnBin)))},
			{"replay", build(dir, pathWith(replayer))},
			{"static", build(static)},
		} {
			b.Run(fmt.Sprintf("overlay=%s/with=%s", name, v.with), func(b *testing.B) {
				rss := peakRSS(b, v.cmd)
				var st processStats
				for b.Loop() {
					outputs[v.with] = st.run(b, v.cmd())
				}
				st.report(b, rss)
			})
		}
		for with, out := range outputs {
			if with != "static" && !bytes.Equal(out, recorded) {
				b.Errorf("overlay %s: the build with=%s differs from the recorded build", name, with)
			}
		}
		// A stale golden would compare two different builds; say so rather than fail, since
		// the ratio is still about right and `make golden` is someone else's review.
		if out := outputs["static"]; out != nil && !bytes.Equal(out, recorded) {
			b.Logf("overlay %s: the function's output differs from %s; run `make golden` (the ratio compares slightly different builds)",
				name, filepath.Join("testdata", "overlays", name+".yaml"))
		}
	}
}

func write(b *testing.B, path, content string, mode os.FileMode) {
	b.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		b.Fatal(err)
	}
}

// votersResourceList is one spec of the given voter count as a kustomize generator call would
// pass it (functionConfig and item), with a namespace so that no warning is printed.
func votersResourceList(voters int) []byte {
	spec := fmt.Sprintf("apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: db\nspec:\n  voters:\n    replicas: %d\n", voters)
	lines := strings.Split(strings.TrimRight(spec, "\n"), "\n")
	return []byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n  " + strings.Join(lines, "\n  ") +
		"\nitems:\n- " + strings.Join(lines, "\n  ") + "\n")
}
