package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Client → gateway control message types (Deepgram's).
const (
	KeepAlive   = "KeepAlive"
	Finalize    = "Finalize"
	CloseStream = "CloseStream"
)

// ControlError is a text frame that is no control message; a session
// answers it with an Error message and carries on.
type ControlError struct {
	// UnknownType: the frame is a JSON object with a string type, but no
	// type a client may send; otherwise it is no such object at all.
	UnknownType bool
	// Description says what is wrong, for the client.
	Description string
}

func (e *ControlError) Error() string { return "wire: " + e.Description }

// ParseControl reads a client text frame: a JSON object whose "type" is
// KeepAlive, Finalize or CloseStream, which it returns. Other fields
// (Finalize's "channel") are accepted and ignored, as Deepgram does for a
// mono stream. Anything else is a *ControlError.
func ParseControl(b []byte) (string, error) {
	invalid := func(desc string) (string, error) { return "", &ControlError{Description: desc} }
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil || m == nil {
		return invalid("text frames must be a JSON object with a type, such as {\"type\":\"KeepAlive\"}")
	}
	if dec.More() {
		return invalid("text frame has data after the JSON object")
	}
	raw, ok := m["type"]
	if !ok {
		return invalid("message has no type")
	}
	var typ string
	if err := json.Unmarshal(raw, &typ); err != nil {
		return invalid("message type must be a string")
	}
	switch typ {
	case KeepAlive, Finalize, CloseStream:
		return typ, nil
	}
	return "", &ControlError{UnknownType: true, Description: fmt.Sprintf("unknown message type %.64q; want KeepAlive, Finalize or CloseStream", typ)}
}
