package audit_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
)

// fullEvent returns an event with every field set.
func fullEvent() audit.Event {
	return audit.Event{
		ID:             "01J0000000000000000000000A",
		Time:           time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC),
		Code:           audit.CodeRecordRead,
		Action:         audit.ActionRead,
		Outcome:        audit.OutcomeAllow,
		ActorID:        "dr-house",
		ActorRoles:     []string{"attending", "physician"},
		ActorOrg:       "org-1",
		Application:    "ehr-viewer",
		Purpose:        "TREAT",
		PatientID:      "Pabc",
		RecordType:     "Observation",
		RecordIDs:      []string{"r-1", "r-2"},
		Disclosed:      []string{"code", "value"},
		Masked:         []string{"note"},
		PolicyRevision: "rev-7",
		Rules:          []string{"read.allow", "read.mask"},
		Consents:       []string{"c-1"},
		Reason:         "scheduled visit",
		RequestID:      "req-1",
		Key:            "k-1",
		Shard:          "hub-0",
		Seq:            42,
		PrevHash:       audit.GenesisHash,
	}
}

// mutate changes field f of e to a different value. It fails the test for
// a field kind it does not know, so that a new kind of field gets a case
// here (and a line in ComputeHash).
func mutate(t *testing.T, name string, f reflect.Value, variant int) {
	t.Helper()
	switch {
	case f.Type() == reflect.TypeOf(time.Time{}):
		f.Set(reflect.ValueOf(f.Interface().(time.Time).Add(time.Duration(variant+1) * time.Nanosecond)))
	case f.Kind() == reflect.String:
		f.SetString([]string{f.String() + "x", "", "other"}[variant%3])
	case f.Kind() == reflect.Uint64:
		f.SetUint(f.Uint() + 1)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		l := f.Interface().([]string)
		switch variant % 3 {
		case 0: // one more element
			f.Set(reflect.ValueOf(append(slices.Clone(l), "zz")))
		case 1: // one element changed
			c := slices.Clone(l)
			c[0] += "x"
			f.Set(reflect.ValueOf(c))
		case 2: // emptied
			f.Set(reflect.ValueOf([]string(nil)))
		}
	default:
		t.Fatalf("field %s has kind %s: teach this test (and ComputeHash) about it", name, f.Type())
	}
}

func TestComputeHashCoversEveryField(t *testing.T) {
	base := fullEvent()
	want := audit.ComputeHash(&base)
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		sf := typ.Field(i)
		if !sf.IsExported() || sf.Name == "Hash" {
			continue
		}
		for variant := range 3 {
			e := fullEvent()
			mutate(t, sf.Name, reflect.ValueOf(&e).Elem().Field(i), variant)
			if reflect.DeepEqual(e, base) {
				continue // the variant did not change this field
			}
			if got := audit.ComputeHash(&e); got == want {
				t.Errorf("changing %s (variant %d) does not change the hash: the field is not hashed", sf.Name, variant)
			}
		}
	}
}

func TestComputeHashIgnoresHashAndZone(t *testing.T) {
	e := fullEvent()
	h := audit.ComputeHash(&e)
	if len(h) != 64 {
		t.Fatalf("hash %q is not hex SHA-256", h)
	}
	e.Hash = "something else"
	if audit.ComputeHash(&e) != h {
		t.Error("the Hash field changes the hash")
	}
	e.Time = e.Time.In(time.FixedZone("EST", -5*3600))
	if audit.ComputeHash(&e) != h {
		t.Error("the same instant in another zone changes the hash")
	}
	var nilLists, emptyLists audit.Event = fullEvent(), fullEvent()
	nilLists.Masked, emptyLists.Masked = nil, []string{}
	if audit.ComputeHash(&nilLists) != audit.ComputeHash(&emptyLists) {
		t.Error("nil and empty lists hash differently; stores may read one back as the other")
	}
}

// The encoding is length-prefixed: moving bytes between adjacent fields or
// list elements changes the hash.
func TestComputeHashUnambiguous(t *testing.T) {
	tests := []struct {
		name string
		a, b func(*audit.Event)
	}{
		{"string boundary", func(e *audit.Event) { e.Code, e.Action = "ab", "c" }, func(e *audit.Event) { e.Code, e.Action = "a", "bc" }},
		{"list elements", func(e *audit.Event) { e.RecordIDs = []string{"a", "b"} }, func(e *audit.Event) { e.RecordIDs = []string{"ab"} }},
		{"list boundary", func(e *audit.Event) { e.RecordIDs, e.Disclosed = []string{"a"}, nil }, func(e *audit.Event) { e.RecordIDs, e.Disclosed = nil, []string{"a"} }},
		{"empty element", func(e *audit.Event) { e.Rules = []string{""} }, func(e *audit.Event) { e.Rules = nil }},
	}
	for _, tt := range tests {
		a, b := fullEvent(), fullEvent()
		tt.a(&a)
		tt.b(&b)
		if audit.ComputeHash(&a) == audit.ComputeHash(&b) {
			t.Errorf("%s: different events hash equally", tt.name)
		}
	}
}

func TestLink(t *testing.T) {
	events := make([]audit.Event, 5)
	for i := range events {
		events[i] = fullEvent()
		events[i].Shard, events[i].Seq, events[i].PrevHash = "", 0, ""
		events[i].RequestID = string(rune('a' + i))
	}
	head := audit.Link("hub-a", audit.Head{}, events[:2])
	if head.Seq != 2 || head.Hash != events[1].Hash {
		t.Fatalf("head after 2 = %+v, want seq 2 and the hash of event 2", head)
	}
	if same := audit.Link("hub-a", head, nil); same != head {
		t.Fatalf("linking nothing moved the head: %+v", same)
	}
	head = audit.Link("hub-a", head, events[2:])
	if head.Seq != 5 || head.Hash != events[4].Hash {
		t.Fatalf("head after 5 = %+v", head)
	}
	prev := audit.GenesisHash
	for i, e := range events {
		if e.Shard != "hub-a" || e.Seq != uint64(i+1) || e.PrevHash != prev {
			t.Errorf("event %d: shard %q seq %d prev %.8s, want hub-a %d %.8s", i, e.Shard, e.Seq, e.PrevHash, i+1, prev)
		}
		if e.Hash != audit.ComputeHash(&e) {
			t.Errorf("event %d: Hash is not ComputeHash", i)
		}
		prev = e.Hash
	}
}

func TestNormalize(t *testing.T) {
	e := fullEvent()
	typ := reflect.TypeOf(e)
	v := reflect.ValueOf(&e).Elem()
	// Reverse every list, so that each is out of order.
	for i := range typ.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Slice {
			l := slices.Clone(f.Interface().([]string))
			l = append(l, "0-first")
			slices.Reverse(l)
			f.Set(reflect.ValueOf(l))
		}
	}
	audit.Normalize(&e)
	for i := range typ.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Slice {
			if l := f.Interface().([]string); !slices.IsSorted(l) {
				t.Errorf("Normalize left %s unsorted: %q", typ.Field(i).Name, l)
			}
		}
	}
	// Normalize sorts in place (callers copy first) and equal events then
	// hash equally whatever order the lists came in.
	a := fullEvent()
	b := fullEvent()
	slices.Reverse(b.ActorRoles)
	slices.Reverse(b.Rules)
	if audit.ComputeHash(&a) == audit.ComputeHash(&b) {
		t.Fatal("list order does not change the hash before Normalize; the test premise is wrong")
	}
	audit.Normalize(&a)
	audit.Normalize(&b)
	if audit.ComputeHash(&a) != audit.ComputeHash(&b) {
		t.Error("equal events with lists in different orders hash differently after Normalize")
	}
}

func TestNewID(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var ids []string
	for i := range 1000 {
		ids = append(ids, audit.NewID(t0.Add(time.Duration(i/10)*time.Millisecond)))
	}
	if !slices.IsSorted(ids) {
		t.Error("IDs of increasing times (several per millisecond) are not sorted")
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Error("duplicate IDs")
	}
	if later := audit.NewID(t0.Add(time.Hour)); later <= ids[len(ids)-1] {
		t.Error("a later time does not sort after")
	}
}
