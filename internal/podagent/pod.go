package podagent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podWorker is the kubelet's pod worker for one Pod incarnation (one UID): sandbox (IP, DNS and
// hosts files, volumes), init containers, containers with their probes and restarts, status
// reporting, and graceful termination when the Pod is deleted.
type podWorker struct {
	a       *Agent
	uid     types.UID
	ns      string
	name    string
	dir     string // per-incarnation files: volumes, etc, sandbox specs
	logDir  string // kept until the agent stops, for Logs
	created time.Time

	dirty   chan struct{}
	termCh  chan struct{} // deletion requested (graceful)
	goneCh  chan struct{} // the API object is gone: nobody is left to report to
	abortCh chan struct{} // the agent stops: kill everything, report nothing
	termOne sync.Once
	goneOne sync.Once
	abrtOne sync.Once
	pushMu  sync.Mutex

	mu         sync.Mutex
	pod        *corev1.Pod // latest seen
	ip         string
	startTime  *metav1.Time
	sandbox    bool
	inits      []*container
	mains      []*container
	initsDone  bool
	phase      corev1.PodPhase // set only once terminal
	ended      bool            // sandbox torn down (IP released)
	volumes    map[string]string
	roVolumes  map[string]bool
	tokens     map[string]cachedToken
	pvPaths    map[string]string
	eventsSent map[string]bool
}

func newPodWorker(a *Agent, pod *corev1.Pod) *podWorker {
	w := &podWorker{
		a: a, uid: pod.UID, ns: pod.Namespace, name: pod.Name, created: time.Now(),
		dir:        filepath.Join(a.root, "pods", string(pod.UID)),
		logDir:     filepath.Join(a.root, "logs", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID)),
		dirty:      make(chan struct{}, 1),
		termCh:     make(chan struct{}),
		goneCh:     make(chan struct{}),
		abortCh:    make(chan struct{}),
		pod:        pod,
		volumes:    map[string]string{},
		roVolumes:  map[string]bool{},
		tokens:     map[string]cachedToken{},
		pvPaths:    map[string]string{},
		eventsSent: map[string]bool{},
	}
	for _, c := range pod.Spec.InitContainers {
		w.inits = append(w.inits, newContainer(w, c, true))
	}
	for _, c := range pod.Spec.Containers {
		w.mains = append(w.mains, newContainer(w, c, false))
	}
	return w
}

func (w *podWorker) key() string { return w.ns + "/" + w.name }

func (w *podWorker) logPath(container string) string {
	return filepath.Join(w.logDir, container+".log")
}

func (w *podWorker) allContainers() []*container {
	return append(append([]*container{}, w.inits...), w.mains...)
}

func (w *podWorker) container(name string) *container {
	for _, c := range w.allContainers() {
		if c.spec.Name == name {
			return c
		}
	}
	return nil
}

func (w *podWorker) latest() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

// update takes the newest object from the watch cache; a deletion timestamp starts the
// graceful termination.
func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.pod = pod
	w.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		w.termOne.Do(func() { close(w.termCh) })
	}
}

// objectGone: the Pod was removed from the API without us (a force deletion): the kubelet
// kills everything at once.
func (w *podWorker) objectGone() {
	w.goneOne.Do(func() { close(w.goneCh) })
	w.termOne.Do(func() { close(w.termCh) })
	w.killAllNow()
}

func (w *podWorker) abort() {
	w.abrtOne.Do(func() { close(w.abortCh) })
	w.termOne.Do(func() { close(w.termCh) })
	w.killAllNow()
}

func (w *podWorker) killAllNow() {
	w.mu.Lock()
	var procs []*process
	for _, c := range w.allContainers() {
		if c.proc != nil && !c.proc.exited() {
			procs = append(procs, c.proc)
		}
	}
	w.mu.Unlock()
	for _, p := range procs {
		p.signal(syscall.SIGKILL)
	}
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (w *podWorker) terminating() bool { return closed(w.termCh) }
func (w *podWorker) silent() bool      { return closed(w.goneCh) || closed(w.abortCh) }

// sleep waits d unless termination starts first; it reports whether the full time passed.
func (w *podWorker) sleep(d time.Duration) bool {
	select {
	case <-w.termCh:
		return false
	case <-time.After(d):
		return true
	}
}

func (w *podWorker) markDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

func (w *podWorker) event(typ, reason, format string, args ...any) {
	if w.silent() {
		return
	}
	w.a.kubelet.Eventf(w.latest(), typ, reason, format, args...)
}

// eventOnce suppresses repeats of the same message while the cause persists.
func (w *podWorker) eventOnce(typ, reason, msg string) {
	w.mu.Lock()
	seen := w.eventsSent[reason+msg]
	w.eventsSent[reason+msg] = true
	w.mu.Unlock()
	if !seen {
		w.event(typ, reason, "%s", msg)
	}
}

func (w *podWorker) logf(format string, args ...any) {
	w.a.logf("%s: %s", w.key(), fmt.Sprintf(format, args...))
}

func (w *podWorker) run() {
	statusDone := make(chan struct{})
	statusStopped := make(chan struct{})
	go func() {
		defer close(statusStopped)
		w.statusLoop(statusDone)
	}()
	defer func() {
		close(statusDone)
		<-statusStopped
		w.teardown()
	}()

	if err := w.setupSandbox(); err != nil {
		w.logf("sandbox: %v", err)
		w.eventOnce(corev1.EventTypeWarning, "FailedCreatePodSandBox", err.Error())
		<-w.termCh
		w.finish()
		return
	}
	w.markDirty()

	volCtx, stopVolumes := context.WithCancel(context.Background())
	defer stopVolumes()
	for !w.terminating() {
		err := w.syncVolumes(volCtx)
		if err == nil {
			break
		}
		w.logf("volumes: %v", err)
		w.eventOnce(corev1.EventTypeWarning, "FailedMount", err.Error())
		w.markDirty()
		w.sleep(time.Second)
	}
	go w.volumeLoop(volCtx)

	initOK := true
	for _, c := range w.inits {
		if !w.runInit(c) {
			initOK = false
			break
		}
	}
	var mainsDone sync.WaitGroup
	if initOK && !w.terminating() {
		w.mu.Lock()
		w.initsDone = true
		for _, c := range w.mains {
			c.state = waiting("ContainerCreating", "")
		}
		w.mu.Unlock()
		w.markDirty()
		for _, c := range w.mains {
			mainsDone.Add(1)
			go func() {
				defer mainsDone.Done()
				w.supervise(c)
			}()
		}
	} else if !initOK {
		w.setTerminal(corev1.PodFailed)
	}

	allDone := make(chan struct{})
	go func() { mainsDone.Wait(); close(allDone) }()
	select {
	case <-w.termCh:
	case <-allDone:
		if !w.terminating() && initOK {
			// restartPolicy Never/OnFailure: every container finished for good.
			w.setTerminal(w.completedPhase())
		}
	}
	if !w.terminating() {
		// A finished Job pod keeps its status (and its place in the API) until deleted; its
		// sandbox goes away at once, as the kubelet's does.
		stopVolumes()
		w.pushStatusNow()
		w.releaseIP()
		<-w.termCh
	}
	w.killAll()
	mainsDone.Wait()
	stopVolumes()
	w.finish()
}

// finish reports the final status and removes the Pod from the API, as the kubelet does once
// every container has stopped.
func (w *podWorker) finish() {
	w.mu.Lock()
	if w.phase == "" {
		w.phase = w.completedPhaseLocked()
	}
	for _, c := range w.allContainers() {
		c.ready = false
		if c.state.Waiting != nil && c.last.Terminated != nil {
			c.state, c.last = c.last, corev1.ContainerState{}
		}
	}
	w.mu.Unlock()
	if w.silent() {
		return
	}
	w.pushStatusNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	zero := int64(0)
	uid := w.uid
	err := w.a.client.CoreV1().Pods(w.ns).Delete(ctx, w.name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		w.logf("delete: %v", err)
		return
	}
	w.logf("deleted (phase %s)", w.phase)
}

// completedPhase is what the kubelet reports for a pod whose containers all stopped for good:
// Succeeded when every container exited 0, Failed otherwise.
func (w *podWorker) completedPhase() corev1.PodPhase {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.completedPhaseLocked()
}

func (w *podWorker) completedPhaseLocked() corev1.PodPhase {
	for _, c := range w.mains {
		t := c.state.Terminated
		if t == nil {
			t = c.last.Terminated
		}
		if t == nil || t.ExitCode != 0 {
			return corev1.PodFailed
		}
	}
	return corev1.PodSucceeded
}

func (w *podWorker) setTerminal(phase corev1.PodPhase) {
	w.mu.Lock()
	w.phase = phase
	w.mu.Unlock()
	w.logf("phase %s", phase)
	w.markDirty()
}

// killAll stops every container within the pod's grace period, all in parallel.
func (w *podWorker) killAll() {
	grace := w.gracePeriod()
	var wg sync.WaitGroup
	for _, c := range w.allContainers() {
		w.mu.Lock()
		p := c.proc
		w.mu.Unlock()
		if p == nil || p.exited() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.killContainer(c, p, grace, "Stopping container "+c.spec.Name)
		}()
	}
	wg.Wait()
}

// gracePeriod: the deletion's grace period (set by the API server from the pod's
// terminationGracePeriodSeconds unless the client chose one), zero when the object is gone.
func (w *podWorker) gracePeriod() time.Duration {
	if w.silent() {
		return 0
	}
	pod := w.latest()
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

func (w *podWorker) releaseIP() {
	w.mu.Lock()
	ip := w.ip
	already := w.ended
	w.ended = true
	w.mu.Unlock()
	if !already && ip != "" {
		w.a.ipam.release(ip)
	}
}

func (w *podWorker) teardown() {
	w.releaseIP()
	_ = os.RemoveAll(w.dir)
}

// setupSandbox gives the pod its IP and the files the kubelet manages (hosts, resolv.conf).
func (w *podWorker) setupSandbox() error {
	for _, d := range []string{w.dir, w.logDir, filepath.Join(w.dir, "volumes"), filepath.Join(w.dir, "etc"), filepath.Join(w.dir, "specs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	ip, err := w.a.ipam.allocate(w.key())
	if err != nil {
		return err
	}
	t := metav1.NewTime(w.created.Truncate(time.Second))
	w.mu.Lock()
	w.ip = ip
	w.startTime = &t
	w.sandbox = true
	w.mu.Unlock()
	w.logf("sandbox with IP %s", ip)
	return w.writeEtcFiles()
}

// --- status -----------------------------------------------------------------------------------

func (w *podWorker) statusLoop(done chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-w.dirty:
		}
		// Changes come in bursts (a container starts, its probe succeeds); one update is enough.
		select {
		case <-done:
			return
		case <-time.After(20 * time.Millisecond):
		}
		w.pushStatusNow()
	}
}

// pushStatusNow writes the computed status to the API, retrying on conflicts.
func (w *podWorker) pushStatusNow() {
	w.pushMu.Lock()
	defer w.pushMu.Unlock()
	if w.silent() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	cur, ok := w.a.pods[w.ns].get(w.ns, w.name)
	if !ok {
		cur = &corev1.Pod{}
	}
	for attempt := 0; attempt < 5; attempt++ {
		if err != nil || cur.UID != w.uid {
			cur, err = w.a.client.CoreV1().Pods(w.ns).Get(ctx, w.name, metav1.GetOptions{})
			if err != nil || cur.UID != w.uid {
				return
			}
		}
		st := w.buildStatus(cur)
		if sameJSON(cur.Status, st) {
			return
		}
		upd := cur.DeepCopy()
		upd.Status = st
		_, err = w.a.client.CoreV1().Pods(w.ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err == nil {
			return
		}
		if apierrors.IsNotFound(err) {
			return
		}
		if !apierrors.IsConflict(err) {
			w.logf("status update: %v", err)
			if ctx.Err() != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		err = fmt.Errorf("retry") // force a fresh GET
	}
}

func (w *podWorker) buildStatus(cur *corev1.Pod) corev1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := *cur.Status.DeepCopy()
	st.ObservedGeneration = cur.Generation
	nodeIP := w.a.ipam.nodeIP()
	st.HostIP = nodeIP
	st.HostIPs = []corev1.HostIP{{IP: nodeIP}}
	if w.ip != "" {
		st.PodIP = published(w.ip)
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	if st.StartTime == nil {
		st.StartTime = w.startTime
	}
	phase := w.phase
	if phase == "" {
		phase = w.phaseLocked()
	}
	st.Phase = phase
	st.InitContainerStatuses = nil
	for _, c := range w.inits {
		st.InitContainerStatuses = append(st.InitContainerStatuses, c.statusLocked())
	}
	st.ContainerStatuses = nil
	for _, c := range w.mains {
		st.ContainerStatuses = append(st.ContainerStatuses, c.statusLocked())
	}
	terminal := phase == corev1.PodSucceeded || phase == corev1.PodFailed
	setCondition(&st.Conditions, corev1.PodReadyToStartContainers, w.sandbox && !w.ended, "", "")
	if w.initsDone || len(w.inits) == 0 {
		setCondition(&st.Conditions, corev1.PodInitialized, true, "", "")
	} else {
		setCondition(&st.Conditions, corev1.PodInitialized, false, "ContainersNotInitialized",
			"containers with incomplete status: ["+strings.Join(w.unfinishedInits(), " ")+"]")
	}
	var unready []string
	for _, c := range w.mains {
		if !c.ready {
			unready = append(unready, c.spec.Name)
		}
	}
	switch {
	case terminal:
		setCondition(&st.Conditions, corev1.ContainersReady, false, "PodCompleted", "")
		setCondition(&st.Conditions, corev1.PodReady, false, "PodCompleted", "")
	case len(unready) > 0:
		msg := "containers with unready status: [" + strings.Join(unready, " ") + "]"
		setCondition(&st.Conditions, corev1.ContainersReady, false, "ContainersNotReady", msg)
		setCondition(&st.Conditions, corev1.PodReady, false, "ContainersNotReady", msg)
	default:
		setCondition(&st.Conditions, corev1.ContainersReady, true, "", "")
		if gates := unmetGates(cur, st.Conditions); len(gates) > 0 {
			setCondition(&st.Conditions, corev1.PodReady, false, "ReadinessGatesNotReady",
				"corresponding condition of pod readiness gate \""+strings.Join(gates, "\", \"")+"\" does not exist or is not True")
		} else {
			setCondition(&st.Conditions, corev1.PodReady, true, "", "")
		}
	}
	return st
}

func (w *podWorker) unfinishedInits() []string {
	var out []string
	for _, c := range w.inits {
		if t := c.state.Terminated; t == nil || t.ExitCode != 0 {
			out = append(out, c.spec.Name)
		}
	}
	return out
}

func unmetGates(pod *corev1.Pod, conds []corev1.PodCondition) []string {
	var out []string
	for _, g := range pod.Spec.ReadinessGates {
		ok := false
		for _, c := range conds {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			out = append(out, string(g.ConditionType))
		}
	}
	return out
}

// phaseLocked follows the kubelet's rules for a pod that is not terminal yet: Pending until the
// init containers are done and no container waits for its first start, Running while any
// container runs or is being restarted.
func (w *podWorker) phaseLocked() corev1.PodPhase {
	if !w.initsDone {
		return corev1.PodPending
	}
	var running, waitingFirst int
	for _, c := range w.mains {
		switch {
		case c.state.Running != nil:
			running++
		case c.state.Waiting != nil && c.last.Terminated == nil:
			waitingFirst++
		}
	}
	switch {
	case waitingFirst > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	default:
		return corev1.PodRunning // stopped and about to be restarted, or about to turn terminal
	}
}

func setCondition(conds *[]corev1.PodCondition, typ corev1.PodConditionType, ok bool, reason, msg string) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	for i := range *conds {
		c := &(*conds)[i]
		if c.Type != typ {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now()
		}
		c.Status, c.Reason, c.Message = status, reason, msg
		return
	}
	*conds = append(*conds, corev1.PodCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: now()})
}

// sameJSON compares as the API does: timestamps have second precision on the wire.
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
