package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverProcess is one server binary run by the control plane.
type serverProcess struct {
	name    string
	logPath string
	logFrom int64 // where this run's output starts: retries append to the same log
	cmd     *exec.Cmd
	done    chan struct{} // closed once Wait returned
	waitErr error
	stopped sync.Once
}

func startServer(name, bin string, args []string, logPath string) (*serverProcess, error) {
	return startServerEnv(name, bin, args, logPath, nil)
}

// startServerEnv is startServer with extra environment variables (KEY=value), which win over
// the test binary's own.
func startServerEnv(name, bin string, args []string, logPath string, env []string) (*serverProcess, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	logFrom, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		logFile.Close()
		return nil, err
	}
	fmt.Fprintf(logFile, "+ %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// A process group of its own so that stop() reaches anything the binary
	// forks. Pdeathsig covers what t.Cleanup cannot: a test binary killed by
	// `go test -timeout` or ^C must not leave an apiserver running. It fires
	// when the forking OS thread ends, hence startProcess (rqlited.go), which
	// forks from one thread that lives as long as the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := startProcess(cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &serverProcess{name: name, logPath: logPath, logFrom: logFrom, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *serverProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks politely, then kills the whole group; the data behind these
// processes is thrown away, so waiting long for a clean shutdown buys nothing.
func (p *serverProcess) stop(grace time.Duration) {
	p.stopped.Do(func() {
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// waitFor polls check until it succeeds, the context ends, or the process
// dies; in the last case the error says so at once instead of after the
// whole timeout, with the end of the log attached.
func (p *serverProcess) waitFor(ctx context.Context, what string, check func(context.Context) error) error {
	var last error
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if p.exited() {
			return fmt.Errorf("%s exited (%v) before %s\n%s", p.name, p.waitErr, what, p.tail(30))
		}
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: timed out waiting for %s: %v\n%s", p.name, what, last, p.tail(30))
		case <-tick.C:
		case <-p.done:
		}
	}
}

// addressInUse reports whether the process died because a port we picked was
// taken in the meantime (freePorts cannot reserve them), which is worth a retry.
func (p *serverProcess) addressInUse() bool {
	if !p.exited() {
		return false
	}
	data, _ := os.ReadFile(p.logPath)
	if int64(len(data)) < p.logFrom {
		return false
	}
	return bytes.Contains(data[p.logFrom:], []byte("address already in use"))
}

func (p *serverProcess) tail(lines int) string {
	return tailFile(p.logPath, lines)
}

func tailFile(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s", len(all), path, strings.Join(all, "\n"))
}

// freePorts returns n distinct loopback ports that were free a moment ago.
// All listeners stay open until every port is chosen so the kernel does not
// hand out the same port twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
