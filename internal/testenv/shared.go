package testenv

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// SharedControlPlane is one control plane for a whole test package, started by the first test
// that needs it (packages whose tests do not all need one start none) and stopped from TestMain.
type SharedControlPlane struct {
	Options ControlPlaneOptions
	// Name prefixes the start-up line on stderr, e.g. "e2e/apiserver".
	Name string

	once sync.Once
	cp   *ControlPlane
	stop func()
	err  error
}

// Get returns the control plane, starting it on first use; a failure to start fails the test.
func (s *SharedControlPlane) Get(t testing.TB) *ControlPlane {
	t.Helper()
	s.once.Do(func() {
		start := time.Now()
		s.cp, s.stop, s.err = StartControlPlaneMain(s.Options)
		if s.err == nil && s.Name != "" {
			fmt.Fprintf(os.Stderr, "%s: control plane up in %s\n", s.Name, time.Since(start).Round(100*time.Millisecond))
		}
	})
	if s.err != nil {
		t.Fatalf("start control plane (run `make tools` if a binary is missing): %v", s.err)
	}
	return s.cp
}

// Started reports whether a test started the control plane.
func (s *SharedControlPlane) Started() bool { return s.cp != nil }

// Stop stops the control plane if it was started. After failed tests it first writes the logs'
// tails to stderr: stopping deletes them, and a failure often needs the controllers' view.
func (s *SharedControlPlane) Stop(failed bool) {
	if s.cp == nil {
		return
	}
	if failed {
		s.cp.WriteLogTails(os.Stderr, 60)
	}
	s.stop()
}
