package render_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
)

// everyFlagSpec turns on every feature that adds rqlited flags: both pools, node and client TLS
// with mutual TLS, authentication, backups with restore.
const everyFlagSpec = `apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: flags
  namespace: db
spec:
  readOnly:
    replicas: 2
  tls:
    node:
      secretName: flags-node-tls
      verifyClient: true
    client:
      secretName: flags-client-tls
      verifyClient: true
  auth:
    usersSecret: {name: flags-users}
    joinAs: cluster
    shrinkUser:
      username: operator
      passwordSecret: {name: flags-operator}
  backup:
    s3:
      bucket: b
      path: p
      region: r
    restore:
      enabled: true
`

// renderedFlags are the names of the flags rqlited gets in the render of a spec, by pool.
func renderedFlags(t *testing.T, doc string) map[string][]string {
	t.Helper()
	res := generate.FromYAML([]byte(doc))
	require.False(t, res.Problems.HasErrors(), "%v", res.Problems)
	out := map[string][]string{}
	for _, o := range res.Objects {
		sts, ok := o.(*appsv1.StatefulSet)
		if !ok {
			continue
		}
		for _, c := range sts.Spec.Template.Spec.Containers {
			if c.Name != model.ContainerName {
				continue
			}
			require.NotEmpty(t, c.Args)
			// The last argument is the data directory, everything before it a flag.
			for _, a := range c.Args[:len(c.Args)-1] {
				require.True(t, strings.HasPrefix(a, "-"), "%s: %q is not a flag", sts.Name, a)
				name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
				out[sts.Name] = append(out[sts.Name], name)
			}
		}
	}
	require.Len(t, out, 2, "a voter and a read-only StatefulSet")
	return out
}

// TestRenderedFlagsAreRefusedInExtraArgs derives the managed flags from what the render really
// emits, so the two cannot drift: every flag rqlite-krm renders is one rqlited v8.43.4 has, and
// giving it again in extraArgs of either pool, where it would win over the rendered one, is an
// error that says what to do instead.
func TestRenderedFlagsAreRefusedInExtraArgs(t *testing.T) {
	emitted := map[string]bool{}
	for _, names := range renderedFlags(t, everyFlagSpec) {
		for _, n := range names {
			emitted[n] = true
		}
	}
	var names []string
	for n := range emitted {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, want := range []string{"node-id", "raft-non-voter", "bootstrap-expect", "node-verify-client", "http-verify-client", "auth", "join-as", "auto-backup", "auto-restore"} {
		require.True(t, emitted[want], "the spec should make the render emit -%s; it emitted %v", want, names)
	}
	header := "apiVersion: rqlite.io/v1alpha1\nkind: RqliteSpec\nmetadata:\n  name: rqlite\n  namespace: db\n"
	for _, n := range names {
		_, real := v1alpha1.RqlitedFlags[n]
		assert.True(t, real, "the render emits -%s, which rqlited %s does not have", n, v1alpha1.RqlitedFlagsVersion)
		for _, pool := range []string{"voters", "readOnly"} {
			for _, form := range []string{"-%s=x", "--%s"} {
				arg := fmt.Sprintf(form, n)
				res := generate.FromYAML([]byte(header + "spec:\n  " + pool + ":\n    extraArgs: [\"" + arg + "\", \"x\"]\n"))
				path := "spec." + pool + ".extraArgs[0]"
				var refused bool
				for _, p := range res.Problems {
					if p.Path == path && !p.Warning && strings.Contains(p.Message, "set by rqlite-krm") && strings.HasPrefix(p.Fix, "remove it") {
						refused = true
					}
				}
				assert.True(t, refused, "%s: %s is rendered by rqlite-krm but not refused: %v", pool, arg, res.Problems)
				assert.Nil(t, res.Objects, "%s: %s rendered objects", pool, arg)
			}
		}
	}
}

// TestJoinFlagsNotRendered: rqlited v8.43.4 reads -join-interval and -join-attempts only for
// -join and etcd/consul discovery (cmd/rqlited/main.go, createCluster); with -disco-mode=dns its
// bootstrapper uses fixed values. Rendering them suggested a tuning that does nothing.
func TestJoinFlagsNotRendered(t *testing.T) {
	for sts, names := range renderedFlags(t, everyFlagSpec) {
		assert.Contains(t, names, "disco-mode", sts)
		assert.NotContains(t, names, "join-interval", sts)
		assert.NotContains(t, names, "join-attempts", sts)
		assert.NotContains(t, names, "join", sts)
	}
}
