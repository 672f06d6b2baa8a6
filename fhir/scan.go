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
