package hl7

import "strings"

// Delimiters are a message's encoding characters, read from MSH-1 and MSH-2.
// A zero character means the message does not use that delimiter.
type Delimiters struct {
	Field        byte // MSH-1, usually '|'
	Component    byte // usually '^'
	Repetition   byte // usually '~'
	Escape       byte // usually '\'
	Subcomponent byte // usually '&'
	Truncation   byte // 2.7+, usually '#'; absent before 2.7
}

// validDelimiter reports whether c may serve as a delimiter: printable ASCII
// that is neither a letter, a digit nor a space.
func validDelimiter(c byte) bool {
	return c > ' ' && c < 0x7f && !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c))
}

// parseDelimiters reads the delimiters of a header segment (MSH, BHS or FHS):
// line[3] is the field separator and the characters up to the next field
// separator are the encoding characters (2 to 5 of them).
func parseDelimiters(line string) (Delimiters, *DecodeError) {
	var d Delimiters
	if len(line) < 5 {
		return d, errorf(ReasonTruncated, 0, 1, "header segment ends before its encoding characters")
	}
	d.Field = line[3]
	enc := line[4:]
	if i := strings.IndexByte(enc, d.Field); i >= 0 {
		enc = enc[:i]
	}
	if !validDelimiter(d.Field) {
		return d, errorf(ReasonBadDelimiters, 0, 1, "field separator is not a valid delimiter")
	}
	if len(enc) < 2 || len(enc) > 5 {
		return d, errorf(ReasonBadDelimiters, 0, 2, "encoding characters must be 2 to 5 characters")
	}
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		if !validDelimiter(c) || c == d.Field || strings.IndexByte(enc[:i], c) >= 0 {
			return d, errorf(ReasonBadDelimiters, 0, 2, "encoding characters are not distinct valid delimiters")
		}
	}
	at := func(i int) byte {
		if i < len(enc) {
			return enc[i]
		}
		return 0
	}
	d.Component, d.Repetition, d.Escape, d.Subcomponent, d.Truncation = at(0), at(1), at(2), at(3), at(4)
	return d, nil
}

// maxSpace bounds the line feeds one \.sp<n>\ escape may produce.
const maxSpace = 16

// unescape resolves HL7 escape sequences in one leaf value (a component or
// subcomponent, after splitting):
//
//	\F\ \S\ \T\ \R\ \E\ \P\   the delimiters themselves
//	\Xhhhh...\                bytes given in hex
//	\.br\ \.sp<n>\ \.ce\       line breaks (formatted text)
//	\H\ \N\ \.fi\ \.nf\ ...    highlighting and layout hints, dropped
//
// Anything else (\Z..\ local escapes, \C..\ and \M..\ character set
// switches, a lone escape character) is kept literally. It allocates only
// when s contains the escape character.
func unescape(s string, d Delimiters) string {
	if d.Escape == 0 {
		return s
	}
	i := strings.IndexByte(s, d.Escape)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		rest := s[i+1:]
		j := strings.IndexByte(rest, d.Escape)
		if j < 0 { // unterminated: literal
			b.WriteString(s[i:])
			return b.String()
		}
		if !writeEscape(&b, rest[:j], d) {
			b.WriteString(s[i : i+j+2])
		}
		s = rest[j+1:]
		i = strings.IndexByte(s, d.Escape)
	}
	b.WriteString(s)
	return b.String()
}

// writeEscape writes the meaning of the escape sequence seq (without its
// escape characters) and reports whether seq was recognised.
func writeEscape(b *strings.Builder, seq string, d Delimiters) bool {
	if len(seq) == 1 {
		var c byte
		switch seq[0] {
		case 'F':
			c = d.Field
		case 'S':
			c = d.Component
		case 'T':
			c = d.Subcomponent
		case 'R':
			c = d.Repetition
		case 'E':
			c = d.Escape
		case 'P':
			c = d.Truncation
		case 'H', 'N':
			return true
		}
		if c == 0 {
			return false
		}
		b.WriteByte(c)
		return true
	}
	switch {
	case len(seq) > 1 && seq[0] == 'X':
		hex := seq[1:]
		if len(hex)%2 != 0 {
			return false
		}
		for k := 0; k < len(hex); k += 2 {
			if unhex(hex[k]) < 0 || unhex(hex[k+1]) < 0 {
				return false
			}
		}
		for k := 0; k < len(hex); k += 2 {
			b.WriteByte(byte(unhex(hex[k])<<4 | unhex(hex[k+1])))
		}
		return true
	case seq == ".br" || seq == ".ce":
		b.WriteByte('\n')
		return true
	case strings.HasPrefix(seq, ".sp"):
		n, ok := smallInt(seq[3:])
		if !ok {
			return false
		}
		for range max(1, min(n, maxSpace)) {
			b.WriteByte('\n')
		}
		return true
	case seq == ".fi" || seq == ".nf":
		return true
	case strings.HasPrefix(seq, ".in") || strings.HasPrefix(seq, ".ti") || strings.HasPrefix(seq, ".sk"):
		n := seq[3:]
		if n != "" && (n[0] == '+' || n[0] == '-') {
			n = n[1:]
		}
		_, ok := smallInt(n)
		return ok
	}
	return false
}

// smallInt parses up to 4 decimal digits; "" is 0.
func smallInt(s string) (int, bool) {
	if len(s) > 4 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
