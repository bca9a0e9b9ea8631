// Package rqlite is a small client for rqlite's HTTP API, limited to what the
// shrink Job and the tests need: cluster membership, leadership, readiness and
// enough of /db/execute and /db/query to write and read rows. It uses only the
// standard library so the Job binary stays small and static.
//
// Behaviour below was measured against rqlited v8.43.4 (see docs/rqlite-facts.md):
//
//   - Followers forward writes, removals and leadership requests to the leader
//     over the Raft-port cluster protocol; they answer 301 to the leader only
//     when the request carries the "redirect" query parameter. The client
//     follows 301/302/307/308 itself, re-sending method and body (net/http
//     would turn a redirected POST or DELETE into a body-less GET).
//   - Boolean query parameters are presence flags: "nonvoters=false" still
//     means nonvoters. The client only ever adds the ones it means.
//   - POST /leader reads the target id only when Content-Type is exactly
//     "application/json"; otherwise it moves leadership to any node. More
//     traps of that endpoint are listed at TransferLeadership.
package rqlite

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds one HTTP exchange when Options.Timeout is zero. It
// matches rqlited's own default for forwarded requests so a request the server
// is still legitimately working on is not abandoned early.
const DefaultTimeout = 30 * time.Second

const (
	maxRedirects = 5
	// Long enough to show rqlite's error text, short enough for a log line.
	bodyExcerptLen = 512
)

// Options configures a Client.
type Options struct {
	// URLs are base URLs of rqlite nodes ("http://127.0.0.1:4001"). A request
	// moves on to the next URL only when it could not connect at all, so a
	// write is never sent twice; an HTTP error status is returned as is, since
	// the other nodes would forward to the same leader anyway. The URL that
	// last answered is tried first next time.
	URLs []string

	// Username and Password enable HTTP basic auth when Username is not empty.
	Username string
	Password string

	// TLSConfig is used for https URLs. It cannot be combined with HTTPClient:
	// configure the injected client's transport instead.
	TLSConfig *tls.Config

	// Timeout bounds each HTTP exchange (including redirects); 0 means
	// DefaultTimeout, negative means no per-request bound beyond the context.
	Timeout time.Duration

	// HTTPClient replaces the default client. Its CheckRedirect is overridden in
	// a copy, because this package follows redirects itself.
	HTTPClient *http.Client

	// Redirect asks followers to answer 301 with the leader's URL instead of
	// forwarding execute/query/remove/leader requests themselves. Useful when the
	// caller must know which node served a request, or to avoid the followers'
	// internal forwarding timeouts.
	Redirect bool
}

// Client talks to one rqlite cluster. It is safe for concurrent use.
type Client struct {
	urls     []*url.URL
	user     string
	password string
	timeout  time.Duration
	hc       *http.Client
	redirect bool

	mu        sync.Mutex
	preferred int // index into urls of the last base URL that answered
}

// New validates opts and returns a Client.
func New(opts Options) (*Client, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("rqlite: no base URL")
	}
	c := &Client{
		user:     opts.Username,
		password: opts.Password,
		timeout:  opts.Timeout,
		redirect: opts.Redirect,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	for _, raw := range opts.URLs {
		u, err := url.Parse(strings.TrimRight(raw, "/"))
		if err != nil {
			return nil, fmt.Errorf("rqlite: base URL %q: %w", raw, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("rqlite: base URL %q: want http(s)://host:port", raw)
		}
		c.urls = append(c.urls, u)
	}
	var hc http.Client
	switch {
	case opts.HTTPClient != nil && opts.TLSConfig != nil:
		return nil, errors.New("rqlite: set TLSConfig on the injected HTTPClient's transport, not in Options")
	case opts.HTTPClient != nil:
		hc = *opts.HTTPClient
	case opts.TLSConfig != nil:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = opts.TLSConfig.Clone()
		hc.Transport = tr
	default:
		// Shared so that short-lived clients (pollers create many) reuse
		// connections instead of each leaving an idle pool behind.
		hc.Transport = sharedTransport
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	return c, nil
}

var sharedTransport = http.DefaultTransport.(*http.Transport).Clone()

// MustNew is New for fixed, known-good options (tests, examples).
func MustNew(opts Options) *Client {
	c, err := New(opts)
	if err != nil {
		panic(err)
	}
	return c
}

// URLs returns the configured base URLs.
func (c *Client) URLs() []string {
	out := make([]string, len(c.urls))
	for i, u := range c.urls {
		out[i] = u.String()
	}
	return out
}

// HTTPError is a non-success answer from rqlited.
type HTTPError struct {
	Method     string
	URL        string
	StatusCode int
	Body       string // excerpt
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("rqlite: %s %s: HTTP %d", e.Method, e.URL, e.StatusCode)
	if b := strings.TrimSpace(e.Body); b != "" {
		msg += ": " + b
	}
	return msg
}

// StatusCode returns the HTTP status carried by err, or 0.
func StatusCode(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

// ResultError is an error rqlite reported inside a 200 response, either for the
// whole request (Index −1, e.g. "stale read", "leader not found") or for one
// statement.
type ResultError struct {
	URL     string
	Index   int
	SQL     string
	Message string
}

func (e *ResultError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("rqlite: %s: %s", e.URL, e.Message)
	}
	return fmt.Sprintf("rqlite: %s: statement %d (%q): %s", e.URL, e.Index, e.SQL, e.Message)
}

type response struct {
	url    string
	status int
	body   []byte
}

// do sends one request, failing over between base URLs on transport errors and
// following redirects with the same method and body. query is appended as is.
func (c *Client) do(ctx context.Context, method, path, query string, body []byte, contentType string) (*response, error) {
	return c.doAt(ctx, nil, method, path, query, body, contentType)
}

// doAt is do against explicit base URLs (nil: the configured ones).
func (c *Client) doAt(ctx context.Context, bases []*url.URL, method, path, query string, body []byte, contentType string) (*response, error) {
	configured := bases == nil
	if configured {
		bases = c.urls
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	start := 0
	if configured {
		c.mu.Lock()
		start = c.preferred
		c.mu.Unlock()
	}
	var lastErr error
	for i := range bases {
		idx := (start + i) % len(bases)
		u := *bases[idx]
		u.Path += path
		u.RawQuery = query
		resp, err := c.follow(ctx, method, u.String(), body, contentType)
		if err == nil {
			if configured {
				c.mu.Lock()
				c.preferred = idx
				c.mu.Unlock()
			}
			return resp, nil
		}
		lastErr = err
		if ctx.Err() != nil || !isDialError(err) {
			break
		}
	}
	return nil, lastErr
}

// isDialError is true when the request never reached a server, the only case
// where trying the next node cannot apply a write twice.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// follow performs one exchange, chasing up to maxRedirects redirects. The
// credentials go along to the redirect target: it is the leader address the
// cluster itself advertises, not a third party.
func (c *Client) follow(ctx context.Context, method, target string, body []byte, contentType string) (*response, error) {
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("rqlite: %s %s: %w", method, target, err)
		}
		if body == nil {
			req.Body = http.NoBody
			req.ContentLength = 0
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if c.user != "" {
			req.SetBasicAuth(c.user, c.password)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("rqlite: %s %s: %w", method, target, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("rqlite: %s %s: reading body: %w", method, target, err)
		}
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			loc := resp.Header.Get("Location")
			if loc == "" || hop >= maxRedirects {
				break
			}
			next, err := req.URL.Parse(loc)
			if err != nil {
				return nil, fmt.Errorf("rqlite: %s %s: bad redirect %q: %w", method, target, loc, err)
			}
			target = next.String()
			continue
		}
		return &response{url: target, status: resp.StatusCode, body: b}, nil
	}
}

// call is do plus "2xx or HTTPError".
func (c *Client) call(ctx context.Context, method, path, query string, body []byte, contentType string) (*response, error) {
	resp, err := c.do(ctx, method, path, query, body, contentType)
	if err != nil {
		return nil, err
	}
	if resp.status/100 != 2 {
		return resp, resp.httpError(method)
	}
	return resp, nil
}

func (r *response) httpError(method string) *HTTPError {
	return &HTTPError{Method: method, URL: r.url, StatusCode: r.status, Body: excerpt(r.body)}
}

func excerpt(b []byte) string {
	s := string(b)
	if len(s) > bodyExcerptLen {
		s = s[:bodyExcerptLen] + "…"
	}
	return s
}

func (c *Client) withRedirect(q url.Values) string {
	s := q.Encode()
	if c.redirect {
		if s != "" {
			s += "&"
		}
		s += "redirect"
	}
	return s
}

// Node is one member of the Raft configuration as seen by the node asked.
//
// Wire shape of GET /nodes?nonvoters&ver=2 on v8.43.4, sorted by id. A member
// that cannot be reached has reachable=false, no api_addr and an error text;
// "time" is measured before the probe starts and is always nanoseconds.
//
//	{"nodes":[
//	  {"id":"rqlite-0","api_addr":"http://127.77.1.1:4001","addr":"127.77.1.1:4002",
//	   "version":"v8.43.4","voter":true,"reachable":true,"leader":true,
//	   "time":5.4e-8,"time_s":"143ns"},
//	  {"id":"rqlite-2","addr":"127.77.1.3:4002","version":"","voter":true,
//	   "reachable":false,"leader":false,"time":2.9e-8,"time_s":"69ns",
//	   "error":"pool get: dial tcp 127.77.1.3:4002: connect: connection refused"}]}
type Node struct {
	ID        string
	APIAddr   string // advertised HTTP URL, empty when unreachable
	Addr      string // Raft address
	Version   string
	Voter     bool
	Reachable bool
	Leader    bool
	Error     string
	Time      time.Duration // how long the asked node took to reach this one
}

type wireNode struct {
	ID        string  `json:"id"`
	APIAddr   string  `json:"api_addr"`
	Addr      string  `json:"addr"`
	Version   string  `json:"version"`
	Voter     bool    `json:"voter"`
	Reachable bool    `json:"reachable"`
	Leader    bool    `json:"leader"`
	Time      float64 `json:"time"`
	Error     string  `json:"error"`
}

// Nodes lists every member, voters and non-voters, via GET /nodes?nonvoters&ver=2.
// The answer is the asked node's view: a node that was removed but still runs
// reports its last known configuration.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	resp, err := c.call(ctx, http.MethodGet, "/nodes", "nonvoters&ver=2", nil, "")
	if err != nil {
		return nil, err
	}
	var w struct {
		Nodes []wireNode `json:"nodes"`
	}
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return nil, fmt.Errorf("rqlite: GET %s: decoding %q: %w", resp.url, excerpt(resp.body), err)
	}
	out := make([]Node, len(w.Nodes))
	for i, n := range w.Nodes {
		out[i] = Node{
			ID: n.ID, APIAddr: n.APIAddr, Addr: n.Addr, Version: n.Version,
			Voter: n.Voter, Reachable: n.Reachable, Leader: n.Leader, Error: n.Error,
			Time: time.Duration(n.Time * float64(time.Second)),
		}
	}
	return out, nil
}

// ErrNoLeader is returned (wrapped) by Leader when no member is the leader.
var ErrNoLeader = errors.New("no leader")

// Leader returns the member the asked node reports as leader. Only reachable
// members can be reported as leader, so a leader the asked node cannot reach
// yields ErrNoLeader. Right after an election the asked node may name no
// leader or the previous one for up to a heartbeat; Status of the returned
// node is the authoritative check.
func (c *Client) Leader(ctx context.Context) (Node, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return Node{}, err
	}
	for _, n := range nodes {
		if n.Leader {
			return n, nil
		}
	}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
		if n.Error != "" {
			ids[i] += " (" + n.Error + ")"
		}
	}
	return Node{}, fmt.Errorf("rqlite: %s: %w among %d members [%s]", c.urls[0], ErrNoLeader, len(nodes), strings.Join(ids, ", "))
}

// Remove asks the leader to remove id from the Raft configuration via
// DELETE /remove. rqlite answers 200 for an id that is not a member and changes
// nothing, so success says nothing about membership: see RemoveAndConfirm.
func (c *Client) Remove(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("rqlite: remove: empty node id")
	}
	body, _ := json.Marshal(map[string]string{"id": id})
	_, err := c.call(ctx, http.MethodDelete, "/remove", c.withRedirect(nil), body, "application/json")
	return err
}

// confirmInterval paces the membership polls of RemoveAndConfirm.
var confirmInterval = 200 * time.Millisecond

// RemoveAndConfirm removes id and polls Nodes until id is gone, bounded by ctx.
// It reports whether id was a member when called; for a non-member it sends
// nothing and returns (false, nil), so repeating a removal is harmless. If id is
// still listed when ctx ends, the error says so and wraps ctx's error.
func (c *Client) RemoveAndConfirm(ctx context.Context, id string) (wasMember bool, err error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return false, err
	}
	if !hasID(nodes, id) {
		return false, nil
	}
	if err := c.Remove(ctx, id); err != nil {
		return true, err
	}
	for {
		nodes, err := c.Nodes(ctx)
		if err == nil && !hasID(nodes, id) {
			return true, nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return true, fmt.Errorf("rqlite: node %s removal not confirmed: %w (last poll: %v)", id, ctx.Err(), err)
			}
			return true, fmt.Errorf("rqlite: node %s still a member after removal: %w", id, ctx.Err())
		case <-time.After(confirmInterval):
		}
	}
}

func hasID(nodes []Node, id string) bool {
	for _, n := range nodes {
		if n.ID == id {
			return true
		}
	}
	return false
}

// TransferLeadership moves leadership to voter toID and waits until toID
// itself reports being leader (bounded by ctx). An empty toID lets rqlite pick
// any voter and waits for a leader other than the old one. Transferring to the
// current leader succeeds without doing anything. Leadership claims are checked
// with the claimed leader's own /status, since the asked node may still name
// the previous leader for up to a heartbeat after an election.
//
// rqlite's POST /leader has traps this method steps around (v8.43.4):
//   - sent to the target node itself it answers 500 "cannot transfer
//     leadership to itself", and sent to the current leader naming itself 500
//     "cannot step down to the current Leader": so the request always goes to
//     the leader's advertised API address, and the no-op case is decided here;
//   - naming a non-voter it answers 200 and the leader steps down, so some
//     voter wins an election: refused here instead, like unknown and
//     unreachable targets;
//   - without "wait" a follower answers 200 and does nothing; "wait" is sent.
func (c *Client) TransferLeadership(ctx context.Context, toID string) error {
	leader, target, err := c.verifiedLeader(ctx, toID)
	if err != nil {
		return err
	}
	if toID != "" && leader.ID == toID {
		return nil
	}
	var body []byte
	if toID != "" {
		body, _ = json.Marshal(map[string]string{"id": toID})
	}
	base, err := parseAPIAddr(leader.APIAddr)
	if err != nil {
		return err
	}
	resp, err := c.doAt(ctx, []*url.URL{base}, http.MethodPost, "/leader", "wait", body, "application/json")
	if err != nil {
		return err
	}
	if resp.status/100 != 2 {
		if toID != "" && strings.Contains(string(resp.body), "cannot step down to the current Leader") {
			// Lost a race with an election that made toID leader anyway.
			return nil
		}
		return resp.httpError(http.MethodPost)
	}
	// Confirm with the new leader itself: other nodes learn of it only on its
	// first heartbeat and may name the old leader until then.
	for {
		if toID != "" {
			if st, err := c.statusAt(ctx, target.APIAddr); err == nil && st.RaftState == "Leader" {
				return nil
			}
		} else if l, _, err := c.verifiedLeader(ctx, ""); err == nil && l.ID != leader.ID {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rqlite: leadership transfer to %q accepted by %s but not observed: %w", toID, leader.ID, ctx.Err())
		case <-time.After(confirmInterval):
		}
	}
}

// verifiedLeader finds the leader and checks the claim with the leader itself,
// since the asked node's view can lag behind an election. With toID set it also
// validates the target and returns it.
func (c *Client) verifiedLeader(ctx context.Context, toID string) (leader, target Node, err error) {
	for {
		nodes, err := c.Nodes(ctx)
		if err != nil {
			return Node{}, Node{}, err
		}
		if toID != "" {
			i := slices.IndexFunc(nodes, func(n Node) bool { return n.ID == toID })
			switch {
			case i < 0:
				return Node{}, Node{}, fmt.Errorf("rqlite: transfer leadership: %q is not a member", toID)
			case !nodes[i].Voter:
				return Node{}, Node{}, fmt.Errorf("rqlite: transfer leadership: %q is a non-voter and cannot lead", toID)
			case !nodes[i].Reachable || nodes[i].APIAddr == "":
				return Node{}, Node{}, fmt.Errorf("rqlite: transfer leadership: %q is unreachable: %s", toID, nodes[i].Error)
			}
			target = nodes[i]
		}
		var why error = ErrNoLeader
		if i := slices.IndexFunc(nodes, func(n Node) bool { return n.Leader }); i >= 0 {
			st, err := c.statusAt(ctx, nodes[i].APIAddr)
			if err == nil && st.RaftState == "Leader" {
				return nodes[i], target, nil
			}
			why = fmt.Errorf("%w: %s is named leader but says %q (%v)", ErrNoLeader, nodes[i].ID, st.RaftState, err)
		}
		select {
		case <-ctx.Done():
			return Node{}, Node{}, fmt.Errorf("rqlite: transfer leadership to %q: %w (%v)", toID, why, ctx.Err())
		case <-time.After(confirmInterval):
		}
	}
}

func parseAPIAddr(addr string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(addr, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("rqlite: bad advertised API address %q", addr)
	}
	return u, nil
}

// ReadyOptions selects a /readyz variant.
type ReadyOptions struct {
	// NoLeader: ready as soon as the node serves HTTP, leader or not.
	NoLeader bool
	// Sync: also wait until the node has applied the leader's commit index as
	// of the request (bounded by Timeout server-side).
	Sync bool
	// Timeout is sent as "timeout=" and bounds the server's leader contact and
	// sync wait (rqlite's default is 30 s). Zero leaves the server default.
	Timeout time.Duration
}

// Ready asks GET /readyz and returns the body, rqlite's check list. A 2xx
// answer is ready; anything else is not and comes back as an *HTTPError too.
// Without a leader v8.43.4 first answers 503 "[+]node ok\n[+]leader not
// contactable: …" and, once the node forgets the leader, 500 "leader address:
// leader not found", so callers must not tell 500 from 503.
func (c *Client) Ready(ctx context.Context, opts ReadyOptions) (string, error) {
	var flags []string
	if opts.NoLeader {
		flags = append(flags, "noleader")
	}
	if opts.Sync {
		flags = append(flags, "sync")
	}
	if opts.Timeout > 0 {
		flags = append(flags, "timeout="+opts.Timeout.String())
	}
	resp, err := c.call(ctx, http.MethodGet, "/readyz", strings.Join(flags, "&"), nil, "")
	if resp != nil {
		return string(resp.body), err
	}
	return "", err
}

// Status is the part of GET /status the tooling uses.
type Status struct {
	NodeID     string
	RaftState  string // "Leader", "Follower", "Candidate", "Shutdown"
	Voter      bool
	LeaderID   string // empty when no leader is known
	LeaderAddr string // Raft address of the leader
	Ready      bool
	Version    string // rqlited build version, e.g. "v8.43.4"
	RaftAddr   string
}

// Status reads GET /status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	resp, err := c.call(ctx, http.MethodGet, "/status", "", nil, "")
	if err != nil {
		return Status{}, err
	}
	return decodeStatus(resp)
}

// statusAt reads GET /status of the node at an advertised API address.
func (c *Client) statusAt(ctx context.Context, apiAddr string) (Status, error) {
	base, err := parseAPIAddr(apiAddr)
	if err != nil {
		return Status{}, err
	}
	resp, err := c.doAt(ctx, []*url.URL{base}, http.MethodGet, "/status", "", nil, "")
	if err != nil {
		return Status{}, err
	}
	if resp.status/100 != 2 {
		return Status{}, resp.httpError(http.MethodGet)
	}
	return decodeStatus(resp)
}

func decodeStatus(resp *response) (Status, error) {
	var w struct {
		Build struct {
			Version string `json:"version"`
		} `json:"build"`
		Store struct {
			NodeID string `json:"node_id"`
			Addr   string `json:"addr"`
			Ready  bool   `json:"ready"`
			Leader struct {
				NodeID string `json:"node_id"`
				Addr   string `json:"addr"`
			} `json:"leader"`
			Raft struct {
				State string `json:"state"`
				Voter bool   `json:"voter"`
			} `json:"raft"`
		} `json:"store"`
	}
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return Status{}, fmt.Errorf("rqlite: GET %s: decoding: %w", resp.url, err)
	}
	return Status{
		NodeID: w.Store.NodeID, RaftState: w.Store.Raft.State, Voter: w.Store.Raft.Voter,
		LeaderID: w.Store.Leader.NodeID, LeaderAddr: w.Store.Leader.Addr,
		Ready: w.Store.Ready, Version: w.Build.Version, RaftAddr: w.Store.Addr,
	}, nil
}

// Statement is one SQL statement with positional parameters.
type Statement struct {
	SQL  string
	Args []any
}

// Stmt builds a Statement.
func Stmt(sql string, args ...any) Statement { return Statement{SQL: sql, Args: args} }

// MarshalJSON produces rqlite's parameterized form: ["sql", arg1, arg2, ...].
func (s Statement) MarshalJSON() ([]byte, error) {
	return json.Marshal(append([]any{s.SQL}, s.Args...))
}

// ExecuteResult is the outcome of one write statement.
type ExecuteResult struct {
	LastInsertID int64 `json:"last_insert_id"`
	RowsAffected int64 `json:"rows_affected"`
}

// Execute runs write statements via POST /db/execute (not in a transaction).
// A per-statement failure is returned as a *ResultError naming the first
// failed statement, together with every result (failed ones zero).
func (c *Client) Execute(ctx context.Context, stmts ...Statement) ([]ExecuteResult, error) {
	if len(stmts) == 0 {
		return nil, errors.New("rqlite: execute: no statements")
	}
	body, err := json.Marshal(stmts)
	if err != nil {
		return nil, fmt.Errorf("rqlite: execute: encoding statements: %w", err)
	}
	resp, err := c.call(ctx, http.MethodPost, "/db/execute", c.withRedirect(nil), body, "application/json")
	if err != nil {
		return nil, err
	}
	var w struct {
		Results []struct {
			ExecuteResult
			Error string `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return nil, fmt.Errorf("rqlite: POST %s: decoding %q: %w", resp.url, excerpt(resp.body), err)
	}
	if w.Error != "" {
		return nil, &ResultError{URL: resp.url, Index: -1, Message: w.Error}
	}
	out := make([]ExecuteResult, len(w.Results))
	var first error
	for i, r := range w.Results {
		out[i] = r.ExecuteResult
		if r.Error != "" && first == nil {
			first = &ResultError{URL: resp.url, Index: i, SQL: stmtSQL(stmts, i), Message: r.Error}
		}
	}
	return out, first
}

func stmtSQL(stmts []Statement, i int) string {
	if i < len(stmts) {
		return stmts[i].SQL
	}
	return ""
}

// Read consistency levels accepted by /db/query.
const (
	LevelNone         = "none"
	LevelWeak         = "weak"
	LevelStrong       = "strong"
	LevelLinearizable = "linearizable"
	LevelAuto         = "auto"
)

// QueryOptions tunes a read.
type QueryOptions struct {
	// Level is one of the Level constants; empty means rqlite's default (weak).
	Level string
	// Freshness bounds how stale a level=none read may be; a node too far behind
	// answers HTTP 200 with "error":"stale read", returned as a *ResultError.
	Freshness time.Duration
	// FreshnessStrict also fails the read when the leader has not been heard
	// from within Freshness even if nothing new was written.
	FreshnessStrict bool
}

// Rows is one query result. Values are decoded with json.Number for numbers
// so integers survive intact.
type Rows struct {
	Columns []string
	Types   []string
	Values  [][]any
}

// Query runs one read at the given level (see the Level constants; "" for
// rqlite's default) with positional args via POST /db/query.
func (c *Client) Query(ctx context.Context, level string, sql string, args ...any) (Rows, error) {
	rs, err := c.QueryStatements(ctx, QueryOptions{Level: level}, Stmt(sql, args...))
	if err != nil {
		return Rows{}, err
	}
	return rs[0], nil
}

// QueryStatements runs reads with full options. A per-statement failure, or a
// request-level one such as "stale read", is returned as a *ResultError.
func (c *Client) QueryStatements(ctx context.Context, opts QueryOptions, stmts ...Statement) ([]Rows, error) {
	if len(stmts) == 0 {
		return nil, errors.New("rqlite: query: no statements")
	}
	body, err := json.Marshal(stmts)
	if err != nil {
		return nil, fmt.Errorf("rqlite: query: encoding statements: %w", err)
	}
	q := url.Values{}
	if opts.Level != "" {
		q.Set("level", opts.Level)
	}
	if opts.Freshness > 0 {
		q.Set("freshness", opts.Freshness.String())
	}
	query := c.withRedirect(q)
	if opts.FreshnessStrict {
		if query != "" {
			query += "&"
		}
		query += "freshness_strict"
	}
	resp, err := c.call(ctx, http.MethodPost, "/db/query", query, body, "application/json")
	if err != nil {
		return nil, err
	}
	var w struct {
		Results []struct {
			Columns []string `json:"columns"`
			Types   []string `json:"types"`
			Values  [][]any  `json:"values"`
			Error   string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(resp.body))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("rqlite: POST %s: decoding %q: %w", resp.url, excerpt(resp.body), err)
	}
	if w.Error != "" {
		return nil, &ResultError{URL: resp.url, Index: -1, Message: w.Error}
	}
	if len(w.Results) != len(stmts) {
		return nil, fmt.Errorf("rqlite: POST %s: %d results for %d statements", resp.url, len(w.Results), len(stmts))
	}
	out := make([]Rows, len(w.Results))
	for i, r := range w.Results {
		if r.Error != "" {
			return nil, &ResultError{URL: resp.url, Index: i, SQL: stmts[i].SQL, Message: r.Error}
		}
		out[i] = Rows{Columns: r.Columns, Types: r.Types, Values: r.Values}
	}
	return out, nil
}
