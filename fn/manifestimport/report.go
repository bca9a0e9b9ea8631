package manifestimport

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/helmimport"
)

// Statuses of the import besides import-helm's (mapped, replaced, dropped, unsupported).
const (
	// Kept: the setting is an identity of the running cluster that the render keeps as it is.
	Kept helmimport.Status = "kept"
	// Conflict: the render cannot keep the setting in place; no spec is written.
	Conflict helmimport.Status = "conflict"
)

// Report is everything the import decided, setting by setting, in import-helm's format.
type Report struct {
	Namespace string             `json:"namespace"`
	Name      string             `json:"name"`
	Entries   []helmimport.Entry `json:"entries"`
	Problems  []string           `json:"problems,omitempty"`
}

// Conflicts lists the settings that keep the render from applying in place.
func (r *Report) Conflicts() []helmimport.Entry {
	return r.with(func(e helmimport.Entry) bool { return e.Status == Conflict })
}

// Unsupported lists the settings the spec cannot express.
func (r *Report) Unsupported() []helmimport.Entry {
	return r.with(func(e helmimport.Entry) bool { return e.Status == helmimport.Unsupported })
}

// Actions lists the entries that need the user to act.
func (r *Report) Actions() []helmimport.Entry {
	return r.with(func(e helmimport.Entry) bool { return e.Action != "" })
}

func (r *Report) with(keep func(helmimport.Entry) bool) []helmimport.Entry {
	var out []helmimport.Entry
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

// WriteText writes the report for people: every setting with its fate, then the actions.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "import-manifests: StatefulSet %q in namespace %q -> RqliteSpec %q (naming: kubernetes-configuration)\n\n", r.Name, r.Namespace, r.Name)
	counts := map[helmimport.Status]int{}
	for _, e := range r.Entries {
		counts[e.Status]++
		fmt.Fprintf(&b, "%-12s %s", e.Status, e.Path)
		if e.To != "" {
			fmt.Fprintf(&b, " -> %s", e.To)
		}
		b.WriteString("\n")
		if e.Reason != "" {
			indent(&b, "             ", e.Reason)
		}
	}
	if actions := r.Actions(); len(actions) > 0 {
		fmt.Fprintf(&b, "\nBEFORE YOU APPLY THE RENDER (%d):\n", len(actions))
		for i, e := range actions {
			fmt.Fprintf(&b, "%d. %s\n", i+1, e.Path)
			indent(&b, "   ", e.Action)
		}
	}
	if len(r.Problems) > 0 {
		b.WriteString("\nThe function about the imported spec:\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	fmt.Fprintf(&b, "\n%d kept, %d mapped, %d replaced by the function's own, %d dropped, %d unsupported, %d conflict(s); %d action(s) required\n",
		counts[Kept], counts[helmimport.Mapped], counts[helmimport.Replaced], counts[helmimport.Dropped], counts[helmimport.Unsupported], counts[Conflict], len(r.Actions()))
	_, err := io.WriteString(w, b.String())
	return err
}

func indent(b *strings.Builder, prefix, text string) {
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
}
