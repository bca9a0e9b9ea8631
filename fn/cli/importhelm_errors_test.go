package cli

import (
	"bytes"
	"strings"
	"testing"
)

// An import whose result the function refuses writes nothing to stdout (a shell redirect must
// not leave a spec behind that a pipeline would apply) and says why on stderr; a value the import
// cannot carry over is in the report, never dropped in silence.
func TestImportHelmErrorsWriteNoSpec(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		args         []string
		code         int
		spec         bool
		stderr       []string
	}{
		{"cluster domain that is not a domain", "replicaCount: 3\n", []string{"--cluster-domain", "x$(id)"}, importFailed, false,
			[]string{`cluster domain "x$(id)" is not a DNS domain`}},
		{"voter count the spec refuses", "replicaCount: -1\n", nil, importFailed, false,
			[]string{"[error] spec.voters.replicas", "no spec written"}},
		{"negative read-only count", "replicaCount: 3\nreadonly:\n  replicaCount: -2\n", nil, importToReview, true,
			[]string{"unsupported  readonly.replicaCount", "-2 is negative", "write 0 for no read-only pool"}},
		{"negative read-only count in the JSON report", "replicaCount: 3\nreadonly:\n  replicaCount: -2\n", []string{"--report", "json"}, importToReview, true,
			[]string{`"path": "readonly.replicaCount"`, `"status": "unsupported"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"import-helm", "-", "--namespace", "db"}, tc.args...)
			code := Main(args, strings.NewReader(tc.values), &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, errb.String())
			}
			if got := out.Len() > 0; got != tc.spec {
				t.Errorf("spec written: %v, want %v\nstdout:\n%s", got, tc.spec, out.String())
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
		})
	}
}
