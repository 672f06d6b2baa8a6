// Package labels assigns sensitivity labels to records at ingest, from
// their clear codes (record.Record.Codes).
//
// A label is an HL7 v3 ActCode information sensitivity code
// (http://terminology.hl7.org/CodeSystem/v3-ActCode, the
// _InformationSensitivityPolicy codes used in FHIR meta.security), so that
// policy, consents (Consent.provision.securityLabel) and subscribers speak
// the same vocabulary. The hub's categories map to them as follows:
//
//	category                                   label  ActCode display
//	SUD      substance use disorder (42 CFR 2)  ETH    substance abuse information sensitivity
//	MH       mental / behavioural health        BH     behavioral health information sensitivity
//	HIV      HIV / AIDS                         HIV    HIV/AIDS information sensitivity
//	STD      sexually transmitted infections    STD    sexually transmitted disease information sensitivity
//	REPRO    reproductive health                SEX    sexuality and reproductive health information sensitivity
//	GENETIC  genetic data                       GDIS   genetic disease information sensitivity
//
// BH is used rather than the narrower PSY (psychiatry disorder information
// sensitivity) because the ICD-10 ranges it covers include behavioural
// syndromes and developmental disorders; a hospital that wants PSY can say
// so in its rules. HIV and STD together form the "HIV and sexually
// transmitted infections" category.
//
// Rules are configuration (Config, Load): Default is a documented starter
// list, to be reviewed and extended by the hospital's privacy office.
// Labelling only adds labels: a code that no rule knows yields none, and
// Apply never removes a label a record already has.
package labels

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/carecrest/hub/record"
)

// Sensitivity labels (HL7 v3 ActCode) of the hub's categories.
const (
	SUD     = "ETH"  // substance use disorder (42 CFR Part 2)
	MH      = "BH"   // mental health and behavioural health
	HIV     = "HIV"  // HIV and AIDS
	STD     = "STD"  // sexually transmitted infections
	REPRO   = "SEX"  // sexuality and reproductive health
	GENETIC = "GDIS" // genetic disease and genetic test information
)

// Code systems of the default rules.
const (
	SystemICD10   = "http://hl7.org/fhir/sid/icd-10"
	SystemICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
	SystemSNOMED  = "http://snomed.info/sct"
	SystemLOINC   = "http://loinc.org"
	SystemRxNorm  = "http://www.nlm.nih.gov/research/umls/rxnorm"
)

// MaxLabels is the largest number of distinct labels a Config may use. HL7
// v3 has about thirty information sensitivity codes; the limit lets the
// Labeler keep a record's label set in one machine word.
const MaxLabels = 64

// Rule gives Label to every code of System that is one of Codes or starts
// with one of Prefixes.
//
// Codes are compared as sent, after trimming white space, except in the
// ICD-10 systems (see DotlessSystems), where case and dots are ignored on
// both sides: "F10.20", "f1020" and "F1020" are one code, and the prefix
// "O98.7" matches "O98.711".
type Rule struct {
	Label    string   `json:"label" yaml:"label"`
	System   string   `json:"system" yaml:"system"`
	Codes    []string `json:"codes,omitempty" yaml:"codes,omitempty"`
	Prefixes []string `json:"prefixes,omitempty" yaml:"prefixes,omitempty"`
}

// Config is the labelling configuration: a list of rules. A code matching
// several rules gets all their labels.
type Config struct {
	Rules []Rule `json:"rules" yaml:"rules"`
}

// DotlessSystems are the code systems whose codes are compared without
// dots and case: ICD-10 and ICD-10-CM, by FHIR URI and by OID.
var DotlessSystems = []string{
	SystemICD10,
	SystemICD10CM,
	"urn:oid:2.16.840.1.113883.6.3",  // ICD-10
	"urn:oid:2.16.840.1.113883.6.90", // ICD-10-CM
}

// Validate reports the first invalid rule: an empty or malformed label
// (letters, digits, '-' and '_', at most 64), an empty system, a rule
// without codes or prefixes, an empty code or prefix, or more than
// MaxLabels distinct labels.
func (c Config) Validate() error {
	if len(c.Rules) == 0 {
		return errors.New("labels: no rules")
	}
	seen := map[string]bool{}
	for i, r := range c.Rules {
		if !validLabel(r.Label) {
			return fmt.Errorf("labels: rule %d: label %q must be 1 to 64 letters, digits, '-' or '_'", i, r.Label)
		}
		seen[r.Label] = true
		if strings.TrimSpace(r.System) == "" {
			return fmt.Errorf("labels: rule %d (%s): empty system", i, r.Label)
		}
		if len(r.Codes) == 0 && len(r.Prefixes) == 0 {
			return fmt.Errorf("labels: rule %d (%s): no codes or prefixes", i, r.Label)
		}
		for _, s := range slices.Concat(r.Codes, r.Prefixes) {
			if normalize(r.System, s) == "" {
				return fmt.Errorf("labels: rule %d (%s): empty code or prefix", i, r.Label)
			}
		}
	}
	if len(seen) > MaxLabels {
		return fmt.Errorf("labels: %d distinct labels, at most %d", len(seen), MaxLabels)
	}
	return nil
}

func validLabel(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// normalize returns a rule's code or prefix in the form codes are compared
// in (see Rule).
func normalize(system, code string) string {
	code = strings.TrimSpace(code)
	if !slices.Contains(DotlessSystems, system) {
		return code
	}
	return strings.ToUpper(strings.ReplaceAll(code, ".", ""))
}

// Labeler labels codes with a compiled Config. It is safe for concurrent
// use.
type Labeler struct {
	names   []string // label names, sorted; bit i of a mask is names[i]
	systems map[string]*systemIndex
}

// systemIndex holds one code system's rules.
type systemIndex struct {
	dotless bool
	exact   map[string]uint64 // code → label mask
	// prefixes maps each prefix length in use, shortest first, to the
	// prefixes of that length: a code is looked up once per length.
	lens     []int
	prefixes map[int]map[string]uint64
}

// New validates cfg and compiles it: a code is labelled with one map lookup
// for its exact form and one per distinct prefix length of its system.
func New(cfg Config) (*Labeler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var names []string
	for _, r := range cfg.Rules {
		names = append(names, r.Label)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	bit := make(map[string]uint64, len(names))
	for i, n := range names {
		bit[n] = 1 << i
	}
	l := &Labeler{names: names, systems: map[string]*systemIndex{}}
	for _, r := range cfg.Rules {
		system := strings.TrimSpace(r.System)
		si := l.systems[system]
		if si == nil {
			si = &systemIndex{
				dotless:  slices.Contains(DotlessSystems, system),
				exact:    map[string]uint64{},
				prefixes: map[int]map[string]uint64{},
			}
			l.systems[system] = si
		}
		b := bit[r.Label]
		for _, c := range r.Codes {
			si.exact[normalize(system, c)] |= b
		}
		for _, p := range r.Prefixes {
			p = normalize(system, p)
			m := si.prefixes[len(p)]
			if m == nil {
				m = map[string]uint64{}
				si.prefixes[len(p)] = m
				si.lens = append(si.lens, len(p))
			}
			m[p] |= b
		}
		slices.Sort(si.lens)
	}
	return l, nil
}

// Labels returns every label the Labeler can assign, sorted.
func (l *Labeler) Labels() []string { return slices.Clone(l.names) }

// Label returns the labels of codes, sorted and without duplicates; nil when
// no code matches. It allocates only the returned slice.
func (l *Labeler) Label(codes []record.Coding) []string {
	return l.fromMask(l.mask(codes))
}

// mask returns the label bits of codes.
func (l *Labeler) mask(codes []record.Coding) uint64 {
	var m uint64
	for i := range codes {
		si := l.systems[codes[i].System]
		if si == nil {
			continue
		}
		m |= si.match(codes[i].Code)
	}
	return m
}

// match returns the label bits of one code of the system.
func (si *systemIndex) match(code string) uint64 {
	code = strings.TrimSpace(code)
	var buf [64]byte
	if si.dotless {
		if len(code) > len(buf) {
			return 0 // no ICD-10 code is this long
		}
		n := 0
		for i := 0; i < len(code); i++ {
			c := code[i]
			switch {
			case c == '.':
				continue
			case 'a' <= c && c <= 'z':
				c -= 'a' - 'A'
			}
			buf[n] = c
			n++
		}
		// m[string(b)] does not allocate.
		m := si.exact[string(buf[:n])]
		for _, ln := range si.lens {
			if ln > n {
				break
			}
			m |= si.prefixes[ln][string(buf[:ln])]
		}
		return m
	}
	m := si.exact[code]
	for _, ln := range si.lens {
		if ln > len(code) {
			break
		}
		m |= si.prefixes[ln][code[:ln]]
	}
	return m
}

// fromMask returns the names of the bits of m, in name order.
func (l *Labeler) fromMask(m uint64) []string {
	if m == 0 {
		return nil
	}
	out := make([]string, 0, bits.OnesCount64(m))
	for m != 0 {
		i := bits.TrailingZeros64(m)
		out = append(out, l.names[i])
		m &^= 1 << i
	}
	return out
}

// Apply labels each record from its Codes: the labels found are added to
// those the record already has, and the result is sorted and without
// duplicates. A record keeps every label it had: labelling never lowers a
// record's sensitivity.
func (l *Labeler) Apply(recs []record.Record) {
	for i := range recs {
		r := &recs[i]
		found := l.Label(r.Codes)
		if len(found) == 0 && len(r.Labels) == 0 {
			continue
		}
		if len(r.Labels) == 0 {
			r.Labels = found
			continue
		}
		merged := append(slices.Clone(r.Labels), found...)
		slices.Sort(merged)
		r.Labels = slices.Compact(merged)
	}
}
