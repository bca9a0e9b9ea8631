package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rqlite/rqlite-krm/fn/exporter"
)

func init() {
	Commands["exporter"] = Command{
		Summary: "serve rqlited's statistics as Prometheus metrics (the metrics sidecar)",
		Run:     runExporter,
	}
}

const exporterUsage = `usage: rqlite-fn exporter [flags]

Serves rqlited's statistics (/status, /debug/vars) as Prometheus metrics on /metrics: the metrics
sidecar the function renders with spec.metrics.enabled. The rqlite password comes from $` + PasswordEnv + `.
`

func runExporter(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("exporter")
	rqliteURL := fs.String("rqlite-url", "http://127.0.0.1:4001", "rqlited's HTTP API, normally on the pod's loopback")
	listen := fs.String("listen", ":9102", "address to serve /metrics on")
	username := fs.String("username", "", "rqlite user with the status permission; its password comes from $"+PasswordEnv)
	caFile := fs.String("ca-file", "", "PEM CA bundle that signed rqlited's HTTPS certificate")
	serverName := fs.String("tls-server-name", "", "name to verify on rqlited's certificate (it is not issued for 127.0.0.1)")
	timeout := fs.Duration("timeout", 5*time.Second, "bound on one scrape of rqlited")
	if _, code, ok := parseArgs(fs, exporterUsage, args, noArgs, stdout, stderr); !ok {
		return code
	}
	cfg := exporter.Config{URL: *rqliteURL, Username: *username, Password: os.Getenv(PasswordEnv), Timeout: *timeout}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintf(stderr, "exporter: %v\n", err)
			return 2
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "exporter: no certificate in %s\n", *caFile)
			return 2
		}
		cfg.TLS = &tls.Config{RootCAs: pool, ServerName: *serverName, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "exporter: %v\n", err)
		return 1
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", exporter.New(cfg))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(stdout, "exporter: serving %s metrics on %s/metrics\n", *rqliteURL, ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "exporter: %v\n", err)
		return 1
	}
	return 0
}
