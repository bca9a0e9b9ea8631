// Package backup runs real rqlited v8.43.4 (internal/testenv) with the auto-backup and
// auto-restore files rqlite-krm renders into its ConfigMap, the rendered -auto-backup and
// -auto-restore flags and the S3 credentials the rendered env takes from a Secret, against an S3
// server in this process (github.com/johannesboyne/gofakes3, in-memory backend, path-style).
//
// A missing rqlited fails the tests: `make tools`.
package backup

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/rqlite/rqlite-krm/e2e/security/fakekubelet"
	"github.com/rqlite/rqlite-krm/fn/generate"
	"github.com/rqlite/rqlite-krm/fn/rqlite"
	"github.com/rqlite/rqlite-krm/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Accepted so that `go test ./... -run Golden -update` can reach this package; nothing here is a
// golden file.
var _ = flag.Bool("update", false, "accepted for `make golden`; this package has no golden files")

const (
	bucket    = "db-backups"
	accessKey = "AKIAE2ETESTKEY"
	secretKey = "e2e-test-secret-access-key"
)

// s3Server is gofakes3 behind a recorder: it notes which access key signed each request and the
// path it named, and can refuse uploads to freeze the backup.
type s3Server struct {
	URL     string
	backend *s3mem.Backend

	mu          sync.Mutex
	keyIDs      map[string]bool
	paths       map[string]bool
	blockPuts   bool
	putsSeen    int
	putsRefused int
	hold        chan struct{} // while set, uploads wait until it is closed
}

var credentialRE = regexp.MustCompile(`Credential=([^/]+)/`)

func startS3(t *testing.T) *s3Server {
	t.Helper()
	s := &s3Server{backend: s3mem.New(), keyIDs: map[string]bool{}, paths: map[string]bool{}}
	require.NoError(t, s.backend.CreateBucket(bucket))
	fake := gofakes3.New(s.backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			s.keyIDs[m[1]] = true
		}
		s.paths[r.Method+" "+r.URL.Path] = true
		put := r.Method == http.MethodPut || r.Method == http.MethodPost
		if put {
			s.putsSeen++
		}
		refuse := put && s.blockPuts
		if refuse {
			s.putsRefused++
		}
		hold := s.hold
		s.mu.Unlock()
		if put && hold != nil {
			select {
			case <-hold:
			case <-time.After(10 * time.Second):
			}
		}
		if refuse {
			http.Error(w, "<Error><Code>ServiceUnavailable</Code><Message>frozen by the test</Message></Error>", http.StatusServiceUnavailable)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// holdUploads makes uploads wait until the returned function is called.
func (s *s3Server) holdUploads() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.hold = nil
			s.mu.Unlock()
			close(ch)
		})
	}
}

func (s *s3Server) freeze(b bool) (refusedSoFar int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blockPuts = b
	return s.putsRefused
}

func (s *s3Server) seen() (keyIDs, paths []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.keyIDs {
		keyIDs = append(keyIDs, k)
	}
	for p := range s.paths {
		paths = append(paths, p)
	}
	return keyIDs, paths
}

func (s *s3Server) object(t *testing.T, key string) *gofakes3.Object {
	t.Helper()
	o, err := s.backend.HeadObject(bucket, key)
	if err != nil {
		return nil
	}
	return o
}

func specDoc(voters int, endpoint, path string, restore bool) string {
	return fmt.Sprintf(`apiVersion: rqlite.io/v1alpha1
kind: RqliteSpec
metadata:
  name: orders
  namespace: shop
spec:
  voters:
    replicas: %d
  backup:
    interval: 1s
    s3:
      endpoint: %s
      forcePathStyle: true
      region: us-east-1
      bucket: %s
      path: %s
      accessKeyID:
        name: orders-s3
      secretAccessKey:
        name: orders-s3
    restore:
      enabled: %v
`, voters, endpoint, bucket, path, restore)
}

// renderedNodes starts rqlited processes from one render at a time: the rendered voter container, laid out
// by the fake kubelet (the ConfigMap's backup.json and restore.json, the Secret's keys in the
// env), with the harness's loopback addresses instead of the rendered bind and advertised ones.
type renderedNodes struct {
	t       *testing.T
	kubelet *fakekubelet.Kubelet
	mu      sync.Mutex
	sts     *appsv1.StatefulSet
	pods    map[string]fakekubelet.Container
}

func newRenderedNodes(t *testing.T, doc string) *renderedNodes {
	rn := &renderedNodes{t: t, kubelet: &fakekubelet.Kubelet{
		Namespace: "shop",
		Secrets:   map[string]map[string][]byte{"orders-s3": {"access-key-id": []byte(accessKey), "secret-access-key": []byte(secretKey)}},
	}}
	rn.use(doc)
	return rn
}

// use switches to a new render, as a re-applied StatefulSet rolls its pods.
func (rn *renderedNodes) use(doc string) {
	t := rn.t
	res := generate.FromYAML([]byte(doc))
	require.False(t, res.Problems.HasErrors(), "%v", res.Problems)
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.kubelet.ConfigMaps = map[string]map[string]string{}
	rn.sts = nil
	for _, o := range res.Objects {
		switch x := o.(type) {
		case *corev1.ConfigMap:
			rn.kubelet.ConfigMaps[x.Name] = x.Data
		case *appsv1.StatefulSet:
			if x.Name == "orders" {
				rn.sts = x
			}
		}
	}
	require.NotNil(t, rn.sts)
	// A new directory per render: the pods' files are replaced, the data (the harness's data
	// directories) is not.
	rn.kubelet.Dir = t.TempDir()
	rn.pods = map[string]fakekubelet.Container{}
}

func (rn *renderedNodes) pod(n *testenv.RqliteNode) fakekubelet.Container {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if p, ok := rn.pods[n.ID]; ok {
		return p
	}
	p := rn.kubelet.Prepare(rn.t, n.ID, &rn.sts.Spec.Template, rn.sts.Spec.VolumeClaimTemplates, "rqlite")
	rn.pods[n.ID] = p
	return p
}

// args drops the rendered bind and advertised addresses (pod DNS names do not resolve here) and
// the data directory; the harness gives its own.
func (rn *renderedNodes) args(n *testenv.RqliteNode) []string {
	p := rn.pod(n)
	var out []string
	for _, a := range p.Args[:len(p.Args)-1] {
		f, _, _ := strings.Cut(a, "=")
		switch f {
		case "-http-addr", "-http-adv-addr", "-raft-addr", "-raft-adv-addr":
			continue
		}
		out = append(out, a)
	}
	return out
}

func (rn *renderedNodes) start(t *testing.T, voters int, noWait bool) *testenv.RqliteCluster {
	return testenv.StartRqliteCluster(t, testenv.RqliteClusterOptions{
		Voters:        voters,
		Discovery:     true,
		VoterIDPrefix: "orders-",
		NodeArgs:      rn.args,
		NodeEnv:       func(n *testenv.RqliteNode) []string { return rn.pod(n).Env },
		NoWait:        noWait,
		StartTimeout:  30 * time.Second,
	})
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func rowIDs(t *testing.T, c *rqlite.Client) []string {
	t.Helper()
	rows, err := c.Query(ctxFor(t, 10*time.Second), "strong", "SELECT name FROM orders ORDER BY id")
	require.NoError(t, err)
	var out []string
	for _, r := range rows.Values {
		out = append(out, fmt.Sprint(r[0]))
	}
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAutoBackupAndRestore: writes reach the bucket through the rendered backup.json; a node that
// already has data ignores the rendered restore.json; a new cluster comes up with the backup.
func TestAutoBackupAndRestore(t *testing.T) {
	s3 := startS3(t)
	const key = "orders/backup.sqlite.gz"
	withoutRestore := specDoc(1, s3.URL, key, false)
	withRestore := specDoc(1, s3.URL, key, true)

	// Day one: backups on, restore off (there is nothing to restore yet).
	rn := newRenderedNodes(t, withoutRestore)
	a := rn.start(t, 1, false)
	ca := a.ClusterClient()
	ctx := ctxFor(t, time.Minute)
	_, err := ca.Execute(ctx, rqlite.Stmt("CREATE TABLE orders (id INTEGER PRIMARY KEY, name TEXT)"),
		rqlite.Stmt("INSERT INTO orders(name) VALUES('first')"), rqlite.Stmt("INSERT INTO orders(name) VALUES('second')"))
	require.NoError(t, err)

	t.Run("a backup object appears after writes", func(t *testing.T) {
		assert.Contains(t, a.Node(0).Args, "-auto-backup="+rn.pod(a.Node(0)).Root+"/rqlite/config/backup.json")
		waitFor(t, 15*time.Second, "backup object "+key, func() bool {
			return strings.Contains(a.LogTail(0, 200), "completed auto upload") && s3.object(t, key) != nil
		})
		o := s3.object(t, key)
		assert.Positive(t, o.Size)
		assert.NotEmpty(t, o.Metadata, "rqlite tags the upload with its data's id")
		keyIDs, paths := s3.seen()
		assert.Equal(t, []string{accessKey}, keyIDs, "requests are signed with the key from the Secret, expanded from $RQLITE_S3_ACCESS_KEY_ID")
		assert.Contains(t, paths, "PUT /"+bucket+"/"+key, "path-style addressing (forcePathStyle)")
	})

	// Freeze the backup, then write a row it will never contain.
	s3.freeze(true)
	_, err = ca.Execute(ctx, rqlite.Stmt("INSERT INTO orders(name) VALUES('after-backup')"))
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "an upload of the new row refused", func() bool { return s3.freeze(true) > 0 })

	t.Run("a node with data does not restore over it", func(t *testing.T) {
		// spec.backup.restore.enabled turned on later: the StatefulSet rolls its pods, which
		// restart with their volumes and the -auto-restore flag.
		rn.use(withRestore)
		a.Restart(0)
		assert.Contains(t, a.Node(0).Args, "-auto-restore="+rn.pod(a.Node(0)).Root+"/rqlite/config/restore.json")
		assert.Contains(t, a.LogTail(0, 200), "auto-restore requested, but data already exists")
		assert.Equal(t, []string{"first", "second", "after-backup"}, rowIDs(t, a.ClusterClient()))
	})
	for i := range a.Len() {
		_ = a.Stop(i)
	}
	s3.freeze(false)

	t.Run("a new cluster restores the backup", func(t *testing.T) {
		// Disaster recovery: a new cluster (new volumes) of three voters with restore on. Each
		// voter downloads the backup; the one that becomes leader installs it and the others
		// receive it through Raft.
		rb := newRenderedNodes(t, specDoc(3, s3.URL, key, true))
		b := rb.start(t, 3, false)
		waitFor(t, 15*time.Second, "restored rows on every voter", func() bool {
			for i := range 3 {
				rows, err := b.Client(i).Query(ctxFor(t, 5*time.Second), "none", "SELECT COUNT(*) FROM orders")
				if err != nil || len(rows.Values) != 1 || fmt.Sprint(rows.Values[0][0]) != "2" {
					return false
				}
			}
			return true
		})
		assert.Equal(t, []string{"first", "second"}, rowIDs(t, b.ClusterClient()), "exactly what the backup held")
		// The first leader installs the backup. Not necessarily today's leader:
		// under load the first leader can lose an election before the test
		// asks, so count the voters that installed it instead.
		var restored []string
		for i := range 3 {
			if strings.Contains(b.LogTail(i, 300), "node auto-restored successfully") {
				restored = append(restored, b.Node(i).ID)
			}
		}
		assert.NotEmpty(t, restored, "no voter logs that it installed the backup")
		t.Logf("voters that installed the backup: %v", restored)
	})
}

// TestRestoreWithoutBackupStopsTheNode pins what spec.backup.restore.enabled does on a bucket with
// no backup yet: rqlited v8.43.4 exits 1 ("failed to download auto-restore file") unless
// continueOnFailure is set, so restore must only be turned on when a backup exists.
func TestRestoreWithoutBackupStopsTheNode(t *testing.T) {
	s3 := startS3(t)
	rn := newRenderedNodes(t, specDoc(1, s3.URL, "orders/never-written.sqlite.gz", true))
	c := rn.start(t, 1, true)
	waitFor(t, 20*time.Second, "rqlited exits", func() bool { return !c.Node(0).Running() })
	require.Error(t, c.Node(0).ExitErr())
	assert.Contains(t, c.LogTail(0, 50), "failed to download auto-restore file")
}

// TestBackupStagingFitsTheDatabase checks where rqlited stages a backup and that the rendered pod
// gives that place room for the database. rqlited v8.43.4 writes each upload (the whole database,
// compressed) to a temporary file in os.TempDir() before sending it (auto/backup/uploader.go,
// tempFD), and an auto-restore downloads the backup and decompresses it there too
// (auto/restore/downloader.go, cmd/rqlited/main.go restore.DownloadFile). The database itself may
// grow to spec.storage.size (default 10Gi) on the data volume, so the staging directory must be on
// that volume, not on an emptyDir capped far below it and counted against the container's
// ephemeral-storage limit.
func TestBackupStagingFitsTheDatabase(t *testing.T) {
	s3 := startS3(t)
	rn := newRenderedNodes(t, specDoc(1, s3.URL, "orders/staging.sqlite.gz", false))
	release := s3.holdUploads()
	defer release()
	c := rn.start(t, 1, false)
	_, err := c.ClusterClient().Execute(ctxFor(t, 10*time.Second), rqlite.Stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"),
		rqlite.Stmt("INSERT INTO t(v) VALUES(?)", strings.Repeat("x", 4096)))
	require.NoError(t, err)

	p := rn.pod(c.Node(0))
	var hostTmp string
	for _, kv := range p.Env {
		if v, ok := strings.CutPrefix(kv, "TMPDIR="); ok {
			hostTmp = v
		}
	}
	require.NotEmpty(t, hostTmp)
	var staged string
	waitFor(t, 15*time.Second, "a staged upload in the container's temporary directory", func() bool {
		m, _ := filepath.Glob(filepath.Join(hostTmp, "rqlite-upload*"))
		if len(m) > 0 {
			staged = m[0]
			return true
		}
		return false
	})
	fi, err := os.Stat(staged)
	require.NoError(t, err)
	release()
	t.Logf("rqlited staged the upload as %s (%d bytes) while it was sent", staged, fi.Size())

	containerTmp := strings.TrimPrefix(hostTmp, p.Root)
	m, ok := p.MountFor(containerTmp)
	require.True(t, ok, "%s is on no volume", containerTmp)
	sts := rn.sts
	assert.Equal(t, "pvc", m.Kind,
		"rqlited stages every backup (and a restore, compressed and decompressed) in %s, which the rendered voter pod backs with "+
			"volume %q (%s, sizeLimit %s) inside the container's ephemeral-storage limit %s, while the database may grow to the %s data "+
			"volume: a database whose compressed copy outgrows it cannot be backed up or restored (the kubelet evicts the pod). "+
			"Stage on the data volume, e.g. env TMPDIR=%s/tmp with the directory created by the init container, or /tmp mounted from "+
			"the data volume with subPath: tmp",
		containerTmp, m.Volume, m.Kind, m.SizeLimit,
		sts.Spec.Template.Spec.Containers[0].Resources.Limits.StorageEphemeral().String(),
		sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String(), "/rqlite/file")
}
