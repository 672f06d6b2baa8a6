package phi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/carecrest/hub/internal/samples"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/phi"
	"github.com/carecrest/hub/record"
)

func TestSealOpenRoundTrip(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{})
	for name, js := range map[string]string{"Patient": patientJSON, "Observation": observationJSON} {
		t.Run(name, func(t *testing.T) {
			rec := newRecord(t, js, "p-1001", "r-"+name)
			want := canonical(t, rec.Resource)
			s, err := f.sealer.Seal(ctx, rec)
			if err != nil {
				t.Fatal(err)
			}
			if s.ID != rec.ID || s.Type != rec.Type || s.Source != rec.Source || s.MessageID != phi.MessageDigest(rec.Source, rec.MessageID) ||
				s.Key != rec.Key || s.PatientID != rec.PatientID || !s.Received.Equal(rec.Received) ||
				!slices.Equal(s.Labels, rec.Labels) || !slices.Equal(s.Codes, rec.Codes) {
				t.Fatalf("metadata not copied: %+v", s)
			}
			got, err := f.sealer.Open(ctx, &s, []string{"*"})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(canonical(t, got), want) {
				t.Fatalf("round trip differs:\n got %v\nwant %v", canonical(t, got), want)
			}
			if !reflect.DeepEqual(canonical(t, rec.Resource), want) {
				t.Fatal("Seal modified the caller's resource")
			}
		})
	}
}

func TestSealSplitsByClassification(t *testing.T) {
	f := newFixture(t, phi.CacheConfig{})
	for _, js := range []string{patientJSON, observationJSON} {
		rec := newRecord(t, js, "p-1001", "r-1")
		s, err := f.sealer.Seal(context.Background(), rec)
		if err != nil {
			t.Fatal(err)
		}
		var clear map[string]any
		if err := json.Unmarshal(s.Clear, &clear); err != nil {
			t.Fatal(err)
		}
		wantClear, wantPHI := phi.Classify(rec.Type, rec.Resource)
		gotClear := slices.Sorted(func(yield func(string) bool) {
			for k := range clear {
				if !yield(k) {
					return
				}
			}
		})
		gotPHI := s.FieldNames()
		slices.Sort(gotPHI)
		if !slices.Equal(gotClear, wantClear) || !slices.Equal(gotPHI, wantPHI) {
			t.Errorf("%s: clear %v, PHI %v; want clear %v, PHI %v", rec.Type, gotClear, gotPHI, wantClear, wantPHI)
		}
	}
}

func TestPlantedPHINotInClearOrCiphertext(t *testing.T) {
	f := newFixture(t, phi.CacheConfig{})
	for _, js := range []string{patientJSON, observationJSON} {
		rec := newRecord(t, js, "p-1001", "r-1")
		s, err := f.sealer.Seal(context.Background(), rec)
		if err != nil {
			t.Fatal(err)
		}
		blobs := map[string][]byte{"Clear": s.Clear}
		for name, ct := range s.Fields {
			blobs["field "+name] = ct
		}
		for where, b := range blobs {
			for _, p := range planted {
				if bytes.Contains(b, []byte(p)) {
					t.Errorf("%s: %s contains planted PHI %q", rec.Type, where, p)
				}
			}
		}
		// Nor anywhere in the sealed record as it would be printed or logged.
		dump := fmt.Sprintf("%+v %#v", s, s)
		for _, p := range planted {
			if strings.Contains(dump, p) {
				t.Errorf("%s: sealed record prints planted PHI %q", rec.Type, p)
			}
		}
	}
}

func TestPatientClearIsOnlyMetadata(t *testing.T) {
	f := newFixture(t, phi.CacheConfig{})
	s, err := f.sealer.Seal(context.Background(), newRecord(t, patientJSON, "p-1001", "r-1"))
	if err != nil {
		t.Fatal(err)
	}
	var clear map[string]any
	json.Unmarshal(s.Clear, &clear)
	for k := range clear {
		if !slices.Contains([]string{"resourceType", "id", "meta", "active"}, k) {
			t.Errorf("Patient element %q left in clear", k)
		}
	}
}

// TestSwappedCiphertextsFail moves ciphertexts between records, elements and
// patients: none may open.
func TestSwappedCiphertextsFail(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{})
	seal := func(patient, id string) record.Sealed {
		s, err := f.sealer.Seal(ctx, newRecord(t, patientJSON, patient, id))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := seal("p-1", "r-a")
	b := seal("p-1", "r-b") // same patient, another record
	c := seal("p-2", "r-a") // another patient, same record id

	cases := []struct {
		name    string
		mutate  func(s *record.Sealed)
		element string
	}{
		{"other record", func(s *record.Sealed) { s.Fields["name"] = b.Fields["name"] }, "name"},
		{"other patient", func(s *record.Sealed) { s.Fields["name"] = c.Fields["name"] }, "name"},
		{"other element", func(s *record.Sealed) { s.Fields["name"] = a.Fields["birthDate"] }, "name"},
		{"record id changed", func(s *record.Sealed) { s.ID = "r-b" }, "name"},
		{"patient changed", func(s *record.Sealed) { s.PatientID = "p-2" }, "name"},
		{"flipped bit", func(s *record.Sealed) { s.Fields["name"][20] ^= 1 }, "name"},
		{"flipped nonce", func(s *record.Sealed) { s.Fields["name"][0] ^= 1 }, "name"},
		{"truncated", func(s *record.Sealed) { s.Fields["name"] = s.Fields["name"][:10] }, "name"},
		{"emptied", func(s *record.Sealed) { s.Fields["name"] = nil }, "name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := cloneSealed(a)
			tc.mutate(&s)
			_, err := f.sealer.Open(ctx, &s, []string{tc.element})
			if !errors.Is(err, phi.ErrIntegrity) {
				t.Fatalf("err = %v, want phi.ErrIntegrity", err)
			}
			for _, p := range planted {
				if strings.Contains(err.Error(), p) {
					t.Fatalf("error message contains PHI: %v", err)
				}
			}
		})
	}
	// The untouched record still opens.
	if _, err := f.sealer.Open(ctx, &a, []string{"*"}); err != nil {
		t.Fatal(err)
	}
}

func cloneSealed(s record.Sealed) record.Sealed {
	out := s
	out.Clear = bytes.Clone(s.Clear)
	out.Fields = make(map[string][]byte, len(s.Fields))
	for k, v := range s.Fields {
		out.Fields[k] = bytes.Clone(v)
	}
	return out
}

func TestOpenSubsetDecryptsOnlyRequested(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{})
	s, err := f.sealer.Seal(ctx, newRecord(t, patientJSON, "p-1", "r-1"))
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt every element but name: if Open touched them it would fail.
	for k, v := range s.Fields {
		if k != "name" {
			v[len(v)-1] ^= 1
		}
	}
	got, err := f.sealer.Open(ctx, &s, []string{"name", "name", "notAnElement"})
	if err != nil {
		t.Fatalf("Open(name) touched other elements: %v", err)
	}
	keysOf := slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
	})
	if want := []string{"active", "id", "meta", "name", "resourceType"}; !slices.Equal(keysOf, want) {
		t.Fatalf("elements = %v, want %v", keysOf, want)
	}
	if !strings.Contains(fmt.Sprint(got["name"]), plantedFamily) {
		t.Fatalf("name not decrypted: %v", got["name"])
	}

	none, err := f.sealer.Open(ctx, &s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(none) != 4 {
		t.Fatalf("Open(nil) = %v, want the 4 clear elements only", none)
	}
	if _, err := f.sealer.Open(ctx, &s, []string{"*"}); !errors.Is(err, phi.ErrIntegrity) {
		t.Fatalf("Open(*) with corrupted elements: err = %v, want ErrIntegrity", err)
	}
}

func TestOpenNumbersKeepPrecision(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{})
	rec := newRecord(t, observationJSON, "p-1", "r-1")
	rec.Resource["valueQuantity"] = map[string]any{"value": json.Number("6.30"), "unit": "mmol/l"}
	s, err := f.sealer.Seal(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.sealer.Open(ctx, &s, []string{"valueQuantity"})
	if err != nil {
		t.Fatal(err)
	}
	if v := got["valueQuantity"].(map[string]any)["value"]; v != json.Number("6.30") {
		t.Fatalf("value = %#v, want json.Number(\"6.30\")", v)
	}
}

func TestSealDoesNotShareMemory(t *testing.T) {
	f := newFixture(t, phi.CacheConfig{})
	rec := newRecord(t, patientJSON, "p-1", "r-1")
	s, err := f.sealer.Seal(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	rec.Labels[0] = "R"
	rec.Codes[0].Code = "changed"
	if s.Labels[0] != "N" || s.Codes[0].Code != "15074-8" {
		t.Fatal("sealed record shares Labels or Codes with the caller's record")
	}
}

func TestSealRejectsInvalidRecords(t *testing.T) {
	f := newFixture(t, phi.CacheConfig{})
	cases := map[string]func(r *record.Record){
		"no patient":     func(r *record.Record) { r.PatientID = "" },
		"no id":          func(r *record.Record) { r.ID = "" },
		"pipe in id":     func(r *record.Record) { r.ID = "r-1|name" },
		"type mismatch":  func(r *record.Record) { r.Type = "Observation" },
		"no type":        func(r *record.Record) { r.Type = ""; delete(r.Resource, "resourceType") },
		"not encodable":  func(r *record.Record) { r.Resource["gender"] = math.Inf(1) },
		"not encodable2": func(r *record.Record) { r.Resource["name"] = make(chan int) },
		"pipe element":   func(r *record.Record) { r.Resource["a|b"] = "x" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			rec := newRecord(t, patientJSON, "p-1", "r-1")
			mutate(rec)
			_, err := f.sealer.Seal(context.Background(), rec)
			if !errors.Is(err, phi.ErrInvalid) {
				t.Fatalf("err = %v, want phi.ErrInvalid", err)
			}
		})
	}
	if _, err := f.sealer.Seal(context.Background(), nil); !errors.Is(err, phi.ErrInvalid) {
		t.Fatalf("nil record: err = %v", err)
	}
	// Type may come from the resource alone.
	rec := newRecord(t, patientJSON, "p-1", "r-1")
	rec.Type = ""
	s, err := f.sealer.Seal(context.Background(), rec)
	if err != nil || s.Type != "Patient" {
		t.Fatalf("type from resourceType: %q, %v", s.Type, err)
	}
}

func TestKeyManagerErrorsAreWrapped(t *testing.T) {
	f := newFixture(t, phi.CacheConfig{})
	f.mgr.err = fmt.Errorf("%w: vault sealed", keys.ErrUnavailable)
	_, err := f.sealer.Seal(context.Background(), newRecord(t, patientJSON, "p-1", "r-1"))
	if !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("err = %v, want keys.ErrUnavailable", err)
	}
	if f.store.len() != 0 {
		t.Fatal("a key was stored although generation failed")
	}
}

func TestOpenWithoutKeyIsErrNoKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{})
	s, err := f.sealer.Seal(ctx, newRecord(t, patientJSON, "p-1", "r-1"))
	if err != nil {
		t.Fatal(err)
	}
	// Another hub whose store has lost (shredded) the patient's key.
	other := newFixture(t, phi.CacheConfig{})
	if _, err := other.sealer.Open(ctx, &s, []string{"name"}); !errors.Is(err, phi.ErrNoKey) {
		t.Fatalf("err = %v, want phi.ErrNoKey", err)
	}
	if other.store.len() != 0 || other.mgr.generates.Load() != 0 {
		t.Fatal("Open created a data key")
	}
	// Clear elements stay readable.
	if _, err := other.sealer.Open(ctx, &s, nil); err != nil {
		t.Fatal(err)
	}
}

// TestSealSamples seals every shared FHIR sample and opens it again.
func TestSealSamples(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, phi.CacheConfig{})
	for i, path := range samples.Glob(t, "fhir-r4/*.json") {
		res := resource(t, readFile(t, path))
		rec := &record.Record{ID: fmt.Sprintf("r-%d", i), PatientID: "p-1", Resource: res}
		s, err := f.sealer.Seal(ctx, rec)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, err := f.sealer.Open(ctx, &s, []string{"*"})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !reflect.DeepEqual(canonical(t, got), canonical(t, res)) {
			t.Fatalf("%s: round trip differs", path)
		}
		var clear map[string]any
		json.Unmarshal(s.Clear, &clear)
		for _, el := range []string{"text", "identifier", "name", "subject", "patient", "birthDate", "note", "contained"} {
			if _, ok := clear[el]; ok {
				t.Errorf("%s: %s left in clear", path, el)
			}
		}
	}
}
