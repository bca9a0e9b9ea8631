package manifestimport

import (
	"fmt"

	"github.com/rqlite/rqlite-krm/fn/model"
	corev1 "k8s.io/api/core/v1"
)

// services reads the guide's two Services: the headless one the StatefulSet governs and the
// client one. The render keeps both names; their selectors and ports are the function's, and
// stay compatible with the pods not replaced yet (app=<name>, ports by number).
func (im *importer) services() {
	name := im.sts.Name
	headless, client := name+model.GuideHeadlessSuffix, name+model.GuideClientSuffix
	for _, s := range im.objs.services {
		p := "Service/" + s.Name
		if s.Namespace != "" && s.Namespace != im.rep.Namespace {
			im.unsupported(p, "in namespace "+s.Namespace+", not the cluster's", "leave it alone; the render does not contain it")
			continue
		}
		switch s.Name {
		case headless:
			if s.Spec.ClusterIP != corev1.ClusterIPNone {
				im.fail(p+" spec.clusterIP", "the governing Service must be headless (clusterIP is immutable)")
				continue
			}
			im.kept(p, "headless (clusterIP: None), publishNotReadyAddresses: true, selector app="+name)
			im.replaced(p+" spec.ports", "port 4001 (http) and 4002 (raft), by number")
		case client:
			im.kept(p, "selector app="+name)
			if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
				im.spec.Spec.Service.Type = s.Spec.Type
				im.mapped(p+" spec.type", "spec.service.type", "")
			}
			if len(s.Annotations) > 0 {
				im.spec.Spec.Service.Annotations = s.Annotations
				im.mapped(p+" metadata.annotations", "spec.service.annotations", "")
			}
			if len(s.Spec.LoadBalancerSourceRanges) > 0 {
				im.spec.Spec.Service.LoadBalancerSourceRanges = s.Spec.LoadBalancerSourceRanges
				im.mapped(p+" spec.loadBalancerSourceRanges", "spec.service.loadBalancerSourceRanges", "")
			}
			for _, port := range s.Spec.Ports {
				if port.Port != model.HTTPPort {
					im.unsupported(fmt.Sprintf("%s spec.ports[%d]", p, port.Port), fmt.Sprintf("the function's client Service listens on %d only", model.HTTPPort), fmt.Sprintf("point clients at port %d before applying the render", model.HTTPPort))
				}
			}
			im.replaced(p+" spec.ports", "port 4001 (http), by number")
		default:
			im.unsupported(p, "not one of the guide's Services ("+headless+", "+client+"): the render does not contain it", "keep it in your own manifests; its selector still selects the voters (app="+name+")")
		}
	}
}
