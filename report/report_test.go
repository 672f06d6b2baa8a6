package report_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/report"
)

const day = 24 * time.Hour

// accountingFixture stores the patient's traffic: which events an
// accounting must list is in the returned want (event ids).
func accountingFixture(t *testing.T, f *fixture) (want []string) {
	t.Helper()
	f.permit(t, "consent-research-ok", "HRESCH")
	f.permit(t, "consent-general-optin")
	A, D := audit.OutcomeAllow, audit.OutcomeDeny
	evs := f.append(t,
		f.ev(2*day, audit.CodeRecordWrite, A, "lis", "", "", "Observation", "R1"),
		// routed: TREAT to the HIE is exempt; research and public health are listed
		f.ev(2*day-time.Hour, audit.CodeRouted, A, "hie", "regional-hie", "TREAT", "Observation", "R1"),
		f.ev(2*day-2*time.Hour, audit.CodeRouted, A, "research", "university", "HRESCH", "Observation", "R1"),
		f.ev(2*day-3*time.Hour, audit.CodeRouted, A, "state-health", "state-doh", "PUBHLTH", "Observation", "R1"),
		// denied routing: nothing disclosed
		f.ev(2*day-4*time.Hour, audit.CodeRouteDeny, D, "research", "university", "HRESCH", "Observation", "R1"),
		// workforce reads are uses, not disclosures, whatever the purpose
		f.ev(day, audit.CodeRecordRead, A, "dr.ames", "", "HRESCH", "Observation", "R1"),
		f.ev(day, audit.CodeRecordRead, A, "rn.kim", "carecrest-general", "HRESCH", "Observation", "R1"),
		// an external reader for a non-exempt purpose: listed
		f.ev(20*time.Hour, audit.CodeRecordRead, A, "insurer-app", "acme-insurance", "HLEGAL", "Observation", "R1"),
		// ... but not when nothing was found, or when denied
		f.ev(19*time.Hour, audit.CodeRecordRead, A, "insurer-app", "acme-insurance", "HLEGAL", "Observation"),
		f.ev(18*time.Hour, audit.CodeRecordReadDeny, D, "insurer-app", "acme-insurance", "HLEGAL", "Observation", "R1"),
		// to the patient (PATRQT), and payment: exempt
		f.ev(17*time.Hour, audit.CodeRecordRead, A, "patient-portal", "portal-vendor", "PATRQT", "Observation", "R1"),
		f.ev(16*time.Hour, audit.CodeRouted, A, "clearinghouse", "claims-co", "HPAYMT", "Observation", "R1"),
		// more than six years ago: outside the accounting
		f.ev(7*365*day, audit.CodeRouted, A, "research", "university", "HRESCH", "Observation", "R0"),
	)
	// under the patient's authorisation: by rule, and by a permit consent
	auth := f.ev(15*time.Hour, audit.CodeRouted, A, "research", "university", "HRESCH", "Observation", "R1")
	auth.Rules = []string{report.RuleAuthorization}
	byConsent := f.ev(14*time.Hour, audit.CodeRouted, A, "research", "university", "HRESCH", "Observation", "R2")
	byConsent.Consents = []string{"consent-research-ok"}
	// a general opt-in is not an authorisation for research: listed
	general := f.ev(12*time.Hour, audit.CodeRouted, A, "research", "university", "HRESCH", "Observation", "R3")
	general.Consents = []string{"consent-general-optin"}
	extra := f.append(t, auth, byConsent, general)
	// another patient's disclosure
	other := f.ev(13*time.Hour, audit.CodeRouted, A, "research", "university", "HRESCH", "Observation", "R9")
	other.PatientID = "P-OTHER"
	f.append(t, other)
	return []string{evs[2].ID, evs[3].ID, evs[7].ID, extra[2].ID}
}

func TestAccountingListsExactlyTheNonExemptDisclosures(t *testing.T) {
	f := newFixture(t)
	want := accountingFixture(t, f)
	w, err := report.AccountingWindow(time.Time{}, time.Time{}, f.now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	pd, _ := report.LoadPolicyData(nil)
	acc, err := report.AccountingOf(context.Background(), f.st, f.st, testConfig(), pd, f.patient, w, f.now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range acc.Disclosures {
		got = append(got, d.EventID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("disclosures = %v, want %v\n%s", got, want, acc.Text())
	}
	d := acc.Disclosures[0]
	if d.Recipient.ID != "research" || d.Recipient.Org != "university" || d.Purpose != "HRESCH" ||
		d.PurposeDisplay != "healthcare research" || d.Description != "Observation (1 record): code, status, valueQuantity" {
		t.Errorf("disclosure = %+v", d)
	}
	wantExcluded := map[string]int{
		"exempt purpose TREAT": 1, "exempt purpose PATRQT": 1, "exempt purpose HPAYMT": 1,
		"under the patient's authorisation": 2,
	}
	for k, v := range wantExcluded {
		if acc.Excluded[k] != v {
			t.Errorf("excluded[%q] = %d, want %d (all: %v)", k, acc.Excluded[k], v, acc.Excluded)
		}
	}
	text := acc.Text()
	for _, s := range []string{"Accounting of disclosures", f.patient, "research (university)", "healthcare research", "Not listed"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q:\n%s", s, text)
		}
	}
}

func TestAccountingWindow(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w, err := report.AccountingWindow(time.Time{}, time.Time{}, now)
	if err != nil || !w.To.Equal(now) || !w.From.Equal(now.AddDate(-6, 0, 0)) || w.Capped { // six calendar years, leap days included
		t.Fatalf("default window = %+v, %v", w, err)
	}
	w, err = report.AccountingWindow(now.AddDate(-10, 0, 0), time.Time{}, now)
	if err != nil || !w.Capped || !w.From.Equal(now.AddDate(-6, 0, 0)) {
		t.Fatalf("ten years = %+v, %v; want capped at six", w, err)
	}
	w, err = report.AccountingWindow(now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0), now)
	if err != nil || !w.To.Equal(now) || w.Capped {
		t.Fatalf("future to = %+v, %v; want now", w, err)
	}
	if _, err := report.AccountingWindow(now, now.Add(-time.Hour), now); err == nil {
		t.Fatal("an empty window must be an error")
	}
}

func TestExternalAndExempt(t *testing.T) {
	c := report.Config{InternalOrgs: []string{"hosp"}, ExternalActors: []string{"contractor"}, InternalActors: []string{"own-billing"},
		ExemptRecipients: []string{"ba-coder"}}
	c.Defaults()
	for _, tc := range []struct {
		e    audit.Event
		want bool
	}{
		{audit.Event{Code: audit.CodeRecordRead, ActorID: "dr"}, false},
		{audit.Event{Code: audit.CodeRecordRead, ActorID: "dr", ActorOrg: "hosp"}, false},
		{audit.Event{Code: audit.CodeRecordRead, ActorID: "app", ActorOrg: "vendor"}, true},
		{audit.Event{Code: audit.CodeRecordRead, ActorID: "contractor", ActorOrg: "hosp"}, true},
		{audit.Event{Code: audit.CodeRouted, ActorID: "hie"}, true},
		{audit.Event{Code: audit.CodeRouted, ActorID: "lab2", ActorOrg: "hosp"}, false},
		{audit.Event{Code: audit.CodeRouted, ActorID: "own-billing", ActorOrg: "billing-co"}, false},
	} {
		if got := c.External(tc.e); got != tc.want {
			t.Errorf("External(%s by %s of %q) = %t, want %t", tc.e.Code, tc.e.ActorID, tc.e.ActorOrg, got, tc.want)
		}
	}
	if c.Exempt(audit.Event{ActorID: "ba-coder", Purpose: "HRESCH"}, false) == "" {
		t.Error("an exempt recipient must be exempt")
	}
	no := false
	c.AuthorizationExempt = &no
	if c.Exempt(audit.Event{ActorID: "x", Purpose: "HRESCH"}, true) != "" {
		t.Error("with authorization_exempt false, authorised disclosures are listed")
	}
}

func TestConfigValidate(t *testing.T) {
	c := report.Config{ExemptPurposes: []string{"TREAT", "bad code"}, ExternalActors: []string{"a"}, InternalActors: []string{"a"}}
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "exempt_purposes") || !strings.Contains(err.Error(), "both internal and external") {
		t.Fatalf("Validate = %v", err)
	}
	var d report.Config
	d.Defaults()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.ExemptPurposes, []string{"TREAT", "ETREAT", "HPAYMT", "HOPERAT", "PATRQT"}) || d.BreakGlassSessionGap != time.Hour {
		t.Fatalf("defaults = %+v", d)
	}
}

func TestAccessReportListsEveryAccess(t *testing.T) {
	f := newFixture(t)
	accountingFixture(t, f)
	bg := f.ev(12*time.Hour, audit.CodeBreakGlass, audit.OutcomeAllow, "dr.ames", "", "ETREAT", "Observation", "R1")
	failed := f.ev(11*time.Hour, audit.CodeReadFailed, audit.OutcomeError, "dr.ames", "", "TREAT", "Observation", "R1")
	query := f.ev(10*time.Hour, audit.CodeAuditQuery, audit.OutcomeAllow, "po.ines", "", "HOPERAT", "AuditEvent")
	f.append(t, bg, failed, query)
	w := report.Window{From: f.now.Add(-10 * 365 * day), To: f.now.Add(time.Second)}
	rep, err := report.AccessReportOf(context.Background(), f.st, testConfig(), f.patient, w, f.now)
	if err != nil {
		t.Fatal(err)
	}
	// every read and routing of the patient: 18 stored for P-FIX1 minus
	// the write, plus break-glass and the failed read; not the audit query.
	if len(rep.Entries) != 17 {
		t.Fatalf("entries = %d, want 17\n%s", len(rep.Entries), rep.Text())
	}
	if rep.Uses != 3 || rep.Denials != 2 || rep.Breaks != 1 || rep.Failures != 1 || rep.Disclosed != 11 {
		t.Errorf("counts: uses %d denials %d breaks %d failures %d disclosures %d", rep.Uses, rep.Denials, rep.Breaks, rep.Failures, rep.Disclosed)
	}
	for _, a := range rep.Entries {
		if a.Code == audit.CodeRecordWrite || a.Code == audit.CodeAuditQuery {
			t.Errorf("access report lists %s", a.Code)
		}
		if a.Denied != (a.Outcome == audit.OutcomeDeny) || (a.Denied && a.Kind != "attempt") {
			t.Errorf("entry %+v: denial not marked", a)
		}
	}
	if !strings.Contains(rep.Text(), "BREAK-GLASS") {
		t.Errorf("text does not mark break-the-glass:\n%s", rep.Text())
	}
}

func TestSubjectAccessReport(t *testing.T) {
	f := newFixture(t)
	accountingFixture(t, f)
	consentWrite := f.ev(3*day, audit.CodeRecordWrite, audit.OutcomeAllow, "ehr", "", "", "Patient", "R-P")
	f.append(t, consentWrite)
	pd, _ := report.LoadPolicyData(nil)
	rep, err := report.SubjectAccessOf(context.Background(), f.st, testConfig(), pd, f.patient, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Sources, []string{"ehr", "lis"}) {
		t.Errorf("sources = %v", rep.Sources)
	}
	var cats []string
	for _, c := range rep.Categories {
		cats = append(cats, c.Class+":"+strings.Join(c.RecordTypes, ","))
	}
	if !slices.Equal(cats, []string{"clinical:Observation", "demographic:Patient"}) {
		t.Errorf("categories = %v", cats)
	}
	var purposes []string
	for _, p := range rep.Purposes {
		purposes = append(purposes, p.Code)
	}
	if !slices.Equal(purposes, []string{"HLEGAL", "HPAYMT", "HRESCH", "PATRQT", "PUBHLTH", "TREAT"}) {
		t.Errorf("purposes = %v", purposes)
	}
	var recips []string
	for _, r := range rep.Recipients {
		recips = append(recips, r.Kind+":"+r.Name)
	}
	for _, want := range []string{"external:research", "external:hie", "external:insurer-app", "workforce:role-of-dr.ames"} {
		if !slices.Contains(recips, want) {
			t.Errorf("recipients %v lack %s", recips, want)
		}
	}
	if rep.Automated != report.NoAutomatedDecisions || rep.Retention.Records == "" {
		t.Errorf("report = %+v", rep)
	}
	text := rep.Text()
	for _, s := range []string{"Article 15", "Purposes", "Recipients", "Retention", "Sources", "Automated decision-making: none"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q", s)
		}
	}
}

func TestProcessingRecordFromConfigAndPolicy(t *testing.T) {
	f := newFixture(t)
	rec := report.ProcessingRecordOf(f.reader.Processing, f.now)
	var purposes []string
	for _, p := range rec.Purposes {
		purposes = append(purposes, p.Code)
		if p.Code == "TREAT" && (!slices.Contains(p.Roles, "physician") || !slices.Equal(p.Recipients, []string{"hie"})) {
			t.Errorf("TREAT = %+v", p)
		}
		if p.Code == "ETREAT" && !p.BreakGlass {
			t.Errorf("ETREAT not marked break-glass")
		}
	}
	if !slices.Contains(purposes, "HRESCH") || !slices.Contains(purposes, "PATRQT") {
		t.Errorf("purposes = %v", purposes)
	}
	var classes []string
	for _, c := range rec.DataCategories {
		classes = append(classes, c.Class)
	}
	if !slices.Equal(classes, []string{"administrative", "clinical", "consent", "demographic", "financial"}) {
		t.Errorf("classes = %v", classes)
	}
	if len(rec.Sources) != 3 || rec.Sources[1].Name != "hie" || rec.Sources[1].RecordTypes[0] != "every record type" {
		t.Errorf("sources = %+v", rec.Sources)
	}
	if len(rec.Recipients) != 2 || !rec.Recipients[0].External || rec.Recipients[0].Org != "regional-hie" {
		t.Errorf("recipients = %+v", rec.Recipients)
	}
	var po *report.ProcessingRole
	for i := range rec.Roles {
		if rec.Roles[i].Name == "privacy_officer" {
			po = &rec.Roles[i]
		}
	}
	if po == nil || !slices.Contains(po.Governance, "report.generate") {
		t.Errorf("privacy_officer role = %+v", po)
	}
	text := rec.Text()
	for _, s := range []string{"Article 30", "Security measures", "AES-256-GCM", "hash-chained", "Transfers"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q", s)
		}
	}
}

func TestBreakGlassSessions(t *testing.T) {
	f := newFixture(t)
	A := audit.OutcomeAllow
	bg := func(ago time.Duration, actor, patient, typ string) audit.Event {
		e := f.ev(ago, audit.CodeBreakGlass, A, actor, "", "ETREAT", typ, "R-"+typ)
		e.PatientID, e.Reason = patient, "unconscious in ED"
		return e
	}
	evs := f.append(t,
		bg(5*time.Hour, "dr.ames", "P1", "Patient"),
		bg(5*time.Hour-10*time.Minute, "dr.ames", "P1", "Observation"), // same session
		bg(5*time.Hour-5*time.Minute, "rn.kim", "P1", "Patient"),       // another actor
		bg(2*time.Hour, "dr.ames", "P1", "Condition"),                  // > 1h later: new session
		bg(90*time.Minute, "dr.ames", "P2", "Patient"),                 // another patient
	)
	sessions, err := report.Queue(context.Background(), f.st, testConfig(), f.now.Add(-day), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sessions {
		got = append(got, s.Actor+"/"+s.PatientID+"/"+strings.Join(s.RecordTypes, ","))
	}
	want := []string{"dr.ames/P1/Observation,Patient", "rn.kim/P1/Patient", "dr.ames/P1/Condition", "dr.ames/P2/Patient"}
	if !slices.Equal(got, want) {
		t.Fatalf("sessions = %v, want %v", got, want)
	}
	s0 := sessions[0]
	if s0.ID != evs[0].ID || !slices.Equal(s0.EventIDs, []string{evs[0].ID, evs[1].ID}) || s0.Records != 2 ||
		!slices.Equal(s0.Reasons, []string{"unconscious in ED"}) || !s0.End.After(s0.Start) {
		t.Errorf("session = %+v", s0)
	}
	found, err := report.FindSession(context.Background(), f.st, testConfig(), sessions[2].ID)
	if err != nil || found.ID != sessions[2].ID {
		t.Fatalf("FindSession = %+v, %v", found, err)
	}
	if _, err := report.FindSession(context.Background(), f.st, testConfig(), "not-an-id"); err != report.ErrNoSession {
		t.Fatalf("FindSession(bad) = %v", err)
	}
}

func TestFindingValidation(t *testing.T) {
	for _, tc := range []struct {
		f  report.Finding
		ok bool
	}{
		{report.Finding{Finding: "justified", Category: "emergency-treatment"}, true},
		{report.Finding{Finding: "unjustified", Category: "personal-interest"}, true},
		{report.Finding{Finding: "justified", Category: "personal-interest"}, false},
		{report.Finding{Finding: "maybe", Category: "other"}, false},
		{report.Finding{Finding: "unjustified", Category: "the patient is my neighbour"}, false},
	} {
		if err := tc.f.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v", tc.f, err)
		}
	}
	reason := report.ReviewReason("01ABC", report.Finding{Finding: "unjustified", Category: "wrong-patient"})
	s, f, ok := report.ParseReview(reason)
	if !ok || s != "01ABC" || f.Finding != "unjustified" || f.Category != "wrong-patient" {
		t.Fatalf("ParseReview(%q) = %q %+v %t", reason, s, f, ok)
	}
}

func TestCursor(t *testing.T) {
	id := audit.NewID(time.Now())
	c := report.EncodeCursor(id)
	if strings.Contains(c, id) {
		t.Errorf("cursor %q is not opaque", c)
	}
	got, err := report.DecodeCursor(c)
	if err != nil || got != id {
		t.Fatalf("DecodeCursor = %q, %v", got, err)
	}
	for _, bad := range []string{"zzz", id, report.EncodeCursor("x' OR 1=1")} {
		if _, err := report.DecodeCursor(bad); err == nil {
			t.Errorf("DecodeCursor(%q) accepted", bad)
		}
	}
}
