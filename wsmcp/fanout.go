package wsmcp

import "github.com/modelcontextprotocol/go-sdk/jsonrpc"

// fanOut reports whether msg is a notification the server sends to every
// subscriber in turn, which must never wait on one of them.
func fanOut(msg jsonrpc.Message) bool {
	req, ok := msg.(*jsonrpc.Request)
	return ok && !req.IsCall() && fansOut(req.Method)
}

// fansOut reports whether the SDK sends notifications of method to every
// session that asked for them, one after the other (package notify raises
// them across replicas): those the transport never waits for (Write).
func fansOut(method string) bool {
	switch method {
	case "notifications/resources/updated",
		"notifications/tools/list_changed",
		"notifications/prompts/list_changed",
		"notifications/resources/list_changed":
		return true
	}
	return false
}
