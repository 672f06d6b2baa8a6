package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/carecrest/hub/audit"
)

var (
	patientSurnames = []string{"Okafor", "Lindqvist", "Moreau", "Tanaka", "Castellanos", "Novak", "Haddad", "Achterberg",
		"Quispe", "Mbeki", "Sorensen", "Ferreira", "Kowalczyk", "Nakamura", "Oyelaran", "Petrov", "Rahman", "Silva",
		"Takahashi", "Umarov", "Vasquez", "Wojcik", "Xiong", "Yilmaz", "Zhou", "Abara", "Bergstrom", "Chaudhry", "Dlamini",
		"Eriksen", "Fontaine", "Gallagher", "Horvath", "Iwu", "Jansen", "Kaur", "Lozano", "Mendez", "Nilsen", "Ortega",
		"Papadopoulos", "Qureshi", "Rossi", "Sato", "Tiwari", "Ueda", "Varga", "Weber", "Yamamoto", "Zielinski"}
	staffSurnames = []string{"Brennan", "Hartley", "Kinsella", "Delacroix", "Ashworth", "Mwangi", "Virtanen", "Ibarra",
		"Costa", "Lachance", "Sandoval", "Whitlock", "Ferris", "Galloway", "Holm", "Ingram", "Jovanovic", "Kearney",
		"Lundgren", "Marchetti", "Nyberg", "Osei", "Pereira", "Quinlan", "Rasmussen", "Strand", "Thorne", "Underwood",
		"Valdez", "Winslow"}
	patientStreets = []string{"Elm Row", "Quarry Lane", "Harbour Way", "Linden Court", "Mill Street", "Orchard Rise",
		"Cedar Avenue", "Beacon Road", "Willow Close", "Foundry Street", "Kingfisher Drive", "Maple Terrace",
		"Station Road", "Chapel Walk", "Granary Yard", "Heron Place"}
	staffStreets = []string{"Ridgeway", "Copper Beech Lane", "Saltmarsh Road", "Tannery Row", "Lantern Close",
		"Ferry Street", "Bellfield Avenue", "Juniper Grove"}
	cities = []string{"Riverton", "Ashford", "Lakemoor"}
)

// Shifts (local hours, [start, end); start > end wraps midnight).
var (
	dayShift    = [2]int{7, 19}
	nightShift  = [2]int{19, 7}
	officeHours = [2]int{8, 17}
)

const policyRevision = "rev-2026-01"

func (g *gen) roster() {
	n := g.opts.Users
	counts := []struct {
		role string
		n    int
	}{
		{"privacy_officer", 2}, {"security_analyst", 2},
		{"registration_clerk", n * 8 / 100}, {"billing_clerk", n * 8 / 100},
		{"physician", n * 27 / 100},
	}
	used := 0
	for _, c := range counts {
		used += c.n
	}
	counts = append(counts, struct {
		role string
		n    int
	}{"nurse", n - used})
	i := 0
	for _, c := range counts {
		for k := 0; k < c.n; k++ {
			s := Staff{
				ID: fmt.Sprintf("E%05d", 10000+i), Roles: []string{c.role}, Org: Org,
				Surname:    staffSurnames[g.rng.IntN(len(staffSurnames))],
				Address:    fmt.Sprintf("%d %s, %s", 1+g.rng.IntN(300), staffStreets[g.rng.IntN(len(staffStreets))], cities[g.rng.IntN(len(cities))]),
				UsualHours: officeHours, OffSet: g.rng.IntN(7),
			}
			switch c.role {
			case "physician", "nurse":
				s.Application = "carecrest-ehr"
				s.UsualHours = dayShift
				night := 15
				if c.role == "nurse" {
					night = 25
				}
				if g.rng.IntN(100) < night {
					s.UsualHours = nightShift
				}
			case "registration_clerk":
				s.Application = "carecrest-registration"
			case "billing_clerk":
				s.Application = "carecrest-billing"
			default:
				s.Application = "carecrest-privacy"
			}
			g.m.Roster = append(g.m.Roster, s)
			i++
		}
	}
}

// byRole lists the indices of staff holding role, optionally only those
// on a given shift.
func (g *gen) byRole(role string, shift *[2]int) []int {
	var out []int
	for i, s := range g.m.Roster {
		if s.HasRole(role) && (shift == nil || s.UsualHours == *shift) {
			out = append(out, i)
		}
	}
	return out
}

func (g *gen) patients() {
	for i := range g.opts.Patients {
		p := Patient{
			ID:      patientID(g.opts.Seed, i),
			MRN:     fmt.Sprintf("%s|MRN%06d", MRNSystem, 100000+i),
			Surname: patientSurnames[g.rng.IntN(len(patientSurnames))],
			Address: fmt.Sprintf("%d %s, %s", 1+g.rng.IntN(400), patientStreets[g.rng.IntN(len(patientStreets))], cities[g.rng.IntN(len(cities))]),
		}
		p.OptedOut = g.rng.IntN(100) < 2
		p.Admit = g.rng.IntN(g.opts.Days - 1)
		p.Stay = min(1+g.rng.IntN(4), g.opts.Days-p.Admit)
		g.m.Patients = append(g.m.Patients, p)
	}
	// Five VIPs; some staff are patients too (their record carries their
	// own surname and address).
	for k := range 5 {
		g.m.Patients[10+k*7].VIP = true
	}
	for si := range g.m.Roster {
		if g.rng.IntN(100) >= 8 {
			continue
		}
		pi := 100 + si
		if pi >= len(g.m.Patients) || g.m.Patients[pi].VIP {
			continue
		}
		s := &g.m.Roster[si]
		p := &g.m.Patients[pi]
		s.OwnMRN, p.Surname, p.Address = p.MRN, s.Surname, s.Address
	}
}

// related reports whether staff s must not ordinarily touch patient p: it
// is their own record, or the patient shares their surname or address.
func related(s Staff, p Patient) bool {
	return s.OwnMRN == p.MRN || s.Surname == p.Surname || s.Address == p.Address
}

// careTeams assigns each patient 2 physicians and 3 nurses, keeping each
// clinician's daily panel small.
func (g *gen) careTeams() {
	const panelCap = 10
	panel := map[loadKey]int{}
	phys, nurses := g.byRole("physician", nil), g.byRole("nurse", nil)
	rel := map[int][]string{}
	for pi := range g.m.Patients {
		p := &g.m.Patients[pi]
		for _, pool := range []struct {
			idx []int
			n   int
		}{{phys, 2}, {nurses, 3}} {
			picked := 0
			for try := 0; try < 40 && picked < pool.n; try++ {
				si := pool.idx[g.rng.IntN(len(pool.idx))]
				s := g.m.Roster[si]
				if slices.Contains(p.CareTeam, s.ID) || related(s, *p) {
					continue
				}
				full := false
				for d := p.Admit; d < p.Admit+p.Stay; d++ {
					if panel[loadKey{s.ID, d}] >= panelCap {
						full = true
					}
				}
				if full {
					continue
				}
				for d := p.Admit; d < p.Admit+p.Stay; d++ {
					panel[loadKey{s.ID, d}]++
				}
				p.CareTeam = append(p.CareTeam, s.ID)
				rel[si] = append(rel[si], p.ID)
				picked++
			}
		}
	}
	for si, ps := range rel {
		slices.Sort(ps)
		g.m.Roster[si].Relationships = ps
	}
}

var disclosedElements = map[string][]string{
	"Patient":     {"address", "birthDate", "gender", "identifier", "name", "telecom"},
	"Encounter":   {"class", "period", "type"},
	"Observation": {"code", "effectiveDateTime", "valueQuantity"},
	"Condition":   {"clinicalStatus", "code", "onsetDateTime"},
	"Coverage":    {"beneficiary", "payor", "subscriberId"},
	"ChargeItem":  {"code", "quantity", "occurrenceDateTime"},
}

func recordID(p Patient, typ string, n int) string {
	return fmt.Sprintf("R%s-%s-%d", p.ID[1:9], typ, n)
}

// write records that a source system wrote one record of typ.
func (g *gen) write(source string, p Patient, typ string, t time.Time, n int) audit.Event {
	e := audit.Event{
		Time: t, Code: audit.CodeRecordWrite, Action: audit.ActionWrite, Outcome: audit.OutcomeAllow,
		ActorID: source, ActorRoles: []string{"source-system"}, Application: "hub.in." + source,
		PatientID: p.ID, RecordType: typ, RecordIDs: []string{recordID(p, typ, n)},
		Disclosed: disclosedElements[typ], PolicyRevision: policyRevision, Rules: []string{"source.write"},
	}
	g.add(e)
	return e
}

// route records the disclosure of a written record to a subscriber.
func (g *gen) route(sub Subscriber, w audit.Event, authorised bool) int {
	e := audit.Event{
		Time: w.Time.Add(time.Duration(200+g.rng.IntN(2800)) * time.Millisecond), Code: audit.CodeRouted,
		Action: "route", Outcome: audit.OutcomeAllow,
		ActorID: sub.Name, ActorRoles: sub.Roles, ActorOrg: sub.Org, Application: "hub.out." + sub.Name,
		Purpose: sub.Purpose, PatientID: w.PatientID, RecordType: w.RecordType, RecordIDs: w.RecordIDs,
		Disclosed: w.Disclosed, PolicyRevision: policyRevision, Rules: []string{"route.permit"},
	}
	if authorised {
		e.Rules = append(e.Rules, RuleAuthorization)
		e.Consents = []string{"auth-" + w.PatientID[1:9]}
	}
	return g.add(e)
}

func (g *gen) routeDenied(sub Subscriber, w audit.Event) {
	g.add(audit.Event{
		Time: w.Time.Add(time.Duration(200+g.rng.IntN(2800)) * time.Millisecond), Code: audit.CodeRouteDeny,
		Action: "route", Outcome: audit.OutcomeDeny,
		ActorID: sub.Name, ActorRoles: sub.Roles, ActorOrg: sub.Org, Application: "hub.out." + sub.Name,
		Purpose: sub.Purpose, PatientID: w.PatientID, RecordType: w.RecordType, RecordIDs: w.RecordIDs,
		PolicyRevision: policyRevision, Rules: []string{"consent.opt-out"}, Consents: []string{"optout-" + w.PatientID[1:9]},
		Reason: "patient opted out for this purpose",
	})
}

// read records one access by staff s to patient p: one event per record
// type, as the read service audits them. It returns the event indices.
func (g *gen) read(s Staff, p Patient, purpose string, t time.Time, types ...string) []int {
	var out []int
	req := ""
	for k, typ := range types {
		e := audit.Event{
			Time: t.Add(time.Duration(k*7) * time.Millisecond), Code: audit.CodeRecordRead, Action: audit.ActionRead,
			Outcome: audit.OutcomeAllow, ActorID: s.ID, ActorRoles: s.Roles, ActorOrg: s.Org,
			Application: s.Application, Purpose: purpose, PatientID: p.ID, RecordType: typ,
			RecordIDs: []string{recordID(p, typ, 0)}, Disclosed: disclosedElements[typ],
			PolicyRevision: policyRevision, Rules: []string{"role." + s.Roles[0]}, RequestID: req,
		}
		i := g.add(e)
		if req == "" {
			req = g.events[i].RequestID
		}
		out = append(out, i)
	}
	g.load[loadKey{s.ID, g.dayOf(t)}]++
	return out
}

// deny records a denied read.
func (g *gen) deny(s Staff, p Patient, typ string, t time.Time) int {
	return g.add(audit.Event{
		Time: t, Code: audit.CodeRecordReadDeny, Action: audit.ActionRead, Outcome: audit.OutcomeDeny,
		ActorID: s.ID, ActorRoles: s.Roles, ActorOrg: s.Org, Application: s.Application, Purpose: "TREAT",
		PatientID: p.ID, RecordType: typ, PolicyRevision: policyRevision,
		Reason: "role " + s.Roles[0] + " may not read " + typ + " for this purpose",
	})
}

func (g *gen) dayOf(t time.Time) int {
	return int(t.In(g.m.Location).Sub(g.m.Start).Hours() / 24)
}

// shiftTime picks a time on day d inside s's shift, at least margin minutes
// from its edges, not before notBefore; ok is false when there is none.
func (g *gen) shiftTime(s Staff, d int, notBefore time.Time) (time.Time, bool) {
	for range 8 {
		var t time.Time
		h := s.UsualHours
		if h[0] < h[1] {
			t = g.at(d, h[0]+1+g.rng.IntN(h[1]-h[0]-2), g.rng.IntN(60))
		} else {
			// Night: 20:00–23:59 on d or 00:00–05:59 on d+1.
			if g.rng.IntN(2) == 0 {
				t = g.at(d, 20+g.rng.IntN(4), g.rng.IntN(60))
			} else {
				if d+1 >= g.opts.Days {
					continue
				}
				t = g.at(d+1, g.rng.IntN(6), g.rng.IntN(60))
			}
		}
		if !t.Before(notBefore) {
			return t, true
		}
	}
	return time.Time{}, false
}

var careTypes = []string{"Patient", "Observation", "Condition", "Encounter"}

// traffic generates the ordinary traffic of every patient's encounter.
func (g *gen) traffic() {
	g.denied = map[loadKey]bool{}
	staffIdx := map[string]int{}
	for i, s := range g.m.Roster {
		staffIdx[s.ID] = i
	}
	clerks, billers := g.byRole("registration_clerk", nil), g.byRole("billing_clerk", nil)
	hie, clearing, state, research := Subscribers[0], Subscribers[1], Subscribers[2], Subscribers[3]
	for _, p := range g.m.Patients {
		a, last := p.Admit, p.Admit+p.Stay-1
		tA := g.at(a, 8+g.rng.IntN(8), g.rng.IntN(60))
		var writes []audit.Event
		writes = append(writes, g.write("registration", p, "Patient", tA, 0), g.write("registration", p, "Encounter", tA, 0))
		writes = append(writes, g.write("ehr", p, "Condition", tA.Add(40*time.Minute), 0))
		for d := a; d <= last; d++ {
			writes = append(writes, g.write("lis", p, "Observation", g.at(d, g.rng.IntN(24), g.rng.IntN(60)), d-a))
		}
		for _, w := range writes {
			if p.OptedOut {
				g.routeDenied(hie, w)
			} else {
				g.route(hie, w, false)
			}
		}
		if g.rng.IntN(100) < 3 {
			g.route(state, writes[len(writes)-1], false)
		}
		if g.rng.IntN(100) < 2 {
			g.route(research, writes[2], g.rng.IntN(2) == 0)
		}
		// The care team reads during its shifts.
		for _, id := range p.CareTeam {
			s := g.m.Roster[staffIdx[id]]
			for d := a; d <= last; d++ {
				if !s.Works(d) || g.rng.IntN(10) >= 7 {
					continue
				}
				t, ok := g.shiftTime(s, d, tA.Add(30*time.Minute))
				if !ok {
					continue
				}
				n := 1 + g.rng.IntN(3)
				g.read(s, p, "TREAT", t, careTypes[:n]...)
				if s.HasRole("nurse") && g.rng.IntN(1000) < 8 && !g.denied[loadKey{s.ID, d}] {
					g.denied[loadKey{s.ID, d}] = true
					g.deny(s, p, "Claim", t.Add(2*time.Second))
				}
			}
		}
		if p.VIP {
			continue
		}
		// Registration reads the patient at admission.
		if s, ok := g.pickWorking(clerks, p, a, nil); ok {
			g.read(s, p, "HOPERAT", tA.Add(time.Duration(2+g.rng.IntN(18))*time.Minute), "Patient")
		}
		// Billing writes at discharge, routes to the clearinghouse, and a
		// billing clerk reads within a few days.
		tD := g.at(last, 17, g.rng.IntN(60))
		for _, typ := range []string{"Coverage", "ChargeItem"} {
			g.route(clearing, g.write("billing", p, typ, tD, 0), false)
		}
		for d := last + 1; d < min(last+5, g.opts.Days); d++ {
			if s, ok := g.pickWorking(billers, p, d, nil); ok {
				t, _ := g.shiftTime(s, d, time.Time{})
				g.read(s, p, "HPAYMT", t, "Coverage", "ChargeItem")
				break
			}
		}
		// Some patients' records are read by the HIE's clinicians
		// (treatment, exempt) and the state epidemiologist (public health).
		if !p.OptedOut && g.rng.IntN(100) < 4 {
			g.external("hie-clinician-"+fmt.Sprint(1+g.rng.IntN(20)), hie, "TREAT", p, tA.Add(26*time.Hour))
		}
		if g.rng.IntN(100) < 1 {
			g.external("state-epi-"+fmt.Sprint(1+g.rng.IntN(3)), state, "PUBHLTH", p, tA.Add(50*time.Hour))
		}
	}
}

// external records a read by a person outside the hospital.
func (g *gen) external(actor string, sub Subscriber, purpose string, p Patient, t time.Time) {
	if !t.Before(g.m.End) {
		return
	}
	g.add(audit.Event{
		Time: t, Code: audit.CodeRecordRead, Action: audit.ActionRead, Outcome: audit.OutcomeAllow,
		ActorID: actor, ActorRoles: sub.Roles, ActorOrg: sub.Org, Application: sub.Name + "-portal",
		Purpose: purpose, PatientID: p.ID, RecordType: "Observation", RecordIDs: []string{recordID(p, "Observation", 0)},
		Disclosed: disclosedElements["Observation"], PolicyRevision: policyRevision, Rules: []string{"role." + sub.Roles[0]},
	})
}

// pickWorking picks a member of pool working on day d who may touch p
// (not related to them) and is not in exclude.
func (g *gen) pickWorking(pool []int, p Patient, d int, exclude []string) (Staff, bool) {
	for range 20 {
		s := g.m.Roster[pool[g.rng.IntN(len(pool))]]
		if s.Works(d) && !related(s, p) && !slices.Contains(exclude, s.ID) {
			return s, true
		}
	}
	return Staff{}, false
}

// governance adds the privacy office's routine: audit queries every working
// day and a weekly audit export.
func (g *gen) governance() {
	for _, si := range g.byRole("privacy_officer", nil) {
		s := g.m.Roster[si]
		for d := range g.opts.Days {
			if !s.Works(d) {
				continue
			}
			for range 3 {
				p := g.m.Patients[g.rng.IntN(len(g.m.Patients))]
				t, _ := g.shiftTime(s, d, time.Time{})
				g.add(audit.Event{
					Time: t, Code: audit.CodeAuditQuery, Action: audit.ActionAuditQuery, Outcome: audit.OutcomeAllow,
					ActorID: s.ID, ActorRoles: s.Roles, ActorOrg: s.Org, Application: s.Application, Purpose: "HOPERAT",
					PatientID: p.ID, RecordType: "AuditEvent", PolicyRevision: policyRevision,
					Rules: []string{"governance.audit.query"}, Reason: "audit query patient=" + p.ID,
				})
			}
			if d%7 == 4 {
				t, _ := g.shiftTime(s, d, time.Time{})
				g.add(audit.Event{
					Time: t, Code: audit.CodeAuditExport, Action: "audit.export", Outcome: audit.OutcomeAllow,
					ActorID: s.ID, ActorRoles: s.Roles, ActorOrg: s.Org, Application: s.Application, Purpose: "HOPERAT",
					RecordType: "AuditEvent", PolicyRevision: policyRevision,
					Rules: []string{"governance.audit.query"}, Reason: "audit export format=ndjson",
				})
			}
		}
	}
}
