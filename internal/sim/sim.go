// Package sim generates a realistic month of hospital audit traffic with
// planted anomalous-access incidents and the expected HIPAA accounting of
// disclosures, for the end-to-end tests of alerts and compliance reports.
// Everything is invented and deterministic: the same Options give the same
// Month, byte for byte (event ids included).
//
// # API
//
//	m := sim.Generate(sim.Options{Seed: 1})            // 30 days, ~300 staff, ~3000 patients
//	m.Events       // []audit.Event, chronological, IDs and Keys set
//	m.Roster       // the workforce: ids, roles, surname, address, own MRN, usual hours, relationships
//	m.Patients     // enterprise ids "P...", surname, address, MRN, VIP flag, care team
//	m.Incidents    // planted incidents: Kind is the alert rule id that must fire
//	m.Disclosures  // patient id → the disclosures a HIPAA accounting must list
//
// # Traffic
//
// Each patient has one encounter (1–4 days). Source systems write records
// (registration: Patient and Encounter; lis: Observation; ehr: Condition;
// billing: Coverage and ChargeItem), the patient's care team (2 physicians
// and 3 nurses, day or night shift) reads them during their shifts under
// purpose TREAT, a registration clerk reads the Patient at admission
// (HOPERAT) and a billing clerk reads Coverage and ChargeItem after discharge
// (HPAYMT), except for VIP patients, whom only their care team reads. The
// hub routes records to subscribers (see Subscribers): the regional HIE
// (TREAT; patients who opted out are denied), a billing clearinghouse
// (HPAYMT), the state public-health registry (PUBHLTH, reportable results)
// and a research registry (HRESCH, half of them under the patient's
// authorisation). A few reads are denied (at most one per user and day),
// privacy officers query and export the audit log on working days.
//
// # Incidents
//
// Incidents are planted against the alert package's default thresholds, one
// or more per rule (ids as in package alert): break-glass, vip-access,
// own-record, shared-demographics, no-relationship, off-hours,
// volume-spike, repeated-denials, bulk-export. Look-alikes that must not
// alert are planted beside them: night-shift nurses reading at night, the
// VIP's own care team, a patient whose surname merely starts with a staff
// member's, one on the same street as a staff member, four denials in ten
// minutes. An incident's EventIDs are the planted events; one access may be
// two incidents (a nurse reading a relative without a relationship is both
// shared-demographics and no-relationship). Rules that need a baseline
// (volume-spike) are planted only when Days >= 14.
//
// # Accounting of disclosures
//
// A disclosure is an allowed CodeRouted event (a subscriber outside the
// hospital received records) or an allowed read (CodeRecordRead,
// CodeBreakGlass) by an actor whose ActorOrg is not Org. A disclosure is
// exempt from the HIPAA accounting (45 CFR 164.528(a)(1)) when its purpose
// is TREAT, ETREAT, HPAYMT, HOPERAT or PATRQT, or when it was made under the
// patient's authorisation: its Rules contain RuleAuthorization (the consent
// ids are in Consents). AccountingExempt and IsDisclosure state the rule in
// code; Disclosures lists, per patient, every non-exempt disclosure in
// event order.
package sim

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/oklog/ulid/v2"
)

// Org is the covered entity: the hospital's own workforce carries it as
// ActorOrg.
const Org = "carecrest-general"

// MRNSystem is the assigning authority of the hospital's MRNs.
const MRNSystem = "urn:oid:2.16.840.1.113883.19.5"

// RuleAuthorization is the policy rule a disclosure made under the
// patient's written authorisation carries.
const RuleAuthorization = "consent.authorization"

// Options shape a month. Zero fields take the defaults.
type Options struct {
	Seed     uint64
	Start    time.Time      // first day (truncated to midnight in Location); default 2026-01-05
	Days     int            // default 30
	Users    int            // workforce size; default 300 (at least 60)
	Patients int            // default 3000 (at least 200)
	Location *time.Location // where usual hours are counted; default UTC
}

func (o *Options) defaults() {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, o.Location)
	}
	o.Start = time.Date(o.Start.In(o.Location).Year(), o.Start.In(o.Location).Month(), o.Start.In(o.Location).Day(), 0, 0, 0, 0, o.Location)
	if o.Days <= 0 {
		o.Days = 30
	}
	if o.Days < 7 {
		o.Days = 7
	}
	if o.Users <= 0 {
		o.Users = 300
	}
	o.Users = max(o.Users, 60)
	if o.Patients <= 0 {
		o.Patients = 3000
	}
	o.Patients = max(o.Patients, 200)
}

// Staff is one member of the workforce roster.
type Staff struct {
	ID          string   // opaque employee id, e.g. E10017 (no names in actor ids)
	Roles       []string // policy roles (physician, nurse, registration_clerk, billing_clerk, privacy_officer, security_analyst)
	Org         string
	Application string // the client application the user works in
	Surname     string
	Address     string
	// OwnMRN is the member's own patient identifier ("system|value") when
	// they are also a patient of the hospital, else "".
	OwnMRN string
	// UsualHours are the local hours [start, end) of the member's shift;
	// start > end wraps midnight (night shift 19–7).
	UsualHours [2]int
	// OffDays are the weekdays (0 = the month's first day's weekday slot)
	// the member does not work: day d is off when (d+OffSet)%7 >= 5.
	OffSet int
	// Relationships are the patients the member has a treatment
	// relationship with (care team), sorted.
	Relationships []string
}

// Works reports whether the member works on day d of the month.
func (s Staff) Works(d int) bool { return (d+s.OffSet)%7 < 5 }

// HasRole reports whether the member holds role.
func (s Staff) HasRole(role string) bool { return slices.Contains(s.Roles, role) }

// Patient is one enterprise patient.
type Patient struct {
	ID       string // enterprise id "P..."
	MRN      string // "system|value"
	Surname  string
	Address  string
	VIP      bool
	OptedOut bool     // opted out of HIE sharing: routes to the HIE are denied
	CareTeam []string // staff ids with a treatment relationship
	// Admit is the first day of the encounter (index into the month), Stay
	// its length in days.
	Admit, Stay int
}

// Incident is a planted anomalous access: the alert rule Kind must fire for
// ActorID (and PatientID, when the rule concerns one patient) on the planted
// events, At being the first of them.
type Incident struct {
	Kind      string
	ActorID   string
	PatientID string // "" for rules about an actor's behaviour (volume, denials, bulk)
	At        time.Time
	EventIDs  []string
}

// Subscriber is a system records are routed to.
type Subscriber struct {
	Name, Org, Purpose string
	Roles              []string
}

// Subscribers are the outbound systems of the month.
var Subscribers = []Subscriber{
	{Name: "hie", Org: "regional-hie", Purpose: "TREAT", Roles: []string{"hie_participant"}},
	{Name: "clearinghouse", Org: "claims-clearinghouse", Purpose: "HPAYMT", Roles: []string{"billing_system"}},
	{Name: "state-health", Org: "state-department-of-health", Purpose: "PUBHLTH", Roles: []string{"application"}},
	{Name: "research-registry", Org: "university-research-registry", Purpose: "HRESCH", Roles: []string{"application"}},
}

// Month is a generated month of traffic.
type Month struct {
	Start, End time.Time // [Start, End)
	Location   *time.Location
	Roster     []Staff
	Patients   []Patient
	Events     []audit.Event // chronological; IDs, Keys and RequestIDs set
	Incidents  []Incident
	// Disclosures maps a patient id to the disclosures a HIPAA accounting
	// of disclosures must list for them over the month, in event order.
	Disclosures map[string][]audit.Event
}

// Staff returns the roster entry of id.
func (m *Month) Staff(id string) (Staff, bool) {
	for _, s := range m.Roster {
		if s.ID == id {
			return s, true
		}
	}
	return Staff{}, false
}

// Patient returns the patient with enterprise id id.
func (m *Month) Patient(id string) (Patient, bool) {
	for _, p := range m.Patients {
		if p.ID == id {
			return p, true
		}
	}
	return Patient{}, false
}

// VIPs lists the VIP patients' enterprise ids.
func (m *Month) VIPs() []string {
	var out []string
	for _, p := range m.Patients {
		if p.VIP {
			out = append(out, p.ID)
		}
	}
	return out
}

// IsDisclosure reports whether e discloses PHI outside the covered entity
// org: an allowed route to a subscriber, or an allowed read by an actor of
// another organisation.
func IsDisclosure(e audit.Event, org string) bool {
	if e.Outcome != audit.OutcomeAllow || e.PatientID == "" {
		return false
	}
	switch e.Code {
	case audit.CodeRouted:
		return true
	case audit.CodeRecordRead, audit.CodeBreakGlass:
		return e.ActorOrg != "" && e.ActorOrg != org
	}
	return false
}

// ExemptPurposes are the purposes of use whose disclosures a HIPAA
// accounting leaves out: treatment, payment, operations, to the patient.
var ExemptPurposes = []string{"TREAT", "ETREAT", "HPAYMT", "HOPERAT", "PATRQT"}

// AccountingExempt reports whether a disclosure is exempt from the
// accounting: an exempt purpose, or made under the patient's authorisation.
func AccountingExempt(e audit.Event) bool {
	return slices.Contains(ExemptPurposes, e.Purpose) || slices.Contains(e.Rules, RuleAuthorization)
}

// Generate builds a month of traffic. It is deterministic in opts and
// takes well under a second for the defaults.
func Generate(opts Options) *Month {
	opts.defaults()
	g := &gen{
		opts: opts,
		rng:  rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		m: &Month{
			Start: opts.Start, End: opts.Start.AddDate(0, 0, opts.Days), Location: opts.Location,
			Disclosures: map[string][]audit.Event{},
		},
		load: map[loadKey]int{},
	}
	g.roster()
	g.patients()
	g.relatives()
	g.careTeams()
	g.traffic()
	g.governance()
	g.plant()
	g.finish()
	return g.m
}

// gen holds generation state. Events are collected unordered and sorted
// once at the end; planted events are tracked by their index in g.events.
type gen struct {
	opts   Options
	rng    *rand.Rand
	m      *Month
	events []audit.Event
	// planted incidents, EventIDs holding indices into g.events until finish
	planted []plantedIncident
	load    map[loadKey]int // distinct patients an actor reads per day
	denied  map[loadKey]bool
	seq     int
}

type plantedIncident struct {
	inc     Incident
	indices []int
}

type loadKey struct {
	actor string
	day   int
}

// day returns midnight of day d (local).
func (g *gen) day(d int) time.Time { return g.m.Start.AddDate(0, 0, d) }

// at returns day d at the given local hour and minute plus seconds jitter.
func (g *gen) at(d int, hour, minute int) time.Time {
	return g.day(d).Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute +
		time.Duration(g.rng.IntN(60_000))*time.Millisecond)
}

// add collects an event and returns its index.
func (g *gen) add(e audit.Event) int {
	e.Time = e.Time.UTC()
	g.seq++
	if e.RequestID == "" {
		e.RequestID = "req-" + strconv.Itoa(g.seq)
	}
	g.events = append(g.events, e)
	return len(g.events) - 1
}

// finish sorts the events, assigns ULIDs whose entropy comes from the seed
// (so ids are deterministic and sortable), fills Keys and resolves the
// planted incidents' event ids and the expected accounting.
func (g *gen) finish() {
	idx := make([]int, len(g.events))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return g.events[a].Time.Compare(g.events[b].Time) })
	pos := make([]int, len(g.events))
	out := make([]audit.Event, len(g.events))
	entropy := ulid.Monotonic(&seededReader{r: rand.New(rand.NewPCG(g.opts.Seed, 0x5eed))}, 0)
	for newPos, old := range idx {
		e := g.events[old]
		e.ID = ulid.MustNew(ulid.Timestamp(e.Time), entropy).String()
		e.Key = "sim|" + e.ID
		out[newPos] = e
		pos[old] = newPos
	}
	g.m.Events = out
	for _, p := range g.planted {
		inc := p.inc
		inc.EventIDs = nil
		first := time.Time{}
		for _, i := range p.indices {
			e := out[pos[i]]
			inc.EventIDs = append(inc.EventIDs, e.ID)
			if first.IsZero() || e.Time.Before(first) {
				first = e.Time
			}
		}
		inc.At = first
		slices.Sort(inc.EventIDs)
		g.m.Incidents = append(g.m.Incidents, inc)
	}
	slices.SortStableFunc(g.m.Incidents, func(a, b Incident) int { return a.At.Compare(b.At) })
	for _, e := range out {
		if IsDisclosure(e, Org) && !AccountingExempt(e) {
			g.m.Disclosures[e.PatientID] = append(g.m.Disclosures[e.PatientID], e)
		}
	}
}

// seededReader adapts a seeded PRNG to io.Reader for ULID entropy.
type seededReader struct{ r *rand.Rand }

var _ io.Reader = (*seededReader)(nil)

func (s *seededReader) Read(p []byte) (int, error) {
	for i := 0; i < len(p); i += 8 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], s.r.Uint64())
		copy(p[i:], b[:])
	}
	return len(p), nil
}

// patientID derives an enterprise id the way the MPI shapes them.
func patientID(seed uint64, i int) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(i))
	sum := sha256.Sum256(append([]byte("carecrest/sim/epi|"), b[:]...))
	return "P" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
}
