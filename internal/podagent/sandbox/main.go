// Command sandbox turns a freshly forked process into a container of the pod agent and then
// execs the container's command. The agent starts it in new mount and UTS namespaces (Go's
// SysProcAttr.Unshareflags, which also makes every existing mount private, so nothing done here
// is visible outside); argv[1] is the path of a JSON Spec.
//
// It exists because Go's os/exec can create namespaces but cannot run code between fork and exec:
// bind mounts, the hostname and dropping privileges have to happen in the child, after the
// namespaces exist and before the workload runs.
//
// Failures before exec exit with status 128, the code container runtimes use for "could not
// start", after printing the reason to stderr (the container's log).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Spec mirrors podagent's sandboxSpec; the two are kept in sync by podagent's tests, which run
// every container through this program.
type Spec struct {
	Path       string   `json:"path"`
	Args       []string `json:"args"` // argv, argv[0] included
	Env        []string `json:"env"`
	Dir        string   `json:"dir"`
	Hostname   string   `json:"hostname"`
	UID        uint32   `json:"uid"`
	GID        uint32   `json:"gid"`
	Groups     []uint32 `json:"groups"`
	NoNewPrivs bool     `json:"noNewPrivs"`
	// DropBounding lists capability numbers to remove from the bounding set, so that not even
	// a setuid binary can get them back.
	DropBounding []int   `json:"dropBounding"`
	Mounts       []Mount `json:"mounts"`
	ParentPID    int     `json:"parentPID"`
}

// Mount is one bind mount.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly"`
}

const (
	prSetPdeathsig   = 1
	prCapbsetDrop    = 24
	prSetNoNewPrivs  = 38
	exitCannotRun    = 128
	oPath            = 0x200000 // O_PATH on x86 and arm; the syscall package lacks it
	forbiddenHostDir = "/etc"
)

func main() {
	syscall.CloseOnExec(3)
	if len(os.Args) != 2 {
		fail("usage: sandbox SPEC.json")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		fail("decoding %s: %v", os.Args[1], err)
	}
	if err := setup(&s); err != nil {
		fail("%v", err)
	}
	err = syscall.Exec(s.Path, s.Args, s.Env)
	fail("exec %s: %v", s.Path, err)
}

// errPipe is fd 3, the agent's end of a pipe: it reads whatever arrives there as the reason
// the container could not start, and reads EOF (close-on-exec) when the exec succeeded.
var errPipe = os.NewFile(3, "podagent-errors")

func fail(format string, args ...any) {
	msg := fmt.Sprintf("podagent-sandbox: "+format, args...)
	fmt.Fprintln(os.Stderr, msg)
	if errPipe != nil {
		_, _ = errPipe.WriteString(msg)
	}
	os.Exit(exitCannotRun)
}

func setup(s *Spec) error {
	if err := mountAll(s.Mounts); err != nil {
		return err
	}
	if s.Hostname != "" {
		if err := syscall.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	dir := s.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	// Dropping bounding capabilities needs CAP_SETPCAP, so it must come before setuid.
	for _, c := range s.DropBounding {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prCapbsetDrop, uintptr(c), 0); e != 0 && e != syscall.EINVAL {
			return fmt.Errorf("dropping capability %d: %w", c, e)
		}
	}
	if err := syscall.Setgroups(intGroups(s.Groups)); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(int(s.GID)); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(int(s.UID)); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	if s.NoNewPrivs {
		if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0); e != 0 {
			return fmt.Errorf("no_new_privs: %w", e)
		}
	}
	// The kernel clears the parent-death signal when credentials change, and it is what kills
	// the workload if the test binary dies without running its cleanups.
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(syscall.SIGKILL), 0); e != 0 {
		return fmt.Errorf("pdeathsig: %w", e)
	}
	if s.ParentPID != 0 && os.Getppid() != s.ParentPID {
		return fmt.Errorf("the pod agent (pid %d) is gone", s.ParentPID)
	}
	return nil
}

func intGroups(gs []uint32) []int {
	out := make([]int, len(gs))
	for i, g := range gs {
		out[i] = int(g)
	}
	return out
}

// mountAll opens every source before mounting anything: a mount over /tmp (an emptyDir) must not
// hide a source that lives under the host's /tmp. Targets are mounted parents first, as container
// runtimes do, so /a/b lands inside a volume mounted at /a.
func mountAll(ms []Mount) error {
	fds := make([]int, len(ms))
	isDir := make([]bool, len(ms))
	for i, m := range ms {
		fd, err := syscall.Open(m.Source, oPath|syscall.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("mount source %s: %w", m.Source, err)
		}
		fds[i] = fd
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return fmt.Errorf("mount source %s: %w", m.Source, err)
		}
		isDir[i] = st.Mode&syscall.S_IFMT == syscall.S_IFDIR
	}
	order := make([]int, len(ms))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return depth(ms[order[a]].Target) < depth(ms[order[b]].Target)
	})
	for _, i := range order {
		m := ms[i]
		if err := ensureTarget(m.Target, isDir[i]); err != nil {
			return err
		}
		src := fmt.Sprintf("/proc/self/fd/%d", fds[i])
		if err := syscall.Mount(src, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mount %s on %s: %w", m.Source, m.Target, err)
		}
		if m.ReadOnly {
			flags := uintptr(syscall.MS_BIND | syscall.MS_REMOUNT | syscall.MS_RDONLY)
			if err := syscall.Mount("", m.Target, "", flags, ""); err != nil {
				return fmt.Errorf("read-only remount of %s: %w", m.Target, err)
			}
		}
	}
	for _, fd := range fds {
		syscall.Close(fd)
	}
	return nil
}

func depth(p string) int { return strings.Count(filepath.Clean(p), "/") }

// ensureTarget creates a missing mount point. Mount points live on the host's filesystem (a mount
// namespace shares it), so nothing is ever created under /etc: the files mounted there
// (hosts, resolv.conf, hostname) exist on every Linux host.
func ensureTarget(target string, dir bool) error {
	if _, err := os.Lstat(target); err == nil {
		return nil
	}
	clean := filepath.Clean(target)
	if clean == forbiddenHostDir || strings.HasPrefix(clean, forbiddenHostDir+"/") {
		return fmt.Errorf("mount point %s does not exist and the pod agent never creates files under %s", target, forbiddenHostDir)
	}
	if dir {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return fmt.Errorf("mount point: %w", err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	return f.Close()
}
