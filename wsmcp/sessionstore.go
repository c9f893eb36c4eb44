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
//
// Every state has an owner: a token, minted by the replica that holds the
// session, that changes when another replica takes the session over. Every
// write names the owner it expects, and the store applies it atomically
// only if that is still the owner (compare-and-set), so that two live
// copies of one session (a replica that was cut off, not dead) are fenced:
// the stale copy's writes, renewals and deletes are refused, and it ends.
// Owners are never empty and never contain a newline.
type SessionStore interface {
	// Put stores state under id for ttl, owned by owner, if the state
	// under id is owned by prev, and reports whether it did. An empty prev
	// creates: Put stores only if id has no state at all, not even the mark
	// of an ended session (see Delete).
	Put(ctx context.Context, id, prev, owner string, state []byte, ttl time.Duration) (bool, error)
	// Get returns the state stored under id and its owner, or a nil state
	// if there is none or the session ended.
	Get(ctx context.Context, id string) (state []byte, owner string, err error)
	// Touch extends to ttl the life of the states of owners' sessions (id
	// to owner) that are still owned so, and returns the ids of the others:
	// those the store lost (Redis restarted, say), which their replica puts
	// again (create only), and those another replica took over, which their
	// replica ends. A replica touches the sessions it holds every third of
	// ttl, so that the states of a replica that died lapse within ttl.
	Touch(ctx context.Context, owners map[string]string, ttl time.Duration) (stale []string, err error)
	// Delete ends session id if owner owns it, and reports whether it did.
	// The state is replaced by a mark, kept for ttl, that no Put replaces:
	// a stale copy of the session elsewhere can neither resume it nor put
	// it back.
	Delete(ctx context.Context, id, owner string, ttl time.Duration) (bool, error)
}

// storeTimeout bounds each call to a SessionStore: a resume waits at most
// this long for the store before it is refused.
const storeTimeout = 2 * time.Second

// Bounds of what a client can make the Store hold for its session
// (docs/security.md, "Resource budget"). An initialize request that offers
// resumption with params over maxStoredInit, and a subscription past
// maxStoredSubscriptions or maxStoredSubBytes in all, or to a URI over
// maxStoredURI, are refused with errStoreFull; the server's own initialize
// result comes on top. A state over maxStoredState in all (a server with a
// huge initialize result) is not stored: such sessions resume on their own
// replica only.
const (
	maxStoredInit          = 4 << 10
	maxStoredSubscriptions = 100
	maxStoredSubBytes      = 8 << 10
	maxStoredURI           = 2 << 10
	maxStoredState         = 16 << 10
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

// restoreID starts the ids of the requests a re-created session makes up
// for the SDK (subscriptions), followed by a random part of the session's
// own, so that no client id can pass for one; their answers go nowhere.
const restoreID = "io.mcpws/restore/"

// subscribeRequests returns the made-up subscribe requests that give a
// re-created session its subscriptions back, with ids under prefix and the
// resuming socket's extra (identity, headers), as the client's own would
// have.
func (st *storedSession) subscribeRequests(prefix string, extra any) []jsonrpc.Message {
	var msgs []jsonrpc.Message
	for i, uri := range st.Subscriptions {
		params, err := json.Marshal(map[string]string{"uri": uri})
		if err != nil {
			continue
		}
		id, _ := jsonrpc.MakeID(prefix + strconv.Itoa(i))
		msgs = append(msgs, &jsonrpc.Request{ID: id, Method: "resources/subscribe", Params: params, Extra: extra})
	}
	return msgs
}

// hasIDPrefix reports whether id is a string that starts with prefix.
func hasIDPrefix(id jsonrpc.ID, prefix string) bool {
	s, ok := id.Raw().(string)
	return ok && strings.HasPrefix(s, prefix)
}
