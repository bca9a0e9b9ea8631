package verify_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kptdev/krm-functions-sdk/go/fn"
	"github.com/rqlite/rqlite-krm/fn/cli"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/render"
)

func renderedYAML(t *testing.T, doc string) []byte {
	t.Helper()
	res := generate.FromYAML([]byte(doc))
	if res.Problems.HasErrors() {
		t.Fatal(res.Problems)
	}
	b, err := render.EncodeAll(res.Objects)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runCLI(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(append([]string{"verify"}, args...), bytes.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestVerifyCommand(t *testing.T) {
	good := renderedYAML(t, spec)
	broken := bytes.ReplaceAll(good, []byte("serviceName: orders-headless"), []byte("serviceName: orders-hl"))
	dir := t.TempDir()
	goodFile := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(goodFile, good, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("file", func(t *testing.T) {
		code, out, errs := runCLI(t, nil, goodFile)
		if code != 0 || !strings.HasPrefix(out, "ok: 1 cluster(s), ") || errs != "" {
			t.Fatalf("code %d, stdout %q, stderr %q", code, out, errs)
		}
	})
	t.Run("stdin broken", func(t *testing.T) {
		code, out, _ := runCLI(t, broken)
		if code != 1 {
			t.Fatalf("code %d, want 1; stdout:\n%s", code, out)
		}
		if !strings.Contains(out, "StatefulSet shop/orders spec.serviceName -> Service shop/orders-hl: no such Service") ||
			!strings.HasSuffix(out, "broken reference(s) in 1 cluster(s)\n") {
			t.Errorf("stdout:\n%s", out)
		}
	})
	t.Run("dash is stdin", func(t *testing.T) {
		if code, out, _ := runCLI(t, good, "-"); code != 0 {
			t.Fatalf("code %d: %s", code, out)
		}
	})
	t.Run("no cluster", func(t *testing.T) {
		code, out, _ := runCLI(t, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"))
		if code != 1 || !strings.Contains(out, "no rqlite-krm objects found") {
			t.Fatalf("code %d, stdout %q", code, out)
		}
	})
	t.Run("empty input", func(t *testing.T) {
		if code, _, _ := runCLI(t, nil); code != 1 {
			t.Fatalf("empty input must fail like a render that produced nothing, got %d", code)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		if code, _, errs := runCLI(t, []byte("a: [b\n")); code != 2 || errs == "" {
			t.Fatalf("code %d, stderr %q", code, errs)
		}
		if code, _, errs := runCLI(t, nil, filepath.Join(dir, "missing.yaml")); code != 2 || errs == "" {
			t.Fatalf("code %d, stderr %q", code, errs)
		}
	})
	t.Run("help", func(t *testing.T) {
		if code, out, _ := runCLI(t, nil, "--help"); code != 0 || !strings.Contains(out, "usage: rqlite-fn verify") {
			t.Fatalf("code %d, stdout %q", code, out)
		}
	})
}

func resourceList(t *testing.T, stream []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n")
	for _, doc := range strings.Split(string(stream), "---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		for i, line := range strings.Split(strings.TrimRight(doc, "\n"), "\n") {
			if i == 0 {
				b.WriteString("- " + line + "\n")
			} else {
				b.WriteString("  " + line + "\n")
			}
		}
	}
	b.WriteString("functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: rqlite-verify\n")
	return b.Bytes()
}

// As a KRM function (kustomize transformer, kpt validator) verify must hand back exactly what it
// got when everything holds, and fail with results when not.
func TestVerifyResourceList(t *testing.T) {
	stream := renderedYAML(t, spec)
	objects := strings.Count(string(stream), "---\n")
	good := resourceList(t, stream)
	code, out, errs := runCLI(t, good)
	if code != 0 || out != string(good) || errs != "" {
		t.Fatalf("code %d, stderr %q; stdout equal to stdin: %v", code, errs, out == string(good))
	}

	broken := bytes.ReplaceAll(good, []byte(`"name":"orders-headless"`), []byte(`"name":"rqlite-headless"`))
	code, out, errs = runCLI(t, broken)
	if code != 1 {
		t.Fatalf("code %d, want 1", code)
	}
	want := `StatefulSet shop/orders spec.template.spec.containers[rqlite].args -disco-config -> Service shop/rqlite-headless: no such Service`
	if !strings.Contains(errs, "rqlite-fn verify: "+want) {
		t.Errorf("stderr:\n%s", errs)
	}
	rl, err := fn.ParseResourceList([]byte(out))
	if err != nil {
		t.Fatalf("stdout is not a ResourceList: %v\n%s", err, out)
	}
	if len(rl.Items) != objects || len(rl.Results) != 2 || rl.Results[0].Severity != fn.Error ||
		rl.Results[0].ResourceRef == nil || rl.Results[0].ResourceRef.Name != "orders" {
		t.Errorf("items %d, results %+v", len(rl.Items), rl.Results)
	}
}
