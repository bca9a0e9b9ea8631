package exporter_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/exporter"
	"github.com/rqlite/rqlite-krm/fn/rqlite"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func scrape(t *testing.T, e *exporter.Exporter) string {
	t.Helper()
	srv := httptest.NewServer(e)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestExporterAgainstRealRqlited scrapes a real 3-node cluster: the metrics people alert on are
// there, named and labelled as documented, and counters move when the cluster is used.
func TestExporterAgainstRealRqlited(t *testing.T) {
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 3, Username: "monitor", Password: "s3cret"})
	leader := c.LeaderIndex()
	node := c.Node(leader)
	e := exporter.New(exporter.Config{URL: node.URL, Username: "monitor", Password: "s3cret"})
	out := scrape(t, e)
	assert.Contains(t, out, "rqlite_up 1\n")
	assert.Contains(t, out, `rqlite_raft_state{node_id="`+node.ID+`",state="Leader"} 1`)
	assert.Contains(t, out, `rqlite_raft_state{node_id="`+node.ID+`",state="Follower"} 0`)
	assert.Contains(t, out, `rqlite_has_leader{node_id="`+node.ID+`"} 1`)
	for _, name := range []string{"rqlite_status_store_raft_commit_index ", "rqlite_status_store_raft_num_peers 2", "rqlite_status_store_raft_voter 1", "rqlite_vars_http_"} {
		assert.Contains(t, out, name)
	}
	assert.NotContains(t, out, "cmdline")

	// Every sample line is "name[{labels}] value" with a Prometheus-valid name.
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		for _, r := range name {
			ok := r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
			require.True(t, ok, "bad metric name in %q", line)
		}
	}

	// Counters follow the cluster's use.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Client(leader).Execute(ctx, rqlite.Stmt("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
	require.NoError(t, err)
	again := scrape(t, e)
	assert.NotEqual(t, metric(out, "rqlite_status_store_raft_commit_index"), metric(again, "rqlite_status_store_raft_commit_index"))

	// A follower reports itself as one.
	follower := c.Node((leader + 1) % 3)
	out = scrape(t, exporter.New(exporter.Config{URL: follower.URL, Username: "monitor", Password: "s3cret"}))
	assert.Contains(t, out, `rqlite_raft_state{node_id="`+follower.ID+`",state="Follower"} 1`)

	// Wrong credentials: the exporter still answers, with rqlite_up 0 and the reason.
	out = scrape(t, exporter.New(exporter.Config{URL: node.URL, Username: "monitor", Password: "wrong"}))
	assert.Contains(t, out, "rqlite_up 0\n")
	assert.Contains(t, out, "HTTP 401")
}

func TestExporterWhenRqlitedIsDown(t *testing.T) {
	out := scrape(t, exporter.New(exporter.Config{URL: "http://127.0.0.1:1", Timeout: time.Second}))
	assert.Contains(t, out, "rqlite_up 0\n")
	assert.Contains(t, out, "# rqlite scrape error: GET /status")
}

func metric(out, name string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimPrefix(line, name+" ")
		}
	}
	return ""
}
