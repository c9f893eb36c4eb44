package middleware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Defaults for the JWKS fields of [JWTOptions].
const (
	// DefaultJWKSFetchTimeout bounds one key-set fetch: connection,
	// headers and body.
	DefaultJWKSFetchTimeout = 10 * time.Second
	// DefaultMaxJWKSBytes bounds a key-set response body. Real key sets
	// are a few KiB.
	DefaultMaxJWKSBytes = 1 << 20
	// DefaultJWKSRefresh is how often the key set is fetched in the
	// background.
	DefaultJWKSRefresh = 15 * time.Minute
	// DefaultMinRefresh bounds refreshes triggered by unknown kids.
	DefaultMinRefresh = time.Minute
	// DefaultUnknownKeyWait is how long a token with an unknown kid waits
	// for a refresh before it is refused.
	DefaultUnknownKeyWait = 2 * time.Second
)

var errUnknownKey = errors.New("no key in the JWKS matches the token's kid")

// verifyKey is one public key of the set, ready for jwt.WithKey.
type verifyKey struct {
	alg jwa.SignatureAlgorithm // the key's own alg, if it names one
	raw any                    // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey
}

// keySnapshot is an immutable key set, by kid.
type keySnapshot map[string]verifyKey

// keySource holds an identity provider's key set, fetched at start and
// refreshed by one background goroutine: periodically, and on demand when
// a token names an unknown kid. Verification reads the current snapshot
// through an atomic pointer and never waits for a fetch, unless its own kid
// is unknown, and then at most UnknownKeyWait.
//
// It replaces jwk.Cache, which holds a lock for the whole fetch (so every
// verification waits for a slow provider), fetches with
// context.Background(), and reads bodies without a size limit.
type keySource struct {
	url        string
	client     *http.Client
	ownClient  bool // client is ours: close its idle connections at the end
	timeout    time.Duration
	maxBytes   int64
	interval   time.Duration
	minRefresh time.Duration
	wait       time.Duration
	logger     *slog.Logger
	ctx        context.Context

	keys atomic.Pointer[keySnapshot]
	kick chan struct{} // asks the refresher for a fetch

	mu   sync.Mutex
	done chan struct{} // closed when the fetch in flight ends; nil when idle
	last time.Time     // when the last kid-triggered refresh was requested
}

// newKeySource fetches the key set once and starts the background
// refresher, which stops when ctx ends.
func newKeySource(ctx context.Context, opts JWTOptions) (*keySource, error) {
	k := &keySource{
		url:        opts.JWKSURL,
		client:     opts.HTTPClient,
		timeout:    positive(opts.FetchTimeout, DefaultJWKSFetchTimeout),
		maxBytes:   opts.MaxJWKSBytes,
		interval:   positive(opts.RefreshInterval, DefaultJWKSRefresh),
		minRefresh: positive(opts.MinRefresh, DefaultMinRefresh),
		wait:       opts.UnknownKeyWait,
		logger:     opts.Logger,
		ctx:        ctx,
		kick:       make(chan struct{}, 1),
	}
	if k.maxBytes <= 0 {
		k.maxBytes = DefaultMaxJWKSBytes
	}
	if k.wait == 0 {
		k.wait = DefaultUnknownKeyWait
	}
	if k.logger == nil {
		k.logger = slog.New(slog.DiscardHandler)
	}
	if k.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxResponseHeaderBytes = 64 << 10
		k.client = &http.Client{Timeout: k.timeout, Transport: t}
		k.ownClient = true
	}
	if err := k.fetch(ctx); err != nil {
		k.closeIdle()
		return nil, fmt.Errorf("middleware: fetching JWKS %s: %w", k.url, err)
	}
	go k.run(ctx)
	return k, nil
}

func positive(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// key returns the key named kid. An unknown kid asks for a refresh (at most
// one in flight, at most one per minRefresh) and waits for it at most
// k.wait; a known kid never waits.
func (k *keySource) key(ctx context.Context, kid string) (verifyKey, error) {
	if key, ok := (*k.keys.Load())[kid]; ok {
		return key, nil
	}
	done := k.requestRefresh()
	if done == nil || k.wait < 0 {
		return verifyKey{}, errUnknownKey
	}
	t := time.NewTimer(k.wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		return verifyKey{}, fmt.Errorf("%w (the key set refresh took longer than %v)", errUnknownKey, k.wait)
	case <-ctx.Done():
		return verifyKey{}, fmt.Errorf("%w: %w", errUnknownKey, ctx.Err())
	case <-k.ctx.Done():
		return verifyKey{}, errUnknownKey
	}
	if key, ok := (*k.keys.Load())[kid]; ok {
		return key, nil
	}
	return verifyKey{}, errUnknownKey
}

// requestRefresh returns a channel closed when the fetch in flight (or
// one it starts) ends, or nil when rate-limited or stopped.
func (k *keySource) requestRefresh() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.done != nil {
		return k.done
	}
	if k.ctx.Err() != nil || (!k.last.IsZero() && time.Since(k.last) < k.minRefresh) {
		return nil
	}
	k.last = time.Now()
	k.done = make(chan struct{})
	select {
	case k.kick <- struct{}{}:
	default:
	}
	return k.done
}

// run is the refresher: one fetch at a time, every interval and when
// asked, until ctx ends.
func (k *keySource) run(ctx context.Context) {
	defer k.closeIdle()
	t := time.NewTimer(k.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-k.kick:
		}
		k.mu.Lock()
		if k.done == nil {
			k.done = make(chan struct{})
		}
		done := k.done
		select { // this fetch answers a pending request too
		case <-k.kick:
		default:
		}
		k.mu.Unlock()

		if err := k.fetch(ctx); err != nil && ctx.Err() == nil {
			k.logger.Warn("mcpws: JWKS refresh failed; keeping the previous key set", "url", k.url, "error", err.Error())
		}
		k.mu.Lock()
		close(done)
		k.done = nil
		k.mu.Unlock()
		t.Reset(k.interval)
	}
}

// fetch downloads, parses and publishes the key set. On any error the
// previous set stays.
func (k *keySource) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	if resp.ContentLength > k.maxBytes {
		return fmt.Errorf("key set of %d bytes is over the %d-byte limit", resp.ContentLength, k.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, k.maxBytes+1))
	if err != nil {
		return err
	}
	if int64(len(body)) > k.maxBytes {
		return fmt.Errorf("key set over the %d-byte limit", k.maxBytes)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return err
	}
	snap, err := snapshot(set)
	if err != nil {
		return err
	}
	k.keys.Store(&snap)
	return nil
}

// snapshot keeps the public signing keys of set that have a kid.
func snapshot(set jwk.Set) (keySnapshot, error) {
	snap := keySnapshot{}
	for i := range set.Len() {
		key, _ := set.Key(i)
		kid := key.KeyID()
		if _, dup := snap[kid]; kid == "" || dup || key.KeyType() == jwa.OctetSeq || key.KeyUsage() == string(jwk.ForEncryption) {
			continue
		}
		pub, err := key.PublicKey()
		if err != nil {
			continue
		}
		var raw any
		if err := pub.Raw(&raw); err != nil {
			continue
		}
		var alg jwa.SignatureAlgorithm
		switch a := key.Algorithm().(type) {
		case jwa.SignatureAlgorithm:
			alg = a
		case jwa.InvalidKeyAlgorithm:
			if a != "" {
				continue // an algorithm we do not know
			}
		default:
			continue // a key for encryption
		}
		snap[kid] = verifyKey{alg: alg, raw: raw}
	}
	if len(snap) == 0 {
		return nil, errors.New("no usable signing key (with a kid) in the key set")
	}
	return snap, nil
}

func (k *keySource) closeIdle() {
	if k.ownClient {
		k.client.CloseIdleConnections()
	}
}
