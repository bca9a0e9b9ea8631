package v1alpha1_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// argsDoc is a spec whose pool (voters or readOnly) has the given extraArgs.
func argsDoc(pool string, args ...string) string {
	items := make([]string, len(args))
	for i, a := range args {
		items[i] = strconv.Quote(a) // JSON strings are YAML: control characters survive as escapes
	}
	return header + "spec:\n  " + pool + ":\n    extraArgs: [" + strings.Join(items, ", ") + "]\n"
}

// errorsOf returns the errors of a spec as "path: message | fix".
func errorsOf(doc string) []string {
	var out []string
	for _, p := range check(doc) {
		if !p.Warning {
			out = append(out, p.Path+": "+p.Message+" | "+p.Fix)
		}
	}
	return out
}

// TestExtraArgsRefused: every way of writing extraArgs that rqlited would refuse, or would read
// other than meant, or that would override a rendered flag, is an error at the item's path with
// what to write instead. Each case is written for both pools.
func TestExtraArgsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		index int    // the item the error is reported at
		msg   string // part of the message
		fix   string // the whole fix
	}{
		{"unknown flag with a suggestion", []string{"-raft-snapp=100"}, 0, "-raft-snapp is not an rqlited v8.43.4 flag", "did you mean -raft-snap?"},
		{"unknown flag, double dash", []string{"--fk=true", "--raft-snap-intt=5s"}, 1, "-raft-snap-intt is not", "did you mean -raft-snap-int?"},
		{"unknown flag without a near name", []string{"-h"}, 0, "-h is not an rqlited", "write a flag of rqlited v8.43.4 (rqlited -h lists them)"},
		{"flag and value in one item with a space", []string{"-raft-snap 100"}, 0, `-raft-snap 100 is not`, "a flag and its value are one item -raft-snap=VALUE, or two items -raft-snap and VALUE"},
		{"bare dash", []string{"-fk", "-"}, 1, `"-" ends rqlited's flags`, "remove it"},
		{"bare double dash", []string{"--"}, 0, `"--" ends rqlited's flags`, "remove it"},
		{"triple dash", []string{"---fk"}, 0, "is not flag syntax", "write -name or -name=value"},
		{"equals without a name", []string{"-=1"}, 0, "is not flag syntax", "write -name or -name=value"},
		{"positional argument", []string{"fk"}, 0, `"fk" is not a flag`, "write flags as -name=value (or -name followed by its value as the next item)"},
		{"positional after a switch", []string{"-fk", "true"}, 1, `"true" is not a flag`, "write flags as -name=value (or -name followed by its value as the next item)"},
		{"newline in a value", []string{"-http-allow-origin=a\nb"}, 0, "a control character (U+000A)", "write each flag and value on one line, without control characters"},
		{"carriage return", []string{"-raft-log-level=INFO\r"}, 0, "U+000D", "write each flag and value on one line, without control characters"},
		{"escape character", []string{"-raft-log-level=\x1b[31mINFO"}, 0, "U+001B", "write each flag and value on one line, without control characters"},
		{"C1 control character", []string{"-raft-log-level=\u0085INFO"}, 0, "U+0085", "write each flag and value on one line, without control characters"},
		{"control character in a separate value", []string{"-http-allow-origin", "a\tb"}, 1, "U+0009", "write each flag and value on one line, without control characters"},
		{"value missing at the end", []string{"-raft-snap"}, 0, "-raft-snap needs a value, and rqlited would take the data directory as it", "write -raft-snap=VALUE"},
		{"value missing before a flag", []string{"-raft-snap", "-fk"}, 0, `the next item "-fk" is a flag`, "write -raft-snap=VALUE"},
		{"switch with a non-boolean value", []string{"-fk=yes"}, 0, `-fk is a switch and "yes" is not a boolean`, "write -fk or -fk=false"},
		{"flag given twice", []string{"-raft-snap=1", "--raft-snap", "2"}, 1, "-raft-snap is already given in", "keep one"},
		{"managed flag", []string{"-node-id=foo"}, 0, "-node-id is set by rqlite-krm", "remove it"},
		{"managed flag, double dash, separate value", []string{"--auth", "/etc/users.json"}, 0, "-auth is set by rqlite-krm", "remove it; set spec.auth.usersSecret"},
		{"managed switch", []string{"-http-verify-client"}, 0, "-http-verify-client is set by rqlite-krm", "remove it; set spec.tls.client.verifyClient: true"},
		{"managed flag pointing at the spec", []string{"-bootstrap-expect=5"}, 0, "follows the voter count", "remove it; set spec.voters.replicas"},
		{"join flags do nothing under DNS discovery", []string{"-join-attempts=10"}, 0, "it has no effect here", "remove it"},
		{"version exits", []string{"-version"}, 0, "would never start", "remove it"},
		{"flag not valid in v10", []string{"-raft-timeout=2s"}, 0, "not valid in every supported rqlite release", "remove it"},
	} {
		for _, pool := range []string{"voters", "readOnly"} {
			t.Run(tc.name+"/"+pool, func(t *testing.T) {
				errs := errorsOf(argsDoc(pool, tc.args...))
				path := fmt.Sprintf("spec.%s.extraArgs[%d]: ", pool, tc.index)
				var found bool
				for _, e := range errs {
					if strings.HasPrefix(e, path) && strings.Contains(e, tc.msg) && strings.HasSuffix(e, " | "+tc.fix) {
						found = true
					}
				}
				assert.True(t, found, "no error at %s containing %q with fix %q; got %q", path, tc.msg, tc.fix, errs)
			})
		}
	}
}

// TestExtraArgsAccepted: what rqlited accepts and rqlite-krm does not manage passes, in every
// form Go's flag package reads, and a value item is never mistaken for a positional argument.
func TestExtraArgsAccepted(t *testing.T) {
	for _, args := range [][]string{
		{"-fk"},
		{"--fk"},
		{"-fk=true", "-write-queue-tx=0"},
		{"-raft-snap=4096"},
		{"--raft-snap=4096"},
		{"-raft-snap", "4096"},
		{"--raft-snap-int", "30s", "-raft-log-level=INFO"},
		{"-http-allow-origin=", "-extensions-path", "/extra/ext.zip"},
		{"-raft-reap-read-only-node-timeout=$(REAP)"}, // the kubelet expands $(VAR) from env
		{"-http-allow-origin=https://example.com/?a=b=c"},
	} {
		for _, pool := range []string{"voters", "readOnly"} {
			assert.Empty(t, errorsOf(argsDoc(pool, args...)), "%s: %q", pool, args)
		}
	}
}

// A refused flag followed by its value is one error: the value is not also a positional.
func TestExtraArgsRefusedFlagConsumesItsValue(t *testing.T) {
	errs := errorsOf(argsDoc("voters", "-auth", "/x/users.json", "-fk"))
	require.Len(t, errs, 1, "%q", errs)
	assert.True(t, strings.HasPrefix(errs[0], "spec.voters.extraArgs[0]: -auth is set by rqlite-krm"), errs[0])
}

// Every flag the table lists is either allowed or refused with a reason; suggestions only ever
// name allowed flags.
func TestAllowedFlagsExcludeRefused(t *testing.T) {
	allowed := v1alpha1.AllowedFlags()
	require.NotEmpty(t, allowed)
	for _, f := range allowed {
		assert.Empty(t, v1alpha1.ManagedFlags[f], f)
		assert.Empty(t, v1alpha1.UnsupportedFlags[f], f)
	}
	for f := range v1alpha1.ManagedFlags {
		_, ok := v1alpha1.RqlitedFlags[f]
		assert.True(t, ok, "managed flag -%s is not an rqlited flag", f)
	}
	for f := range v1alpha1.UnsupportedFlags {
		_, ok := v1alpha1.RqlitedFlags[f]
		assert.True(t, ok, "unsupported flag -%s is not an rqlited flag", f)
	}
	errs := errorsOf(argsDoc("voters", "-on-disk-pat=/x"))
	require.Len(t, errs, 1)
	assert.NotContains(t, errs[0], "did you mean -on-disk-path", "never suggest a flag that is refused")
}

// usageLine is a flag line of Go's flag.PrintDefaults: "  -name" for a switch, "  -name kind"
// otherwise.
var usageLine = regexp.MustCompile(`^  -([a-z0-9-]+)(?: ([a-z]+))?$`)

// TestFlagTableMatchesRqlited checks the generated table against the real rqlited the tests run:
// the same flags, each taking a value exactly when rqlited's usage says so, of the same kind.
func TestFlagTableMatchesRqlited(t *testing.T) {
	bin := testenv.Tool(t, "rqlited")
	out, _ := exec.Command(bin, "-h").CombinedOutput() // -h exits non-zero; the usage is what counts
	require.Contains(t, string(out), "Usage: rqlited", "rqlited -h printed no usage:\n%s", out)
	version, err := exec.Command(bin, "-version").CombinedOutput()
	require.NoError(t, err, "%s", version)
	require.Contains(t, string(version), " "+v1alpha1.RqlitedFlagsVersion+" ", "the table was generated for another rqlited; run go generate ./fn/api/v1alpha1")

	// flag.PrintDefaults names the kind of value (UnquoteUsage): nothing for a switch.
	kindNames := map[string]v1alpha1.FlagKind{"": v1alpha1.FlagBool, "string": v1alpha1.FlagString, "int": v1alpha1.FlagInt,
		"uint": v1alpha1.FlagUint64, "duration": v1alpha1.FlagDuration}
	got := map[string]v1alpha1.FlagKind{}
	for _, line := range strings.Split(string(out), "\n") {
		m := usageLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		kind, ok := kindNames[m[2]]
		require.True(t, ok, "rqlited -h: -%s takes a %q, a kind the table has no constant for", m[1], m[2])
		got[m[1]] = kind
	}
	require.NotEmpty(t, got, "no flag lines in rqlited -h:\n%s", out)
	assert.Equal(t, got, v1alpha1.RqlitedFlags, "fn/api/v1alpha1/rqlited_flags.go differs from rqlited -h: run go generate ./fn/api/v1alpha1")
}
