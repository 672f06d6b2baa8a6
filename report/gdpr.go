package report

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
)

// NoAutomatedDecisions is the hub's Article 15(1)(h) statement.
const NoAutomatedDecisions = "none: the hub makes no decisions based solely on automated processing, including profiling, " +
	"that produce legal or similarly significant effects (its policy decisions only control access to the record)"

// SubjectAccess is the GDPR Article 15 report for a data subject: the
// purposes of the processing, the categories of personal data, the
// recipients, the retention period, the sources, and whether automated
// decision-making takes place.
type SubjectAccess struct {
	PatientID  string             `json:"patient"`
	Controller string             `json:"controller"`
	Generated  time.Time          `json:"generated"`
	Purposes   []PurposeUse       `json:"purposes"`
	Categories []DataCategory     `json:"categories"`
	Recipients []SubjectRecipient `json:"recipients"`
	Retention  Retention          `json:"retention"`
	Sources    []string           `json:"sources"` // source systems the data came from
	Automated  string             `json:"automatedDecisionMaking"`
}

// PurposeUse is a purpose the subject's data was used for.
type PurposeUse struct {
	Code     string `json:"code"`
	Display  string `json:"display"`
	Accesses int    `json:"accesses"`
}

// DataCategory is a category of personal data held about the subject.
type DataCategory struct {
	Class       string   `json:"class"` // demographic, clinical, financial, ...
	RecordTypes []string `json:"recordTypes"`
}

// SubjectRecipient is a recipient, or a category of recipients: external
// parties by name, the hospital's workforce by role.
type SubjectRecipient struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"` // external, workforce
	Org      string   `json:"org"`
	Purposes []string `json:"purposes"`
}

// SubjectAccessOf builds the Article 15 report from the patient's audit
// trail (writes give categories and sources; allowed reads and routings
// give purposes and recipients) and the configuration.
func SubjectAccessOf(ctx context.Context, q audit.Querier, cfg Config, pd *PolicyData, patientID string, now time.Time) (*SubjectAccess, error) {
	purposes := map[string]int{}
	types := map[string]bool{}
	sources := map[string]bool{}
	type rkey struct{ name, kind, org string }
	recips := map[rkey]map[string]bool{}
	f := audit.Filter{PatientID: patientID}
	err := Each(ctx, q, f, func(e audit.Event) error {
		switch e.Code {
		case audit.CodeRecordWrite, audit.CodeConsentChange:
			if e.Outcome == audit.OutcomeAllow {
				types[e.RecordType] = true
				sources[e.ActorID] = true
			}
		case audit.CodeRecordRead, audit.CodeBreakGlass, audit.CodeRouted:
			if e.Outcome != audit.OutcomeAllow || len(e.RecordIDs) == 0 {
				return nil
			}
			if e.Purpose != "" {
				purposes[e.Purpose]++
			}
			types[e.RecordType] = true
			var k rkey
			if cfg.External(e) {
				k = rkey{e.ActorID, "external", e.ActorOrg}
			} else {
				role := "workforce"
				if len(e.ActorRoles) > 0 {
					role = strings.Join(e.ActorRoles, "+")
				}
				k = rkey{role, "workforce", ""}
			}
			if recips[k] == nil {
				recips[k] = map[string]bool{}
			}
			if e.Purpose != "" {
				recips[k][e.Purpose] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep := &SubjectAccess{
		PatientID: patientID, Controller: cfg.Controller, Generated: now.UTC(), Retention: cfg.Retention,
		Sources: sortedSet(sources), Automated: NoAutomatedDecisions,
		Purposes: []PurposeUse{}, Categories: []DataCategory{}, Recipients: []SubjectRecipient{},
	}
	for _, p := range sortedKeys(purposes) {
		rep.Purposes = append(rep.Purposes, PurposeUse{Code: p, Display: pd.PurposeDisplay(p), Accesses: purposes[p]})
	}
	byClass := map[string][]string{}
	for _, t := range sortedSet(types) {
		if t == "" || strings.Contains(t, ",") {
			continue
		}
		c := pd.Class(t)
		byClass[c] = append(byClass[c], t)
	}
	for _, c := range sortedKeys(byClass) {
		rep.Categories = append(rep.Categories, DataCategory{Class: c, RecordTypes: byClass[c]})
	}
	for k, ps := range recips {
		rep.Recipients = append(rep.Recipients, SubjectRecipient{Name: k.name, Kind: k.kind, Org: k.org, Purposes: sortedSet(ps)})
	}
	sort.Slice(rep.Recipients, func(i, j int) bool {
		a, b := rep.Recipients[i], rep.Recipients[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	return rep, nil
}

// Text renders the Article 15 report.
func (r *SubjectAccess) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Right of access (GDPR Article 15)\nData subject: %s\nController: %s\nGenerated: %s\n\n",
		r.PatientID, r.Controller, r.Generated.Format(time.RFC3339))
	b.WriteString("Purposes of the processing:\n")
	for _, p := range r.Purposes {
		fmt.Fprintf(&b, "- %s (%s): %d access(es)\n", p.Display, p.Code, p.Accesses)
	}
	b.WriteString("\nCategories of personal data:\n")
	for _, c := range r.Categories {
		fmt.Fprintf(&b, "- %s: %s\n", c.Class, strings.Join(c.RecordTypes, ", "))
	}
	b.WriteString("\nRecipients:\n")
	for _, rc := range r.Recipients {
		name := rc.Name
		if rc.Org != "" {
			name += " (" + rc.Org + ")"
		}
		fmt.Fprintf(&b, "- %s, %s, for %s\n", name, rc.Kind, strings.Join(rc.Purposes, ", "))
	}
	fmt.Fprintf(&b, "\nRetention:\n- %s\n- %s\n", r.Retention.Records, r.Retention.Audit)
	fmt.Fprintf(&b, "\nSources of the data: %s\n", strings.Join(r.Sources, ", "))
	fmt.Fprintf(&b, "\nAutomated decision-making: %s\n", r.Automated)
	return b.String()
}
