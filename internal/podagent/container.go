package podagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// container is one container of a pod incarnation. Mutable fields are guarded by the pod
// worker's mutex.
type container struct {
	w    *podWorker
	spec corev1.Container
	init bool

	state    corev1.ContainerState
	last     corev1.ContainerState
	restarts int32
	started  bool
	ready    bool
	proc     *process
	starts   int
	execs    int // exec probes and hooks, numbered apart from the container's own runs
	id       string
	imageID  string
}

func newContainer(w *podWorker, spec corev1.Container, init bool) *container {
	return &container{w: w, spec: spec, init: init, state: waiting("PodInitializing", "")}
}

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

func (c *container) statusLocked() corev1.ContainerStatus {
	started := c.started
	st := corev1.ContainerStatus{
		Name:                 c.spec.Name,
		State:                *c.state.DeepCopy(),
		LastTerminationState: *c.last.DeepCopy(),
		Ready:                c.ready,
		RestartCount:         c.restarts,
		Image:                c.spec.Image,
		ImageID:              c.imageID,
		ContainerID:          c.id,
		Started:              &started,
	}
	return st
}

// process is one run of a container's command (or of a hook or probe command).
type process struct {
	cmd      *exec.Cmd
	pid      int
	start    time.Time
	done     chan struct{}
	exitCode int32
	waitErr  error
	sigMu    sync.Mutex
}

func (p *process) exited() bool { return closed(p.done) }

// signal reaches the whole process group, and never a recycled pid: the group is only signalled
// while its leader has not been reaped.
func (p *process) signal(sig syscall.Signal) {
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	if !p.exited() {
		signalGroup(p.pid, sig)
	}
}

// --- running ----------------------------------------------------------------------------------

// runInit runs one init container to completion, restarting it on failure unless the pod's
// restartPolicy is Never; false means the pod cannot proceed.
func (w *podWorker) runInit(c *container) bool {
	never := w.latest().Spec.RestartPolicy == corev1.RestartPolicyNever
	if c.spec.RestartPolicy != nil && *c.spec.RestartPolicy == corev1.ContainerRestartPolicyAlways {
		w.setWaiting(c, "CreateContainerError", "restartable init containers (sidecars) are not supported by podagent")
		<-w.termCh
		return false
	}
	b := w.newBackoff()
	for !w.terminating() {
		p, reason, err := w.startContainer(c, c.spec.Command, c.spec.Args)
		if err != nil {
			w.setWaiting(c, reason, err.Error())
			if never && reason == "StartError" {
				return false
			}
			if !w.sleep(b.next(0)) {
				return false
			}
			continue
		}
		<-p.done
		ok := p.exitCode == 0
		w.recordExit(c, p)
		if ok {
			w.mu.Lock()
			c.ready = true
			w.mu.Unlock()
			w.markDirty()
			return true
		}
		if never || w.terminating() {
			return false
		}
		delay := b.next(time.Since(p.start))
		w.backingOff(c, delay)
		if !w.sleep(delay) {
			return false
		}
		w.mu.Lock()
		c.restarts++
		w.mu.Unlock()
	}
	return false
}

// supervise runs a main container for the life of the pod: start, probe, and restart after an
// exit as the restart policy says.
func (w *podWorker) supervise(c *container) {
	policy := w.latest().Spec.RestartPolicy
	if c.spec.RestartPolicy != nil {
		policy = corev1.RestartPolicy(*c.spec.RestartPolicy)
	}
	b := w.newBackoff()
	for !w.terminating() {
		p, reason, err := w.startContainer(c, c.spec.Command, c.spec.Args)
		if err != nil {
			w.setWaiting(c, reason, err.Error())
			if policy == corev1.RestartPolicyNever && reason == "StartError" {
				return
			}
			if !w.sleep(b.next(0)) {
				return
			}
			continue
		}
		w.runHook(c, p, "PostStart", time.Time{})
		ctx, cancel := context.WithCancel(context.Background())
		go w.runProbes(ctx, c, p)
		<-p.done
		cancel()
		w.recordExit(c, p)
		if w.terminating() {
			return
		}
		restart := policy == corev1.RestartPolicyAlways || policy == "" ||
			policy == corev1.RestartPolicyOnFailure && p.exitCode != 0
		if !restart {
			return
		}
		delay := b.next(time.Since(p.start))
		if delay > 0 {
			w.backingOff(c, delay)
			w.event(corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.spec.Name, w.name)
			if !w.sleep(delay) {
				return
			}
		}
		w.mu.Lock()
		c.restarts++
		w.mu.Unlock()
	}
}

// backoff is the kubelet's crash-loop back-off with shorter defaults: the first restart is
// immediate, then the delay doubles; a container that ran for twice the maximum resets it.
type backoff struct {
	initial, max, cur time.Duration
	first             bool
}

func (w *podWorker) newBackoff() *backoff {
	return &backoff{initial: w.a.opts.RestartBackoff, max: w.a.opts.MaxRestartBackoff, first: true}
}

func (b *backoff) next(ran time.Duration) time.Duration {
	if ran > 2*b.max {
		b.first, b.cur = true, 0
	}
	if b.first {
		b.first = false
		return 0
	}
	if b.cur == 0 {
		b.cur = b.initial
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (w *podWorker) setWaiting(c *container, reason, msg string) {
	w.mu.Lock()
	changed := c.state.Waiting == nil || c.state.Waiting.Reason != reason || c.state.Waiting.Message != msg
	c.state = waiting(reason, msg)
	w.mu.Unlock()
	if changed {
		w.logf("container %s: %s: %s", c.spec.Name, reason, msg)
		w.event(corev1.EventTypeWarning, "Failed", "Error: %s", msg)
	}
	w.markDirty()
}

func (w *podWorker) backingOff(c *container, delay time.Duration) {
	w.mu.Lock()
	if c.state.Terminated != nil {
		c.last = c.state
	}
	c.state = waiting("CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
		delay, c.spec.Name, w.name, w.ns, w.uid))
	w.mu.Unlock()
	w.markDirty()
}

func (w *podWorker) recordExit(c *container, p *process) {
	term := &corev1.ContainerStateTerminated{
		ExitCode:    p.exitCode,
		StartedAt:   metav1.NewTime(p.start),
		FinishedAt:  now(),
		ContainerID: c.id,
		Reason:      "Completed",
	}
	if p.exitCode != 0 {
		term.Reason = "Error"
		if c.spec.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
			term.Message = logTail(w.logPath(c.spec.Name), 80, 2048)
		}
	}
	w.mu.Lock()
	c.state = corev1.ContainerState{Terminated: term}
	c.started, c.ready = false, false
	w.mu.Unlock()
	w.logf("container %s (pid %d) exited with %d", c.spec.Name, p.pid, p.exitCode)
	w.markDirty()
}

func logTail(path string, lines, limit int) string {
	s := tailFile(path, lines)
	if len(s) > limit {
		s = s[len(s)-limit:]
	}
	return s
}

// startContainer resolves the container's environment, command and mounts as the kubelet
// would, starts it and marks it running. The reason on error is the kubelet's waiting reason.
func (w *podWorker) startContainer(c *container, command, args []string) (*process, string, error) {
	spec, err := w.containerSpec(c, command, args)
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			return nil, "CreateContainerConfigError", err
		}
		return nil, "CreateContainerError", err
	}
	w.mu.Lock()
	c.starts++
	n := c.starts
	w.mu.Unlock()
	p, err := w.spawn(spec, c.spec.Name, fmt.Sprintf("%s-%d", c.spec.Name, n), fmt.Sprintf("start #%d of container %s", n, c.spec.Name), false)
	if err != nil {
		w.mu.Lock()
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: now(), FinishedAt: now(),
		}}
		w.mu.Unlock()
		return nil, "StartError", err
	}
	w.mu.Lock()
	if c.state.Terminated != nil {
		c.last = c.state
	}
	c.proc = p
	c.id = fmt.Sprintf("podagent://%s_%s_%s_%d", w.ns, w.name, c.spec.Name, n)
	c.imageID = "podagent://" + spec.Path
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(p.start)}}
	// Without a startup probe a running container counts as started at once.
	c.started = c.init || c.spec.StartupProbe == nil
	// killAll reads c.proc under the same lock after termination began, so a process started
	// concurrently is either seen by it or stopped here.
	late := w.terminating()
	w.mu.Unlock()
	if late {
		p.signal(syscall.SIGKILL)
	}
	w.logf("container %s started: pid %d, %s", c.spec.Name, p.pid, strings.Join(spec.Args, " "))
	w.event(corev1.EventTypeNormal, "Started", "Started container %s", c.spec.Name)
	w.markDirty()
	return p, "", nil
}

// configError is a problem with the pod's configuration (CreateContainerConfigError).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// sandboxSpec must match package sandbox's Spec.
type sandboxSpec struct {
	Path         string         `json:"path"`
	Args         []string       `json:"args"`
	Env          []string       `json:"env"`
	Dir          string         `json:"dir"`
	Hostname     string         `json:"hostname"`
	UID          uint32         `json:"uid"`
	GID          uint32         `json:"gid"`
	Groups       []uint32       `json:"groups"`
	NoNewPrivs   bool           `json:"noNewPrivs"`
	DropBounding []int          `json:"dropBounding"`
	Mounts       []sandboxMount `json:"mounts"`
	ParentPID    int            `json:"parentPID"`
}

type sandboxMount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly"`
}

// podForEnv is the pod as the kubelet knows it: its own view of the IPs, even before the status
// carrying them has reached the API (and the cache). The pod IP is the loopback address the pod
// really has, not the published stand-in of its status: a pod that advertises $(POD_IP) must
// be reachable there.
func (w *podWorker) podForEnv() *corev1.Pod {
	pod := w.latest().DeepCopy()
	w.mu.Lock()
	ip := w.ip
	w.mu.Unlock()
	nodeIP := w.a.ipam.nodeIP()
	pod.Status.PodIP, pod.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	pod.Status.HostIP, pod.Status.HostIPs = nodeIP, []corev1.HostIP{{IP: nodeIP}}
	return pod
}

// containerSpec is the sandbox spec for running command/args (after $(VAR) expansion) in the
// container's environment, identity and mounts.
func (w *podWorker) containerSpec(c *container, command, args []string) (*sandboxSpec, error) {
	pod := w.podForEnv()
	env, err := containerEnv(pod, &c.spec, w.a, kubernetesServiceEnv(w.a.apiHost))
	if err != nil {
		return nil, &configError{err}
	}
	expand := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = Expand(s, env.Lookup)
		}
		return out
	}
	run := c.spec.DeepCopy()
	run.Command, run.Args = expand(command), expand(args)
	exe, argv, err := w.a.executable(run)
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(argv); i++ {
		argv[i] = rewriteBindAll(argv[i], pod.Status.PodIP)
	}
	uid, gid, groups, err := identity(pod, &c.spec)
	if err != nil {
		return nil, &configError{err}
	}
	mounts, err := w.mounts(pod, &c.spec, env)
	if err != nil {
		return nil, err
	}
	hostname, _ := podHostname(pod, w.a.opts.ClusterDomain)
	base := newEnvList()
	base.Set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	base.Set("HOSTNAME", hostname)
	base.Set("HOME", "/")
	for _, kv := range env.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		base.Set(k, v)
	}
	sc := c.spec.SecurityContext
	s := &sandboxSpec{
		Path: exe, Args: argv, Env: base.Environ(), Dir: c.spec.WorkingDir, Hostname: hostname,
		UID: uid, GID: gid, Groups: groups, Mounts: mounts, ParentPID: os.Getpid(),
		NoNewPrivs: sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
	}
	if sc != nil && sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL") {
		s.DropBounding = droppedCaps(sc.Capabilities.Add)
	}
	return s, nil
}

// rewriteBindAll is the one deliberate difference from a real cluster: pods share the machine's
// network namespace here, so a bind address 0.0.0.0 ("0.0.0.0:PORT", alone or after "=") would
// make every pod claim the same port. It becomes the pod's own IP instead.
func rewriteBindAll(arg, ip string) string {
	if ip == "" {
		return arg
	}
	if rest, ok := strings.CutPrefix(arg, "0.0.0.0:"); ok {
		return ip + ":" + rest
	}
	if flag, val, ok := strings.Cut(arg, "="); ok && strings.HasPrefix(val, "0.0.0.0:") {
		return flag + "=" + ip + ":" + strings.TrimPrefix(val, "0.0.0.0:")
	}
	return arg
}

// identity: user and group from the container's securityContext, else the pod's; an image's
// USER is unknown here, so an unset user is root, and runAsNonRoot then refuses to start, as
// the kubelet does for an image that runs as root. fsGroup and supplementalGroups become
// supplementary groups.
func identity(pod *corev1.Pod, c *corev1.Container) (uid, gid uint32, groups []uint32, err error) {
	var runAsUser, runAsGroup *int64
	var nonRoot *bool
	if psc := pod.Spec.SecurityContext; psc != nil {
		runAsUser, runAsGroup, nonRoot = psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
		for _, g := range psc.SupplementalGroups {
			groups = append(groups, uint32(g))
		}
		if psc.FSGroup != nil {
			groups = append(groups, uint32(*psc.FSGroup))
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			runAsUser = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			runAsGroup = sc.RunAsGroup
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
	}
	if runAsUser != nil {
		uid = uint32(*runAsUser)
	}
	if runAsGroup != nil {
		gid = uint32(*runAsGroup)
	}
	if nonRoot != nil && *nonRoot && uid == 0 {
		if runAsUser == nil {
			return 0, 0, nil, errors.New("container has runAsNonRoot and image will run as root (podagent cannot see the image's USER: set runAsUser)")
		}
		return 0, 0, nil, errors.New("container's runAsUser breaks non-root policy")
	}
	slices.Sort(groups)
	return uid, gid, slices.Compact(groups), nil
}

// capNames are Linux capability numbers by name (capability.h).
var capNames = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN",
	"SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND",
	"AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"}

func droppedCaps(add []corev1.Capability) []int {
	var out []int
	for i, name := range capNames {
		keep := false
		for _, a := range add {
			if strings.TrimPrefix(strings.ToUpper(string(a)), "CAP_") == name {
				keep = true
			}
		}
		if !keep {
			out = append(out, i)
		}
	}
	return out
}

// spawn starts the sandbox helper, which execs spec.Path. Output goes to the container's log.
// A second pipe, closed by a successful exec, carries the helper's error if it fails, so a
// process that could not start is told apart from one that ran and exited.
// Exec probes and hooks (ephemeral) leave no spec file behind: they may run every second.
func (w *podWorker) spawn(spec *sandboxSpec, logName, specName, banner string, ephemeral bool) (*process, error) {
	specPath := filepath.Join(w.dir, "specs", specName+".json")
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(specPath, b, 0o600); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(w.logPath(logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "### podagent %s %s: %s\n", time.Now().Format(time.RFC3339Nano), banner, strings.Join(spec.Args, " "))
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer errR.Close()
	cmd := exec.Command(w.a.sandboxBin, specPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{errW}
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:      true,
		Pdeathsig:    syscall.SIGKILL,
		Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
	}
	err = startOnLockedThread(cmd)
	errW.Close()
	if err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, start: time.Now(), done: make(chan struct{})}
	msg, _ := io.ReadAll(errR)
	if ephemeral {
		_ = os.Remove(specPath) // read by now: the helper has exec'd or failed
	}
	go func() {
		err := cmd.Wait()
		p.sigMu.Lock()
		p.waitErr = err
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
			if ws.Signaled() {
				p.exitCode = 128 + int32(ws.Signal())
			} else {
				p.exitCode = int32(ws.ExitStatus())
			}
		}
		close(p.done)
		p.sigMu.Unlock()
	}()
	if len(msg) > 0 {
		<-p.done
		return nil, errors.New(strings.TrimSpace(string(msg)))
	}
	return p, nil
}

// Pdeathsig fires when the thread that forked the child exits, and Go retires threads at will;
// forking from one locked thread that lives as long as the test binary ties every container to
// the binary's life, even when it is killed without running cleanups.
var (
	starterOnce sync.Once
	starterCh   chan starterReq
)

type starterReq struct {
	cmd  *exec.Cmd
	done chan error
}

func startOnLockedThread(cmd *exec.Cmd) error {
	starterOnce.Do(func() {
		starterCh = make(chan starterReq)
		go func() {
			runtime.LockOSThread()
			for r := range starterCh {
				r.done <- r.cmd.Start()
			}
		}()
	})
	r := starterReq{cmd: cmd, done: make(chan error, 1)}
	starterCh <- r
	return <-r.done
}

// killContainer is the kubelet's killContainer: the preStop hook, then SIGTERM, then SIGKILL
// once the grace period (what the hook left of it, but at least 2 s) is over.
func (w *podWorker) killContainer(c *container, p *process, grace time.Duration, why string) {
	if p.exited() {
		return
	}
	w.logf("killing container %s (pid %d) with grace %s: %s", c.spec.Name, p.pid, grace, why)
	w.event(corev1.EventTypeNormal, "Killing", "%s", why)
	deadline := time.Now().Add(grace)
	if grace > 0 {
		w.runHook(c, p, "PreStop", deadline)
	}
	remaining := time.Until(deadline)
	if grace > 0 && remaining < 2*time.Second {
		remaining = 2 * time.Second
	}
	if remaining <= 0 {
		p.signal(syscall.SIGKILL)
		<-p.done
		return
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(remaining):
		w.logf("container %s did not stop within %s: SIGKILL", c.spec.Name, remaining)
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// runHook runs a lifecycle hook (sleep, exec or httpGet) until it ends, the deadline passes or
// the container exits. A zero deadline means no bound (postStart).
func (w *podWorker) runHook(c *container, p *process, which string, deadline time.Time) {
	lc := c.spec.Lifecycle
	if lc == nil {
		return
	}
	h := lc.PostStart
	if which == "PreStop" {
		h = lc.PreStop
	}
	if h == nil {
		return
	}
	ctx := context.Background()
	var cancel context.CancelFunc
	if !deadline.IsZero() {
		ctx, cancel = context.WithDeadline(ctx, deadline)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	go func() {
		select {
		case <-p.done:
		case <-w.goneCh:
		case <-w.abortCh:
		case <-ctx.Done():
		}
		cancel()
	}()
	var err error
	switch {
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
	case h.Exec != nil:
		err = w.execIn(ctx, c, h.Exec.Command, strings.ToLower(which))
	case h.HTTPGet != nil:
		var ok bool
		var msg string
		ok, msg = w.httpProbe(ctx, c, h.HTTPGet, 0)
		if !ok {
			err = errors.New(msg)
		}
	}
	if err != nil {
		w.logf("%s hook of %s failed: %v", which, c.spec.Name, err)
		w.event(corev1.EventTypeWarning, "Failed"+which+"Hook", "%s hook for container %s failed: %v", which, c.spec.Name, err)
		if which == "PostStart" {
			w.killContainer(c, p, w.probeGrace(nil), "FailedPostStartHook")
		}
	}
}

// execIn runs a command in the container's context (environment, identity, mounts), as exec
// probes and hooks do. Its output goes to <container>.exec.log: the kubelet keeps it out of the
// container's log too.
func (w *podWorker) execIn(ctx context.Context, c *container, command []string, what string) error {
	spec, err := w.containerSpec(c, command, nil)
	if err != nil {
		return err
	}
	w.mu.Lock()
	c.execs++
	n := c.execs
	w.mu.Unlock()
	p, err := w.spawn(spec, c.spec.Name+".exec", fmt.Sprintf("%s-%s-%d", c.spec.Name, what, n), what+" of container "+c.spec.Name, true)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	if p.exitCode != 0 {
		return fmt.Errorf("command %q exited with %d", strings.Join(command, " "), p.exitCode)
	}
	return nil
}

// mounts lists the bind mounts of one container: its volumeMounts and the kubelet-managed
// /etc/hosts and /etc/resolv.conf.
func (w *podWorker) mounts(pod *corev1.Pod, c *corev1.Container, env *envList) ([]sandboxMount, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []sandboxMount
	targets := map[string]bool{}
	for _, vm := range c.VolumeMounts {
		dir, ok := w.volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q is not ready", vm.Name)
		}
		src := dir
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = Expand(vm.SubPathExpr, env.Lookup)
		}
		if sub != "" {
			clean := filepath.Clean(sub)
			if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
				return nil, fmt.Errorf("subPath %q leaves volume %s", sub, vm.Name)
			}
			src = filepath.Join(dir, clean)
			if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(src, 0o750); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, sandboxMount{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly || w.roVolumes[vm.Name]})
		targets[filepath.Clean(vm.MountPath)] = true
	}
	etc := filepath.Join(w.dir, "etc")
	if !pod.Spec.HostNetwork && !targets["/etc/hosts"] {
		out = append(out, sandboxMount{Source: filepath.Join(etc, "hosts"), Target: "/etc/hosts"})
	}
	if _, err := os.Stat(filepath.Join(etc, "resolv.conf")); err == nil && !targets["/etc/resolv.conf"] {
		out = append(out, sandboxMount{Source: filepath.Join(etc, "resolv.conf"), Target: "/etc/resolv.conf", ReadOnly: true})
	}
	if _, err := os.Stat("/etc/hostname"); err == nil && !targets["/etc/hostname"] {
		out = append(out, sandboxMount{Source: filepath.Join(etc, "hostname"), Target: "/etc/hostname", ReadOnly: true})
	}
	return out, nil
}

// podHostname is the pod's hostname and, with a subdomain, its FQDN.
func podHostname(pod *corev1.Pod, domain string) (hostname, fqdn string) {
	hostname = pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	if pod.Spec.Subdomain != "" {
		fqdn = fmt.Sprintf("%s.%s.%s.svc.%s", hostname, pod.Spec.Subdomain, pod.Namespace, domain)
	}
	if pod.Spec.SetHostnameAsFQDN != nil && *pod.Spec.SetHostnameAsFQDN && fqdn != "" {
		hostname = fqdn
	}
	return hostname, fqdn
}

// writeEtcFiles writes what the kubelet writes for every pod: a managed /etc/hosts (localhost,
// the pod's own name, hostAliases) and the resolv.conf of the pod's dnsPolicy.
func (w *podWorker) writeEtcFiles() error {
	pod := w.latest()
	domain := w.a.opts.ClusterDomain
	hostname, fqdn := podHostname(pod, domain)
	var hosts strings.Builder
	hosts.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	short, _, _ := strings.Cut(hostname, ".")
	if fqdn != "" {
		fmt.Fprintf(&hosts, "%s\t%s\t%s\n", w.ip, fqdn, short)
	} else {
		fmt.Fprintf(&hosts, "%s\t%s\n", w.ip, short)
	}
	if len(pod.Spec.HostAliases) > 0 {
		hosts.WriteString("\n# Entries added by HostAliases.\n")
		for _, ha := range pod.Spec.HostAliases {
			fmt.Fprintf(&hosts, "%s\t%s\n", ha.IP, strings.Join(ha.Hostnames, "\t"))
		}
	}
	etc := filepath.Join(w.dir, "etc")
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte(hosts.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(etc, "hostname"), []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	resolv, err := w.resolvConf(pod)
	if err != nil {
		return err
	}
	if resolv == "" {
		return nil
	}
	return os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte(resolv), 0o644)
}

// resolvConf follows the kubelet: ClusterFirst points at cluster DNS with the namespace's search
// path and ndots:5; Default keeps the host's file ("" = no mount); None uses only dnsConfig.
func (w *podWorker) resolvConf(pod *corev1.Pod) (string, error) {
	domain := w.a.opts.ClusterDomain
	var servers, search, options []string
	switch pod.Spec.DNSPolicy {
	case corev1.DNSDefault:
		if pod.Spec.DNSConfig == nil {
			return "", nil
		}
		b, err := os.ReadFile("/etc/resolv.conf")
		if err != nil {
			return "", err
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "nameserver":
				servers = append(servers, f[1])
			case "search":
				search = append(search, f[1:]...)
			case "options":
				options = append(options, f[1:]...)
			}
		}
	case corev1.DNSNone:
	default: // ClusterFirst, ClusterFirstWithHostNet
		if pod.Spec.HostNetwork && pod.Spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			return "", nil
		}
		servers = []string{w.a.ipam.nodeIP()}
		search = []string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}
		options = []string{"ndots:5"}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = append(servers, dc.Nameservers...)
		search = append(search, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			options = slices.DeleteFunc(options, func(s string) bool { n, _, _ := strings.Cut(s, ":"); return n == o.Name })
			options = append(options, opt)
		}
	}
	var b strings.Builder
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String(), nil
}

// probeGrace is the grace period for a kill ordered by a probe: the probe's own
// terminationGracePeriodSeconds if set, else the pod's.
func (w *podWorker) probeGrace(pr *corev1.Probe) time.Duration {
	if pr != nil && pr.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pr.TerminationGracePeriodSeconds) * time.Second
	}
	pod := w.latest()
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// containerPort resolves a probe's port: a number, or the name of one of the container's ports.
func containerPort(c *corev1.Container, port string) (int, error) {
	if n, err := strconv.Atoi(port); err == nil {
		return n, nil
	}
	for _, p := range c.Ports {
		if p.Name == port {
			return int(p.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q not found in container %s", port, c.Name)
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
