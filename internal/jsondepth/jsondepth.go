// Package jsondepth bounds the nesting of JSON text before it is decoded.
package jsondepth

// Exceeds reports whether the JSON text nests objects and arrays more than
// max levels deep. It is a single pass without recursion that only tracks
// strings and brackets, so decoders reject hostile nesting before parsing;
// malformed text is left to the decoder.
func Exceeds(data []byte, max int) bool {
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
