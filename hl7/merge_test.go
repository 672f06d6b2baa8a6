package hl7

import (
	"reflect"
	"testing"

	"github.com/carecrest/hub/record"
)

func TestMergesOf(t *testing.T) {
	m, err := Parse(readFixture(t, "adt_a40.hl7"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got := MergesOf("ehr", m)
	want := []Merge{
		{
			Surviving: []record.Identifier{{System: "North", Value: "KEEP-1"}, {System: "South", Value: "KEEP-1B"}},
			Retired:   []record.Identifier{{System: "North", Value: "OLD-1"}, {System: "South", Value: "OLD-1B"}},
		},
		{
			Surviving: []record.Identifier{{System: "North", Value: "KEEP-2"}},
			// Unqualified: the same system as Decode gives in Subject.
			Retired: []record.Identifier{{System: "urn:carecrest:source:ehr:mrn", Value: "OLD-2"}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MergesOf = %+v\nwant %+v", got, want)
	}
	recs, err := Decode("ehr", readFixture(t, "adt_a40.hl7"), received)
	if err != nil || len(recs) != 2 || recs[0].Subject[0] != want[0].Surviving[0] || recs[1].Subject[0] != want[1].Surviving[0] {
		t.Errorf("Decode = %d records, %v", len(recs), err)
	}
	for _, name := range []string{"adt_a01.hl7", "oru_r01.hl7", "siu_s14.hl7"} {
		m, err := Parse(readFixture(t, name), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got := MergesOf("ehr", m); got != nil {
			t.Errorf("%s: MergesOf = %+v, want nil", name, got)
		}
	}
}

func TestDecodeMDMText(t *testing.T) {
	recs, err := Decode("ehr", readFixture(t, "mdm_t04.hl7"), received)
	if err != nil {
		t.Fatal(err)
	}
	// Repetitions and OBX segments are lines; escapes are resolved.
	if got := attachmentText(t, recs[0].Resource, 0); got != "Line one\nLine two & more\nPara\nnext" {
		t.Errorf("text = %q", got)
	}
}
