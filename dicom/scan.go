package dicom

import (
	"bytes"
	"encoding/json"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Sniff reports whether data looks like DICOM JSON (PS3.18 Annex F): a JSON
// object, or an array whose first element is an object, whose first key is
// an attribute tag of 8 hex digits, and which contains a "vr" key. It does
// not validate; Decode does.
func Sniff(data []byte) bool {
	data = bytes.TrimLeft(bytes.TrimPrefix(data, utf8BOM), " \t\r\n")
	if len(data) == 0 || (data[0] != '{' && data[0] != '[') || !bytes.Contains(data, []byte(`"vr"`)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	if tok == json.Delim('[') {
		if tok, err = dec.Token(); err != nil || tok != json.Delim('{') {
			return false
		}
	}
	tok, err = dec.Token()
	if err != nil {
		return false
	}
	key, ok := tok.(string)
	return ok && isTag(key)
}

// isTag reports whether s is an attribute tag as DICOM JSON writes it: 8
// hex digits (PS3.18 F.2.1.1 uses upper case; lower case is accepted).
func isTag(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := 0; i < 8; i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
