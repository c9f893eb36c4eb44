// Package labels bounds metric label values: a peer chooses methods and
// close codes freely, and each distinct value would be a new series. The
// OpenTelemetry metrics and the gateway's Prometheus metrics use the same
// functions, so that they agree.
package labels

// Method bounds the method attribute to the specification's names,
// so that a client cannot grow the number of series.
func Method(m string) string {
	switch m {
	case "initialize", "ping", "server/discover",
		"tools/list", "tools/call",
		"resources/list", "resources/read", "resources/templates/list", "resources/subscribe", "resources/unsubscribe",
		"prompts/list", "prompts/get", "completion/complete", "logging/setLevel",
		"sampling/createMessage", "elicitation/create", "roots/list",
		"tasks/get", "tasks/list", "tasks/result", "tasks/cancel",
		"notifications/initialized", "notifications/cancelled", "notifications/progress", "notifications/message",
		"notifications/resources/updated", "notifications/resources/list_changed",
		"notifications/tools/list_changed", "notifications/prompts/list_changed",
		"notifications/roots/list_changed", "notifications/elicitation/complete", "notifications/tasks/status":
		return m
	}
	return "other"
}

// CloseCode bounds the close code attribute to the codes of RFC 6455's
// registry that a connection can end with; any other, which a peer may
// choose freely (3000–4999 and beyond), is 0, so that a client cannot grow
// the number of series.
func CloseCode(code int) int {
	switch {
	case code >= 1000 && code <= 1003, code >= 1005 && code <= 1015:
		return code
	}
	return 0
}
