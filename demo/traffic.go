// Package demo generates synthetic hospital traffic and walks a newcomer
// through what the hub did with it. Every name, date and identifier here is
// invented.
package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/carecrest/hub/ingest"
	"github.com/segmentio/kafka-go"
)

// MRNSystem is the assigning authority of the demo hospital's MRNs (an HL7
// example OID), as FHIR identifier system.
const MRNSystem = "urn:oid:2.16.840.1.113883.19.5"

// Patient is a synthetic patient.
type Patient struct {
	MRN       string
	Family    string
	Given     string
	Gender    string // male, female
	BirthDate time.Time
	Street    string
	City      string
	Phone     string
}

// Identifier is the patient's MRN in FHIR token syntax (system|value).
func (p Patient) Identifier() string { return MRNSystem + "|" + p.MRN }

var (
	families = []string{"Okafor", "Lindqvist", "Moreau", "Tanaka", "Castellanos", "Novak", "Haddad", "Brennan", "Achterberg", "Quispe", "Mbeki", "Sorensen"}
	givens   = []string{"Amara", "Jonas", "Léa", "Haruto", "Inés", "Tomas", "Yara", "Declan", "Fenna", "Mateo", "Zola", "Ingrid"}
	streets  = []string{"Elm Row", "Quarry Lane", "Harbour Way", "Linden Court", "Mill Street", "Orchard Rise"}
	cities   = []string{"Riverton", "Ashford", "Lakemoor"}
)

// Patients returns n synthetic patients, the same for the same n.
func Patients(n int) []Patient {
	rng := rand.New(rand.NewPCG(2026, 11))
	out := make([]Patient, n)
	for i := range out {
		g := "female"
		if i%2 == 1 {
			g = "male"
		}
		out[i] = Patient{
			MRN:       fmt.Sprintf("MRN%06d", 100001+i),
			Family:    families[i%len(families)],
			Given:     givens[(i*7+3)%len(givens)],
			Gender:    g,
			BirthDate: time.Date(1940+rng.IntN(70), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), 0, 0, 0, 0, time.UTC),
			Street:    fmt.Sprintf("%d %s", 1+rng.IntN(200), streets[rng.IntN(len(streets))]),
			City:      cities[rng.IntN(len(cities))],
			Phone:     fmt.Sprintf("+1-555-01%02d", rng.IntN(100)),
		}
	}
	return out
}

// Lab tests the demo LIS reports (LOINC).
var labTests = []struct {
	loinc, name, unit string
	lo, hi            float64
}{
	{"2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 99},
	{"2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1},
	{"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 5.6},
}

// Traffic is the demo's messages, ready for a kafka-go Writer.
type Traffic struct {
	Patients []Patient
	Messages []kafka.Message
	// OptedOut is the patient whose opt-out consent arrives from the HIE.
	OptedOut Patient
	// Bad counts the messages that must be dead-lettered.
	Bad int
}

// Generate builds the traffic: registrations from the EHR (HL7 ADT^A01 and
// FHIR Patient), lab results from the LIS (HL7 ORU^R01 and FHIR
// Observation), one opt-out consent from the HIE, and a few bad messages.
// Message ids are fixed, so publishing the traffic twice stores nothing
// twice.
func Generate(n int, at time.Time) Traffic {
	ps := Patients(n)
	rng := rand.New(rand.NewPCG(7, 7))
	t := Traffic{Patients: ps, OptedOut: ps[2%n]}
	add := func(source, ct, key string, v []byte) {
		t.Messages = append(t.Messages, kafka.Message{
			Topic: ingest.TopicPrefix + source, Key: []byte(key), Value: v,
			Headers: []kafka.Header{{Key: "content-type", Value: []byte(ct)}},
		})
	}
	for i, p := range ps {
		if i%2 == 0 {
			add("ehr", ingest.ContentHL7v2, p.MRN, []byte(adtA01(p, i, at)))
		} else {
			add("ehr", ingest.ContentFHIRJSON, p.MRN, fhirPatient(p, i))
		}
	}
	for i, p := range ps {
		add("ehr", ingest.ContentFHIRJSON, p.MRN, fhirEncounter(p, i, at))
	}
	for i, p := range ps {
		if i%3 == 2 {
			add("lis", ingest.ContentFHIRJSON, p.MRN, fhirObservation(p, i, at, rng))
		} else {
			add("lis", ingest.ContentHL7v2, p.MRN, []byte(oruR01(p, i, at, rng)))
		}
	}
	add("hie", ingest.ContentFHIRJSON, t.OptedOut.MRN, fhirOptOut(t.OptedOut, at))
	// Bad input: it is dead-lettered with a reason and never blocks the rest.
	add("lis", ingest.ContentHL7v2, "bad-1", []byte("this is not an HL7 message"))
	add("lis", ingest.ContentHL7v2, "bad-2", []byte("MSH|^~\\&|LIS|CCH|HUB|CCH|20261125||ORU^R01|BAD0002|P|2.5.1\rOBR|1||X\r"))
	add("ehr", ingest.ContentFHIRJSON, "bad-3", []byte(`{"resourceType":"Observation","status":"final"`))
	t.Bad = 3
	return t
}

func hl7Time(t time.Time) string { return t.UTC().Format("20060102150405") }

func pid(p Patient) string {
	g := "F"
	if p.Gender == "male" {
		g = "M"
	}
	return fmt.Sprintf("PID|1||%s^^^CCH&2.16.840.1.113883.19.5&ISO^MR||%s^%s||%s|%s|||%s^^%s^ST^00000^USA||%s",
		p.MRN, p.Family, p.Given, p.BirthDate.Format("20060102"), g, p.Street, p.City, p.Phone)
}

func adtA01(p Patient, i int, at time.Time) string {
	segs := []string{
		fmt.Sprintf("MSH|^~\\&|EPIC|CCH|CARECREST|CCH|%s||ADT^A01^ADT_A01|ADT%06d|P|2.5.1", hl7Time(at), i),
		fmt.Sprintf("EVN|A01|%s", hl7Time(at)),
		pid(p),
		"PV1|1|I|4W^412^1^CCH||||" + Attending + "^Osei^Kwame|||MED",
	}
	return strings.Join(segs, "\r") + "\r"
}

func oruR01(p Patient, i int, at time.Time, rng *rand.Rand) string {
	segs := []string{
		fmt.Sprintf("MSH|^~\\&|LABSYS|CCH|CARECREST|CCH|%s||ORU^R01^ORU_R01|ORU%06d|P|2.5.1", hl7Time(at), i),
		pid(p),
		fmt.Sprintf("OBR|1|ORD%06d|FIL%06d|24323-8^Comprehensive metabolic panel^LN|||%s", i, i, hl7Time(at.Add(-2*time.Hour))),
	}
	for j, lt := range labTests {
		v := lt.lo + rng.Float64()*(lt.hi-lt.lo)*1.4
		flag := "N"
		if v > lt.hi {
			flag = "H"
		}
		segs = append(segs, fmt.Sprintf("OBX|%d|NM|%s^%s^LN||%.1f|%s|%g-%g|%s|||F|||%s",
			j+1, lt.loinc, lt.name, v, lt.unit, lt.lo, lt.hi, flag, hl7Time(at.Add(-2*time.Hour))))
	}
	return strings.Join(segs, "\r") + "\r"
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static shapes: cannot fail
	}
	return b
}

func fhirPatient(p Patient, i int) []byte {
	return mustJSON(map[string]any{
		"resourceType": "Patient",
		"id":           fmt.Sprintf("ehr-pat-%d", i),
		"identifier":   []any{map[string]any{"system": MRNSystem, "value": p.MRN}},
		"name":         []any{map[string]any{"use": "official", "family": p.Family, "given": []string{p.Given}}},
		"gender":       p.Gender,
		"birthDate":    p.BirthDate.Format("2006-01-02"),
		"address":      []any{map[string]any{"line": []string{p.Street}, "city": p.City, "country": "USA"}},
		"telecom":      []any{map[string]any{"system": "phone", "value": p.Phone, "use": "home"}},
	})
}

// The care team of every demo patient: the attending physician (HL7 PV1-7
// and FHIR Encounter.participant) and the ward nurse (Encounter.participant).
// Tokens name them with the SMART fhirUser claim, which gives them the care
// relationship policy asks for on treatment reads.
const (
	Attending = "dr.osei"
	WardNurse = "rn.hale"
)

// fhirEncounter is the inpatient stay with its care team.
func fhirEncounter(p Patient, i int, at time.Time) []byte {
	participant := func(who, code string) map[string]any {
		return map[string]any{
			"type": []any{map[string]any{"coding": []any{map[string]any{
				"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": code}}}},
			"individual": map[string]any{"reference": "Practitioner/" + who},
		}
	}
	return mustJSON(map[string]any{
		"resourceType": "Encounter",
		"id":           fmt.Sprintf("ehr-enc-%d", i),
		"status":       "in-progress",
		"class":        map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP", "display": "inpatient encounter"},
		"subject":      map[string]any{"type": "Patient", "identifier": map[string]any{"system": MRNSystem, "value": p.MRN}},
		"participant":  []any{participant(Attending, "ATND"), participant(WardNurse, "PART")},
		"period":       map[string]any{"start": at.Add(-6 * time.Hour).UTC().Format(time.RFC3339)},
	})
}

func fhirObservation(p Patient, i int, at time.Time, rng *rand.Rand) []byte {
	lt := labTests[0]
	v := lt.lo + rng.Float64()*(lt.hi-lt.lo)*1.4
	return mustJSON(map[string]any{
		"resourceType": "Observation",
		"id":           fmt.Sprintf("lis-obs-%d", i),
		"status":       "final",
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}}}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": lt.loinc, "display": lt.name}}},
		"subject":           map[string]any{"type": "Patient", "identifier": map[string]any{"system": MRNSystem, "value": p.MRN}},
		"effectiveDateTime": at.Add(-3 * time.Hour).UTC().Format(time.RFC3339),
		"valueQuantity":     map[string]any{"value": float64(int(v*10)) / 10, "unit": lt.unit, "system": "http://unitsofmeasure.org", "code": lt.unit},
		"referenceRange":    []any{map[string]any{"text": fmt.Sprintf("%g-%g %s", lt.lo, lt.hi, lt.unit)}},
	})
}

func fhirOptOut(p Patient, at time.Time) []byte {
	return mustJSON(map[string]any{
		"resourceType": "Consent",
		"id":           "hie-consent-" + p.MRN,
		"status":       "active",
		"scope": map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
		"category": []any{map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "59284-0"}}}},
		"patient":  map[string]any{"type": "Patient", "identifier": map[string]any{"system": MRNSystem, "value": p.MRN}},
		"dateTime": at.Add(-24 * time.Hour).UTC().Format(time.RFC3339),
		"policyRule": map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}}},
		"provision": map[string]any{"type": "deny"},
	})
}
