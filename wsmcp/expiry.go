package wsmcp

import (
	"time"
)

// minExpiryDelay keeps a token accepted within the verifier's clock-skew
// leeway from closing the socket the instant it opens, which would make a
// client that redials with the same token loop.
const minExpiryDelay = time.Second

// expireAt closes the connection with 1008 "token expired" at t. The client
// redials once with a fresh token; see docs/protocol.md.
func (c *conn) expireAt(t time.Time) {
	d := max(time.Until(t), minExpiryDelay)
	c.expiry = time.AfterFunc(d, func() {
		c.log.Info("wsmcp: token expired", "session", c.id)
		c.shutdown(StatusTokenExpired, ReasonTokenExpired, true, nil)
	})
}
