package wsmcp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// SessionStore keeps the small state of resumable sessions where every
// replica of an endpoint finds it (ResumptionOptions.Store), so that a
// session whose server died, or was drained for a deploy, resumes on
// another replica. Package redismcpws has one on Redis.
//
// The state is opaque to the store. It never holds a credential: the
// session's identity and resume secret are kept as SHA-256 hashes. What a
// session re-created from it keeps and loses is in docs/resumption.md.
type SessionStore interface {
	// Put stores state under id for ttl, replacing what was there.
	Put(ctx context.Context, id string, state []byte, ttl time.Duration) error
	// Touch extends to ttl the life of the states of ids, and returns those
	// of ids that have no state (the store lost it: Redis restarted, say),
	// which the replica then puts again. A replica touches the sessions it
	// holds every third of ttl, so that the states of a replica that died
	// lapse within ttl.
	Touch(ctx context.Context, ids []string, ttl time.Duration) (missing []string, err error)
	// Get returns the state stored under id, or nil if there is none.
	Get(ctx context.Context, id string) ([]byte, error)
	// Delete removes the state of id and reports whether there was one. Of
	// replicas racing to re-create a session, the one whose Delete
	// reports true does.
	Delete(ctx context.Context, id string) (bool, error)
}

// storeTimeout bounds each call to a SessionStore: a resume waits at most
// this long for the store before it is refused.
const storeTimeout = 2 * time.Second

// Bounds of what a client can make the Store hold for its session. A
// session whose initialize request and result exceed maxStoredInit is not
// stored (it resumes only on its own replica); subscriptions beyond
// maxStoredSubscriptions, or to URIs longer than maxStoredURI, are not
// carried to another replica.
const (
	maxStoredInit          = 64 << 10
	maxStoredSubscriptions = 100
	maxStoredURI           = 2 << 10
)

// storedSession is what a SessionStore keeps of a session: enough to
// re-create the SDK's session (mcp.ServerSessionState) and its
// subscriptions, and to check who may resume it.
type storedSession struct {
	Identity []byte `json:"identity"`       // SHA-256 of the session id and identity.Key
	Secret   []byte `json:"secret"`         // SHA-256 of the resume secret
	Prev     []byte `json:"prev,omitempty"` // the secret before, until the client is heard
	// Init and Result are the params of the client's initialize request and
	// the result the server answered (without the grant).
	Init     json.RawMessage `json:"init"`
	Result   json.RawMessage `json:"result"`
	LogLevel string          `json:"logLevel,omitempty"`
	// Subscriptions are the resource URIs the client subscribed to.
	Subscriptions []string `json:"subscriptions,omitempty"`
}

func hashOf(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// identityHash is the identity as stored: salted with the session id, so
// that the store does not tell whose sessions it holds.
func identityHash(sessionID, identityKey string) []byte {
	return hashOf(sessionID + "\x00" + identityKey)
}

// admits reports, in constant time, whether secret and identity key may
// resume session id.
func (st *storedSession) admits(id, secret, identityKey string) bool {
	h := hashOf(secret)
	ok := subtle.ConstantTimeCompare(st.Secret, h) == 1
	prev := len(st.Prev) > 0 && subtle.ConstantTimeCompare(st.Prev, h) == 1
	who := subtle.ConstantTimeCompare(st.Identity, identityHash(id, identityKey)) == 1
	return (ok || prev) && who
}

// state rebuilds the SDK's session state: initialized, at the negotiated
// version and log level.
func (st *storedSession) state() (*mcp.ServerSessionState, error) {
	var init mcp.InitializeParams
	if err := json.Unmarshal(st.Init, &init); err != nil {
		return nil, err
	}
	var result struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(st.Result, &result); err != nil {
		return nil, err
	}
	return &mcp.ServerSessionState{
		InitializeParams: &init,
		// The client resumes a granted session: it sent initialized right
		// after the answer that granted it.
		InitializedParams:         &mcp.InitializedParams{},
		NegotiatedProtocolVersion: result.ProtocolVersion,
		LogLevel:                  mcp.LoggingLevel(st.LogLevel),
	}, nil
}

// restoreID is the prefix of the ids of the requests a re-created session
// makes up for the SDK (subscriptions); their answers go nowhere.
const restoreID = "io.mcpws/restore/"

// subscribeRequests returns the made-up subscribe requests that give a
// re-created session its subscriptions back, with the resuming socket's
// extra (identity, headers), as the client's own would have.
func (st *storedSession) subscribeRequests(extra any) []jsonrpc.Message {
	var msgs []jsonrpc.Message
	for i, uri := range st.Subscriptions {
		params, err := json.Marshal(map[string]string{"uri": uri})
		if err != nil {
			continue
		}
		id, _ := jsonrpc.MakeID(restoreID + strconv.Itoa(i))
		msgs = append(msgs, &jsonrpc.Request{ID: id, Method: "resources/subscribe", Params: params, Extra: extra})
	}
	return msgs
}

// isRestoreID reports whether id is that of a made-up request.
func isRestoreID(id jsonrpc.ID) bool {
	s, ok := id.Raw().(string)
	return ok && strings.HasPrefix(s, restoreID)
}
