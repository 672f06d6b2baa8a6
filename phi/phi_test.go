package phi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/local"
	"github.com/carecrest/hub/phi"
	"github.com/carecrest/hub/record"
)

// memStore is an in-memory keys.WrappedStore test double.
type memStore struct {
	mu   sync.Mutex
	m    map[string][]byte
	gets atomic.Int64
	puts atomic.Int64
	// beforeGetReturn, when set, runs in GetWrapped after the lookup (to
	// line up concurrent writers).
	beforeGetReturn func()
}

var _ keys.WrappedStore = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{m: make(map[string][]byte)} }

func (s *memStore) GetWrapped(_ context.Context, owner string) ([]byte, bool, error) {
	s.gets.Add(1)
	s.mu.Lock()
	w, ok := s.m[owner]
	s.mu.Unlock()
	if s.beforeGetReturn != nil {
		s.beforeGetReturn()
	}
	return bytes.Clone(w), ok, nil
}

func (s *memStore) PutWrappedIfAbsent(_ context.Context, owner string, wrapped []byte) ([]byte, error) {
	s.puts.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.m[owner]; ok {
		return bytes.Clone(w), nil
	}
	s.m[owner] = bytes.Clone(wrapped)
	return bytes.Clone(wrapped), nil
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// countingManager counts calls to a real keyring.
type countingManager struct {
	keys.Manager
	generates, unwraps atomic.Int64
	err                error // returned by every call when set
}

func newCountingManager(t testing.TB) *countingManager {
	kek := make([]byte, 32)
	rand.Read(kek)
	k, err := local.FromKey(kek)
	if err != nil {
		t.Fatal(err)
	}
	return &countingManager{Manager: k}
}

func (m *countingManager) GenerateDataKey(ctx context.Context, owner string) ([]byte, []byte, error) {
	m.generates.Add(1)
	if m.err != nil {
		return nil, nil, m.err
	}
	return m.Manager.GenerateDataKey(ctx, owner)
}

func (m *countingManager) UnwrapDataKey(ctx context.Context, owner string, wrapped []byte) ([]byte, error) {
	m.unwraps.Add(1)
	if m.err != nil {
		return nil, m.err
	}
	return m.Manager.UnwrapDataKey(ctx, owner, wrapped)
}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	sealer *phi.Sealer
	mgr    *countingManager
	store  *memStore
}

func newFixture(t testing.TB, cfg phi.CacheConfig) fixture {
	t.Helper()
	f := fixture{mgr: newCountingManager(t), store: newMemStore()}
	s, err := phi.NewSealer(f.mgr, f.store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.sealer = s
	return f
}

// Planted PHI: distinctive values that must never appear outside the
// ciphertext.
const (
	plantedFamily = "Quixote-Farnsworth"
	plantedGiven  = "Zebulon"
	plantedBirth  = "1937-04-23"
	plantedMRN    = "MRN-55501234"
	plantedPhone  = "+61 3 5555 9876"
	plantedNote   = "Lives alone at Wattle Creek Road"
)

var planted = []string{plantedFamily, plantedGiven, plantedBirth, plantedMRN, plantedPhone, plantedNote}

const patientJSON = `{
  "resourceType": "Patient",
  "id": "pat-1",
  "meta": {"lastUpdated": "2026-01-05T10:00:00Z", "security": [{"code": "N"}]},
  "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "` + plantedMRN + `"}],
  "active": true,
  "name": [{"use": "official", "family": "` + plantedFamily + `", "given": ["` + plantedGiven + `", "James"]}],
  "telecom": [{"system": "phone", "value": "` + plantedPhone + `", "use": "home"}],
  "gender": "male",
  "birthDate": "` + plantedBirth + `",
  "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "` + plantedBirth + `T14:35:45-05:00"}]},
  "address": [{"line": ["534 Erewhon St"], "city": "PleasantVille", "postalCode": "3999"}],
  "text": {"status": "generated", "div": "<div>` + plantedGiven + ` ` + plantedFamily + `, born ` + plantedBirth + `</div>"},
  "extension": [{"url": "http://example.org/note", "valueString": "` + plantedNote + `"}]
}`

const observationJSON = `{
  "resourceType": "Observation",
  "id": "f001",
  "identifier": [{"system": "http://www.bmc.nl/zorgportal/identifiers/observations", "value": "6323"}],
  "status": "final",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "15074-8", "display": "Glucose [Moles/volume] in Blood"}]},
  "subject": {"reference": "Patient/f001", "display": "` + plantedGiven + ` ` + plantedFamily + `"},
  "effectivePeriod": {"start": "2013-04-02T09:30:10+01:00"},
  "issued": "2013-04-03T15:30:10+01:00",
  "performer": [{"reference": "Practitioner/f005", "display": "A. Langeveld"}],
  "valueQuantity": {"value": 6.3, "unit": "mmol/l", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
  "interpretation": [{"coding": [{"code": "H", "display": "High"}]}],
  "referenceRange": [{"low": {"value": 3.1, "unit": "mmol/l"}, "high": {"value": 6.2, "unit": "mmol/l"}}],
  "note": [{"text": "` + plantedNote + `"}]
}`

func resource(t testing.TB, js string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func newRecord(t testing.TB, js, patientID, id string) *record.Record {
	t.Helper()
	res := resource(t, js)
	return &record.Record{
		ID:        id,
		Type:      res["resourceType"].(string),
		Source:    "ehr",
		MessageID: "msg-1",
		Key:       "key-" + id,
		Subject:   []record.Identifier{{System: "urn:mrn", Value: plantedMRN}},
		PatientID: patientID,
		Labels:    []string{"N"},
		Codes:     []record.Coding{{System: "http://loinc.org", Code: "15074-8"}},
		Resource:  res,
		Received:  time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC),
	}
}

// canonical returns v as generic JSON (numbers as float64) for comparisons.
func canonical(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
