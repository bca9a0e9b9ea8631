package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRecoveryAllVotersStoppedMajorityLost follows the README runbook "Recovery from quorum loss"
// in its main form: every voter stops, the volumes of two of three are lost for good, and the
// cluster comes back with three voters and the survivor's data. The spec keeps voters.replicas:
// 3 and turns spec.recovery.staticPeers on; the render changes the ConfigMap only (same pod
// template); the pods start, the survivor recovers from peers.json (whose ids are the pods'
// names), the pods on fresh volumes join it; the switch goes off without a restart, and a later
// restart does not apply peers.json again.
func TestRecoveryAllVotersStoppedMajorityLost(t *testing.T) {
	e := newEnv(t, "recover3")
	const rows = 20
	voters, rev := e.recoverableCluster(rows)

	// The outage: every voter stops, and the volumes of rqlite-1 and rqlite-2 are lost.
	e.scaleVoters(0)
	e.waitPodsGone(90*time.Second, voters...)
	e.deleteClaims(60*time.Second, "data-rqlite-1", "data-rqlite-2")

	// Runbook steps 1 and 2: voters.replicas stays 3, the switch goes on, render and apply. The
	// apply also restores the StatefulSet's 3 replicas, so this start is step 3's restart.
	e.apply(e.renderRecovery(3, true))
	if got := e.voterRevision(); got != rev {
		t.Errorf("staticPeers on: StatefulSet revision %s, was %s: the pod template changed", got, rev)
	}
	e.waitConfig(30*time.Second, "static-peers", "true")
	e.checkPeersJSON(voters)

	e.waitReady(3*time.Minute, voters...)
	e.waitMembership(90*time.Second, e.client(voters...), voters, nil)
	for _, p := range voters {
		e.waitRows(60*time.Second, p, rqlite.LevelNone, rows)
	}
	e.waitRows(30*time.Second, "rqlite-0", rqlite.LevelStrong, rows)
	if logs := e.agent.Logs("rqlite-0", "rqlite"); !strings.Contains(logs, "node recovered successfully") {
		t.Errorf("rqlite-0 did not recover from peers.json; log tail:\n%s", tail(logs, 20))
	}
	// Fresh volumes neither recover from peers.json nor bootstrap a cluster of their own: either
	// gives them a configuration with an empty log, and two of them can then elect each other
	// and lead the survivor, whose data they cannot take: the cluster would come back empty.
	for _, p := range voters[1:] {
		if logs := e.agent.Logs(p, "install-peers"); !strings.Contains(logs, "peers.json not installed") {
			t.Errorf("%s: install-peers should have left peers.json out on a fresh volume; log:\n%s", p, tail(logs, 10))
		}
		if logs := e.agent.Logs(p, "rqlite"); strings.Contains(logs, "attempting node recovery") {
			t.Errorf("%s ran a recovery on a fresh volume; log tail:\n%s", p, tail(logs, 20))
		}
	}
	for _, p := range voters {
		if logs := e.agent.Logs(p, "rqlite"); strings.Contains(logs, "cluster bootstrap successful") {
			t.Errorf("%s bootstrapped a new cluster during the recovery; log tail:\n%s", p, tail(logs, 20))
		}
	}
	// Writes work again.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.client(voters...).Execute(ctx, rqlite.Stmt("INSERT INTO t(v) VALUES('after')")); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}

	// Step 4: switch off, no template change, no restart.
	before := e.identities(voters...)
	e.apply(e.renderRecovery(3, false))
	if got := e.voterRevision(); got != rev {
		t.Errorf("staticPeers off: StatefulSet revision %s, was %s: the pod template changed", got, rev)
	}
	e.waitConfig(30*time.Second, "static-peers", "false")
	e.waitShrinkJob(90 * time.Second)
	e.checkNotRestarted("staticPeers off", before)

	// A later restart of every voter, one at a time, applies nothing and keeps the data.
	for _, p := range voters {
		e.replacePod(2*time.Minute, p)
		if logs := e.agent.Logs(p, "install-peers"); strings.Contains(logs, "installed peers.json for "+p) {
			t.Errorf("%s: install-peers installed peers.json with the switch off; log:\n%s", p, tail(logs, 10))
		}
		if _, err := os.Stat(filepath.Join(e.agent.PVCDir("data-"+p), "data", "raft", "peers.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: peers.json on the volume after the restart: %v", p, err)
		}
		e.waitMembership(60*time.Second, e.client(voters...), voters, nil)
	}
	for _, p := range voters {
		e.waitRows(60*time.Second, p, rqlite.LevelNone, rows+1)
	}
}

// checkPeersJSON: the ConfigMap's peers.json names exactly the pods, with Raft addresses they
// answer to, all voters.
func (e *env) checkPeersJSON(pods []string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cm, err := cp.Client().CoreV1().ConfigMaps(e.ns).Get(ctx, "rqlite-config", metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var peers []struct {
		ID       string `json:"id"`
		Address  string `json:"address"`
		NonVoter bool   `json:"non_voter"`
	}
	if err := json.Unmarshal([]byte(cm.Data["peers.json"]), &peers); err != nil {
		e.t.Fatalf("peers.json: %v\n%s", err, cm.Data["peers.json"])
	}
	var ids []string
	for _, p := range peers {
		ids = append(ids, p.ID)
		if want := p.ID + ".rqlite-headless:4002"; p.Address != want || p.NonVoter {
			e.t.Errorf("peers.json entry %+v, want address %s, voter", p, want)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, pods) {
		e.t.Errorf("peers.json ids %v, want the pods %v", ids, pods)
	}
}
