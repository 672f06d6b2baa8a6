// Package report answers the privacy office's questions from the audit log:
// audit exports (CSV, NDJSON, FHIR R4 AuditEvent), the HIPAA accounting of
// disclosures, the access report, the GDPR Article 15 and Article 30
// reports, and the break-glass review queue.
//
// Everything here reads audit events through audit.Querier, a cursor page
// at a time, so memory stays bounded by one page and by what a report
// itself must hold. Reports hold no PHI: patients appear by enterprise id,
// records by hub id, fields by element name, exactly as in the audit rows.
// Governance (who may ask, and auditing that they did) is the caller's:
// query.Reports wraps every function of this package in query.Reader.Govern.
package report

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
)

// MaxAccountingWindow is how far back an accounting of disclosures reaches
// (45 CFR 164.528(a): up to six years before the request).
// (six calendar years: AccountingWindow counts them with AddDate, so leap
// days are included; this constant is the lower bound, for documentation).
const MaxAccountingWindow = 6 * 365 * 24 * time.Hour

// Config is the compliance section of the hub configuration.
type Config struct {
	// ExemptPurposes are purposes of use whose disclosures the accounting
	// leaves out (45 CFR 164.528(a)(1)): treatment, payment, operations and
	// disclosures to the patient. Default TREAT, ETREAT (emergency treatment
	// is treatment), HPAYMT, HOPERAT, PATRQT.
	ExemptPurposes []string `yaml:"exempt_purposes"`
	// ExemptRecipients are actor ids (subscribers, applications) whose
	// disclosures are never accounted for, e.g. a business associate
	// performing operations under contract.
	ExemptRecipients []string `yaml:"exempt_recipients"`
	// InternalOrgs are the organisations of the covered entity. Readers
	// whose token carries no organisation are the hospital's workforce.
	// A reader of another organisation, and a routing subscriber whose
	// organisation is not listed here, is an external party: what they
	// receive is a disclosure.
	InternalOrgs []string `yaml:"internal_orgs"`
	// ExternalActors are always external, whatever their organisation (an
	// application operated by a third party, a researcher's account).
	ExternalActors []string `yaml:"external_actors"`
	// InternalActors are never external (a subscriber that is one of the
	// hospital's own systems but carries an org name).
	InternalActors []string `yaml:"internal_actors"`
	// AuthorizationExempt leaves out disclosures made under the patient's
	// authorisation (164.528(a)(1)(iv)): events whose policy rules include
	// RuleAuthorization, or whose applied consents include a permit
	// directive. Default true.
	AuthorizationExempt *bool `yaml:"authorization_exempt"`

	// Controller names the data controller in GDPR reports.
	Controller string `yaml:"controller"`
	// Retention states how long data is kept (GDPR Art. 15(1)(d), 30(1)(f)).
	Retention Retention `yaml:"retention"`
	// BreakGlassSessionGap: break-glass reads of one patient by one actor
	// less than this apart form one session for review (default 1h).
	BreakGlassSessionGap time.Duration `yaml:"break_glass_session_gap"`
}

// Retention states retention periods as the hospital's schedule words them.
type Retention struct {
	Records string `yaml:"records" json:"records"`
	Audit   string `yaml:"audit" json:"audit"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.ExemptPurposes == nil {
		c.ExemptPurposes = []string{"TREAT", "ETREAT", "HPAYMT", "HOPERAT", "PATRQT"}
	}
	if c.AuthorizationExempt == nil {
		t := true
		c.AuthorizationExempt = &t
	}
	if c.Controller == "" {
		c.Controller = "the hospital operating this hub"
	}
	if c.Retention.Records == "" {
		c.Retention.Records = "clinical records: 10 years after the last contact (set compliance.retention.records to your schedule)"
	}
	if c.Retention.Audit == "" {
		c.Retention.Audit = "audit log: 6 years (45 CFR 164.316(b)(2)); never deleted by the hub"
	}
	if c.BreakGlassSessionGap <= 0 {
		c.BreakGlassSessionGap = time.Hour
	}
}

// Validate reports every configuration error.
func (c Config) Validate() error {
	var errs []error
	for _, l := range []struct {
		name string
		list []string
	}{
		{"exempt_purposes", c.ExemptPurposes}, {"exempt_recipients", c.ExemptRecipients},
		{"internal_orgs", c.InternalOrgs}, {"external_actors", c.ExternalActors},
		{"internal_actors", c.InternalActors},
	} {
		for _, v := range l.list {
			if strings.TrimSpace(v) == "" || strings.ContainsAny(v, " ,\t\n") {
				errs = append(errs, fmt.Errorf("compliance.%s: %q is not a code or id", l.name, v))
			}
		}
	}
	for _, a := range c.ExternalActors {
		if slices.Contains(c.InternalActors, a) {
			errs = append(errs, fmt.Errorf("compliance: actor %q is both internal and external", a))
		}
	}
	if c.BreakGlassSessionGap < 0 {
		errs = append(errs, errors.New("compliance.break_glass_session_gap must not be negative"))
	}
	return errors.Join(errs...)
}

// External reports whether the actor of e is outside the covered entity,
// so that what it received is a disclosure rather than a use.
func (c Config) External(e audit.Event) bool {
	switch {
	case slices.Contains(c.ExternalActors, e.ActorID):
		return true
	case slices.Contains(c.InternalActors, e.ActorID):
		return false
	case e.ActorOrg != "":
		return !slices.Contains(c.InternalOrgs, e.ActorOrg)
	default:
		// No organisation: a subscriber is a system we send to (external
		// unless listed internal); a reader is the hospital's workforce.
		return e.Code == audit.CodeRouted
	}
}

// Exempt reports why a disclosure is left out of the accounting ("" when
// it must be listed). authorized says whether a permit consent applied.
func (c Config) Exempt(e audit.Event, authorized bool) string {
	switch {
	case slices.Contains(c.ExemptPurposes, e.Purpose):
		return "exempt purpose " + e.Purpose
	case slices.Contains(c.ExemptRecipients, e.ActorID):
		return "exempt recipient"
	case authorized && (c.AuthorizationExempt == nil || *c.AuthorizationExempt):
		return "under the patient's authorisation"
	}
	return ""
}

// routedBy is a routing event to a subscriber, to ask External about it.
func routedBy(name, org string) audit.Event {
	return audit.Event{Code: audit.CodeRouted, ActorID: name, ActorOrg: org}
}
