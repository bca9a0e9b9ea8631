// Package probe reports what a process was given by whoever started it: its user and groups,
// privileges, network interfaces, root filesystem, environment and arguments, as the kernel and
// the process itself see them.
//
// The rqlite-krm-probe command prints a Report on stderr and then execs the real program with the
// same arguments, so that a tool which runs container images (kustomize, kpt, a kubelet) can be
// observed without being reimplemented: images.Probe puts it in front of an image's entrypoint.
// Tests read the Report from the tool's stderr (kustomize passes a function's stderr through;
// kpt prints it under "Stderr:").
package probe

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Prefix starts the one line the probe writes to stderr; the JSON Report follows it.
const Prefix = "rqlite-krm-probe: "

// Report is what the probed process found.
type Report struct {
	UID, GID, EUID, EGID int
	Groups               []int
	// NoNewPrivs, Seccomp and CapEff are the fields of /proc/self/status: no_new_privs set,
	// the seccomp mode (2 = filter), the effective capabilities as hex.
	NoNewPrivs bool
	Seccomp    int
	CapEff     string
	// RootReadOnly: the mount at / carries the ro option (/proc/self/mountinfo).
	RootReadOnly bool
	// Interfaces are the network interfaces the process can see ("lo" alone: no network).
	Interfaces []string
	Cwd        string
	Env        []string
	// Args are the arguments after the probe's own target: what the caller passed.
	Args []string
}

// Collect gathers the Report of the current process.
func Collect(args []string) (Report, error) {
	r := Report{UID: os.Getuid(), GID: os.Getgid(), EUID: os.Geteuid(), EGID: os.Getegid(), Env: os.Environ(), Args: args}
	var err error
	if r.Groups, err = os.Getgroups(); err != nil {
		return r, fmt.Errorf("groups: %w", err)
	}
	if r.Cwd, err = os.Getwd(); err != nil {
		return r, fmt.Errorf("cwd: %w", err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return r, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "NoNewPrivs":
			r.NoNewPrivs = v == "1"
		case "Seccomp":
			r.Seccomp, _ = strconv.Atoi(v)
		case "CapEff":
			r.CapEff = v
		}
	}
	if r.RootReadOnly, err = rootReadOnly(); err != nil {
		return r, err
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return r, fmt.Errorf("interfaces: %w", err)
	}
	for _, i := range ifs {
		r.Interfaces = append(r.Interfaces, i.Name)
	}
	return r, nil
}

// rootReadOnly reads the mount options of / from mountinfo: "36 35 98:0 / / ro,relatime …", the
// fifth field being the mount point and the sixth its options.
func rootReadOnly() (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	found, ro := false, false
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 6 || fields[4] != "/" {
			continue
		}
		// The last mount on / is the one the process sees.
		found = true
		ro = false
		for _, o := range strings.Split(fields[5], ",") {
			ro = ro || o == "ro"
		}
	}
	if err := s.Err(); err != nil {
		return false, err
	}
	if !found {
		return false, errors.New("no mount at / in /proc/self/mountinfo")
	}
	return ro, nil
}

// Line is the Report as the probe prints it.
func (r Report) Line() string {
	b, _ := json.Marshal(r)
	return Prefix + string(b) + "\n"
}

// Parse finds the probe's lines in a tool's output (kpt quotes a function's stderr line by line,
// so the line may be quoted) and returns their Reports in order.
func Parse(output string) ([]Report, error) {
	var out []Report
	for _, line := range strings.Split(output, "\n") {
		line = strings.TrimSpace(line)
		if uq, err := strconv.Unquote(line); err == nil {
			line = uq
		}
		_, rest, ok := strings.Cut(line, Prefix)
		if !ok {
			continue
		}
		var r Report
		if err := json.Unmarshal([]byte(rest), &r); err != nil {
			return out, fmt.Errorf("probe line %q: %w", line, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("no probe report in the output")
	}
	return out, nil
}
