package hl7

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/record"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

var received = time.Date(2024, 3, 15, 10, 0, 0, 0, time.UTC)

// golden is the part of a record the golden files pin down.
type golden struct {
	ID, Type, Source, MessageID, Key string
	Subject                          []record.Identifier
	Codes                            []record.Coding     `json:",omitempty"`
	Replaces                         []record.Identifier `json:",omitempty"`
	Practitioners                    []string            `json:",omitempty"`
	Resource                         map[string]any
}

func TestDecodeGolden(t *testing.T) {
	for _, name := range []string{
		"adt_a01.hl7", "adt_a08_cr.hl7", "adt_custom_delims.hl7", "oru_r01.hl7",
		"oru_two_patients.hl7", "batch.hl7", "stream_no_trailers.hl7",
		"siu_s12.hl7", "siu_s14.hl7", "siu_s15.hl7", "orm_o01.hl7", "rds_o13.hl7",
		"dft_p03.hl7", "mdm_t04.hl7", "adt_a40.hl7",
	} {
		t.Run(name, func(t *testing.T) {
			recs, err := Decode("ehr", readFixture(t, name), received)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]golden, len(recs))
			index := 0 // position of the record in its message
			for i, r := range recs {
				if i > 0 && r.MessageID != recs[i-1].MessageID {
					index = 0
				}
				checkRecord(t, r, index)
				index++
				out[i] = golden{r.ID, r.Type, r.Source, r.MessageID, r.Key, r.Subject, r.Codes, r.Replaces, r.Practitioners, r.Resource}
			}
			got, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", strings.TrimSuffix(name, ".hl7")+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded records differ from %s (run go test -update and review the diff):\n%s", path, got)
			}
		})
	}
}

// checkRecord checks the invariants every decoded record keeps.
func checkRecord(t *testing.T, r record.Record, index int) {
	t.Helper()
	if r.Source == "" || r.MessageID == "" || r.Received != received {
		t.Errorf("record %d: Source %q MessageID %q Received %v", index, r.Source, r.MessageID, r.Received)
	}
	if want := record.NewKey(r.Source, r.MessageID, index); r.Key != want {
		t.Errorf("record %d: key is not NewKey(source, messageID, %d)", index, index)
	}
	if r.ID != record.IDFromKey(r.Key) {
		t.Errorf("record %d: ID %q does not derive from Key", index, r.ID)
	}
	if r.Resource["resourceType"] != r.Type {
		t.Errorf("record %d: resourceType %v, Type %q", index, r.Resource["resourceType"], r.Type)
	}
	for _, k := range []string{"id", "subject", "patient"} {
		if _, ok := r.Resource[k]; ok {
			t.Errorf("record %d: resource sets %q, which is the pipeline's job", index, k)
		}
	}
	if len(r.Subject) == 0 {
		t.Errorf("record %d: no subject", index)
	}
	// Resources are JSON-shaped: a round trip changes nothing.
	b, err := json.Marshal(r.Resource)
	if err != nil {
		t.Fatalf("record %d: %v", index, err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, r.Resource) {
		t.Errorf("record %d: resource does not survive a JSON round trip", index)
	}
}

func TestDecodeKeys(t *testing.T) {
	data := readFixture(t, "oru_r01.hl7")
	a, err := Decode("lis", data, received)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Decode("lis", data, received.Add(time.Hour))
	c, _ := Decode("other", data, received)
	for i := range a {
		if a[i].Key != record.NewKey("lis", "ORU-0001", i) || a[i].Key != b[i].Key {
			t.Errorf("record %d: key not stable across redelivery", i)
		}
		if a[i].Key == c[i].Key {
			t.Errorf("record %d: key does not depend on source", i)
		}
	}
	// Batch: indexes restart in each message.
	recs, _ := Decode("ehr", readFixture(t, "batch.hl7"), received)
	if len(recs) != 3 || recs[0].MessageID != "B-1" || recs[1].Key != record.NewKey("ehr", "B-2", 0) {
		t.Errorf("batch records: %d", len(recs))
	}
}

func TestDecodeMessageIDDigest(t *testing.T) {
	in := "MSH|^~\\&|REG|N|HUB|CC|20240101||ADT^A04||P|2.5\rPID|1||D-1^^^N^MR\r"
	recs, err := Decode("ehr", []byte(in), received)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(strings.TrimSuffix(in, "\r")))
	if want := hex.EncodeToString(sum[:])[:32]; recs[0].MessageID != want {
		t.Errorf("MessageID = %q, want %q", recs[0].MessageID, want)
	}
	// The digest covers the message's own text: framing, blank lines and a
	// batch envelope around it do not change it.
	wrapped := "\x0bBHS|^~\\&\r\n\r\n" + in + "\r\nBTS|1\r\x1c\r"
	again, err := Decode("ehr", []byte(wrapped), received)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].MessageID != recs[0].MessageID || again[0].Key != recs[0].Key {
		t.Errorf("wrapped message: MessageID %q, want %q", again[0].MessageID, recs[0].MessageID)
	}
}

func TestDecodeADTFields(t *testing.T) {
	recs, err := Decode("ehr", readFixture(t, "adt_a01.hl7"), received)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Type != "Patient" {
		t.Fatalf("got %d records", len(recs))
	}
	p := recs[0]
	wantSubject := []record.Identifier{
		{System: "urn:oid:1.2.3.4.5", Value: "MRN-1001"},
		{System: "SSA", Value: "900-11-2222"},
		{System: "OLDSYS", Value: "EXT-77"},
		{System: "urn:carecrest:source:ehr:alternate", Value: "ALT-5"},
	}
	if !reflect.DeepEqual(p.Subject, wantSubject) {
		t.Errorf("Subject = %+v", p.Subject)
	}
	r := p.Resource
	checks := []struct {
		key  string
		want any
	}{
		{"gender", "female"},
		{"birthDate", "1980-02-29"},
		{"multipleBirthInteger", 2.0},
		{"name", []any{
			map[string]any{"family": "Quill&Sons", "given": []any{"Ada", "Mae"}, "prefix": []any{"Dr"}, "suffix": []any{"Jr"}, "use": "official"},
			map[string]any{"family": "Quill", "given": []any{"Addie"}, "use": "nickname"},
		}},
		{"address", []any{map[string]any{
			"line": []any{"12 Fictional Row Flat 3", "Building B"}, "city": "Springfield", "state": "ST",
			"postalCode": "12345", "country": "XX", "district": "County9", "use": "home",
		}}},
		{"telecom", []any{
			map[string]any{"system": "phone", "value": "555-0100", "use": "home"},
			map[string]any{"system": "email", "value": "ada.quill@example.invalid", "use": "home"},
			map[string]any{"system": "phone", "value": "+1 (555) 0199 ext. 12", "use": "work"},
		}},
		{"maritalStatus", concept(systemMarital, "M", "Married")},
		{"meta", map[string]any{"security": []any{codingJSON(systemConfidentiality, "R", "restricted")}}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(r[c.key], c.want) {
			t.Errorf("%s = %#v\nwant %#v", c.key, r[c.key], c.want)
		}
	}
	ids := r["identifier"].([]any)
	first := ids[0].(map[string]any)
	if first["type"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] != "MR" {
		t.Errorf("identifier type = %v", first["type"])
	}
}

func TestDecodeORUFields(t *testing.T) {
	recs, err := Decode("lis", readFixture(t, "oru_r01.hl7"), received)
	if err != nil {
		t.Fatal(err)
	}
	var obs, reports []record.Record
	for _, r := range recs {
		switch r.Type {
		case "Observation":
			obs = append(obs, r)
		case "DiagnosticReport":
			reports = append(reports, r)
		}
	}
	if len(obs) != 11 || len(reports) != 2 || recs[11].Type != "DiagnosticReport" {
		t.Fatalf("got %d observations, %d reports", len(obs), len(reports))
	}
	glucose := obs[0].Resource
	wantCodes := []record.Coding{
		{System: "http://loinc.org", Code: "2345-7", Display: "Glucose"},
		{System: "urn:carecrest:local:lis:99LAB", Code: "GLU", Display: "Glucose"},
	}
	if !reflect.DeepEqual(obs[0].Codes, wantCodes) {
		t.Errorf("Codes = %+v", obs[0].Codes)
	}
	ucum := func(v float64, u string) map[string]any {
		return map[string]any{"value": v, "unit": u, "system": "http://unitsofmeasure.org", "code": u}
	}
	checks := []struct {
		res  map[string]any
		key  string
		want any
	}{
		{glucose, "status", "final"},
		{glucose, "valueQuantity", ucum(105.5, "mg/dL")},
		{glucose, "referenceRange", []any{map[string]any{"text": "70-99", "low": ucum(70, "mg/dL"), "high": ucum(99, "mg/dL")}}},
		{glucose, "interpretation", []any{concept(systemInterpretation, "H", "High")}},
		{glucose, "effectiveDateTime", "2024-03-10T08:45:00+00:00"},
		{glucose, "issued", "2024-03-10T11:00:00+00:00"},
		{glucose, "category", []any{concept(systemCategory, "laboratory", "Laboratory")}},
		{glucose, "note", []any{map[string]any{"text": "Fasting sample."}, map[string]any{"text": "Repeat advised.\nSecond line"}}},
		{obs[1].Resource, "valueQuantity", map[string]any{"value": 0.5, "comparator": "<", "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}},
		{obs[1].Resource, "status", "preliminary"},
		{obs[1].Resource, "effectiveDateTime", "2024-03-10T08:30:00+00:00"}, // from OBR-7
		{obs[1].Resource, "referenceRange", []any{map[string]any{"text": "0.6 to 1.3", "low": ucum(0.6, "mg/dL"), "high": ucum(1.3, "mg/dL")}}},
		{obs[2].Resource, "valueRatio", map[string]any{"numerator": map[string]any{"value": 1.0}, "denominator": map[string]any{"value": 128.0}}},
		{obs[3].Resource, "valueString", "Straw & clear"},
		{obs[3].Resource, "status", "corrected"},
		{obs[4].Resource, "valueString", "Line one\nLine two\nLine three"},
		{obs[5].Resource, "valueCodeableConcept", map[string]any{"coding": []any{codingJSON("http://snomed.info/sct", "3092008", "Staphylococcus aureus")}, "text": "S. aureus"}},
		{obs[6].Resource, "valueDateTime", "2024-04-01"},
		{obs[7].Resource, "valueTime", "08:30:00"},
		{obs[8].Resource, "valueString", "abc"}, // NM that is not a number
		{obs[8].Resource, "status", "cancelled"},
		{obs[9].Resource, "interpretation", []any{concept(systemInterpretation, "N", "Normal")}},
		{obs[10].Resource, "valueRange", map[string]any{"low": map[string]any{"value": 150.0, "unit": "10*3/uL", "system": "http://unitsofmeasure.org", "code": "10*3/uL"}, "high": map[string]any{"value": 400.0, "unit": "10*3/uL", "system": "http://unitsofmeasure.org", "code": "10*3/uL"}}},
		{obs[10].Resource, "note", []any{map[string]any{"text": "Platelet clumps seen."}}},
		{reports[0].Resource, "status", "final"},
		{reports[1].Resource, "status", "preliminary"},
		{reports[0].Resource, "result", refs(obs[:9])},
		{reports[1].Resource, "result", refs(obs[9:])},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.res[c.key], c.want) {
			t.Errorf("%s = %#v\nwant %#v", c.key, c.res[c.key], c.want)
		}
	}
	// A unit from a non-UCUM system is kept as unit only.
	if _, ok := obs[8].Resource["valueQuantity"]; ok {
		t.Error("non-numeric NM must not become a Quantity")
	}
	for _, o := range obs {
		if !reflect.DeepEqual(o.Subject, []record.Identifier{{System: "CentralLab", Value: "LAB-42"}}) {
			t.Errorf("Subject = %+v", o.Subject)
		}
	}
}

func refs(obs []record.Record) []any {
	out := make([]any, len(obs))
	for i, o := range obs {
		out[i] = map[string]any{"reference": "Observation/" + o.ID}
	}
	return out
}

func TestDecodeORUTwoPatients(t *testing.T) {
	recs, err := Decode("lis", readFixture(t, "oru_two_patients.hl7"), received)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"P-1", "P-2", "P-1", "P-2"} // two Observations, then two reports
	if len(recs) != len(want) {
		t.Fatalf("got %d records", len(recs))
	}
	for i, r := range recs {
		if r.Subject[0].Value != want[i] {
			t.Errorf("record %d (%s) subject %s, want %s", i, r.Type, r.Subject[0].Value, want[i])
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	const msh = "MSH|^~\\&|APP|FAC|HUB|CC|20240101||"
	pid := "PID|1||M-1^^^FAC^MR||Name^Given\r"
	tests := []struct {
		name    string
		input   string
		reason  string
		msg     string // substring of the error text
		segment int
	}{
		{"unsupported VXU", string(readFixture(t, "vxu_v04.hl7")), ReasonUnsupportedType, "unsupported message type VXU^V04", 0},
		{"unsupported ADT event", msh + "ADT^A02|1|P|2.5\r" + pid, ReasonUnsupportedType, "ADT^A02", 0},
		{"unsupported SIU event", msh + "SIU^S17|1|P|2.5\r" + pid, ReasonUnsupportedType, "SIU^S17", 0},
		{"unsupported MDM event", msh + "MDM^T01|1|P|2.5\r" + pid, ReasonUnsupportedType, "MDM^T01", 0},
		{"SIU without SCH", msh + "SIU^S12|1|P|2.5\r" + pid, ReasonTypeMismatch, "no SCH", -1},
		{"SIU with two SCH", msh + "SIU^S12|1|P|2.5\rSCH|1\rSCH|2\r" + pid, ReasonTypeMismatch, "more than one SCH", 2},
		{"SIU without PID", msh + "SIU^S13|1|P|2.5\rSCH|1\r", ReasonMissingSegment, "no PID", -1},
		{"ORM without ORC", msh + "ORM^O01|1|P|2.5\r" + pid + "PV1|1\r", ReasonTypeMismatch, "no ORC", -1},
		{"ORM OBR before ORC", msh + "ORM^O01|1|P|2.5\r" + pid + "OBR|1\rORC|NW\r", ReasonTypeMismatch, "OBR before any ORC", 2},
		{"OML without PID", msh + "OML^O21|1|P|2.5\rORC|NW\rOBR|1\r", ReasonMissingSegment, "no PID", -1},
		{"RDE without RXE", msh + "RDE^O11|1|P|2.5\r" + pid + "ORC|NW\rRXR|PO\r", ReasonTypeMismatch, "no RXE", -1},
		{"RDS without RXD", msh + "RDS^O13|1|P|2.5\r" + pid + "ORC|NW\rRXE||X\r", ReasonTypeMismatch, "no RXD", -1},
		{"DFT without FT1", msh + "DFT^P03|1|P|2.5\r" + pid, ReasonTypeMismatch, "no FT1", -1},
		{"MDM without TXA", msh + "MDM^T02|1|P|2.5\r" + pid + "OBX|1|TX|X||t\r", ReasonTypeMismatch, "no TXA", -1},
		{"MDM without OBX", msh + "MDM^T02|1|P|2.5\r" + pid + "TXA|1|DS\r", ReasonTypeMismatch, "no OBX", -1},
		{"A40 without MRG", msh + "ADT^A40|1|P|2.5\r" + pid, ReasonTypeMismatch, "PID without MRG", 1},
		{"A40 MRG before PID", msh + "ADT^A40|1|P|2.5\rMRG|X\r" + pid, ReasonTypeMismatch, "MRG without its own PID", 1},
		{"A40 second pair without MRG", msh + "ADT^A40|1|P|2.5\r" + pid + "MRG|X\r" + pid, ReasonTypeMismatch, "PID without MRG", 3},
		{"A34 MRG without identifier", msh + "ADT^A34|1|P|2.5\r" + pid + "MRG|^^^FAC\r", ReasonNoPatientIdentifier, "MRG-1", 2},
		{"IN1 in ADT without identifier in PID", msh + "ADT^A04|1|P|2.5\rPID|1\rIN1|1\r", ReasonNoPatientIdentifier, "no patient identifier", 1},
		{"unsupported ORU event", msh + "ORU^R30|1|P|2.5\r" + pid, ReasonUnsupportedType, "ORU^R30", 0},
		{"unknown type", msh + "XYZ^Q99|1|P|2.5\r", ReasonUnsupportedType, "(unrecognised type)", 0},
		{"empty type", msh + "|1|P|2.5\r", ReasonUnsupportedType, "(unrecognised type)", 0},
		{"version 2.9", msh + "ADT^A01|1|P|2.9\r" + pid, ReasonUnsupportedVersion, "version 2.9", 0},
		{"version 3", msh + "ADT^A01|1|P|3.0\r" + pid, ReasonUnsupportedVersion, "3.0", 0},
		{"version missing", msh + "ADT^A01|1|P|\r" + pid, ReasonUnsupportedVersion, "(unrecognised)", 0},
		{"MSH truncated", msh + "ADT^A01|1\r" + pid, ReasonTruncated, "MSH-12", 0},
		{"structure contradicts", msh + "ADT^A01^ORU_R01|1|P|2.5\r" + pid, ReasonTypeMismatch, "MSH-9.3", 0},
		{"ADT without PID", msh + "ADT^A01|1|P|2.5\rPV1|1\r", ReasonTypeMismatch, "no PID", -1},
		{"ADT with two PIDs", msh + "ADT^A08|1|P|2.5\r" + pid + pid, ReasonTypeMismatch, "more than one PID", 2},
		{"ADT without identifier", msh + "ADT^A04|1|P|2.5\rPID|1||^^^FAC||Name\r", ReasonNoPatientIdentifier, "no patient identifier", 1},
		{"ORU without OBR", msh + "ORU^R01|1|P|2.5\r" + pid + "OBX|1|NM|X^Y^L||1\r", ReasonTypeMismatch, "no OBR", -1},
		{"ORU without OBX", msh + "ORU^R01|1|P|2.5\r" + pid + "OBR|1|||X^Y^L\r", ReasonTypeMismatch, "no OBX", -1},
		{"ORU orphan OBX without PID", msh + "ORU^R01|1|P|2.5\rOBX|1|NM|X^Y^L||1\rOBR|1|||X^Y^L\r", ReasonTypeMismatch, "OBX before any OBR", 1},
		{"ORU without PID", msh + "ORU^R01|1|P|2.5\rOBR|1|||X^Y^L\rOBX|1|NM|X^Y^L||1\r", ReasonMissingSegment, "no PID", -1},
		{"ORU second PID without identifier", msh + "ORU^R01|1|P|2.5\r" + pid + "OBR|1|||X\rOBX|1|NM|X||1\rPID|2\rOBR|1|||X\rOBX|1|NM|X||1\r", ReasonNoPatientIdentifier, "no patient identifier", 4},
		{"ADT as ORU", msh + "ORU^R01|1|P|2.5\r" + pid + "PV1|1\r", ReasonTypeMismatch, "no OBR", -1},
		{"parse error", "PID|1\r", ReasonNoMSH, "no MSH", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := Decode("ehr", []byte(tt.input), received)
			var de *DecodeError
			if !errors.As(err, &de) || recs != nil {
				t.Fatalf("Decode = %d records, %v; want a *DecodeError", len(recs), err)
			}
			if de.Reason != tt.reason || de.Segment != tt.segment || !strings.Contains(de.Error(), tt.msg) {
				t.Errorf("got %s segment %d %q; want %s segment %d containing %q", de.Reason, de.Segment, de.Error(), tt.reason, tt.segment, tt.msg)
			}
		})
	}
}

func TestDecodeBatchFailsAsAWhole(t *testing.T) {
	data := append(readFixture(t, "batch.hl7"), readFixture(t, "vxu_v04.hl7")...)
	recs, err := Decode("ehr", data, received)
	var de *DecodeError
	if !errors.As(err, &de) || recs != nil || de.Message != 2 || de.Reason != ReasonUnsupportedType {
		t.Fatalf("Decode = %d records, %v", len(recs), err)
	}
	// ParseAll + DecodeMessage keep the good messages.
	msgs, err := ParseAll(data, Limits{})
	if err != nil || len(msgs) != 3 {
		t.Fatalf("ParseAll = %d, %v", len(msgs), err)
	}
	var good int
	for _, m := range msgs {
		if recs, err := DecodeMessage("ehr", m, received); err == nil {
			good += len(recs)
		}
	}
	if good != 3 {
		t.Errorf("good records = %d, want 3", good)
	}
}

func TestDecodeEVNTrigger(t *testing.T) {
	// Before 2.3 the trigger may be only in EVN-1.
	in := "MSH|^~\\&|A|B|C|D|19990101||ADT|9|P|2.2\rEVN|A04|19990101\rPID|1||OLD-1^^^B\r"
	recs, err := Decode("ehr", []byte(in), received)
	if err != nil || len(recs) != 1 {
		t.Fatalf("Decode = %d, %v", len(recs), err)
	}
}

// TestErrorsCarryNoPHI plants a distinctive value in PID-5 (and in every
// other place a hostile or broken sender could put it) and checks that no
// error text contains it.
func TestErrorsCarryNoPHI(t *testing.T) {
	const secret = "ZQXJ-Planted-Name-7731"
	hexSecret := hex.EncodeToString([]byte(secret))
	msh := func(typ, version string) string {
		return "MSH|^~\\&|APP|FAC|HUB|CC|20240101||" + typ + "|CTRL|P|" + version + "\r"
	}
	pid := "PID|1||^^^FAC||" + secret + "^" + secret + "||" + secret + "|" + secret + "\r"
	inputs := []string{
		msh("ADT^A01", "2.5") + pid,                                   // no identifier
		msh("ADT^A40", "2.5") + pid,                                   // unsupported event
		msh("SIU^S12", "2.5") + pid,                                   // unsupported type
		msh(secret, "2.5") + pid,                                      // PHI in MSH-9
		msh(secret+"^"+secret+"^"+secret, "2.5") + pid,                // PHI in every MSH-9 component
		msh("ADT^"+secret, "2.5") + pid,                               // PHI as trigger
		msh("ADT^A01^"+secret, "2.5") + pid,                           // PHI as structure
		msh("ADT^A01", secret) + pid,                                  // PHI as version
		msh("ADT^A01", "2.5") + "PV1|1\r",                             // no PID
		msh("ADT^A01", "2.5") + pid + pid,                             // two PIDs
		msh("ORU^R01", "2.5") + pid + "OBX|1|NM|X||1\r",               // no OBR
		msh("ORU^R01", "2.5") + "OBX|1|ST|X||" + secret + "\rOBR|1\r", // orphan OBX
		msh("ADT^A01", "2.5") + secret + "\r",                         // PHI as a segment line
		msh("ADT^A01", "2.5") + "PID|1\r" + secret[:3] + "|x\r" + secret + "|\r",
		msh("ADT^A01", "2.5") + "PID^" + secret + "\r",                              // wrong separator
		"PID|1||" + secret + "\r",                                                   // no MSH
		secret,                                                                      // not HL7 at all
		"MSH" + secret,                                                              // letter as separator
		"MSH|" + secret + "|x\r",                                                    // encoding characters
		msh("ADT^\\X"+hexSecret+"\\", "2.5") + "PID|1||^^^\\X" + hexSecret + "\\\r", // hex-escaped
		msh("ADT^A01", "2.5") + "PID|" + strings.Repeat(secret+"~", 6000) + "\r",    // too many repetitions
		msh("ADT^A01", "2.5") + "PID" + strings.Repeat("|"+secret, 1100) + "\r",     // too many fields
		strings.Repeat(msh("ADT^A01", "2.5")+pid, 3)[:200],                          // cut mid-segment
	}
	for i, in := range inputs {
		_, err := Decode("ehr", []byte(in), received)
		if err == nil {
			t.Errorf("input %d: no error", i)
			continue
		}
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("input %d: %T is not a *DecodeError", i, err)
			continue
		}
		for _, s := range []string{err.Error(), de.Msg, de.Reason} {
			for _, part := range []string{secret, secret[:4], "Planted", "7731"} {
				if strings.Contains(s, part) {
					t.Errorf("input %d: error text %q contains planted value %q", i, s, part)
				}
			}
		}
	}
}
