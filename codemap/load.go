package codemap

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/carecrest/hub/record"
	"gopkg.in/yaml.v3"
)

// Config names the code map files. Each file maps the local codes of one
// source system; a source may have several files (they are merged).
type Config struct {
	Files []File `yaml:"files" json:"files"`
}

// File is one code map file.
type File struct {
	// Source is the source system whose local codes the file maps (lis,
	// ehr, ...): only its records are mapped with it.
	Source string `yaml:"source" json:"source"`
	// Path of the file; its extension gives the format: .yaml or .yml,
	// .json, .csv.
	Path string `yaml:"path" json:"path"`
}

// Formats of a map file.
const (
	FormatYAML = "yaml"
	FormatJSON = "json"
	FormatCSV  = "csv"
)

// MaxFileBytes bounds a map file.
const MaxFileBytes = 64 << 20

// sourceName is what a source system may be called (a Kafka topic part).
var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// FormatOf returns the format of a path by its extension, "" when unknown.
func FormatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return FormatYAML
	case ".json":
		return FormatJSON
	case ".csv":
		return FormatCSV
	}
	return ""
}

// Validate reports every configuration error it can find without reading
// the files.
func (c Config) Validate() error {
	var errs []error
	for i, f := range c.Files {
		at := fmt.Sprintf("codemaps.files[%d]", i)
		if !sourceName.MatchString(f.Source) {
			errs = append(errs, fmt.Errorf("%s: source %q must be a source system name (lower-case letters, digits, '-', '_')", at, f.Source))
		}
		switch {
		case f.Path == "":
			errs = append(errs, fmt.Errorf("%s: path is required", at))
		case FormatOf(f.Path) == "":
			errs = append(errs, fmt.Errorf("%s: %s: unknown format; name the file .yaml, .yml, .json or .csv", at, filepath.Base(f.Path)))
		}
	}
	return errors.Join(errs...)
}

// Load reads every file of c into a Set. An error names the file and the
// line or entry at fault.
func Load(c Config) (*Set, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var ms []*Map
	for _, f := range c.Files {
		m, err := LoadFile(f.Source, f.Path)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return NewSet(ms...), nil
}

// LoadFile reads one map file of source.
func LoadFile(source, path string) (*Map, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("codemap: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("codemap: %s: %w", path, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("codemap: %s: larger than %d bytes", path, MaxFileBytes)
	}
	m, err := Parse(source, FormatOf(path), b)
	if err != nil {
		return nil, fmt.Errorf("codemap: %s: %w", path, err)
	}
	return m, nil
}

// Entry is one mapping of a map file: a local code and one standard code
// it means. A local code with several standard codes (a LOINC and a
// SNOMED CT code) has one entry each.
//
// YAML and JSON files hold {"mappings": [entry, ...]}; a CSV file has the
// header row local_system,local_code,system,code[,display] and one entry
// per line.
type Entry struct {
	// LocalSystem is the local code system: a URI, or an HL7 v2 coding
	// system name (see LocalSystem); empty for codes sent without one.
	LocalSystem string `yaml:"local_system" json:"local_system"`
	LocalCode   string `yaml:"local_code" json:"local_code"`
	// System is the standard system: its URI or a name (LOINC, SNOMED,
	// ICD-10, ICD-10-CM, RXNORM, CPT, DICOM).
	System  string `yaml:"system" json:"system"`
	Code    string `yaml:"code" json:"code"`
	Display string `yaml:"display,omitempty" json:"display,omitempty"`
}

// document is a YAML or JSON map file.
type document struct {
	Mappings []Entry `yaml:"mappings" json:"mappings"`
}

// Parse reads a map of source in format (FormatYAML, FormatJSON,
// FormatCSV). Unknown fields, a missing code, a target outside the
// standard systems and a map that maps nothing are errors.
func Parse(source, format string, data []byte) (*Map, error) {
	if !sourceName.MatchString(source) {
		return nil, fmt.Errorf("source %q is not a source system name", source)
	}
	var (
		entries []Entry
		where   func(i int) string
	)
	switch format {
	case FormatYAML:
		var d document
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("invalid YAML: %w", err)
		}
		entries, where = d.Mappings, func(i int) string { return fmt.Sprintf("mappings[%d]", i) }
	case FormatJSON:
		var d document
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		entries, where = d.Mappings, func(i int) string { return fmt.Sprintf("mappings[%d]", i) }
	case FormatCSV:
		var err error
		if entries, err = parseCSV(data); err != nil {
			return nil, err
		}
		where = func(i int) string { return fmt.Sprintf("line %d", i+2) }
	default:
		return nil, fmt.Errorf("format %q unknown (valid: %s, %s, %s)", format, FormatYAML, FormatJSON, FormatCSV)
	}
	if len(entries) == 0 {
		return nil, errors.New("no mappings")
	}
	m := &Map{source: source, to: map[key][]record.Coding{}}
	var errs []error
	for i, e := range entries {
		code, local := strings.TrimSpace(e.Code), strings.TrimSpace(e.LocalCode)
		sys, ok := TargetSystem(e.System)
		switch {
		case local == "":
			errs = append(errs, fmt.Errorf("%s: local_code is empty", where(i)))
			continue
		case code == "":
			errs = append(errs, fmt.Errorf("%s: code is empty", where(i)))
			continue
		case !ok:
			errs = append(errs, fmt.Errorf("%s: system %q is not a standard code system (LOINC, SNOMED, ICD-10, ICD-10-CM, RXNORM, CPT, DICOM or their URIs)", where(i), e.System))
			continue
		}
		k := key{LocalSystem(source, e.LocalSystem), local}
		t := record.Coding{System: sys, Code: code, Display: strings.TrimSpace(e.Display)}
		if !hasCoding(m.to[k], t) {
			m.to[k] = append(m.to[k], t)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// csvHeader is the header row of a CSV map; display is optional.
var csvHeader = []string{"local_system", "local_code", "system", "code", "display"}

func parseCSV(data []byte) ([]Entry, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	head, err := r.Read()
	if err != nil {
		return nil, errors.New("CSV: no header row (local_system,local_code,system,code[,display])")
	}
	for i := range head {
		head[i] = strings.ToLower(strings.TrimSpace(head[i]))
	}
	if len(head) < 4 || len(head) > 5 || !slices.Equal(head, csvHeader[:len(head)]) {
		return nil, errors.New("CSV: header row must be local_system,local_code,system,code[,display]")
	}
	var out []Entry
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("CSV line %d: %v", pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("CSV line %d: unreadable", line)
		}
		if len(rec) != len(head) {
			return nil, fmt.Errorf("CSV line %d: %d fields, want %d", line, len(rec), len(head))
		}
		e := Entry{LocalSystem: rec[0], LocalCode: rec[1], System: rec[2], Code: rec[3]}
		if len(rec) == 5 {
			e.Display = rec[4]
		}
		out = append(out, e)
	}
}
