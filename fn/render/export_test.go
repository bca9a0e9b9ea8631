package render

// Internals for the external tests (yaml_test.go, which needs fn/generate and so cannot be in this
// package).
var (
	AppendDocument = appendDocument
	KeyLess        = keyLess
)
