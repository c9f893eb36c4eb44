package wsmcp

// MaxDeferred is maxDeferred, for the tests of package wsmcp_test.
const MaxDeferred = maxDeferred
