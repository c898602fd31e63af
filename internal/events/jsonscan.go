package events

import (
	"bytes"
	"encoding/json"
)

// The helpers here look at JSON without building it: the decoder needs a
// handful of top-level members as byte spans of the original input (so data
// keeps its exact bytes), and a depth bound checked before any parser runs.

// tooDeep reports whether b nests arrays and objects deeper than maxDepth.
// It works on any bytes, JSON or not: it skips strings and counts
// brackets, with constant memory, so a hostile 10,000-level document costs
// one linear pass.
func tooDeep(b []byte, maxDepth int) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i) - 1
		case '{', '[':
			depth++
			if depth > maxDepth {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}

// stringEnd returns the index just past the string starting at b[i] == '"',
// or len(b) when it is unterminated.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++ // skip the escaped byte
		}
	}
	return len(b)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// trimSpace drops JSON whitespace around a value.
func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// valueEnd returns the index just past the JSON value starting at b[i].
// The input must already be valid JSON; on anything else it still returns
// an index in [i+1, len(b)] and never panics.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	default: // number, true, false, null
		for i++; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
		}
		return len(b)
	}
}

// members calls fn with the name and raw value of each member of the
// top-level object in b, in order. b must be valid JSON (json.Valid); the
// result is false when it is not an object. Names are unescaped only when
// they contain escapes, so the common case does not allocate.
func members(b []byte, fn func(name, value []byte) *MalformedError) (bool, *MalformedError) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false, nil
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true, nil
	}
	for i < len(b) {
		if b[i] != '"' {
			return true, malformed(ReasonInvalidJSON, "unexpected byte at offset %d", i)
		}
		end := stringEnd(b, i)
		name := b[i+1 : max(i+1, end-1)]
		if bytes.IndexByte(name, '\\') >= 0 {
			s, ok := unquote(b[i:end])
			if !ok {
				return true, malformed(ReasonInvalidJSON, "member name at offset %d", i)
			}
			name = []byte(s)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return true, malformed(ReasonInvalidJSON, "expected ':' at offset %d", i)
		}
		i = skipSpace(b, i+1)
		vEnd := valueEnd(b, i)
		if err := fn(name, b[i:vEnd]); err != nil {
			return true, err
		}
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			break
		}
		if b[i] == '}' {
			return true, nil
		}
		if b[i] != ',' {
			return true, malformed(ReasonInvalidJSON, "expected ',' or '}' at offset %d", i)
		}
		i = skipSpace(b, i+1)
	}
	return true, malformed(ReasonInvalidJSON, "unterminated object")
}

// jsonString reads a member that should be a string. present is false for
// an absent or null member; ok is false when it is something other than a
// string.
func jsonString(raw []byte) (s string, present, ok bool) {
	if raw == nil || string(raw) == "null" {
		return "", false, true
	}
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", true, false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true, true
	}
	s, ok = unquote(raw)
	return s, true, ok
}

// unquote decodes a JSON string with escapes. It is a function of its own
// so that the variable json.Unmarshal writes to, which escapes to the
// heap, is only allocated on this slow path.
func unquote(raw []byte) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
