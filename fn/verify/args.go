package verify

import "strings"

// rqlitedBoolFlags are rqlited's boolean flags (v8.43.4, `rqlited -h`). Go's flag package lets any
// other flag take its value from the next argument, so without this list "-raft-shutdown-stepdown
// /rqlite/file/data" would read as a flag with the data directory as its value.
var rqlitedBoolFlags = map[string]bool{
	"fk": true, "http-verify-client": true, "node-no-verify": true, "node-verify-client": true,
	"raft-cluster-remove-shutdown": true, "raft-non-voter": true, "raft-remove-shutdown": true,
	"raft-shutdown-stepdown": true, "version": true, "write-queue-tx": true,
}

// commandLine is a container's arguments as a Go program reads them with the flag package:
// flags up to the first argument that is not one (or "--"), the last occurrence of a flag
// winning, then the positional arguments. rqlited takes its data directory from the first
// positional argument; the shrink Job's flags parse the same way.
type commandLine struct {
	flags      map[string]string // by name without dashes; "true" for a bare boolean flag
	positional []string
}

func parseCommandLine(args []string, boolFlags map[string]bool) commandLine {
	cl := commandLine{flags: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			cl.positional = append(cl.positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			cl.positional = append(cl.positional, args[i:]...)
			break
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if n, v, ok := strings.Cut(name, "="); ok {
			cl.flags[n] = v
			continue
		}
		if boolFlags[name] || i+1 == len(args) {
			cl.flags[name] = "true"
			continue
		}
		i++
		cl.flags[name] = args[i]
	}
	return cl
}

// flag returns a flag's value by its name as written in the render ("-raft-adv-addr" or
// "--statefulset").
func (cl commandLine) flag(name string) (string, bool) {
	v, ok := cl.flags[strings.TrimLeft(name, "-")]
	return v, ok
}

// flagValue reads one flag of rqlited's (or the shrink Job's) arguments.
func flagValue(args []string, flag string) (string, bool) {
	return parseCommandLine(args, rqlitedBoolFlags).flag(flag)
}
