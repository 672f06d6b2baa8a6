// Package codemap translates source systems' local codes into standard
// codes (LOINC, SNOMED CT, ICD-10, ICD-10-CM, RxNorm, CPT, DICOM) at ingest.
//
// A hospital's systems send local codes ("GLU" in the LIS's own code
// system "L") where a standard code is wanted. A Map, loaded from a file
// the hospital maintains for one source system (YAML, JSON or CSV, see
// Parse), lists for each local code the standard codes it means. Apply
// keeps every local coding and adds the standard ones beside it in the
// same FHIR CodeableConcept, and adds them to Record.Codes, so sensitivity
// labelling and policy, which run after it, see the standard codes.
//
// Local code systems are named as the decoders name them: a FHIR system
// URI as sent, and for HL7 v2 the coding system name qualified by the
// source, urn:carecrest:local:<source>:<name> (urn:carecrest:local:<source>
// when the code had no system; see package hl7). A map file may write
// either the full URI or just the HL7 v2 name ("L", "99LAB").
//
// Only the standard systems above are accepted as targets, so that a map
// cannot turn one local code into another.
package codemap

import (
	"slices"
	"strings"

	"github.com/carecrest/hub/record"
)

// Standard code systems a local code may be mapped to.
const (
	SystemLOINC   = "http://loinc.org"
	SystemSNOMED  = "http://snomed.info/sct"
	SystemICD10   = "http://hl7.org/fhir/sid/icd-10"
	SystemICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
	SystemRxNorm  = "http://www.nlm.nih.gov/research/umls/rxnorm"
	SystemCPT     = "http://www.ama-assn.org/go/cpt"
	SystemDICOM   = "http://dicom.nema.org/resources/ontology/DCM"
)

// ExtensionMapped marks a coding the hub added from a code map; its
// valueString names the map ("codemap:<source>"), so a reader can tell a
// translation from what the source sent.
const ExtensionMapped = "urn:carecrest:fhir:StructureDefinition/mapped-from-local-code"

// targetAliases are the names a map file may give a target system, upper
// case, besides its URI.
var targetAliases = map[string]string{
	"LOINC": SystemLOINC, "LN": SystemLOINC,
	"SNOMED": SystemSNOMED, "SNOMEDCT": SystemSNOMED, "SNOMED CT": SystemSNOMED, "SCT": SystemSNOMED,
	"ICD-10": SystemICD10, "ICD10": SystemICD10, "I10": SystemICD10,
	"ICD-10-CM": SystemICD10CM, "ICD10CM": SystemICD10CM, "I10C": SystemICD10CM,
	"RXNORM": SystemRxNorm,
	"CPT":    SystemCPT, "CPT4": SystemCPT, "C4": SystemCPT,
	"DICOM": SystemDICOM, "DCM": SystemDICOM,
}

// standard is the set of target system URIs.
var standard = func() map[string]bool {
	m := map[string]bool{}
	for _, v := range targetAliases {
		m[v] = true
	}
	return m
}()

// TargetSystem returns the URI of a standard system given by name or URI,
// and false when it is not one of the standard systems.
func TargetSystem(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if standard[s] {
		return s, true
	}
	uri, ok := targetAliases[strings.ToUpper(s)]
	return uri, ok
}

// LocalSystem returns the URI of the local code system s of source: s
// itself when it is a URI (contains ':'), else the name an HL7 v2 decoder
// gives a coding system it does not know, urn:carecrest:local:<source>:<s>
// ("urn:carecrest:local:<source>" when s is empty).
func LocalSystem(source, s string) string {
	s = strings.TrimSpace(s)
	switch {
	case strings.Contains(s, ":"):
		return s
	case s == "":
		return "urn:carecrest:local:" + source
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	return "urn:carecrest:local:" + source + ":" + string(b)
}

// key is a local code.
type key struct{ system, code string }

// Map is the code map of one source system. It is immutable once built and
// safe for concurrent use. A nil *Map maps nothing.
type Map struct {
	source string
	to     map[key][]record.Coding
}

// Source returns the source system the map is for.
func (m *Map) Source() string { return m.source }

// Len returns the number of local codes the map knows.
func (m *Map) Len() int {
	if m == nil {
		return 0
	}
	return len(m.to)
}

// Lookup returns the standard codings of a local code (nil when unknown).
func (m *Map) Lookup(system, code string) []record.Coding {
	if m == nil {
		return nil
	}
	return slices.Clone(m.to[key{system, strings.TrimSpace(code)}])
}

// Apply adds to r the standard codings of its local codes: in every
// CodeableConcept of r.Resource (any element, at any depth, including
// contained resources) that holds a mapped local coding, each standard
// coding it does not hold yet is appended after the codings sent; and to
// r.Codes likewise. Nothing is removed or reordered. It returns the number
// of codings added to the resource. A nil m or a record of another source
// is left alone.
func (m *Map) Apply(r *record.Record) int {
	if m == nil || len(m.to) == 0 || r == nil || r.Source != m.source {
		return 0
	}
	n := 0
	if r.Resource != nil {
		n = m.walk(r.Resource, 0)
	}
	var add []record.Coding
	for _, c := range r.Codes {
		for _, t := range m.to[key{c.System, c.Code}] {
			if !hasCoding(r.Codes, t) && !hasCoding(add, t) {
				add = append(add, t)
			}
		}
	}
	r.Codes = append(r.Codes, add...)
	return n
}

// maxDepth bounds the walk; the decoders already bound JSON nesting below it.
const maxDepth = 128

// walk maps the CodeableConcepts in v and returns the codings added.
func (m *Map) walk(v any, depth int) int {
	if depth > maxDepth {
		return 0
	}
	n := 0
	switch v := v.(type) {
	case map[string]any:
		if codings, ok := v["coding"].([]any); ok {
			if added := m.concept(codings); len(added) > 0 {
				v["coding"] = append(codings, added...)
				n += len(added)
			}
		}
		for k, x := range v {
			if k != "coding" {
				n += m.walk(x, depth+1)
			}
		}
	case []any:
		for _, x := range v {
			n += m.walk(x, depth+1)
		}
	case []map[string]any:
		for _, x := range v {
			n += m.walk(x, depth+1)
		}
	}
	return n
}

// concept returns the standard codings to add to a CodeableConcept's codings.
func (m *Map) concept(codings []any) []any {
	var (
		have []record.Coding
		add  []any
	)
	for _, c := range codings {
		cm, _ := c.(map[string]any)
		s, _ := cm["system"].(string)
		code, _ := cm["code"].(string)
		have = append(have, record.Coding{System: s, Code: code})
	}
	for _, c := range slices.Clone(have) {
		for _, t := range m.to[key{c.System, c.Code}] {
			if hasCoding(have, t) {
				continue
			}
			have = append(have, t)
			coding := map[string]any{"system": t.System, "code": t.Code}
			if t.Display != "" {
				coding["display"] = t.Display
			}
			coding["extension"] = []any{map[string]any{"url": ExtensionMapped, "valueString": "codemap:" + m.source}}
			add = append(add, coding)
		}
	}
	return add
}

func hasCoding(l []record.Coding, c record.Coding) bool {
	return slices.ContainsFunc(l, func(x record.Coding) bool { return x.System == c.System && x.Code == c.Code })
}

// Set holds the code maps of several source systems. A nil *Set maps
// nothing.
type Set struct {
	bySource map[string]*Map
}

// NewSet combines maps; maps of the same source are merged.
func NewSet(ms ...*Map) *Set {
	s := &Set{bySource: map[string]*Map{}}
	for _, m := range ms {
		if m == nil {
			continue
		}
		cur := s.bySource[m.source]
		if cur == nil {
			cur = &Map{source: m.source, to: map[key][]record.Coding{}}
			s.bySource[m.source] = cur
		}
		for k, ts := range m.to {
			for _, t := range ts {
				if !hasCoding(cur.to[k], t) {
					cur.to[k] = append(cur.to[k], t)
				}
			}
		}
	}
	return s
}

// For returns the map of a source system (nil when it has none).
func (s *Set) For(source string) *Map {
	if s == nil {
		return nil
	}
	return s.bySource[source]
}

// Apply maps each record with its source's map (see Map.Apply). Its
// signature is the ingest pipeline's Label step, which it must precede:
//
//	Label: func(rs []record.Record) { maps.Apply(rs); labeler.Apply(rs) }
func (s *Set) Apply(recs []record.Record) {
	if s == nil || len(s.bySource) == 0 {
		return
	}
	for i := range recs {
		s.For(recs[i].Source).Apply(&recs[i])
	}
}
