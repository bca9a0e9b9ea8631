package manifestimport

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/helmimport"
	"github.com/rqlite/rqlite-krm/fn/model"
	corev1 "k8s.io/api/core/v1"
)

// identityFlags are what the image's entrypoint sets from the pod (node id = hostname, advertised
// addresses = `hostname -f`) unless the args set them; an adopted node must keep all of them.
var identityFlags = []string{"-node-id", "-http-addr", "-http-adv-addr", "-raft-addr", "-raft-adv-addr"}

// entrypointEnv are the variables the entrypoint reads in place of those flags.
var entrypointEnv = map[string]bool{"NODE_ID": true, "HTTP_ADDR": true, "HTTP_ADV_ADDR": true, "RAFT_ADDR": true, "RAFT_ADV_ADDR": true, "DATA_DIR": true, "START_DELAY": true}

func (im *importer) container(p string, c *corev1.Container) {
	im.image(p, c)
	if len(c.Command) > 0 {
		im.fail(p+" command", fmt.Sprintf("%q bypasses the image's entrypoint, whose defaults (node id = hostname, addresses = `hostname -f`, data in /rqlite/file/data) the adoption keeps; the import cannot tell this node's identity", strings.Join(c.Command, " ")))
	}
	im.args(p+" args", c.Args)
	for _, e := range c.Env {
		ep := fmt.Sprintf("%s env[%s]", p, e.Name)
		if entrypointEnv[e.Name] {
			im.fail(ep, "changes what the image's entrypoint passes to rqlited (identity, addresses, data directory); the adoption keeps the entrypoint's defaults")
			continue
		}
		im.spec.Spec.Voters.ExtraEnv = append(im.spec.Spec.Voters.ExtraEnv, e)
		im.mapped(ep, "spec.voters.extraEnv", "")
	}
	if len(c.EnvFrom) > 0 {
		im.unsupported(p+" envFrom", "not carried over", "write the variables as spec.voters.extraEnv")
	}
	im.replaced(p+" ports", "http 4001 and raft 4002 (the Services target the ports by number, so they keep reaching the pods not replaced yet)")
	for _, pr := range []struct {
		name string
		set  bool
	}{{"readinessProbe", c.ReadinessProbe != nil}, {"livenessProbe", c.LivenessProbe != nil}, {"startupProbe", c.StartupProbe != nil}} {
		if pr.set {
			im.replaced(p+" "+pr.name, "the function's probes: startup and liveness /readyz?noleader, readiness /readyz?sync (a node is ready only once caught up with the leader)")
		}
	}
	if c.Resources.Limits != nil || c.Resources.Requests != nil {
		r := c.Resources
		im.spec.Spec.Voters.Resources = &r
		im.mapped(p+" resources", "spec.voters.resources", "")
	} else {
		im.replaced(p+" resources", "none set: the function's defaults (requests cpu 250m, memory 256Mi; limit memory 1Gi)")
	}
	if c.SecurityContext != nil {
		im.replaced(p+" securityContext", "the function's restricted container security context")
	}
	if c.Lifecycle != nil {
		im.replaced(p+" lifecycle", "the function's preStop pause of 5 s")
	}
	for _, m := range c.VolumeMounts {
		mp := fmt.Sprintf("%s volumeMounts[%s]", p, m.Name)
		switch {
		case m.Name == model.KubernetesConfigurationLayout.Claim && m.MountPath == model.KubernetesConfigurationLayout.DataMount && m.SubPath == "":
			im.kept(mp, "mounted at "+m.MountPath+"; the data stays in "+model.KubernetesConfigurationLayout.DataDir)
		case m.Name == model.KubernetesConfigurationLayout.Claim:
			im.fail(mp, fmt.Sprintf("mounted at %s (subPath %q): the entrypoint keeps the data in %s on a volume mounted at %s, and the render keeps both", m.MountPath, m.SubPath, model.KubernetesConfigurationLayout.DataDir, model.KubernetesConfigurationLayout.DataMount))
		default:
			im.unsupported(mp, "not carried over", "add it as spec.voters.extraVolumes and extraVolumeMounts")
		}
	}
	im.dropped(p+" (entrypoint start delay)", "the image's entrypoint sleeps 5 s on Kubernetes before rqlited so that DNS records exist before discovery; the rendered pods start rqlited directly: a node with Raft state does not use discovery, and a new node's DNS discovery retries until -bootstrap-expect-timeout (e2e/guideadopt rolls the pods without a delay)")
}

// image pins the image: the guide's `rqlite/rqlite` is whatever latest was when each node pulled.
func (im *importer) image(p string, c *corev1.Container) {
	ref := c.Image
	// A malformed reference is reported by the spec's own validation, which runs on the result.
	if strings.ContainsAny(lastSegment(ref), ":@") && !strings.HasSuffix(ref, ":latest") {
		im.spec.Spec.Image = ref
		im.mapped(p+" image", "spec.image", "")
	} else {
		im.spec.Spec.Image = v1alpha1.DefaultImage
		im.add(helmimport.Entry{Path: p + " image", Status: helmimport.Replaced, To: "spec.image",
			Reason: fmt.Sprintf("%q is not pinned: each pod runs whatever that tag was when its node pulled it; the spec pins %s", ref, v1alpha1.DefaultImage),
			Action: fmt.Sprintf("find the version the pods run: %s exec %s-0 -- rqlited -version (or GET /status, build.version). Set spec.image to that version or a later one: a rolling update onto an older rqlite is not supported", im.kubectl(), im.sts.Name)})
	}
	if c.ImagePullPolicy != "" {
		im.spec.Spec.ImagePullPolicy = c.ImagePullPolicy
		im.mapped(p+" imagePullPolicy", "spec.imagePullPolicy", "")
	}
}

func lastSegment(ref string) string {
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// args sorts the container's flags: discovery and bootstrap are the function's (and must agree
// with it), the join retry flags do nothing under DNS discovery, identities must be the
// entrypoint's, the rest become extraArgs (validated against rqlited's flag set with the spec).
func (im *importer) args(p string, args []string) {
	headless := im.sts.Name + model.GuideHeadlessSuffix
	for i := 0; i < len(args); i++ {
		a := args[i]
		ap := fmt.Sprintf("%s[%d] %s", p, i, a)
		name, value, hasValue := strings.Cut(a, "=")
		name = "-" + strings.TrimLeft(name, "-")
		if !strings.HasPrefix(a, "-") {
			im.fail(ap, "a positional argument: the entrypoint passes the data directory itself")
			continue
		}
		switch {
		case name == "-disco-mode":
			if value != "dns" {
				im.fail(ap, "the adoption keeps DNS discovery on the headless Service "+headless)
			} else {
				im.kept(ap, "DNS discovery")
			}
		case name == "-disco-config":
			var cfg struct{ Name string }
			if err := json.Unmarshal([]byte(value), &cfg); err != nil || cfg.Name != headless {
				im.fail(ap, fmt.Sprintf("discovery must look up the headless Service %s", headless))
			} else {
				im.kept(ap, "discovery on "+headless)
			}
		case name == "-bootstrap-expect":
			im.replaced(ap, "the function sets it from spec.voters.replicas through its ConfigMap (used only when a cluster forms)")
		case name == "-join-interval" || name == "-join-attempts":
			im.dropped(ap, "rqlited reads it only for -join and etcd/Consul discovery, not under DNS discovery")
		case contains(identityFlags, name):
			im.fail(ap, "sets a node identity or address that the adoption derives as the entrypoint does (node id = pod name, addresses = `hostname -f`)")
		default:
			im.spec.Spec.Voters.ExtraArgs = append(im.spec.Spec.Voters.ExtraArgs, a)
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				im.spec.Spec.Voters.ExtraArgs = append(im.spec.Spec.Voters.ExtraArgs, args[i])
			}
			im.mapped(ap, "spec.voters.extraArgs", "")
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
