// Package exporter serves rqlite's statistics in the Prometheus text format. rqlited (v8–v9)
// exposes them only as JSON (/status and the expvar page /debug/vars), which Prometheus cannot
// scrape; the exporter runs as a sidecar beside rqlited and translates on every scrape, so it holds
// no state and never serves stale numbers.
package exporter

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Config says where rqlited is and how to talk to it.
type Config struct {
	URL      string // e.g. http://127.0.0.1:4001
	Username string
	Password string
	TLS      *tls.Config
	Timeout  time.Duration
}

// Exporter scrapes one rqlited.
type Exporter struct {
	cfg    Config
	client *http.Client
}

// New returns an exporter for cfg.
func New(cfg Config) *Exporter {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.TLS
	return &Exporter{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout, Transport: tr}}
}

// sources are the JSON pages turned into metrics, with the prefix their metrics get. /status
// carries Raft and store state; /debug/vars carries request and error counters.
var sources = []struct{ path, prefix string }{
	{"/status", "rqlite_status"},
	{"/debug/vars", "rqlite_vars"},
}

// skipped are subtrees that are large, not numeric in a useful way, or duplicated elsewhere.
var skipped = map[string]bool{
	"cmdline": true, "memstats": true, "build": true, "os": true, "extensions": true,
}

// ServeHTTP answers a scrape: rqlite_up is 1 only when every source answered.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), e.cfg.Timeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	metrics, err := e.Collect(ctx)
	up := 1
	if err != nil {
		up = 0
		fmt.Fprintf(w, "# rqlite scrape error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	}
	fmt.Fprintf(w, "# HELP rqlite_up Whether rqlited answered the last scrape.\n# TYPE rqlite_up gauge\nrqlite_up %d\n", up)
	for _, m := range metrics {
		fmt.Fprintf(w, "# TYPE %s gauge\n%s%s %s\n", m.Name, m.Name, m.labels(), formatValue(m.Value))
	}
}

// Metric is one sample.
type Metric struct {
	Name   string
	Labels map[string]string
	Value  float64
}

func (m Metric) labels() string {
	if len(m.Labels) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m.Labels))
	for k := range m.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, m.Labels[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Collect scrapes every source and returns the metrics sorted by name.
func (e *Exporter) Collect(ctx context.Context) ([]Metric, error) {
	var out []Metric
	var errs []string
	for _, s := range sources {
		doc, err := e.get(ctx, s.path)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		flatten(&out, s.prefix, doc)
		if s.path == "/status" {
			out = append(out, derived(doc)...)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].labels() < out[j].labels()
	})
	if len(errs) > 0 {
		return out, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

func (e *Exporter) get(ctx context.Context, path string) (any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(e.cfg.URL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	if e.cfg.Username != "" {
		req.SetBasicAuth(e.cfg.Username, e.cfg.Password)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return doc, nil
}

// flatten turns every numeric or boolean leaf of a JSON document into a gauge named after its path.
// Lists are left out: their elements have no stable identity to name a series after.
func flatten(out *[]Metric, name string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if skipped[k] {
				continue
			}
			flatten(out, name+"_"+sanitize(k), e)
		}
	case float64:
		*out = append(*out, Metric{Name: name, Value: x})
	case bool:
		b := 0.0
		if x {
			b = 1
		}
		*out = append(*out, Metric{Name: name, Value: b})
	}
}

// derived are the metrics people alert on, spelled out instead of left to be found in the
// flattened tree: the Raft state as a label, and whether this node knows a leader.
func derived(status any) []Metric {
	store, _ := status.(map[string]any)["store"].(map[string]any)
	raft, _ := store["raft"].(map[string]any)
	state, _ := raft["state"].(string)
	nodeID, _ := store["node_id"].(string)
	leader, _ := store["leader"].(map[string]any)
	leaderID, _ := leader["node_id"].(string)
	hasLeader := 0.0
	if leaderID != "" {
		hasLeader = 1
	}
	var out []Metric
	for _, s := range []string{"Leader", "Follower", "Candidate", "Shutdown"} {
		v := 0.0
		if s == state {
			v = 1
		}
		out = append(out, Metric{Name: "rqlite_raft_state", Labels: map[string]string{"state": s, "node_id": nodeID}, Value: v})
	}
	return append(out, Metric{Name: "rqlite_has_leader", Labels: map[string]string{"node_id": nodeID}, Value: hasLeader})
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return strings.ToLower(b.String())
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return fmt.Sprintf("%g", v)
}
