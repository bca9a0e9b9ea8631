package render_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/render"
	"github.com/rqlite/rqlite-krm/fn/rqlite"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probe is what the kubelet's HTTP probe does: GET, and any status from 200 to 399 is a success.
// It returns the status code, or 0 when nothing answers.
func probe(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func succeeds(code int) bool { return code >= 200 && code < 400 }

// storeOpen reads /status's store.open: rqlited reports {"open": false} until Store.Open returns.
func storeOpen(t *testing.T, url string) bool {
	t.Helper()
	code, body := probe(t, url+"/status")
	require.Equal(t, http.StatusOK, code, body)
	var st struct {
		Store map[string]any `json:"store"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	open, explicit := st.Store["open"]
	return !explicit || open != false
}

// TestProbesWhileTheStoreOpens pins what the probes see while rqlited opens its store, which is
// where it restores a snapshot (and replays the Raft log): rqlited v8.43.4 serves HTTP before it
// opens the store (cmd/rqlited/main.go), so the startup and liveness probes succeed throughout,
// however long a restore takes, and never restart a node for it; readiness fails until the store
// is open, a leader is known and the node has caught up. To hold rqlited in that phase for as long
// as the test needs, the test keeps an exclusive lock on the Raft log (raft.db), which rqlited's
// bbolt store waits for without a timeout as its first step of opening; then it lets go and the
// node restores the snapshot it took before.
func TestProbesWhileTheStoreOpens(t *testing.T) {
	// Snapshot after 64 log entries, checked often, so the restart below restores one.
	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 1,
		ExtraArgs: []string{"-raft-snap=64", "-raft-snap-int=200ms"}})
	n := c.Node(0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := c.Client(0)
	_, err := cl.Execute(ctx, rqlite.Stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
	require.NoError(t, err)
	const rows = 200
	for i := range rows {
		_, err := cl.Execute(ctx, rqlite.Stmt("INSERT INTO t(v) VALUES(?)", fmt.Sprint("row ", i)))
		require.NoError(t, err)
	}
	for {
		snaps, _ := filepath.Glob(filepath.Join(n.DataDir, "rsnapshots", "*.db"))
		if len(snaps) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("rqlited took no snapshot after %d writes with -raft-snap=64", rows)
		case <-time.After(100 * time.Millisecond):
		}
	}
	require.NoError(t, c.Stop(0))

	raftDB, err := os.OpenFile(filepath.Join(n.DataDir, "raft.db"), os.O_RDWR, 0)
	require.NoError(t, err)
	defer raftDB.Close()
	require.NoError(t, syscall.Flock(int(raftDB.Fd()), syscall.LOCK_EX))
	var unlock sync.Once
	release := func() { unlock.Do(func() { require.NoError(t, syscall.Flock(int(raftDB.Fd()), syscall.LOCK_UN)) }) }
	defer release() // a failing test must not leave rqlited blocked until the harness kills it

	c.Start(0) // returns once HTTP answers
	require.False(t, storeOpen(t, n.URL), "the store opened although its Raft log is locked")
	for _, p := range []struct{ name, path string }{{"startup", render.StartupPath}, {"liveness", render.LivenessPath}} {
		code, body := probe(t, n.URL+p.path)
		assert.True(t, succeeds(code), "%s probe %s while the store is not open: %d %s", p.name, p.path, code, body)
	}
	code, body := probe(t, n.URL+render.ReadinessPath)
	assert.False(t, succeeds(code), "readiness probe %s while the store is not open: %d %s", render.ReadinessPath, code, body)
	require.False(t, storeOpen(t, n.URL), "the store must still be closed after the probes")
	assert.NotContains(t, readLog(t, n.LogPath), "node restored", "no restore before the lock is released")

	release()
	c.WaitReady(0)
	code, body = probe(t, n.URL+render.ReadinessPath)
	assert.True(t, succeeds(code), "readiness once open: %d %s", code, body)
	assert.Contains(t, readLog(t, n.LogPath), "node restored", "the phase the probes saw was a snapshot restore")
	res, err := cl.Query(ctx, rqlite.LevelStrong, "SELECT COUNT(*) FROM t")
	require.NoError(t, err)
	require.Len(t, res.Values, 1)
	assert.Equal(t, fmt.Sprint(rows), fmt.Sprint(res.Values[0]...), "the restored data")
}

// TestStartupProbeCoversTheAutoRestoreDownload: what rqlited does before it serves HTTP, and so
// what the startup probe's budget (period × failureThreshold) must cover, includes downloading
// the -auto-restore file of a node that starts without data. An object store that accepts the
// download request and never answers holds rqlited there: nothing serves HTTP until the download
// gives up (here at once, when the store closes the connection; continue_on_failure lets the node
// start anyway).
func TestStartupProbeCoversTheAutoRestoreDownload(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	conns := make(chan net.Conn, 16)
	go func() {
		defer close(conns)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- conn
		}
	}()
	cfg := filepath.Join(t.TempDir(), "restore.json")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `{"version": 1, "type": "s3", "timeout": "10m", "continue_on_failure": true,
  "sub": {"endpoint": "http://%s", "region": "us-east-1", "access_key_id": "k", "secret_access_key": "s",
          "bucket": "b", "path": "backup.sqlite", "force_path_style": true}}`, ln.Addr()), 0o600))

	c := testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{Voters: 1, NoWait: true, ExtraArgs: []string{"-auto-restore=" + cfg}})
	n := c.Node(0)
	var held []net.Conn
	select {
	case conn := <-conns:
		held = append(held, conn)
	case <-time.After(time.Minute):
		t.Fatalf("rqlited never asked the object store for the restore file:\n%s", readLog(t, n.LogPath))
	}
	code, body := probe(t, n.URL+render.StartupPath)
	assert.Equal(t, 0, code, "the startup probe got an answer during the download: %s", body)
	assert.True(t, n.Running())

	// The store gives up: the download fails and rqlited, told to continue, starts serving.
	ln.Close()
	for _, conn := range held {
		conn.Close()
	}
	go func() {
		for conn := range conns {
			conn.Close()
		}
	}()
	c.WaitReady(0)
	code, body = probe(t, n.URL+render.StartupPath)
	assert.True(t, succeeds(code), "startup probe after the download: %d %s", code, body)
	assert.Contains(t, readLog(t, n.LogPath), "failed to download auto-restore file")
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
