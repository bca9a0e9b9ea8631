package generate

import (
	"fmt"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/render"
)

// Claim is one spec of a render of several (files, documents, ResourceList items) and the objects
// it generated.
type Claim struct {
	Namespace, Name string
	// Where the spec came from, for messages: "a.yaml, document 2", "the function config".
	Where   string
	Objects []Ref
}

// Ref names an object.
type Ref struct{ APIVersion, Kind, Namespace, Name string }

// Identity is what makes two objects the same object to the API server: API group (not version),
// kind, namespace and name.
func (r Ref) Identity() string {
	group, _, found := strings.Cut(r.APIVersion, "/")
	if !found {
		group = "" // the core group: "v1"
	}
	return group + "/" + r.Kind + "/" + r.Namespace + "/" + r.Name
}

func (r Ref) String() string { return r.Kind + " " + qualified(r.Namespace, r.Name) }

// Refs names rendered objects.
func Refs(objs []render.Object) []Ref {
	out := make([]Ref, len(objs))
	for i, o := range objs {
		gvk := o.GetObjectKind().GroupVersionKind()
		out[i] = Ref{gvk.GroupVersion().String(), gvk.Kind, o.GetNamespace(), o.GetName()}
	}
	return out
}

func (c Claim) String() string {
	s := "RqliteSpec " + qualified(c.Namespace, c.Name)
	if c.Where != "" {
		s += " (" + c.Where + ")"
	}
	return s
}

// Collision is a problem of claims[Index]: its cluster clashes with an earlier claim's.
type Collision struct {
	Index   int
	Problem v1alpha1.Problem
}

// Collisions finds specs that cannot be rendered together: two specs for the same cluster, and any
// two specs whose objects share an identity (API group, kind, namespace, name), such as a cluster
// db with a read-only pool (db-readonly) beside a cluster db-readonly. Applied together, the later
// object would silently replace the earlier one. It compares the generated objects themselves
// rather than the names the renderer derives, so a new object or naming scheme is covered too.
// Each pair of clashing specs is reported once, on the later spec.
func Collisions(claims []Claim) []Collision {
	var out []Collision
	specs := map[string]int{}
	owner := map[string]int{}
	for i, c := range claims {
		key := c.Namespace + "/" + c.Name
		if j, dup := specs[key]; dup {
			out = append(out, Collision{i, v1alpha1.Problem{
				Path:    "metadata.name",
				Message: fmt.Sprintf("%s defines this cluster too: only one of them could win", claims[j]),
				Fix:     "give each cluster its own name, or remove one of the specs",
			}})
			continue
		}
		specs[key] = i
		clashes := map[int][]string{}
		var order []int
		for _, o := range c.Objects {
			id := o.Identity()
			j, taken := owner[id]
			if !taken {
				owner[id] = i
				continue
			}
			if j == i {
				continue // a renderer bug, not a clash between specs; the golden tests catch it
			}
			if _, seen := clashes[j]; !seen {
				order = append(order, j)
			}
			clashes[j] = append(clashes[j], o.String())
		}
		for _, j := range order {
			objs := clashes[j]
			what := strings.Join(objs[:min(len(objs), 3)], ", ")
			if len(objs) > 3 {
				what += fmt.Sprintf(" and %d more", len(objs)-3)
			}
			out = append(out, Collision{i, v1alpha1.Problem{
				Path:    "metadata.name",
				Message: fmt.Sprintf("this spec and %s both generate %s: applied together, one would overwrite the other", claims[j], what),
				Fix:     "rename one of the clusters",
			}})
		}
	}
	return out
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
