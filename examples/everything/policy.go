package main

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// inventory returns what s serves, as Policy.Unused takes it: the names
// of its tools, the URIs of its resources and the URI templates of its
// templates, and the names of its prompts. It lists them as a client does,
// over an in-memory session: the server has no other way to tell. Call it
// before the server is served with a policy, whose middleware would hide
// from this token-less session what it refuses.
func inventory(ctx context.Context, s *mcp.Server) (tools, resources, prompts []string, err error) {
	ct, st := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("inventory: %w", err)
	}
	defer ss.Wait()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "inventory", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		ss.Close()
		return nil, nil, nil, fmt.Errorf("inventory: %w", err)
	}
	defer cs.Close()
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, nil, nil, fmt.Errorf("inventory: %w", err)
		}
		tools = append(tools, t.Name)
	}
	for r, err := range cs.Resources(ctx, nil) {
		if err != nil {
			return nil, nil, nil, fmt.Errorf("inventory: %w", err)
		}
		resources = append(resources, r.URI)
	}
	for r, err := range cs.ResourceTemplates(ctx, nil) {
		if err != nil {
			return nil, nil, nil, fmt.Errorf("inventory: %w", err)
		}
		resources = append(resources, r.URITemplate)
	}
	for p, err := range cs.Prompts(ctx, nil) {
		if err != nil {
			return nil, nil, nil, fmt.Errorf("inventory: %w", err)
		}
		prompts = append(prompts, p.Name)
	}
	return tools, resources, prompts, nil
}
