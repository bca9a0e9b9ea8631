package rqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rqlite/rqlite-krm/fn/rqlite"
)

// These tests pin the client's own mechanics (redirects, auth, fail-over,
// error shapes) with a fake server; behaviour of rqlited itself is covered by
// client_test.go against real processes.

func TestClientStatementJSON(t *testing.T) {
	b, err := json.Marshal([]rqlite.Statement{rqlite.Stmt("SELECT 1"), rqlite.Stmt("INSERT INTO t VALUES(?, ?)", 1, "x")})
	require.NoError(t, err)
	assert.JSONEq(t, `[["SELECT 1"],["INSERT INTO t VALUES(?, ?)",1,"x"]]`, string(b))
}

func TestClientNewValidates(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:4001", "ftp://x", "http://"} {
		_, err := rqlite.New(rqlite.Options{URLs: []string{u}})
		assert.Error(t, err, u)
	}
	_, err := rqlite.New(rqlite.Options{})
	assert.Error(t, err)
	_, err = rqlite.New(rqlite.Options{URLs: []string{"http://x"}, HTTPClient: &http.Client{}, TLSConfig: nil})
	assert.NoError(t, err)
}

// Follows 301 for DELETE and POST keeping method, body and credentials, which
// net/http's own redirect logic would not.
func TestClientFollowsRedirectWithBody(t *testing.T) {
	var leaderHits atomic.Int32
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaderHits.Add(1)
		u, p, ok := r.BasicAuth()
		if !ok || u != "bob" || p != "secret" {
			http.Error(w, "no auth", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == http.MethodDelete && r.URL.Path == "/remove":
			if string(body) != `{"id":"n3"}` {
				http.Error(w, "bad body "+string(body), http.StatusBadRequest)
			}
		case r.Method == http.MethodPost && r.URL.Path == "/db/execute":
			if !strings.Contains(string(body), "INSERT") {
				http.Error(w, "bad body "+string(body), http.StatusBadRequest)
				return
			}
			io.WriteString(w, `{"results":[{"last_insert_id":7,"rows_affected":1}]}`)
		default:
			http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), http.StatusTeapot)
		}
	}))
	defer leader.Close()
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, leader.URL+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	defer follower.Close()

	c := rqlite.MustNew(rqlite.Options{URLs: []string{follower.URL}, Username: "bob", Password: "secret"})
	ctx := context.Background()
	require.NoError(t, c.Remove(ctx, "n3"))
	res, err := c.Execute(ctx, rqlite.Stmt("INSERT INTO t VALUES(?)", 1))
	require.NoError(t, err)
	assert.Equal(t, []rqlite.ExecuteResult{{LastInsertID: 7, RowsAffected: 1}}, res)
	assert.EqualValues(t, 2, leaderHits.Load())
}

func TestClientRedirectLoopIsBounded(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	defer srv.Close()
	err := rqlite.MustNew(rqlite.Options{URLs: []string{srv.URL}}).Remove(context.Background(), "x")
	require.Error(t, err)
	assert.Equal(t, http.StatusMovedPermanently, rqlite.StatusCode(err))
}

func TestClientHTTPErrorCarriesURLStatusBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "remove: "+strings.Repeat("x", 2000), http.StatusInternalServerError)
	}))
	defer srv.Close()
	err := rqlite.MustNew(rqlite.Options{URLs: []string{srv.URL + "/"}, Redirect: true}).Remove(context.Background(), "n1")
	require.Error(t, err)
	var he *rqlite.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, http.StatusInternalServerError, he.StatusCode)
	assert.Equal(t, srv.URL+"/remove?redirect", he.URL)
	assert.Equal(t, "DELETE", he.Method)
	assert.Contains(t, err.Error(), "HTTP 500: remove: xxx")
	assert.Less(t, len(err.Error()), 700, "body must be an excerpt")
}

func TestClientFailsOverOnlyWhenUnreachable(t *testing.T) {
	// A closed listener gives a port that refuses connections.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + l.Addr().String()
	l.Close()

	var hits atomic.Int32
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, `{"nodes":[{"id":"a","addr":"x:4002","voter":true,"reachable":true,"leader":true,"time":0.5}]}`)
	}))
	defer live.Close()
	c := rqlite.MustNew(rqlite.Options{URLs: []string{dead, live.URL}})
	nodes, err := c.Nodes(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []rqlite.Node{{ID: "a", Addr: "x:4002", Voter: true, Reachable: true, Leader: true, Time: 500 * time.Millisecond}}, nodes)

	// An HTTP error is an answer: not retried on the next URL.
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	before := hits.Load()
	_, err = rqlite.MustNew(rqlite.Options{URLs: []string{failing.URL, live.URL}}).Nodes(context.Background())
	assert.Equal(t, http.StatusServiceUnavailable, rqlite.StatusCode(err))
	assert.Equal(t, before, hits.Load())
}

func TestClientResultErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/db/query":
			if r.URL.Query().Has("freshness") {
				io.WriteString(w, `{"error":"stale read"}`)
				return
			}
			io.WriteString(w, `{"results":[{"columns":["n"],"types":["integer"],"values":[[9007199254740993]]},{"error":"no such table: nope"}]}`)
		case "/db/execute":
			io.WriteString(w, `{"results":[{"last_insert_id":1,"rows_affected":1},{"error":"UNIQUE constraint failed"}]}`)
		}
	}))
	defer srv.Close()
	c := rqlite.MustNew(rqlite.Options{URLs: []string{srv.URL}})
	ctx := context.Background()

	_, err := c.QueryStatements(ctx, rqlite.QueryOptions{Level: rqlite.LevelNone, Freshness: time.Second}, rqlite.Stmt("SELECT 1"))
	var re *rqlite.ResultError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, -1, re.Index)
	assert.Equal(t, "stale read", re.Message)

	_, err = c.QueryStatements(ctx, rqlite.QueryOptions{}, rqlite.Stmt("SELECT n"), rqlite.Stmt("SELECT * FROM nope"))
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 1, re.Index)
	assert.Equal(t, "SELECT * FROM nope", re.SQL)

	rows, err := c.QueryStatements(ctx, rqlite.QueryOptions{}, rqlite.Stmt("SELECT n"), rqlite.Stmt("x"))
	assert.Error(t, err)
	assert.Nil(t, rows)

	res, err := c.Execute(ctx, rqlite.Stmt("INSERT 1"), rqlite.Stmt("INSERT 2"))
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 1, re.Index)
	assert.Len(t, res, 2)
	assert.True(t, errors.As(err, &re))
}

func TestClientTimeoutBoundsEachRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	start := time.Now()
	_, err := rqlite.MustNew(rqlite.Options{URLs: []string{srv.URL}, Timeout: 200 * time.Millisecond}).Status(context.Background())
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 3*time.Second)
}
