package wsmcp

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
