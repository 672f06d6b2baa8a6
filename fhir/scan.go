package fhir

import "bytes"

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Sniff reports whether data looks like FHIR JSON: its first byte after an
// optional UTF-8 byte order mark and white space is '{' and it contains the
// "resourceType" key. It does not validate; Decode does.
func Sniff(data []byte) bool {
	data = bytes.TrimLeft(bytes.TrimPrefix(data, utf8BOM), " \t\r\n")
	return len(data) > 0 && data[0] == '{' && bytes.Contains(data, []byte(`"resourceType"`))
}

// tooDeep reports whether the JSON text nests objects and arrays more than
// max levels deep. It is a single pass without recursion that only tracks
// strings and brackets, so it rejects hostile nesting before the decoder
// sees it; malformed text is left to the decoder.
func tooDeep(data []byte, max int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}
