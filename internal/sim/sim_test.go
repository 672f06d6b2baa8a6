package sim_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/internal/sim"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a := sim.Generate(sim.Options{Seed: 7, Days: 14, Users: 80, Patients: 400})
	b := sim.Generate(sim.Options{Seed: 7, Days: 14, Users: 80, Patients: 400})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same options gave different months")
	}
	c := sim.Generate(sim.Options{Seed: 8, Days: 14, Users: 80, Patients: 400})
	if c.Events[0].ID == a.Events[0].ID {
		t.Error("another seed gave the same first event id")
	}
}

func TestMonthShape(t *testing.T) {
	m := sim.Generate(sim.Options{Seed: 1})
	if len(m.Roster) != 300 || len(m.Patients) != 3000 {
		t.Fatalf("roster %d, patients %d; want 300, 3000", len(m.Roster), len(m.Patients))
	}
	if len(m.Events) < 50_000 {
		t.Errorf("only %d events in a month", len(m.Events))
	}
	ids := map[string]bool{}
	for i, e := range m.Events {
		if ids[e.ID] {
			t.Fatalf("duplicate id %s", e.ID)
		}
		ids[e.ID] = true
		if i > 0 && (e.ID <= m.Events[i-1].ID || e.Time.Before(m.Events[i-1].Time)) {
			t.Fatalf("event %d out of order", i)
		}
		if e.Key == "" || e.Time.Before(m.Start) {
			t.Fatalf("event %d: key %q time %v", i, e.Key, e.Time)
		}
	}
	kinds := map[string]int{}
	for _, in := range m.Incidents {
		kinds[in.Kind]++
		for _, id := range in.EventIDs {
			if !ids[id] {
				t.Errorf("incident %s names unknown event %s", in.Kind, id)
			}
		}
	}
	for _, k := range []string{sim.KindBreakGlass, sim.KindVIPAccess, sim.KindOwnRecord, sim.KindSharedDemographics,
		sim.KindNoRelationship, sim.KindOffHours, sim.KindVolumeSpike, sim.KindRepeatedDenials, sim.KindBulkExport} {
		if kinds[k] == 0 {
			t.Errorf("no %s incident planted", k)
		}
	}
	night := 0
	for _, s := range m.Roster {
		if s.UsualHours[0] > s.UsualHours[1] {
			night++
		}
	}
	if night == 0 {
		t.Error("no night-shift staff")
	}
}

func TestDisclosuresFollowTheExemptionRule(t *testing.T) {
	m := sim.Generate(sim.Options{Seed: 3})
	want := map[string]int{}
	purposes := map[string]bool{}
	for _, e := range m.Events {
		if sim.IsDisclosure(e, sim.Org) && !sim.AccountingExempt(e) {
			want[e.PatientID]++
		}
	}
	total := 0
	for pid, ds := range m.Disclosures {
		if len(ds) != want[pid] {
			t.Errorf("patient %s: %d disclosures, want %d", pid, len(ds), want[pid])
		}
		for _, e := range ds {
			total++
			purposes[e.Purpose] = true
			if slices.Contains(sim.ExemptPurposes, e.Purpose) || slices.Contains(e.Rules, sim.RuleAuthorization) {
				t.Errorf("exempt disclosure %s listed", e.ID)
			}
		}
	}
	if total == 0 || !purposes["PUBHLTH"] || !purposes["HRESCH"] {
		t.Errorf("accounting lists %d disclosures with purposes %v; want PUBHLTH and HRESCH among them", total, purposes)
	}
	// Authorised research disclosures exist and are left out.
	authorised := 0
	for _, e := range m.Events {
		if e.Code == audit.CodeRouted && slices.Contains(e.Rules, sim.RuleAuthorization) {
			authorised++
		}
	}
	if authorised == 0 {
		t.Error("no disclosure under authorisation generated")
	}
}

func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		sim.Generate(sim.Options{Seed: 1})
	}
}
