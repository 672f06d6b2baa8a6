package alert

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/carecrest/hub/audit"
)

// rules holds the rules' configuration and state. It is not safe for
// concurrent use; the engine serialises calls.
type rules struct {
	cfg    RuleConfig
	loc    *time.Location
	roster map[string]Staff
	vip    map[string]bool
	demo   Demographics
	rel    Relationships

	own      map[string]string // actor → own patient id ("" when none)
	kin      map[[2]string]kinship
	volume   map[string]*volumeState
	denials  map[string]*windowState
	bulk     map[string]*windowState
	failures int // lookups that could not tell
}

type kinship struct{ surname, address bool }

type volumeState struct {
	days  map[int]map[string]bool // local day → distinct patients
	fired map[int]bool
	last  []string // first-access event ids of the current day, newest last
}

type windowState struct {
	items   []windowItem
	coolTil time.Time
}

type windowItem struct {
	t       time.Time
	id      string
	patient string
}

func newRules(cfg RuleConfig, loc *time.Location, roster []Staff, demo Demographics, rel Relationships) *rules {
	r := &rules{
		cfg: cfg, loc: loc, roster: map[string]Staff{}, vip: map[string]bool{}, demo: demo, rel: rel,
		own: map[string]string{}, kin: map[[2]string]kinship{}, volume: map[string]*volumeState{},
		denials: map[string]*windowState{}, bulk: map[string]*windowState{},
	}
	for _, s := range roster {
		r.roster[s.ID] = s
	}
	for _, p := range cfg.VIPAccess.Patients {
		r.vip[p] = true
	}
	return r
}

// isAccess reports whether e disclosed records to a reader.
func isAccess(e *audit.Event) bool {
	return (e.Code == audit.CodeRecordRead || e.Code == audit.CodeBreakGlass) && e.Outcome == audit.OutcomeAllow &&
		e.PatientID != "" && e.ActorID != ""
}

func (r *rules) day(t time.Time) int {
	y, m, d := t.In(r.loc).Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func (r *rules) date(t time.Time) string { return t.In(r.loc).Format("2006-01-02") }

// observe runs every enabled rule on one event and returns the alerts it
// raises (the engine drops those already raised).
func (r *rules) observe(ctx context.Context, e *audit.Event) []Alert {
	var out []Alert
	add := func(a Alert) {
		a.At = e.Time
		if len(a.EventIDs) == 0 {
			a.EventIDs = []string{e.ID}
		}
		out = append(out, a)
	}
	per := func(rule string) string {
		return alertID(rule, e.ActorID, e.PatientID, r.date(e.Time))
	}
	if e.Code == audit.CodeRecordReadDeny && e.ActorID != "" && r.cfg.RepeatedDenials.On() {
		if a, ok := r.denied(e); ok {
			add(a)
		}
	}
	if !isAccess(e) {
		return out
	}
	staff, inRoster := r.roster[e.ActorID]
	types := e.RecordType

	if e.Code == audit.CodeBreakGlass && r.cfg.BreakGlass.On() {
		add(Alert{ID: per(RuleBreakGlass), Rule: RuleBreakGlass, Severity: SeverityMedium, ActorID: e.ActorID, PatientID: e.PatientID,
			Text: fmt.Sprintf("%s used break-the-glass (purpose %s) to read %s of patient %s at %s; review the stated reason",
				e.ActorID, e.Purpose, types, e.PatientID, e.Time.In(r.loc).Format("2006-01-02 15:04 MST"))})
	}
	if r.vip[e.PatientID] && r.cfg.VIPAccess.On() {
		exempt := false
		if r.cfg.VIPAccess.ExemptCareTeam == nil || *r.cfg.VIPAccess.ExemptCareTeam {
			exempt, _ = r.related(ctx, e)
		}
		if !exempt {
			add(Alert{ID: per(RuleVIPAccess), Rule: RuleVIPAccess, Severity: SeverityHigh, ActorID: e.ActorID, PatientID: e.PatientID,
				Text: fmt.Sprintf("%s read %s of flagged (VIP) patient %s without a treatment relationship", e.ActorID, types, e.PatientID)})
		}
	}
	if inRoster {
		ownHit := false
		if staff.OwnMRN != "" && r.cfg.OwnRecord.On() {
			if own := r.ownPatient(ctx, staff); own != "" && own == e.PatientID {
				ownHit = true
				add(Alert{ID: per(RuleOwnRecord), Rule: RuleOwnRecord, Severity: SeverityMedium, ActorID: e.ActorID, PatientID: e.PatientID,
					Text: fmt.Sprintf("%s read their own record (%s of patient %s)", e.ActorID, types, e.PatientID)})
			}
		}
		if !ownHit && r.cfg.SharedDemographics.On() && (staff.Surname != "" || staff.Address != "") {
			k := r.kinship(ctx, staff, e.PatientID)
			if k.surname || k.address {
				what := "surname"
				switch {
				case k.surname && k.address:
					what = "surname and address"
				case k.address:
					what = "address"
				}
				add(Alert{ID: per(RuleSharedDemographics), Rule: RuleSharedDemographics, Severity: SeverityHigh, ActorID: e.ActorID, PatientID: e.PatientID,
					Text: fmt.Sprintf("%s read %s of patient %s, who shares their %s", e.ActorID, types, e.PatientID, what)})
			}
		}
	}
	if e.Code == audit.CodeRecordRead && r.cfg.NoRelationship.On() && slices.Contains(r.cfg.NoRelationship.Purposes, e.Purpose) &&
		hasAny(e.ActorRoles, r.cfg.NoRelationship.Roles) {
		if ok, known := r.related(ctx, e); known && !ok {
			add(Alert{ID: per(RuleNoRelationship), Rule: RuleNoRelationship, Severity: SeverityMedium, ActorID: e.ActorID, PatientID: e.PatientID,
				Text: fmt.Sprintf("%s read %s of patient %s for %s with no treatment relationship on record", e.ActorID, types, e.PatientID, e.Purpose)})
		}
	}
	if inRoster && staff.UsualHours != [2]int{} && r.cfg.OffHours.On() && r.offHours(staff, e.Time) {
		lt := e.Time.In(r.loc)
		add(Alert{ID: alertID(RuleOffHours, e.ActorID, r.date(e.Time)), Rule: RuleOffHours, Severity: SeverityLow, ActorID: e.ActorID, PatientID: e.PatientID,
			Text: fmt.Sprintf("%s read %s of patient %s at %s, outside their usual hours %02d:00-%02d:00 (grace %s)",
				e.ActorID, types, e.PatientID, lt.Format("15:04 MST on 2006-01-02"), staff.UsualHours[0], staff.UsualHours[1], r.cfg.OffHours.Grace)})
	}
	if r.cfg.VolumeSpike.On() {
		if a, ok := r.volumeSpike(e); ok {
			add(a)
		}
	}
	if r.cfg.BulkExport.On() {
		if a, ok := r.bulkRead(e); ok {
			add(a)
		}
	}
	return out
}

func hasAny(have, want []string) bool {
	for _, h := range have {
		if slices.Contains(want, h) {
			return true
		}
	}
	return false
}

// related asks Relationships; known is false when it could not tell (or
// there is no relationship source), in which case no alert is raised.
func (r *rules) related(ctx context.Context, e *audit.Event) (ok, known bool) {
	if r.rel == nil {
		return false, false
	}
	ok, err := r.rel.HasRelationship(ctx, e.ActorID, e.PatientID)
	if err != nil {
		r.failures++
		return false, false
	}
	return ok, true
}

func (r *rules) ownPatient(ctx context.Context, s Staff) string {
	if p, ok := r.own[s.ID]; ok {
		return p
	}
	if r.demo == nil {
		return ""
	}
	p, found, err := r.demo.PatientOf(ctx, s.OwnMRN)
	if err != nil {
		r.failures++
		return "" // not cached: asked again next time
	}
	if !found {
		p = ""
	}
	r.own[s.ID] = p
	return p
}

func (r *rules) kinship(ctx context.Context, s Staff, patientID string) kinship {
	key := [2]string{s.ID, patientID}
	if k, ok := r.kin[key]; ok {
		return k
	}
	if r.demo == nil {
		return kinship{}
	}
	var k kinship
	var err1, err2 error
	if s.Surname != "" {
		k.surname, err1 = r.demo.SharesSurname(ctx, patientID, s.Surname)
	}
	if s.Address != "" {
		k.address, err2 = r.demo.SharesAddress(ctx, patientID, s.Address, s.PostalCode)
	}
	if err1 != nil || err2 != nil {
		r.failures++
		return k
	}
	if len(r.kin) >= 200_000 {
		clear(r.kin)
	}
	r.kin[key] = k
	return k
}

// offHours reports whether t is outside s's usual hours by more than the
// grace period.
func (r *rules) offHours(s Staff, t time.Time) bool {
	lt := t.In(r.loc)
	mins := lt.Hour()*60 + lt.Minute()
	start, end := s.UsualHours[0]*60, s.UsualHours[1]*60
	g := int(r.cfg.OffHours.Grace / time.Minute)
	in := func(m int) bool {
		m = ((m % 1440) + 1440) % 1440
		if start < end {
			return m >= start && m < end
		}
		return m >= start || m < end
	}
	// Inside when within the hours or within grace of them.
	return !in(mins) && !in(mins+g) && !in(mins-g)
}

func (r *rules) volumeSpike(e *audit.Event) (Alert, bool) {
	c := r.cfg.VolumeSpike
	st := r.volume[e.ActorID]
	if st == nil {
		st = &volumeState{days: map[int]map[string]bool{}, fired: map[int]bool{}}
		r.volume[e.ActorID] = st
	}
	d := r.day(e.Time)
	set := st.days[d]
	if set == nil {
		set = map[string]bool{}
		st.days[d] = set
		for old := range st.days {
			if old < d-c.BaselineDays-1 {
				delete(st.days, old)
				delete(st.fired, old)
			}
		}
		st.last = st.last[:0]
	}
	if set[e.PatientID] {
		return Alert{}, false
	}
	set[e.PatientID] = true
	st.last = append(st.last, e.ID)
	if len(st.last) > 10 {
		st.last = st.last[1:]
	}
	n := len(set)
	if n <= c.MinPatients || st.fired[d] {
		return Alert{}, false
	}
	var base []int
	for b := d - c.BaselineDays; b < d; b++ {
		if s := st.days[b]; len(s) > 0 {
			base = append(base, len(s))
		}
	}
	if len(base) < c.MinBaselineDays {
		return Alert{}, false
	}
	sort.Ints(base)
	median := float64(base[len(base)/2])
	if len(base)%2 == 0 {
		median = float64(base[len(base)/2-1]+base[len(base)/2]) / 2
	}
	if float64(n) <= c.Factor*median {
		return Alert{}, false
	}
	st.fired[d] = true
	return Alert{ID: alertID(RuleVolumeSpike, e.ActorID, r.date(e.Time)), Rule: RuleVolumeSpike, Severity: SeverityMedium, ActorID: e.ActorID,
		EventIDs: slices.Clone(st.last),
		Text: fmt.Sprintf("%s read records of %d distinct patients on %s, %.1f× their median of %g over %d active days of the previous %d (threshold: more than %g× and more than %d)",
			e.ActorID, n, r.date(e.Time), float64(n)/median, median, len(base), c.BaselineDays, c.Factor, c.MinPatients)}, true
}

// slide keeps the items of a window newer than t-w.
func slide(st *windowState, t time.Time, w time.Duration) {
	i := 0
	for i < len(st.items) && !st.items[i].t.After(t.Add(-w)) {
		i++
	}
	st.items = st.items[i:]
}

func (r *rules) denied(e *audit.Event) (Alert, bool) {
	c := r.cfg.RepeatedDenials
	st := r.denials[e.ActorID]
	if st == nil {
		st = &windowState{}
		r.denials[e.ActorID] = st
	}
	if e.Time.Before(st.coolTil) { // one alert a window: nothing accumulates meanwhile
		return Alert{}, false
	}
	slide(st, e.Time, c.Window)
	st.items = append(st.items, windowItem{t: e.Time, id: e.ID})
	if len(st.items) < c.Count {
		return Alert{}, false
	}
	ids := make([]string, len(st.items))
	for i, it := range st.items {
		ids[i] = it.id
	}
	span := st.items[len(st.items)-1].t.Sub(st.items[0].t).Round(time.Second)
	a := Alert{ID: alertID(RuleRepeatedDenials, e.ActorID, ids[0]), Rule: RuleRepeatedDenials, Severity: SeverityMedium, ActorID: e.ActorID,
		EventIDs: ids,
		Text:     fmt.Sprintf("%s was denied %d times in %s (threshold: %d denials within %s)", e.ActorID, len(ids), span, c.Count, c.Window)}
	st.items, st.coolTil = nil, e.Time.Add(c.Window)
	return a, true
}

func (r *rules) bulkRead(e *audit.Event) (Alert, bool) {
	c := r.cfg.BulkExport
	if slices.Contains(e.ActorRoles, "source-system") {
		return Alert{}, false
	}
	st := r.bulk[e.ActorID]
	if st == nil {
		st = &windowState{}
		r.bulk[e.ActorID] = st
	}
	if e.Time.Before(st.coolTil) {
		// One alert a window: nothing accumulates meanwhile, so the window
		// holds fewer than c.Patients items and the scan below is bounded.
		return Alert{}, false
	}
	slide(st, e.Time, c.Window)
	for _, it := range st.items {
		if it.patient == e.PatientID {
			return Alert{}, false
		}
	}
	st.items = append(st.items, windowItem{t: e.Time, id: e.ID, patient: e.PatientID})
	if len(st.items) < c.Patients {
		return Alert{}, false
	}
	ids := make([]string, len(st.items))
	for i, it := range st.items {
		ids[i] = it.id
	}
	span := st.items[len(st.items)-1].t.Sub(st.items[0].t).Round(time.Second)
	a := Alert{ID: alertID(RuleBulkExport, e.ActorID, ids[0]), Rule: RuleBulkExport, Severity: SeverityHigh, ActorID: e.ActorID,
		EventIDs: ids,
		Text:     fmt.Sprintf("%s read records of %d distinct patients in %s (threshold: %d within %s)", e.ActorID, len(ids), span, c.Patients, c.Window)}
	st.items, st.coolTil = nil, e.Time.Add(c.Window)
	return a, true
}
