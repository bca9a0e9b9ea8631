package cli_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKRMCommandFromFunctionConfig: container runtimes cannot pass `verify` as an argument, so a
// ConfigMap function config with data.command selects it. Each case is a ResourceList as kustomize
// (a transformer's ConfigMap) or kpt (a Kptfile's configMap:, `kpt fn eval -- command=verify`)
// sends it.
func TestKRMCommandFromFunctionConfig(t *testing.T) {
	// Generated objects of a valid cluster: what a verify transformer or validator sees.
	code, generated, stderr := run(t, "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- "+strings.TrimPrefix(indent(spec), "  "))
	require.Equal(t, 0, code, stderr)
	items, _, _ := strings.Cut(generated[strings.Index(generated, "items:\n"):], "results:\n")
	broken := strings.Replace(items, "serviceName: rqlite-headless", "serviceName: nowhere", 1)
	require.NotEqual(t, items, broken)

	config := func(name, data string) string {
		return "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: " +
			name + "\n" + data
	}
	cases := []struct {
		name       string
		in         string
		code       int
		sameAsIn   bool     // verify hands a clean stream back byte for byte
		outHas     []string // in the ResourceList written to stdout
		stderrHas  []string
		itemsEmpty bool
	}{
		{
			name: "verify, clean stream (kustomize transformer)", code: 0, sameAsIn: true,
			in: config("rqlite-verify", "  data:\n    command: verify\n") + items,
		},
		{
			name: "verify, kpt eval -- command=verify", code: 0, sameAsIn: true,
			in: config("function-input", "  data:\n    command: verify\n") + items,
		},
		{
			name: "verify, broken reference", code: 1,
			in:        config("rqlite-verify", "  data:\n    command: verify\n") + broken,
			outHas:    []string{"severity: error", "spec.serviceName"},
			stderrHas: []string{"rqlite-fn verify: StatefulSet db/rqlite spec.serviceName"},
		},
		{
			name: "unknown command is refused, not generated", code: 1, itemsEmpty: true,
			in:        config("rqlite-verify", "  data:\n    command: verfy\n") + "items:\n- " + strings.TrimPrefix(indent(spec), "  "),
			outHas:    []string{`data.command "verfy" is not something the function does`, "path: data.command", "proposedValue: verify"},
			stderrHas: []string{`data.command "verfy" is not something the function does: the only command is verify`},
		},
		{
			name: "ConfigMap without a command is still not a function config", code: 1, itemsEmpty: true,
			in:     config("cfg", "  data:\n    other: x\n") + "items:\n- " + strings.TrimPrefix(indent(spec), "  "),
			outHas: []string{"is not an RqliteSpec"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := run(t, c.in)
			assert.Equal(t, c.code, code, stderr)
			if c.sameAsIn {
				assert.Equal(t, c.in, out, "a clean stream must come back unchanged")
			}
			for _, w := range c.outHas {
				assert.Contains(t, out, w)
			}
			for _, w := range c.stderrHas {
				assert.Contains(t, stderr, w)
			}
			if c.itemsEmpty {
				assert.Empty(t, parse(t, out).Items)
			}
		})
	}
}
