package labels

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads a Config from a YAML (.yaml, .yml) or JSON (any other name)
// file and validates it. Unknown fields are errors, so a misspelt key
// cannot silently drop a rule:
//
//	rules:
//	  - label: ETH
//	    system: http://hl7.org/fhir/sid/icd-10-cm
//	    prefixes: [F10, F11]
//	    codes: [Z71.41]
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("labels: %w", err)
	}
	var cfg Config
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		err = dec.Decode(&cfg)
	default:
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		err = dec.Decode(&cfg)
	}
	if err != nil {
		return Config{}, fmt.Errorf("labels: %s: %w", filepath.Base(path), err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w (in %s)", err, filepath.Base(path))
	}
	return cfg, nil
}
