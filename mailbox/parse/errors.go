package parse

import "errors"

// ErrMalformed is wrapped by Parse's error when a message cannot be read as
// a mail message at all (no header, broken MIME structure at the top). Such
// a message is kept and quarantined by the caller, never dropped.
var ErrMalformed = errors.New("malformed message")
