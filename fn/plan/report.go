package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// JSON is the report as documented in docs/plan.md, indented, with a final newline.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// maxTextFields keeps a changed object on one screen line or two; --output json has them all.
const maxTextFields = 6

// WriteText writes the short human report: what changes, what it means, and the verdict.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	counts := map[string]int{}
	for _, o := range r.Objects {
		counts[o.Action]++
	}
	fmt.Fprintf(&b, "%d created, %d changed, %d deleted, %d unchanged\n", counts[Created], counts[Changed], counts[Deleted], counts[Unchanged])
	for _, o := range r.Objects {
		mark := map[string]string{Created: "+", Changed: "~", Deleted: "-"}[o.Action]
		if mark == "" {
			continue
		}
		fmt.Fprintf(&b, "  %s %s %s", mark, o.Kind, qualified(o.Namespace, o.Name))
		if o.PreviousName != "" {
			fmt.Fprintf(&b, " (was %s)", o.PreviousName)
		}
		if len(o.Fields) > 0 {
			fs := o.Fields
			more := ""
			if len(fs) > maxTextFields {
				more = fmt.Sprintf(" (+%d more)", len(fs)-maxTextFields)
				fs = fs[:maxTextFields]
			}
			fmt.Fprintf(&b, ": %s%s", strings.Join(fs, ", "), more)
		}
		b.WriteString("\n")
	}
	if len(r.Consequences) > 0 {
		b.WriteString("\nConsequences:\n")
		for _, c := range r.Consequences {
			fmt.Fprintf(&b, "  [%s] %s: %s\n", c.Severity, c.Kind, c.Message)
			if c.Kind == KindRollingRestart || c.Kind == KindPrune {
				continue // listed under Restarts, or as deleted objects above
			}
			for _, d := range c.Details {
				fmt.Fprintf(&b, "      - %s\n", d)
			}
		}
	}
	b.WriteString("\nRestarts:")
	if len(r.Restarts) == 0 {
		b.WriteString(" none\n")
	} else {
		b.WriteString("\n")
		for _, rs := range r.Restarts {
			pods := "autoscaled pods"
			if rs.Pods != nil {
				pods = fmt.Sprintf("%d pods", *rs.Pods)
			}
			fs := rs.Fields
			more := ""
			if len(fs) > maxTextFields {
				more = fmt.Sprintf(" (+%d more)", len(fs)-maxTextFields)
				fs = fs[:maxTextFields]
			}
			fmt.Fprintf(&b, "  %s %s (%s, %s, one at a time): %s%s\n", rs.Kind, qualified(rs.Namespace, rs.Name), rs.Component, pods, strings.Join(fs, ", "), more)
		}
	}
	if s := r.Shrink; s != nil {
		job := "no shrink Job"
		if s.Job != "" {
			job = "Job " + s.Job
		}
		fmt.Fprintf(&b, "\nShrink: voters %d → %d by %s, %d batch(es):\n", s.From, s.To, job, len(s.Batches))
		for _, bt := range s.Batches {
			why := fmt.Sprintf("%d of %d stay up, a quorum of the %d-voter configuration", bt.To, bt.From, bt.From)
			if bt.RequiresRemovedAlive {
				why = "the removed voter must stay up until its removal commits: it is removed through the leader before its pod stops"
			}
			fmt.Fprintf(&b, "  %d → %d: remove %s (%s)\n", bt.From, bt.To, strings.Join(bt.Remove, ", "), why)
		}
	}
	if r.Breaking() {
		b.WriteString("\nBREAKING: applying this over a running cluster fails or loses data unless the steps above are followed first.\n")
	} else if r.hasWarnings() {
		b.WriteString("\nNo breaking change; read the warnings above before applying.\n")
	} else {
		b.WriteString("\nNo breaking change.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) hasWarnings() bool {
	for _, c := range r.Consequences {
		if c.Severity == Warning {
			return true
		}
	}
	return false
}
