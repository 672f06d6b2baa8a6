package dicom

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Attribute tags the decoder reads. Every other attribute, in particular
// Pixel Data (7FE00010) and any value given as BulkDataURI or InlineBinary,
// is never read and so never copied into a record.
const (
	tagSOPClassUID            = "00080016"
	tagSOPInstanceUID         = "00080018"
	tagStudyDate              = "00080020"
	tagStudyTime              = "00080030"
	tagModality               = "00080060"
	tagModalitiesInStudy      = "00080061"
	tagReferringPhysicianName = "00080090"
	tagCodeValue              = "00080100"
	tagCodingSchemeDesignator = "00080102"
	tagCodeMeaning            = "00080104"
	tagTimezoneOffsetFromUTC  = "00080201"
	tagStudyDescription       = "00081030"
	tagProcedureCodeSequence  = "00081032"
	tagSeriesDescription      = "0008103E"
	tagPatientID              = "00100020"
	tagIssuerOfPatientID      = "00100021"
	tagOtherPatientIDsSeq     = "00101002"
	tagBodyPartExamined       = "00180015"
	tagStudyInstanceUID       = "0020000D"
	tagSeriesInstanceUID      = "0020000E"
	tagSeriesNumber           = "00200011"
	tagInstanceNumber         = "00200013"
	tagNumberOfStudySeries    = "00201206"
	tagNumberOfStudyInstances = "00201208"
)

// dataset is one DICOM JSON dataset: attribute tag (upper-case hex) to
// attribute object {"vr": ..., "Value": [...]}.
type dataset map[string]any

// checkDataset checks that obj is a DICOM JSON dataset: every key an
// attribute tag, every attribute an object with a two-letter "vr", and the
// items of every sequence (SQ) datasets in turn. Lower-case tags are
// upper-cased in place. Recursion is bounded by the depth pre-scan.
func checkDataset(obj map[string]any) bool {
	for k, v := range obj {
		if !isTag(k) {
			return false
		}
		attr, ok := v.(map[string]any)
		if !ok {
			return false
		}
		vr, _ := attr["vr"].(string)
		if len(vr) != 2 || vr[0] < 'A' || vr[0] > 'Z' || vr[1] < 'A' || vr[1] > 'Z' {
			return false
		}
		if vr == "SQ" {
			items, _ := attr["Value"].([]any)
			for _, it := range items {
				if m, ok := it.(map[string]any); ok && !checkDataset(m) {
					return false
				}
			}
		}
		if up := strings.ToUpper(k); up != k {
			delete(obj, k)
			obj[up] = v
		}
	}
	return true
}

// values returns the Value array of attribute tag, nil when absent.
func (d dataset) values(tag string) []any {
	attr, _ := d[tag].(map[string]any)
	v, _ := attr["Value"].([]any)
	return v
}

// text returns v as text: a string trimmed of the padding DICOM allows, or
// the literal of a number (IS and DS may be sent either way).
func text(v any) string {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case json.Number:
		return v.String()
	}
	return ""
}

// str returns the first value of tag as text, "" when absent.
func (d dataset) str(tag string) string {
	v := d.values(tag)
	if len(v) == 0 {
		return ""
	}
	return text(v[0])
}

// strs returns the non-empty values of tag as text.
func (d dataset) strs(tag string) []string {
	var out []string
	for _, v := range d.values(tag) {
		if s := text(v); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// uint returns the first value of tag as a non-negative integer (IS).
func (d dataset) uint(tag string) (int, bool) {
	s := d.str(tag)
	if s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(s, "+"))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// personName returns the first value of a PN attribute as display text: the
// Alphabetic component groups "Family^Given^Middle^Prefix^Suffix" in
// reading order "Prefix Given Middle Family Suffix".
func (d dataset) personName(tag string) string {
	v := d.values(tag)
	if len(v) == 0 {
		return ""
	}
	m, _ := v[0].(map[string]any)
	alpha, _ := m["Alphabetic"].(string)
	parts := strings.Split(alpha, "^")
	for len(parts) < 5 {
		parts = append(parts, "")
	}
	var words []string
	for _, i := range []int{3, 1, 2, 0, 4} {
		if p := strings.TrimSpace(parts[i]); p != "" {
			words = append(words, p)
		}
	}
	return strings.Join(words, " ")
}

// items returns the items of sequence tag that are datasets.
func (d dataset) items(tag string) []dataset {
	var out []dataset
	for _, v := range d.values(tag) {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// validUID reports whether s is a DICOM UID (PS3.5 9.1): at most 64
// characters, digits in non-empty components separated by dots. Leading
// zeros, which the standard forbids but some devices send, are accepted.
func validUID(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if s[i-1] == '.' {
				return false
			}
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validCS reports whether s is a Code String (PS3.5 6.2): at most 16
// characters of upper-case letters, digits, space and underscore. Coded
// values that fail are dropped rather than copied, so that free text never
// reaches a clear code.
func validCS(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == ' ' || c == '_') {
			return false
		}
	}
	return true
}

// urnPart makes s safe inside a URN: letters, digits and ".-_" are kept,
// anything else becomes '-'.
func urnPart(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return string(b)
}
