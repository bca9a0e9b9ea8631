// Command cmpclient asks a Config Management Plugin sidecar for an application's manifests the way
// argocd-repo-server does, with argo-cd's own client code, and prints what the repo-server would
// end up with as one JSON document on stdout. The e2e tests (e2e/argocd) run it against the real
// argocd-cmp-server in the rqlite-krm sidecar image; it is not part of the product.
//
// What it calls, in the repo-server's order (reposerver/repository/repository.go, v3.5.8):
//
//  1. The source type. An Application that names a plugin (spec.source.plugin) is a plugin
//     application; otherwise the repo-server runs discovery.AppType, which asks every socket in
//     the plugin directory (DetectConfigManagementPlugin with no name) and falls back to
//     Kustomize/Helm/Directory. -plugin "" reproduces the second path.
//  2. For a plugin application, runConfigManagementPluginSidecars: DetectConfigManagementPlugin
//     with the plugin's name (CheckPluginConfiguration, then MatchRepository streamed with
//     cmp.SendRepoStream), CheckPluginConfiguration again, GenerateManifest streamed with
//     cmp.SendRepoStream, and kube.SplitYAML over every manifest the sidecar returned.
//
// Besides, it sends one MatchRepository of its own to the named socket (-match) so that a test
// can see the sidecar's raw answer, which DetectConfigManagementPlugin folds into "found or not".
//
// The environment is the repo-server's: newEnv's ARGOCD_APP_* variables, then KUBE_VERSION and
// KUBE_API_VERSIONS, then the Application's plugin env as ARGOCD_ENV_<name> (getPluginEnvs).
// The plugin socket directory is $ARGOCD_PLUGINSOCKFILEPATH, as in the repo-server.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/argoproj/argo-cd/gitops-engine/pkg/utils/kube"
	grpc_retry "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/retry"
	"google.golang.org/protobuf/types/known/emptypb"
	k8sversion "k8s.io/apimachinery/pkg/util/version"

	pluginclient "github.com/argoproj/argo-cd/v3/cmpserver/apiclient"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/app/discovery"
	"github.com/argoproj/argo-cd/v3/util/cmp"
	utilio "github.com/argoproj/argo-cd/v3/util/io"
)

// Result is the JSON document on stdout. The e2e test decodes it into a struct of the same shape.
type Result struct {
	// SourceType is what the repo-server decided the application is: "Plugin" when it names a
	// plugin or discovery found one, else discovery's fallback ("Kustomize", "Directory", …).
	SourceType string `json:"sourceType"`
	// Match is the sidecar's own answer to MatchRepository on -match, when asked.
	Match *Match `json:"match,omitempty"`
	// Generated is true when GenerateManifest returned without error: then Objects is exactly
	// what the repo-server would diff and sync (an empty list would prune everything).
	Generated bool             `json:"generated"`
	Manifests []string         `json:"manifests"`
	Objects   []map[string]any `json:"objects"`
	// Error is the repo-server's error text for the request, as Argo CD shows it.
	Error string `json:"error,omitempty"`
}

// Match is a MatchRepository response.
type Match struct {
	IsSupported        bool `json:"isSupported"`
	IsDiscoveryEnabled bool `json:"isDiscoveryEnabled"`
}

// multiFlag collects repeated NAME=VALUE flags.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type request struct {
	repoRoot, appPath, pluginName, matchSocket string
	appName, namespace, project                string
	revision, repoURL, targetRevision          string
	kubeVersion                                string
	apiVersions                                []string
	pluginEnv                                  []string
	timeout                                    time.Duration
}

func main() {
	var (
		req         request
		apiVersions string
		pluginEnv   multiFlag
	)
	flag.StringVar(&req.repoRoot, "repo", "", "the repository checkout (the repo-server streams all of it)")
	flag.StringVar(&req.appPath, "path", ".", "the Application's spec.source.path, relative to -repo")
	flag.StringVar(&req.pluginName, "plugin", "", `spec.source.plugin.name; "" runs the repo-server's discovery over every socket`)
	flag.StringVar(&req.matchSocket, "match", "", "also send MatchRepository to this socket file name (e.g. rqlite-krm.sock) and report the raw answer")
	flag.StringVar(&req.appName, "app", "rqlite", "ARGOCD_APP_NAME")
	flag.StringVar(&req.namespace, "namespace", "argocd", "ARGOCD_APP_NAMESPACE (the Application's namespace)")
	flag.StringVar(&req.project, "project", "default", "ARGOCD_APP_PROJECT_NAME")
	flag.StringVar(&req.revision, "revision", "0123456789abcdef0123456789abcdef01234567", "ARGOCD_APP_REVISION (a commit SHA)")
	flag.StringVar(&req.repoURL, "repo-url", "https://github.com/rqlite/rqlite-krm.git", "ARGOCD_APP_SOURCE_REPO_URL")
	flag.StringVar(&req.targetRevision, "target-revision", "HEAD", "ARGOCD_APP_SOURCE_TARGET_REVISION")
	flag.StringVar(&req.kubeVersion, "kube-version", "v1.37.1", "the destination cluster's version (KUBE_VERSION)")
	flag.StringVar(&apiVersions, "api-versions", "v1,apps/v1,batch/v1,policy/v1,autoscaling/v2,networking.k8s.io/v1,rbac.authorization.k8s.io/v1", "KUBE_API_VERSIONS, comma-separated")
	flag.Var(&pluginEnv, "plugin-env", "NAME=VALUE of spec.source.plugin.env (repeatable); the plugin sees ARGOCD_ENV_NAME")
	flag.DurationVar(&req.timeout, "timeout", 2*time.Minute, "deadline for the whole request")
	flag.Parse()
	if req.repoRoot == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: cmpclient -repo DIR [-path P] [-plugin NAME] [-match SOCKET] [flags]")
		os.Exit(2)
	}
	if apiVersions != "" {
		req.apiVersions = strings.Split(apiVersions, ",")
	}
	req.pluginEnv = pluginEnv

	res, err := run(req)
	if err != nil {
		// A request that fails is a result the test asserts on, not a failure of this program.
		res.Error = err.Error()
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "cmpclient:", err)
		os.Exit(1)
	}
}

func run(req request) (Result, error) {
	res := Result{}
	ctx, cancel := context.WithTimeout(context.Background(), req.timeout)
	defer cancel()

	repoRoot, err := filepath.Abs(req.repoRoot)
	if err != nil {
		return res, err
	}
	appPath := filepath.Join(repoRoot, req.appPath)

	// newEnv: what every command of the application sees.
	env := appEnv(req)
	plugin := &v1alpha1.ApplicationSourcePlugin{Name: req.pluginName}
	for _, kv := range req.pluginEnv {
		e, err := v1alpha1.NewEnvEntry(kv)
		if err != nil {
			return res, err
		}
		plugin.Env = append(plugin.Env, e)
	}

	if req.matchSocket != "" {
		m, err := matchRepository(ctx, filepath.Join(common.GetPluginSockFilePath(), req.matchSocket), appPath, repoRoot, env.Environ())
		if err != nil {
			return res, fmt.Errorf("MatchRepository on %s: %w", req.matchSocket, err)
		}
		res.Match = m
	}

	// GetAppSourceType: a named plugin makes the type explicit; otherwise discovery decides,
	// with the ARGOCD_APP_* environment only.
	if req.pluginName != "" {
		res.SourceType = string(v1alpha1.ApplicationSourceTypePlugin)
	} else {
		t, err := discovery.AppType(ctx, appPath, repoRoot, nil, nil, env.Environ())
		if err != nil {
			return res, fmt.Errorf("error getting app source type: %w", err)
		}
		res.SourceType = t
	}
	if res.SourceType != string(v1alpha1.ApplicationSourceTypePlugin) {
		// The repo-server would render it itself (built-in kustomize, helm, plain YAML).
		return res, nil
	}

	manifests, objs, err := runPlugin(ctx, appPath, repoRoot, req, env, plugin)
	if err != nil {
		return res, fmt.Errorf("CMP processing failed for application %q: %w", req.appName, err)
	}
	res.Generated = true
	res.Manifests = manifests
	res.Objects = objs
	return res, nil
}

func appEnv(req request) v1alpha1.Env {
	short := func(n int) string { return req.revision[:min(n, len(req.revision))] }
	return v1alpha1.Env{
		{Name: "ARGOCD_APP_NAME", Value: req.appName},
		{Name: "ARGOCD_APP_NAMESPACE", Value: req.namespace},
		{Name: "ARGOCD_APP_PROJECT_NAME", Value: req.project},
		{Name: "ARGOCD_APP_REVISION", Value: req.revision},
		{Name: "ARGOCD_APP_REVISION_SHORT", Value: short(7)},
		{Name: "ARGOCD_APP_REVISION_SHORT_8", Value: short(8)},
		{Name: "ARGOCD_APP_SOURCE_REPO_URL", Value: req.repoURL},
		{Name: "ARGOCD_APP_SOURCE_PATH", Value: req.appPath},
		{Name: "ARGOCD_APP_SOURCE_TARGET_REVISION", Value: req.targetRevision},
	}
}

// pluginEnviron is getPluginEnvs: the application env, the cluster's version and API versions,
// then the plugin's env with ARGOCD_ENV_ prefixed and $VARs expanded from what came before.
func pluginEnviron(req request, env v1alpha1.Env, plugin *v1alpha1.ApplicationSourcePlugin) ([]string, error) {
	kubeVersion := ""
	if req.kubeVersion != "" {
		v, err := k8sversion.ParseGeneric(req.kubeVersion)
		if err != nil {
			return nil, fmt.Errorf("could not parse kubernetes version %s: %w", req.kubeVersion, err)
		}
		kubeVersion = v.String()
	}
	vars := append(env.Environ(), "KUBE_VERSION="+kubeVersion, "KUBE_API_VERSIONS="+strings.Join(req.apiVersions, ","))
	parsed := make(v1alpha1.Env, 0, len(vars))
	for _, v := range vars {
		e, err := v1alpha1.NewEnvEntry(v)
		if err != nil {
			return nil, errors.New("failed to parse env vars")
		}
		parsed = append(parsed, e)
	}
	for _, e := range plugin.Env {
		vars = append(vars, fmt.Sprintf("ARGOCD_ENV_%s=%s", e.Name, parsed.Envsubst(e.Value)))
	}
	params, err := plugin.Parameters.Environ()
	if err != nil {
		return nil, fmt.Errorf("failed to generate env vars from parameters: %w", err)
	}
	return append(vars, params...), nil
}

// runPlugin is runConfigManagementPluginSidecars with generateManifestsCMP, without git
// credentials (the plugin does not ask for them: provideGitCreds is off).
func runPlugin(ctx context.Context, appPath, repoRoot string, req request, env v1alpha1.Env, plugin *v1alpha1.ApplicationSourcePlugin) ([]string, []map[string]any, error) {
	vars, err := pluginEnviron(req, env, plugin)
	if err != nil {
		return nil, nil, err
	}
	conn, client, err := discovery.DetectConfigManagementPlugin(ctx, appPath, repoRoot, req.pluginName, vars, nil)
	if err != nil {
		return nil, nil, err
	}
	defer utilio.Close(conn)

	cfg, err := client.CheckPluginConfiguration(ctx, &emptypb.Empty{})
	if err != nil {
		return nil, nil, fmt.Errorf("error calling cmp-server checkPluginConfiguration: %w", err)
	}
	if cfg.ProvideGitCreds {
		return nil, nil, errors.New("the plugin asks for git credentials; cmpclient has none to give")
	}

	stream, err := client.GenerateManifest(ctx, grpc_retry.Disable())
	if err != nil {
		return nil, nil, fmt.Errorf("error generating manifests in cmp: error getting generateManifestStream: %w", err)
	}
	if err := cmp.SendRepoStream(ctx, appPath, repoRoot, stream, vars, nil); err != nil {
		return nil, nil, fmt.Errorf("error generating manifests in cmp: error sending file to cmp-server: %w", err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, nil, fmt.Errorf("error generating manifests in cmp: %w", err)
	}

	// Not nil: "generated, and empty" must survive the JSON round trip as [] (the prune hazard).
	objs := []map[string]any{}
	for _, m := range resp.Manifests {
		us, err := kube.SplitYAML([]byte(m))
		if err != nil {
			return nil, nil, fmt.Errorf("failed to convert CMP manifests to unstructured objects: %s", err.Error())
		}
		for _, u := range us {
			objs = append(objs, u.Object)
		}
	}
	return append([]string{}, resp.Manifests...), objs, nil
}

// matchRepository is discovery's matchRepositoryCMP against one socket, returning the raw answer.
func matchRepository(ctx context.Context, socket, appPath, repoRoot string, env []string) (*Match, error) {
	conn, client, err := pluginclient.NewConfigManagementPluginClientSet(socket).NewConfigManagementPluginClient()
	if err != nil {
		return nil, fmt.Errorf("error dialing to cmp-server: %w", err)
	}
	defer utilio.Close(conn)
	stream, err := client.MatchRepository(ctx, grpc_retry.Disable())
	if err != nil {
		return nil, fmt.Errorf("error getting stream client: %w", err)
	}
	if err := cmp.SendRepoStream(ctx, appPath, repoRoot, stream, env, nil); err != nil {
		return nil, fmt.Errorf("error sending stream: %w", err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, fmt.Errorf("error receiving stream response: %w", err)
	}
	return &Match{IsSupported: resp.GetIsSupported(), IsDiscoveryEnabled: resp.GetIsDiscoveryEnabled()}, nil
}
