package helmimport

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Status says what became of one chart value.
type Status string

const (
	// Mapped: the spec field named in To carries the value.
	Mapped Status = "mapped"
	// Replaced: the function's own behaviour takes the value's place (probes, PDB, security
	// context …); Reason says how it differs.
	Replaced Status = "replaced"
	// Dropped: the value has no effect on the running cluster worth carrying over (the chart's
	// architecture affinity, values the chart itself ignores, flags the function manages).
	Dropped Status = "dropped"
	// Unsupported: the spec cannot express the value; Reason says why and Action what to do.
	Unsupported Status = "unsupported"
)

// Entry is the fate of one chart value (a path in the values, e.g. config.tls.node.secretName).
type Entry struct {
	Path   string `json:"path"`
	Status Status `json:"status"`
	// Default is true when the value is the chart's default rather than the user's.
	Default bool `json:"default,omitempty"`
	// To is the spec field that carries a mapped value.
	To     string `json:"to,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Action is what the user must do, before applying the render unless it says otherwise;
	// commands are ready to paste.
	Action string `json:"action,omitempty"`
}

// Report is everything the import decided, value by value.
type Report struct {
	Chart     string  `json:"chart"`
	Release   string  `json:"release"`
	Namespace string  `json:"namespace"`
	Name      string  `json:"name"`
	Entries   []Entry `json:"entries"`
	// Problems are the function's own warnings and errors about the imported spec.
	Problems []string `json:"problems,omitempty"`
}

// Unsupported lists the entries the spec cannot express.
func (r *Report) Unsupported() []Entry {
	return r.with(func(e Entry) bool { return e.Status == Unsupported })
}

// Actions lists the entries that need the user to act.
func (r *Report) Actions() []Entry { return r.with(func(e Entry) bool { return e.Action != "" }) }

// Entry returns the entry for a path.
func (r *Report) Entry(path string) (Entry, bool) {
	for _, e := range r.Entries {
		if e.Path == path {
			return e, true
		}
	}
	return Entry{}, false
}

func (r *Report) with(keep func(Entry) bool) []Entry {
	var out []Entry
	for _, e := range r.Entries {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func (r *Report) sort() {
	sort.SliceStable(r.Entries, func(i, j int) bool { return r.Entries[i].Path < r.Entries[j].Path })
}

// WriteJSON writes the report for machines.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteText writes the report for people: every value with its fate, then the actions in order.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "import-helm: Helm release %q (chart %s) in namespace %q -> RqliteSpec %q (naming: helm-chart)\n\n",
		r.Release, r.Chart, r.Namespace, r.Name)
	counts := map[Status]int{}
	for _, e := range r.Entries {
		counts[e.Status]++
		path := e.Path
		if e.Default {
			path += " (chart default)"
		}
		fmt.Fprintf(&b, "%-12s %s", e.Status, path)
		if e.To != "" {
			fmt.Fprintf(&b, " -> %s", e.To)
		}
		b.WriteString("\n")
		if e.Reason != "" {
			writeIndented(&b, "             ", e.Reason)
		}
	}
	actions := r.Actions()
	if len(actions) > 0 {
		fmt.Fprintf(&b, "\nBEFORE YOU APPLY THE RENDER (%d):\n", len(actions))
		for i, e := range actions {
			fmt.Fprintf(&b, "%d. %s\n", i+1, e.Path)
			writeIndented(&b, "   ", e.Action)
		}
	}
	if len(r.Problems) > 0 {
		b.WriteString("\nThe function about the imported spec:\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	fmt.Fprintf(&b, "\n%d mapped, %d replaced by the function's own, %d dropped, %d unsupported; %d action(s) required\n",
		counts[Mapped], counts[Replaced], counts[Dropped], counts[Unsupported], len(actions))
	_, err := io.WriteString(w, b.String())
	return err
}

func writeIndented(b *strings.Builder, indent, text string) {
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(indent)
		b.WriteString(line)
		b.WriteString("\n")
	}
}
