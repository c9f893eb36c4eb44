package middleware_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcpws/mcpws/middleware"
)

// The local leases count in this process only: the default of
// ConnectionLimit. A shared implementation (redismcpws) answers the
// same way across replicas.
func ExampleNewLocalLeases() {
	leases := middleware.NewLocalLeases()
	req := middleware.LeaseRequest{Identity: "https://idp\x00ada", PerIdentity: 1, Total: 100}
	release, _ := leases.Acquire(context.Background(), req)
	_, err := leases.Acquire(context.Background(), req)
	fmt.Println(errors.Is(err, middleware.ErrIdentityCap))
	release()
	_, err = leases.Acquire(context.Background(), req)
	fmt.Println(err)
	// Output:
	// true
	// <nil>
}
