// Package notify raises MCP notifications for the sessions of every replica
// of an endpoint: a resource that changed (resources/updated) and a list
// that changed (tools, prompts, resources), whatever raised them: a tool,
// a REST handler, a background job. A [Notifier] publishes on a [Bus] that
// all replicas share, and each replica delivers what arrives to its own
// sessions through the go-sdk, so that both protocol generations get the
// notification as the SDK sends it, over any transport.
//
// The default bus, [MemoryBus], reaches one process; package redismcpws
// has one on Redis pub/sub (docs/scaling.md).
package notify
