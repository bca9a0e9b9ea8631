package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/render"
)

// KindAdoption is the consequence that lists what an in-place adoption keeps.
const KindAdoption = "adoption"

// serverFields are what the API server writes into an object (`kubectl get -o yaml`): they are
// not part of what anyone applies, so they are no difference.
var serverFields = []string{"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink"}

// CompareManifests plans applying a render over existing manifests that were not rendered by the
// function (rqlite's Kubernetes guide, hand-written, or dumped by kubectl): the StatefulSet the
// render takes over in place is matched by its identity, what the render changes in its pod
// template is the rolling update, and the immutable fields it keeps are listed.
func CompareManifests(existing, rendered []render.Object) (*Report, error) {
	oldSide, err := load(existing)
	if err != nil {
		return nil, err
	}
	newSide, err := load(rendered)
	if err != nil {
		return nil, err
	}
	for _, o := range oldSide.objects {
		normalize(o)
		if n := newSide.byKey[o.key]; n != nil && o.component() == "" {
			o.comp = n.component()
		}
	}
	for _, n := range newSide.objects {
		normalize(n)
	}
	return compareSides(oldSide, newSide, func(r *Report) { kept(r, oldSide, newSide) }), nil
}

// normalize drops what only the server writes, and the type of the claim templates, which the
// render spells out and hand-written manifests leave out (the API server stores neither).
func normalize(o *object) {
	delete(o.body, "status")
	if md := mapAt(o.body, "metadata"); md != nil {
		for _, f := range serverFields {
			delete(md, f)
		}
		if ann := mapAt(o.body, "metadata", "annotations"); ann != nil {
			delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	if vcts, ok := valueAt(o.body, "spec", "volumeClaimTemplates").([]any); ok {
		for _, v := range vcts {
			if m, ok := v.(map[string]any); ok {
				delete(m, "apiVersion")
				delete(m, "kind")
				delete(m, "status")
			}
		}
	}
}

// kept lists, per StatefulSet taken over, the immutable fields that stay as they are.
func kept(r *Report, o, n *side) {
	for _, ns := range n.objects {
		os := o.byKey[ns.key]
		if ns.kind != "StatefulSet" || os == nil {
			continue
		}
		var same []string
		for _, f := range []string{"selector", "serviceName", "podManagementPolicy", "volumeClaimTemplates"} {
			if len(Diff(map[string]any{"v": valueAt(os.body, "spec", f)}, map[string]any{"v": valueAt(ns.body, "spec", f)})) == 0 {
				same = append(same, "spec."+f)
			}
		}
		if len(same) < 4 {
			continue // the immutable-field consequence says what cannot be kept
		}
		sort.Strings(same)
		r.add(Info, KindAdoption, fmt.Sprintf("StatefulSet %s is updated in place: it keeps %s, so its pods keep their names (node ids), DNS names (Raft addresses) and PVCs", ns.ref(), strings.Join(same, ", ")))
	}
}
