package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
)

// MaxEntries bounds the entries one report holds. A report that would hold
// more fails with ErrTooLarge rather than being cut short silently; the
// full trail is available as a streamed export.
const MaxEntries = 200_000

// ErrTooLarge reports a report with more than MaxEntries entries.
var ErrTooLarge = fmt.Errorf("report: more than %d entries; narrow the time window or use the audit export", MaxEntries)

// ConsentSource reads a patient's consent directives (store.ConsentReader).
type ConsentSource interface {
	Consents(ctx context.Context, patientID string) ([]consent.Directive, error)
}

// Window is a report's time range, [From, To).
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Capped says From was moved forward to the legal maximum.
	Capped bool `json:"capped"`
}

// Recipient is who received a disclosure.
type Recipient struct {
	ID          string   `json:"id"`          // subscriber, application or user id
	Org         string   `json:"org"`         // organisation, when known
	Application string   `json:"application"` // client application or outbound topic
	Roles       []string `json:"roles"`
}

// Disclosure is one entry of an accounting of disclosures (45 CFR
// 164.528(b)(2)): date, recipient, a description of what was disclosed,
// and the purpose.
type Disclosure struct {
	EventID        string    `json:"eventId"`
	Date           time.Time `json:"date"`
	Recipient      Recipient `json:"recipient"`
	Description    string    `json:"description"` // record type, count and element names
	RecordType     string    `json:"recordType"`
	RecordIDs      []string  `json:"recordIds"`
	Elements       []string  `json:"elements"`
	Purpose        string    `json:"purpose"`
	PurposeDisplay string    `json:"purposeDisplay"`
	Code           string    `json:"code"` // CC5000I routed, CC2000I / CC2002W read by an external party
}

// Accounting is a patient's accounting of disclosures.
type Accounting struct {
	PatientID   string       `json:"patient"`
	Window      Window       `json:"window"`
	Generated   time.Time    `json:"generated"`
	Disclosures []Disclosure `json:"disclosures"`
	// Excluded counts the disclosures left out, by reason (exempt purpose,
	// exempt recipient, authorisation): what the hospital must be able to
	// explain, without listing them.
	Excluded map[string]int `json:"excluded"`
}

// disclosureCodes are the events that can be disclosures: routing to a
// subscriber, and reads (including break-the-glass) by an external party.
var disclosureCodes = []string{audit.CodeRouted, audit.CodeRecordRead, audit.CodeBreakGlass}

// AccountingWindow resolves a requested window against now: To defaults to
// now; From defaults to, and is capped at, six years before To.
func AccountingWindow(from, to, now time.Time) (Window, error) {
	w := Window{From: from.UTC(), To: to.UTC()}
	if w.To.IsZero() || w.To.After(now) {
		w.To = now.UTC()
	}
	earliest := w.To.AddDate(-6, 0, 0) // six calendar years (leap days included)
	if w.From.IsZero() {
		w.From = earliest
	} else if w.From.Before(earliest) {
		w.From, w.Capped = earliest, true
	}
	if !w.From.Before(w.To) {
		return w, errors.New("the window is empty: from must be before to")
	}
	return w, nil
}

// RuleAuthorization is the policy rule a decision carries when a
// disclosure is made under the patient's written authorisation.
const RuleAuthorization = "consent.authorization"

// IsDisclosure reports whether e is a disclosure the accounting must list,
// and if not, why ("" for events that are not disclosures at all).
// permits holds the patient's authorisations, keyed "consent id|purpose":
// a consent authorises a disclosure only when a permit provision of it
// names the disclosure's purpose explicitly (a general opt-in is not an
// authorisation, HIPAA 164.508).
func (c Config) IsDisclosure(e audit.Event, permits map[string]bool) (bool, string) {
	if e.Outcome != audit.OutcomeAllow || len(e.RecordIDs) == 0 || !slices.Contains(disclosureCodes, e.Code) {
		return false, ""
	}
	if !c.External(e) {
		return false, ""
	}
	authorized := slices.Contains(e.Rules, RuleAuthorization)
	for _, id := range e.Consents {
		authorized = authorized || permits[id+"|"+e.Purpose]
	}
	if why := c.Exempt(e, authorized); why != "" {
		return false, why
	}
	return true, ""
}

// AccountingOf lists the disclosures of a patient's records in w: every
// allowed routing to an external subscriber and every allowed read by an
// external party, except those the configuration exempts. Denied and
// failed accesses disclosed nothing and are not listed.
func AccountingOf(ctx context.Context, q audit.Querier, consents ConsentSource, cfg Config, pd *PolicyData,
	patientID string, w Window, now time.Time) (*Accounting, error) {
	permits := map[string]bool{}
	if consents != nil {
		ds, err := consents.Consents(ctx, patientID)
		if err != nil {
			return nil, fmt.Errorf("report: consents: %w", err)
		}
		for _, d := range ds {
			// A permit provision naming a purpose authorises disclosures
			// for that purpose it applied to, even if withdrawn since.
			for _, r := range d.EffectiveRules() {
				if r.Decision != consent.Permit {
					continue
				}
				for _, p := range r.Purposes {
					permits[d.ID+"|"+p] = true
				}
			}
		}
	}
	acc := &Accounting{PatientID: patientID, Window: w, Generated: now.UTC(), Disclosures: []Disclosure{}, Excluded: map[string]int{}}
	f := audit.Filter{PatientID: patientID, Codes: disclosureCodes, Outcome: audit.OutcomeAllow, From: w.From, To: w.To}
	err := Each(ctx, q, f, func(e audit.Event) error {
		ok, why := cfg.IsDisclosure(e, permits)
		if why != "" {
			acc.Excluded[why]++
		}
		if !ok {
			return nil
		}
		if len(acc.Disclosures) >= MaxEntries {
			return ErrTooLarge
		}
		acc.Disclosures = append(acc.Disclosures, Disclosure{
			EventID: e.ID, Date: e.Time.UTC(),
			Recipient:   Recipient{ID: e.ActorID, Org: e.ActorOrg, Application: e.Application, Roles: nonNil(e.ActorRoles)},
			Description: describe(e.RecordType, len(e.RecordIDs), e.Disclosed), RecordType: e.RecordType,
			RecordIDs: nonNil(e.RecordIDs), Elements: nonNil(e.Disclosed),
			Purpose: e.Purpose, PurposeDisplay: pd.PurposeDisplay(e.Purpose), Code: e.Code,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return acc, nil
}

// describe says what a disclosure contained, by type and element names
// (never values).
func describe(typ string, n int, elements []string) string {
	s := fmt.Sprintf("%s (%d record", typ, n)
	if n != 1 {
		s += "s"
	}
	s += ")"
	if len(elements) > 0 {
		s += ": " + strings.Join(elements, ", ")
	}
	return s
}

// Text renders the accounting for the patient or a letter.
func (a *Accounting) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Accounting of disclosures (45 CFR 164.528)\nPatient: %s\nPeriod: %s to %s\nGenerated: %s\n",
		a.PatientID, day(a.Window.From), day(a.Window.To), a.Generated.Format(time.RFC3339))
	if a.Window.Capped {
		b.WriteString("(The period was limited to the six years the rule covers.)\n")
	}
	fmt.Fprintf(&b, "\n%d disclosure(s)\n", len(a.Disclosures))
	for _, d := range a.Disclosures {
		to := d.Recipient.ID
		if d.Recipient.Org != "" {
			to += " (" + d.Recipient.Org + ")"
		}
		fmt.Fprintf(&b, "- %s  to %s  purpose: %s  disclosed: %s  [audit %s]\n",
			d.Date.Format(time.RFC3339), to, d.PurposeDisplay, d.Description, d.EventID)
	}
	if len(a.Excluded) > 0 {
		b.WriteString("\nNot listed (exempt from accounting):\n")
		for _, why := range sortedKeys(a.Excluded) {
			fmt.Fprintf(&b, "- %s: %d\n", why, a.Excluded[why])
		}
	}
	return b.String()
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
