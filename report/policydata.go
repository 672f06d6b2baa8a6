package report

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"

	"github.com/carecrest/hub/rego"
)

// PolicyData is what the reports read of the policy's tables
// (rego/data.json, data.carecrest.access): record type classes, source
// systems, purposes of use, roles and governance actions.
type PolicyData struct {
	RecordTypes map[string]struct {
		Class string `json:"class"`
	} `json:"record_types"`
	Sources map[string]struct {
		Types []string `json:"types"`
	} `json:"sources"`
	Purposes map[string]struct {
		Display    string `json:"display"`
		BreakGlass bool   `json:"break_glass"`
	} `json:"purposes"`
	Roles map[string]struct {
		Kinds      []string `json:"kinds"`
		BreakGlass bool     `json:"break_glass"`
		Purposes   map[string]struct {
			Types               map[string][]string `json:"types"`
			Classes             map[string][]string `json:"classes"`
			RequireRelationship bool                `json:"require_relationship"`
		} `json:"purposes"`
		Governance []string `json:"governance"`
	} `json:"roles"`
	GovernanceActions map[string]string `json:"governance_actions"`
}

// LoadPolicyData reads data.json from a policy file system: rego.FS (the
// embedded default) or os.DirFS(policy.dir).
func LoadPolicyData(fsys fs.FS) (*PolicyData, error) {
	if fsys == nil {
		fsys = rego.FS
	}
	raw, err := fs.ReadFile(fsys, rego.DataFile)
	if err != nil {
		return nil, fmt.Errorf("report: policy data: %w", err)
	}
	var doc struct {
		Carecrest struct {
			Access PolicyData `json:"access"`
		} `json:"carecrest"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("report: policy data: %w", err)
	}
	return &doc.Carecrest.Access, nil
}

// Class returns the data class of a record type ("unclassified" when the
// policy does not list it).
func (p *PolicyData) Class(recordType string) string {
	if p != nil {
		if rt, ok := p.RecordTypes[recordType]; ok && rt.Class != "" {
			return rt.Class
		}
	}
	return "unclassified"
}

// PurposeDisplay names a purpose of use.
func (p *PolicyData) PurposeDisplay(code string) string {
	if p != nil {
		if d := p.Purposes[code].Display; d != "" {
			return d
		}
	}
	if d, ok := actReasons[code]; ok {
		return d
	}
	return code
}

// actReasons names the common HL7 v3 ActReason purposes when no policy data
// is at hand.
var actReasons = map[string]string{
	"TREAT": "treatment", "ETREAT": "emergency treatment", "HPAYMT": "healthcare payment",
	"HOPERAT": "healthcare operations", "HRESCH": "healthcare research", "PUBHLTH": "public health",
	"PATRQT": "patient requested", "HLEGAL": "legal", "HMARKT": "marketing", "COVERAGE": "coverage under policy or program",
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
