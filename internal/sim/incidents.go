package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
)

// Alert rule ids (as in package alert) the incidents are planted for.
const (
	KindBreakGlass         = "break-glass"
	KindVIPAccess          = "vip-access"
	KindOwnRecord          = "own-record"
	KindSharedDemographics = "shared-demographics"
	KindNoRelationship     = "no-relationship"
	KindOffHours           = "off-hours"
	KindVolumeSpike        = "volume-spike"
	KindRepeatedDenials    = "repeated-denials"
	KindBulkExport         = "bulk-export"
)

// Indices of the patients made relatives of staff members (relatives).
const (
	ownPatient       = 50 // R1's own record
	siblingPatient   = 51 // shares R2's surname
	surnameLookalike = 52 // surname starts with R2's, differs
	partnerPatient   = 53 // shares B1's address
	streetLookalike  = 54 // B1's street, another house
	spousePatient    = 55 // shares N1's surname and address
)

// cast names the staff members incidents are planted on, by roster index.
type cast struct {
	r1, r2, r3, b1, b2, n1, n2, n3, p1, p1b, p2 int
}

func (g *gen) cast() cast {
	clerks, billers := g.byRole("registration_clerk", nil), g.byRole("billing_clerk", nil)
	dayPhys, dayNurses := g.byRole("physician", &dayShift), g.byRole("nurse", &dayShift)
	return cast{
		r1: clerks[0], r2: clerks[1], r3: clerks[2], b1: billers[0], b2: billers[1],
		n1: dayNurses[0], n2: dayNurses[1], n3: dayNurses[2], p1: dayPhys[0], p1b: dayPhys[1], p2: dayPhys[2],
	}
}

// relatives makes some patients the staff's own record or their relatives
// before any traffic is generated, so that ordinary traffic never has
// those staff touch them.
func (g *gen) relatives() {
	c := g.cast()
	ps, r := g.m.Patients, g.m.Roster
	own := &ps[ownPatient]
	r[c.r1].OwnMRN, own.Surname, own.Address = own.MRN, r[c.r1].Surname, r[c.r1].Address
	ps[siblingPatient].Surname = r[c.r2].Surname
	ps[surnameLookalike].Surname = r[c.r2].Surname + "-Hale"
	ps[partnerPatient].Address = r[c.b1].Address
	num, street, _ := strings.Cut(r[c.b1].Address, " ")
	other := "7"
	if num == other {
		other = "9"
	}
	ps[streetLookalike].Address = other + " " + street
	ps[spousePatient].Surname, ps[spousePatient].Address = r[c.n1].Surname, r[c.n1].Address
}

// plant adds the incidents and their look-alikes.
func (g *gen) plant() {
	c := g.cast()
	r, D := g.m.Roster, g.opts.Days
	ps := g.m.Patients

	// break-glass: two physicians read opted-out patients in an emergency.
	for k, si := range []int{c.p1, c.p1b} {
		s := r[si]
		d := g.workday(s, D/3+k*D/3)
		p := g.ordinaryPatient(s, func(p Patient) bool { return p.OptedOut })
		idx := g.read(s, p, "ETREAT", g.at(d, 11+k, g.rng.IntN(50)), "Patient", "Observation")
		for _, i := range idx {
			e := &g.events[i]
			e.Code, e.Rules = audit.CodeBreakGlass, []string{"break-glass", "consent.opt-out-overridden"}
			e.Reason = "break-the-glass: patient unresponsive in the emergency department"
		}
		g.incident(KindBreakGlass, s.ID, p.ID, idx)
	}

	// vip-access: a registration clerk opens a VIP's record.
	{
		s := r[c.r3]
		vip := ps[10]
		idx := g.read(s, vip, "HOPERAT", g.at(g.workday(s, D/2), 10, g.rng.IntN(50)), "Patient")
		g.incident(KindVIPAccess, s.ID, vip.ID, idx)
	}

	// own-record, shared-demographics (surname; address) and their
	// look-alikes.
	{
		s := r[c.r1]
		idx := g.read(s, ps[ownPatient], "HOPERAT", g.at(g.workday(s, D/4), 9, g.rng.IntN(50)), "Patient")
		g.incident(KindOwnRecord, s.ID, ps[ownPatient].ID, idx)

		s = r[c.r2]
		d := g.workday(s, D/4+2)
		idx = g.read(s, ps[siblingPatient], "HOPERAT", g.at(d, 13, g.rng.IntN(50)), "Patient")
		g.incident(KindSharedDemographics, s.ID, ps[siblingPatient].ID, idx)
		g.read(s, ps[surnameLookalike], "HOPERAT", g.at(d, 14, g.rng.IntN(50)), "Patient")

		s = r[c.b1]
		d = g.workday(s, D/4+3)
		idx = g.read(s, ps[partnerPatient], "HPAYMT", g.at(d, 10, g.rng.IntN(50)), "Coverage")
		g.incident(KindSharedDemographics, s.ID, ps[partnerPatient].ID, idx)
		g.read(s, ps[streetLookalike], "HPAYMT", g.at(d, 11, g.rng.IntN(50)), "Coverage")

		// A nurse reads her spouse's chart: no relationship either.
		s = r[c.n1]
		idx = g.read(s, ps[spousePatient], "TREAT", g.at(g.workday(s, D/2-1), 15, g.rng.IntN(50)), "Patient", "Observation")
		g.incident(KindSharedDemographics, s.ID, ps[spousePatient].ID, idx)
		g.incident(KindNoRelationship, s.ID, ps[spousePatient].ID, idx)
	}

	// no-relationship: a physician browses a stranger's chart.
	{
		s := r[c.p2]
		p := g.ordinaryPatient(s, nil)
		idx := g.read(s, p, "TREAT", g.at(g.workday(s, D/2+1), 11, g.rng.IntN(50)), "Patient", "Condition")
		g.incident(KindNoRelationship, s.ID, p.ID, idx)
	}

	// off-hours: a billing clerk (office hours) reads at 02:40.
	{
		s := r[c.b2]
		p := g.ordinaryPatient(s, nil)
		t := g.day(g.workday(s, D/2+2)).Add(2*time.Hour + 40*time.Minute)
		idx := g.read(s, p, "HPAYMT", t, "Coverage")
		g.incident(KindOffHours, s.ID, p.ID, idx)
	}

	// repeated-denials: six denials in eight minutes; the look-alike has
	// four in ten.
	for k, n := range []struct{ si, count int }{{c.n2, 6}, {c.n3, 4}} {
		s := r[n.si]
		d := g.workday(s, 2*D/3+k)
		for g.denied[loadKey{s.ID, d}] || !s.Works(d) {
			d = (d + 1) % D
		}
		g.denied[loadKey{s.ID, d}] = true
		base := g.day(d).Add(10 * time.Hour)
		step := 8 * time.Minute / time.Duration(n.count)
		if k == 1 {
			step = 10 * time.Minute / time.Duration(n.count)
		}
		var idx []int
		for i := range n.count {
			p := g.ordinaryPatient(s, nil)
			idx = append(idx, g.deny(s, p, "Claim", base.Add(time.Duration(i)*step)))
		}
		if k == 0 {
			g.incident(KindRepeatedDenials, s.ID, "", idx)
		}
	}

	if D >= 14 {
		g.plantVolume(c)
	}
}

// plantVolume plants a volume spike (a billing clerk with a baseline reads
// 70+ patients spread over a day) and a bulk export (another reads 45
// patients in twelve minutes, staying under the daily volume threshold).
func (g *gen) plantVolume(c cast) {
	D := g.opts.Days
	var billers []int
	for _, si := range g.byRole("billing_clerk", nil) {
		if si != c.b1 && si != c.b2 {
			billers = append(billers, si)
		}
	}
	spiker := -1
	for d := max(10, 2*D/3); d < D && spiker < 0; d++ {
		for _, si := range billers {
			s := g.m.Roster[si]
			var active []int
			for b := max(0, d-14); b < d; b++ {
				if n := g.load[loadKey{s.ID, b}]; n > 0 {
					active = append(active, n)
				}
			}
			if !s.Works(d) || len(active) < 6 {
				continue
			}
			slices.Sort(active)
			count := max(70, 3*active[len(active)/2]+10)
			spiker = si
			base := g.day(d).Add(8*time.Hour + 15*time.Minute)
			step := 8 * time.Hour / time.Duration(count)
			var idx []int
			for i, p := range g.distinctPatients(s, count) {
				idx = append(idx, g.read(s, p, "HPAYMT", base.Add(time.Duration(i)*step), "Coverage")...)
			}
			g.incident(KindVolumeSpike, s.ID, "", idx)
			break
		}
	}
	for _, si := range billers {
		s := g.m.Roster[si]
		if si == spiker {
			continue
		}
		for d := D - 2; d > 0; d-- {
			if !s.Works(d) || g.load[loadKey{s.ID, d}] > 10 {
				continue
			}
			base := g.day(d).Add(10 * time.Hour)
			var idx []int
			for i, p := range g.distinctPatients(s, 45) {
				idx = append(idx, g.read(s, p, "HPAYMT", base.Add(time.Duration(i)*16*time.Second), "Coverage")...)
			}
			g.incident(KindBulkExport, s.ID, "", idx)
			return
		}
	}
}

// workday returns the first day from d (wrapping) that s works.
func (g *gen) workday(s Staff, d int) int {
	d = min(max(d, 0), g.opts.Days-1)
	for k := range 7 {
		if dd := (d + k) % g.opts.Days; s.Works(dd) {
			return dd
		}
	}
	return d
}

// ordinaryPatient picks a patient s may be planted reading: not VIP, not a
// relative of anyone planted, not related to s, not in their care; want,
// when set, must hold if any patient satisfies it.
func (g *gen) ordinaryPatient(s Staff, want func(Patient) bool) Patient {
	for try := 0; ; try++ {
		p := g.m.Patients[100+g.rng.IntN(len(g.m.Patients)-100)]
		if p.VIP || related(s, p) || slices.Contains(s.Relationships, p.ID) {
			continue
		}
		if want != nil && try < 2000 && !want(p) {
			continue
		}
		return p
	}
}

// distinctPatients picks n distinct ordinary patients for s.
func (g *gen) distinctPatients(s Staff, n int) []Patient {
	seen := map[string]bool{}
	var out []Patient
	for len(out) < n {
		p := g.ordinaryPatient(s, nil)
		if !seen[p.ID] {
			seen[p.ID] = true
			out = append(out, p)
		}
	}
	return out
}

func (g *gen) incident(kind, actor, patient string, idx []int) {
	if len(idx) == 0 {
		panic(fmt.Sprintf("sim: incident %s planted with no events", kind))
	}
	g.planted = append(g.planted, plantedIncident{inc: Incident{Kind: kind, ActorID: actor, PatientID: patient}, indices: slices.Clone(idx)})
}
