package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rqlite/rqlite-krm/fn/kube"
	"github.com/rqlite/rqlite-krm/fn/rqlite"
	"github.com/rqlite/rqlite-krm/fn/shrink"
)

func init() {
	Commands["shrink"] = Command{
		Summary: "remove rqlite voters safely, batch by batch (what the generated shrink Job runs)",
		Run:     runShrink,
	}
}

// PasswordEnv carries the rqlite password when --password-file is not given. A
// flag would put the password in the pod spec and in `ps` output.
const PasswordEnv = "RQLITE_PASSWORD"

const shrinkUsageHead = `usage: rqlite-fn shrink --namespace=NS --statefulset=NAME --target=N --rqlite-url=URL [flags]

Lowers the voters of an rqlite StatefulSet to --target without ever stopping more voters than
the Raft configuration in force can lose: it moves leadership off the voters that go, scales the
StatefulSet one safe batch at a time, waits for the pods to stop and removes them from Raft,
confirming each removal. Killed at any point and run again, it continues from what it finds.
Voters left in Raft by an interrupted run (ordinal >= replicas) are removed first; non-voters
and nodes of other StatefulSets are never touched.

Exit status: 0 done or nothing to do (also when the StatefulSet does not exist yet); 1 cannot
proceed safely (the message says why and what to do); 2 usage.

The rqlite password comes from --password-file or, without it, the environment variable
` + PasswordEnv + `; never from a flag. The user needs the rqlite perms status, leader-ops and remove.

flags:
`

type shrinkOptions struct {
	Namespace   string
	StatefulSet string
	Target      int
	URLs        []string
	Headless    string
	Username    string
	Password    string
	CAFile      string
	CertFile    string
	KeyFile     string
	JobName     string
	Kubeconfig  string
	Timeout     time.Duration
	Poll        time.Duration
	LeaderWait  time.Duration
	PodTimeout  time.Duration
}

// errHelp asks for the usage text on stdout and exit 0; errUsage reports a usage error already
// described on stderr.
var (
	errHelp  = errors.New("help requested")
	errUsage = errors.New("usage error")
)

func shrinkFlags(o *shrinkOptions, urls *string, passwordFile *string) *flag.FlagSet {
	fs := newFlagSet("shrink")
	fs.StringVar(&o.Namespace, "namespace", "", "namespace of the StatefulSet (required)")
	fs.StringVar(&o.StatefulSet, "statefulset", "", "the voters' StatefulSet; Raft node IDs are its pod names (required)")
	fs.IntVar(&o.Target, "target", 0, "number of voters to keep, at least 1 (required)")
	fs.StringVar(urls, "rqlite-url", "", "rqlite HTTP URL, normally the client Service http://<name>:4001; a comma-separated list is tried in order (required)")
	fs.StringVar(&o.Headless, "headless", "", "the voters' headless Service; accepted for the generated Job, node addresses come from rqlite's /nodes")
	fs.StringVar(&o.Username, "username", "", "rqlite basic-auth user")
	fs.StringVar(passwordFile, "password-file", "", "file holding the rqlite password (a trailing newline is ignored); default: $"+PasswordEnv)
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM CA bundle to verify an https rqlite URL")
	fs.StringVar(&o.CertFile, "cert-file", "", "PEM client certificate, for an rqlite API that requires one (-http-verify-client); needs --key-file")
	fs.StringVar(&o.KeyFile, "key-file", "", "PEM key of --cert-file")
	fs.StringVar(&o.JobName, "job-name", "", "the Job this runs in: a newer shrink Job of the same cluster supersedes it, and it stops without changes")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig for running outside the cluster (default: the pod's service account)")
	fs.DurationVar(&o.Timeout, "timeout", 50*time.Minute, "bound on the whole run; below the Job's 60 min deadline so the run reports why it stopped")
	fs.DurationVar(&o.Poll, "poll-interval", 2*time.Second, "pace of every retry and wait")
	fs.DurationVar(&o.LeaderWait, "leader-wait", 30*time.Second, "how long rqlite may show no leader (or the Kubernetes API fail) before the run gives up")
	fs.DurationVar(&o.PodTimeout, "pod-timeout", 10*time.Minute, "bound on each wait for scaled-down pods to go away")
	return fs
}

// parseShrinkArgs turns arguments and environment into options. Usage errors
// have already been described on stderr when it returns one.
func parseShrinkArgs(args []string, getenv func(string) string, stdout, stderr io.Writer) (shrinkOptions, error) {
	var o shrinkOptions
	var urls, passwordFile string
	fs := shrinkFlags(&o, &urls, &passwordFile)
	if _, code, ok := parseArgs(fs, shrinkUsageHead, args, noArgs, stdout, stderr); !ok {
		if code == 0 {
			return o, errHelp
		}
		return o, errUsage
	}
	fail := func(format string, a ...any) (shrinkOptions, error) {
		err := fmt.Errorf(format, a...)
		fmt.Fprintf(stderr, "rqlite-fn shrink: %v (see --help)\n", err)
		return o, err
	}
	var missing []string
	for _, m := range []struct{ name, value string }{
		{"--namespace", o.Namespace}, {"--statefulset", o.StatefulSet}, {"--rqlite-url", urls},
	} {
		if strings.TrimSpace(m.value) == "" {
			missing = append(missing, m.name)
		}
	}
	targetSet := false
	fs.Visit(func(f *flag.Flag) { targetSet = targetSet || f.Name == "target" })
	if !targetSet {
		missing = append(missing, "--target")
	}
	if len(missing) > 0 {
		return fail("missing %s", strings.Join(missing, ", "))
	}
	if o.Target < 1 {
		return fail("--target=%d: at least one voter must stay", o.Target)
	}
	for _, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fail("--rqlite-url %q: want http(s)://host:port", u)
		}
		if o.CAFile != "" && p.Scheme != "https" {
			return fail("--ca-file is set but --rqlite-url %q is not https", u)
		}
		if o.CertFile != "" && p.Scheme != "https" {
			return fail("--cert-file is set but --rqlite-url %q is not https", u)
		}
		o.URLs = append(o.URLs, u)
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return fail("--cert-file and --key-file go together")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--timeout", o.Timeout}, {"--poll-interval", o.Poll}, {"--leader-wait", o.LeaderWait}, {"--pod-timeout", o.PodTimeout}} {
		if d.v <= 0 {
			return fail("%s=%s: must be positive", d.name, d.v)
		}
	}
	switch {
	case passwordFile != "":
		b, err := os.ReadFile(passwordFile)
		if err != nil {
			return fail("--password-file: %v", err)
		}
		// Secrets written with `echo` or an editor end in a newline that is not
		// part of the password.
		o.Password = strings.TrimRight(string(b), "\r\n")
	default:
		o.Password = getenv(PasswordEnv)
	}
	if o.Password != "" && o.Username == "" {
		return fail("a password is set (--password-file or $%s) but --username is not", PasswordEnv)
	}
	if o.Username != "" && o.Password == "" {
		return fail("--username %q needs a password: --password-file or $%s", o.Username, PasswordEnv)
	}
	return o, nil
}

func runShrink(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	o, err := parseShrinkArgs(args, os.Getenv, stdout, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	// A Job pod is stopped with SIGTERM (deletion, deadline, node drain): end
	// the current wait and say where the run stopped; a re-run continues.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return shrinkMain(ctx, o, stdout, stderr)
}

func shrinkMain(ctx context.Context, o shrinkOptions, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "rqlite-fn shrink: "+format+"\n", a...)
		return 1
	}
	var kc *kube.Client
	var err error
	if o.Kubeconfig != "" {
		kc, err = kube.FromKubeconfig(o.Kubeconfig)
	} else {
		kc, err = kube.InCluster()
	}
	if err != nil {
		return fail("Kubernetes client: %v", err)
	}
	ropts := rqlite.Options{URLs: o.URLs, Username: o.Username, Password: o.Password}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return fail("--ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fail("--ca-file %s: no PEM certificate in it", o.CAFile)
		}
		ropts.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return fail("--cert-file/--key-file: %v", err)
		}
		if ropts.TLSConfig == nil {
			ropts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		ropts.TLSConfig.Certificates = []tls.Certificate{cert}
	}
	rq, err := rqlite.New(ropts)
	if err != nil {
		return fail("%v", err)
	}
	wl := &shrink.KubeWorkload{Client: kc, Namespace: o.Namespace, StatefulSet: o.StatefulSet, PollInterval: o.Poll, Job: o.JobName}
	cfg := shrink.Config{
		StatefulSet:  o.StatefulSet,
		Target:       o.Target,
		Timeout:      o.Timeout,
		PollInterval: o.Poll,
		LeaderWait:   o.LeaderWait,
		PodTimeout:   o.PodTimeout,
		Log:          stdout,
	}
	auth := "without auth"
	if o.Username != "" {
		auth = "as rqlite user " + o.Username
	}
	fmt.Fprintf(stdout, "rqlite-fn %s shrink: StatefulSet %s/%s to %d voters via %s (%s)\n",
		Version, o.Namespace, o.StatefulSet, o.Target, strings.Join(o.URLs, ", "), auth)
	if _, err := shrink.Run(ctx, cfg, rq, wl); err != nil {
		return fail("%v", err)
	}
	return 0
}
