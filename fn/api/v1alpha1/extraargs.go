package v1alpha1

//go:generate go run ../../../hack/rqlitedflags -o rqlited_flags.go

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FlagKind is the kind of value an rqlited flag takes, as Go's flag package parses it.
type FlagKind int

const (
	// FlagBool is a switch: "-name" alone means true, a value must be attached ("-name=false"),
	// and a following argument is never its value.
	FlagBool FlagKind = iota
	FlagString
	FlagInt
	FlagUint64
	FlagDuration
)

// TakesValue reports whether the flag consumes a value: attached ("-name=v") or as the next
// argument ("-name v").
func (k FlagKind) TakesValue() bool { return k != FlagBool }

// flagRule says why a flag may not appear in extraArgs and what to write instead.
type flagRule struct {
	why string
	use string // the spec field that controls it; empty when nothing replaces it
}

// managedFlags are the flags the rendered pods set themselves (fn/render emits each of them for
// some spec; a test renders a spec with every feature and checks that every flag it emits is
// here), plus flags that would undo what those set. Given again in extraArgs, which come later,
// they would win (Go's flag package keeps the last value) and silently override the spec.
var managedFlags = map[string]flagRule{
	"node-id":                      {"the node id is always the pod name, which peers.json and the shrink Job rely on", ""},
	"http-addr":                    {"the HTTP API always listens on 0.0.0.0:4001, where the probes and Services reach it", ""},
	"http-adv-addr":                {"the advertised HTTP address is the pod's DNS name", "set spec.clusterDomain if the cluster's DNS domain is not cluster.local"},
	"raft-addr":                    {"Raft always listens on 0.0.0.0:4002, the port the headless Service and NetworkPolicy name", ""},
	"raft-adv-addr":                {"the advertised Raft address is the pod's DNS name, which peers.json lists", ""},
	"disco-mode":                   {"nodes always discover each other through the voters' headless Service", ""},
	"disco-config":                 {"nodes always discover each other through the voters' headless Service", ""},
	"disco-key":                    {"nodes always discover each other through the voters' headless Service", ""},
	"join":                         {"nodes join through discovery of the voters' headless Service", ""},
	"join-interval":                {"it has no effect here: rqlited uses it only with -join and etcd/consul discovery, and these pods discover each other by DNS", ""},
	"join-attempts":                {"it has no effect here: rqlited uses it only with -join and etcd/consul discovery, and these pods discover each other by DNS", ""},
	"bootstrap-expect":             {"it follows the voter count through the ConfigMap, so scaling never restarts pods", "set spec.voters.replicas"},
	"raft-non-voter":               {"read-only nodes are the non-voters", "put non-voting nodes in spec.readOnly"},
	"raft-cluster-remove-shutdown": {"read-only nodes always remove themselves on shutdown; voters never do", "put nodes that should leave on shutdown in spec.readOnly"},
	"raft-shutdown-stepdown":       {"voters always hand leadership over before they stop, so a rolling update costs no election", ""},
	"node-cert":                    {"node-to-node TLS is configured by spec.tls.node", "set spec.tls.node"},
	"node-key":                     {"node-to-node TLS is configured by spec.tls.node", "set spec.tls.node"},
	"node-ca-cert":                 {"node-to-node TLS is configured by spec.tls.node", "set spec.tls.node"},
	"node-verify-server-name":      {"node-to-node TLS is configured by spec.tls.node", "set spec.tls.node"},
	"node-verify-client":           {"mutual node-to-node TLS is configured by spec.tls.node.verifyClient", "set spec.tls.node.verifyClient: true"},
	"http-cert":                    {"HTTPS is configured by spec.tls.client", "set spec.tls.client"},
	"http-key":                     {"HTTPS is configured by spec.tls.client", "set spec.tls.client"},
	"http-ca-cert":                 {"HTTPS is configured by spec.tls.client", "set spec.tls.client"},
	"http-verify-client":           {"mutual TLS for clients is configured by spec.tls.client.verifyClient", "set spec.tls.client.verifyClient: true"},
	"auth":                         {"the users file is mounted from spec.auth.usersSecret", "set spec.auth.usersSecret"},
	"join-as":                      {"nodes join as spec.auth.joinAs", "set spec.auth.joinAs"},
	"auto-backup":                  {"backups are configured by spec.backup", "set spec.backup"},
	"auto-restore":                 {"restores are configured by spec.backup.restore", "set spec.backup.restore.enabled: true"},
	"version":                      {"rqlited prints its version and exits, so the node would never start", ""},
}

// ManagedFlags maps each flag extraArgs may not set because rqlite-krm sets it (or it would undo
// what rqlite-krm sets) to the reason.
var ManagedFlags = func() map[string]string {
	m := make(map[string]string, len(managedFlags))
	for k, r := range managedFlags {
		m[k] = r.why
	}
	return m
}()

// UnsupportedFlags are valid in some rqlite release but not in all of v8, v9 and v10, so a render
// that uses them breaks on an image upgrade.
var UnsupportedFlags = map[string]string{
	"raft-timeout": "renamed in rqlite v10; tune -raft-election-timeout instead",
	"on-disk-path": "removed in rqlite v10",
}

// AllowedFlags are the rqlited flags extraArgs may set, sorted.
func AllowedFlags() []string {
	var out []string
	for name := range RqlitedFlags {
		if _, ok := managedFlags[name]; ok {
			continue
		}
		if _, ok := UnsupportedFlags[name]; ok {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// validateExtraArgs reads extraArgs the way rqlited's flag parser (Go's flag package) reads its
// command line, where they land between the rendered flags and the data directory: "-name",
// "--name", "-name=value", and "-name" followed by its value as the next item for flags that take
// one. Anything rqlited would refuse, or take other than the user meant, is an error: unknown
// flags, "-" and "--" (both end flag parsing), positional arguments (rqlited's only one is the
// data directory), control characters, flags given twice, and the flags rqlite-krm sets itself.
func validateExtraArgs(ps *Problems, path string, args []string) {
	seen := map[string]int{}
	for i := 0; i < len(args); i++ {
		ap := fmt.Sprintf("%s.extraArgs[%d]", path, i)
		a := args[i]
		if bad := controlChar(a); bad != "" {
			ps.add(ap, fmt.Sprintf("%q contains %s", a, bad), "write each flag and value on one line, without control characters")
			continue
		}
		if !strings.HasPrefix(a, "-") {
			ps.add(ap, fmt.Sprintf("%q is not a flag: rqlited's only positional argument is its data directory, which rqlite-krm sets", a),
				"write flags as -name=value (or -name followed by its value as the next item)")
			continue
		}
		if a == "-" || a == "--" {
			ps.add(ap, fmt.Sprintf("%q ends rqlited's flags, so everything after it would be taken as the data directory", a), "remove it")
			continue
		}
		rest := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, value, hasValue := strings.Cut(rest, "=")
		if name == "" || strings.HasPrefix(name, "-") {
			ps.add(ap, fmt.Sprintf("%q is not flag syntax rqlited accepts", a), "write -name or -name=value")
			continue
		}
		kind, known := RqlitedFlags[name]
		if !known {
			ps.add(ap, fmt.Sprintf("-%s is not an rqlited %s flag", name, RqlitedFlagsVersion), unknownFlagFix(name))
			continue
		}
		refused := true
		if r, ok := managedFlags[name]; ok {
			fix := "remove it"
			if r.use != "" {
				fix += "; " + r.use
			}
			ps.add(ap, fmt.Sprintf("-%s is set by rqlite-krm: %s", name, r.why), fix)
		} else if why, ok := UnsupportedFlags[name]; ok {
			ps.add(ap, fmt.Sprintf("-%s is not valid in every supported rqlite release: %s", name, why), "remove it")
		} else if first, dup := seen[name]; dup {
			ps.add(ap, fmt.Sprintf("-%s is already given in %s.extraArgs[%d]; rqlited would keep only the last", name, path, first), "keep one")
		} else {
			refused = false
			seen[name] = i
		}
		switch {
		case !kind.TakesValue() && hasValue && !refused:
			if _, err := strconv.ParseBool(value); err != nil {
				ps.add(ap, fmt.Sprintf("-%s is a switch and %q is not a boolean", name, value), fmt.Sprintf("write -%s or -%s=false", name, name))
			}
		case kind.TakesValue() && !hasValue:
			// Go's flag package takes the next argument as the value whatever it looks like; a
			// flag there is almost certainly a forgotten value, and with nothing left the
			// value would be the data directory.
			switch {
			case i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
				i++ // the value, checked like any item
				if bad := controlChar(args[i]); bad != "" {
					ps.add(fmt.Sprintf("%s.extraArgs[%d]", path, i), fmt.Sprintf("%q contains %s", args[i], bad), "write each flag and value on one line, without control characters")
				}
			case refused:
			case i+1 == len(args):
				ps.add(ap, fmt.Sprintf("-%s needs a value, and rqlited would take the data directory as it", name), fmt.Sprintf("write -%s=VALUE", name))
			default:
				ps.add(ap, fmt.Sprintf("-%s needs a value, but the next item %q is a flag", name, args[i+1]), fmt.Sprintf("write -%s=VALUE", name))
			}
		}
	}
}

// controlChar names the first control character (or invalid UTF-8) in s, or returns "". The
// kubelet passes args verbatim, and a newline in one is a way to forge a line in the pod's
// manifest as shown by kubectl or in rqlited's own "launch command" log line.
func controlChar(s string) string {
	if !utf8.ValidString(s) {
		return "invalid UTF-8"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Sprintf("a control character (U+%04X)", r)
		}
	}
	return ""
}

// unknownFlagFix suggests the closest flag extraArgs may set.
func unknownFlagFix(name string) string {
	if strings.ContainsAny(name, " \t") {
		head, _, _ := strings.Cut(strings.TrimSpace(name), " ")
		return fmt.Sprintf("a flag and its value are one item -%s=VALUE, or two items -%s and VALUE", head, head)
	}
	best, bestD := "", 3
	for _, f := range AllowedFlags() {
		// Short names are close to everything: only suggest what differs in under a third.
		if d := editDistance(f, strings.ToLower(name)); d < bestD && d*3 <= max(len(name), 3) {
			best, bestD = f, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean -%s?", best)
	}
	return fmt.Sprintf("write a flag of rqlited %s (rqlited -h lists them)", RqlitedFlagsVersion)
}
