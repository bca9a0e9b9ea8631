package probe

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestParse finds reports as kustomize passes them through (a plain line among other stderr) and
// as kpt prints them (each stderr line quoted under "Stderr:").
func TestParse(t *testing.T) {
	r := Report{UID: 65534, GID: 65534, Interfaces: []string{"lo"}, Args: []string{"shrink", "--target=3"}, NoNewPrivs: true}
	line := strings.TrimSuffix(r.Line(), "\n")
	cases := map[string]string{
		"kustomize": "something else\n" + line + "\nError: …\n",
		"kpt":       "[PASS] \"fn\" in 1s\n  Stderr:\n    " + strconv.Quote(line) + "\n    \"\"\n",
	}
	for name, out := range cases {
		got, err := Parse(out)
		if err != nil || len(got) != 1 || got[0].UID != 65534 || !slices.Equal(got[0].Args, r.Args) || !got[0].NoNewPrivs {
			t.Errorf("%s: Parse = %+v, %v", name, got, err)
		}
	}
	if _, err := Parse("no report here\n"); err == nil {
		t.Error("Parse found a report in output without one")
	}
}

// TestCollect runs in the test process itself: the fields the container tests rely on are filled.
func TestCollect(t *testing.T) {
	r, err := Collect([]string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Cwd == "" || len(r.Interfaces) == 0 || r.CapEff == "" || !slices.Equal(r.Args, []string{"a"}) || len(r.Env) == 0 {
		t.Errorf("Collect = %+v", r)
	}
}
