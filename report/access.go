package report

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
)

// accessCodes are the events of the access report: every read (allowed,
// denied, failed, break-the-glass) and every routing (allowed or denied).
var accessCodes = []string{
	audit.CodeRecordRead, audit.CodeRecordReadDeny, audit.CodeBreakGlass, audit.CodeReadFailed,
	audit.CodeRouted, audit.CodeRouteDeny,
}

// AccessCodes returns the event codes an access report lists.
func AccessCodes() []string { return append([]string(nil), accessCodes...) }

// Access is one use or disclosure of a patient's record, or an attempt.
type Access struct {
	EventID     string    `json:"eventId"`
	Time        time.Time `json:"time"`
	Code        string    `json:"code"`
	Kind        string    `json:"kind"`    // use (workforce), disclosure (external), or attempt (nothing disclosed)
	Outcome     string    `json:"outcome"` // allow, deny, error
	Denied      bool      `json:"denied"`
	BreakGlass  bool      `json:"breakGlass"`
	Actor       string    `json:"actor"`
	Roles       []string  `json:"roles"`
	Org         string    `json:"org"`
	Application string    `json:"application"`
	Purpose     string    `json:"purpose"`
	RecordType  string    `json:"recordType"`
	RecordIDs   []string  `json:"recordIds"`
	Disclosed   []string  `json:"disclosed"`
	Masked      []string  `json:"masked"`
	Reason      string    `json:"reason"`
}

// AccessReport lists every use and disclosure of a patient's record.
type AccessReport struct {
	PatientID string    `json:"patient"`
	Window    Window    `json:"window"`
	Generated time.Time `json:"generated"`
	Entries   []Access  `json:"entries"`
	Uses      int       `json:"uses"`
	Disclosed int       `json:"disclosures"`
	Denials   int       `json:"denials"`
	Breaks    int       `json:"breakGlass"`
	Failures  int       `json:"failures"`
}

// AccessReportOf lists every access to the patient's records in w, oldest
// first: workforce reads, reads by external parties and routings, each
// marked allowed, denied or failed, break-the-glass marked.
func AccessReportOf(ctx context.Context, q audit.Querier, cfg Config, patientID string, w Window, now time.Time) (*AccessReport, error) {
	rep := &AccessReport{PatientID: patientID, Window: w, Generated: now.UTC(), Entries: []Access{}}
	f := audit.Filter{PatientID: patientID, Codes: accessCodes, From: w.From, To: w.To}
	err := Each(ctx, q, f, func(e audit.Event) error {
		if len(rep.Entries) >= MaxEntries {
			return ErrTooLarge
		}
		a := Access{
			EventID: e.ID, Time: e.Time.UTC(), Code: e.Code, Outcome: e.Outcome,
			Denied: e.Outcome == audit.OutcomeDeny, BreakGlass: e.Code == audit.CodeBreakGlass,
			Actor: e.ActorID, Roles: nonNil(e.ActorRoles), Org: e.ActorOrg, Application: e.Application,
			Purpose: e.Purpose, RecordType: e.RecordType, RecordIDs: nonNil(e.RecordIDs),
			Disclosed: nonNil(e.Disclosed), Masked: nonNil(e.Masked), Reason: e.Reason,
		}
		switch {
		case e.Outcome != audit.OutcomeAllow:
			a.Kind = "attempt"
		case cfg.External(e):
			a.Kind = "disclosure"
			rep.Disclosed++
		default:
			a.Kind = "use"
			rep.Uses++
		}
		switch {
		case a.Denied:
			rep.Denials++
		case e.Outcome == audit.OutcomeError:
			rep.Failures++
		}
		if a.BreakGlass {
			rep.Breaks++
		}
		rep.Entries = append(rep.Entries, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// Text renders the access report.
func (r *AccessReport) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Access report\nPatient: %s\nPeriod: %s to %s\nGenerated: %s\n", r.PatientID,
		day(r.Window.From), day(r.Window.To), r.Generated.Format(time.RFC3339))
	fmt.Fprintf(&b, "%d access(es): %d use(s), %d disclosure(s), %d denied, %d failed, %d break-the-glass\n\n",
		len(r.Entries), r.Uses, r.Disclosed, r.Denials, r.Failures, r.Breaks)
	for _, a := range r.Entries {
		mark := a.Outcome
		if a.BreakGlass {
			mark += " BREAK-GLASS"
		}
		who := a.Actor
		if len(a.Roles) > 0 {
			who += " [" + strings.Join(a.Roles, ",") + "]"
		}
		if a.Org != "" {
			who += " (" + a.Org + ")"
		}
		fmt.Fprintf(&b, "- %s  %-10s %-12s %s  %s  purpose %s  via %s  %s\n", a.Time.Format(time.RFC3339), a.Kind, mark,
			who, describe(a.RecordType, len(a.RecordIDs), a.Disclosed), a.Purpose, a.Application, a.EventID)
	}
	return b.String()
}
