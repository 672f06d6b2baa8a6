package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/demo"
	"github.com/carecrest/hub/ingest"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/server"
	"github.com/segmentio/kafka-go"
)

// governed is where a hub serves the governance extensions (erasure, legal
// holds, consent registry): its own endpoints once server.Start wires
// server.NewGovernance, else a test server built exactly as Start would
// build it, over the hub's own components.
type governed struct {
	h       *server.Hub
	gqlURL  string
	fhirURL string // base, e.g. http://127.0.0.1:1234/fhir
}

func governedHub(t testing.TB, h *server.Hub) governed {
	t.Helper()
	base := strings.TrimSuffix(h.GraphQLURL(), "/graphql")
	tok := mintTB(t, h, "probe", []string{"privacy_officer"}, []string{"HOPERAT"})
	r := gqlAt(t, h.GraphQLURL(), tok, `{ __schema { mutationType { fields { name } } } }`, nil)
	if b, _ := json.Marshal(r.Data); bytes.Contains(b, []byte(`"erasePatient"`)) {
		return governed{h: h, gqlURL: h.GraphQLURL(), fhirURL: base + "/fhir"}
	}
	gov, err := server.NewGovernance(h)
	if err != nil {
		t.Fatal(err)
	}
	schema, err := query.Schema(h.Reader, gov.Extensions()...)
	if err != nil {
		t.Fatal(err)
	}
	authn, err := server.NewAuthenticator(h.Config.Auth)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", &query.Handler{Schema: schema, Auth: authn})
	gov.Mount(mux, authn)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { gov.Watch(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return governed{h: h, gqlURL: srv.URL + "/graphql", fhirURL: srv.URL + "/fhir"}
}

func (g governed) gql(t testing.TB, token, q string, vars map[string]any) gqlResult {
	t.Helper()
	return gqlAt(t, g.gqlURL, token, q, vars)
}

func gqlAt(t testing.TB, url, token, q string, vars map[string]any) gqlResult {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r gqlResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	r.status = resp.StatusCode
	return r
}

func (r gqlResult) message() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Message
}

const (
	statusFields = `patient erased erasedAt erasureIncomplete legalHolds { category caseReference placedBy }`
	eraseGQL     = `mutation($p: ID) { erasePatient(patient: $p) { ` + statusFields + ` } }`
	placeGQL     = `mutation($p: ID!, $c: String!) { placeLegalHold(patient: $p, category: "litigation", caseReference: $c) { ` + statusFields + ` } }`
	liftGQL      = `mutation($p: ID!, $c: String!) { liftLegalHold(patient: $p, caseReference: $c) { ` + statusFields + ` } }`
	statusGQL    = `query($p: ID) { patientStatus(patient: $p) { ` + statusFields + ` } }`
)

// observationFor is a new FHIR Observation for a demo patient, from the LIS.
func observationFor(p demo.Patient, id string) kafka.Message {
	v, _ := json.Marshal(map[string]any{
		"resourceType": "Observation", "id": id, "status": "final",
		"code":          map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "2345-7"}}},
		"subject":       map[string]any{"type": "Patient", "identifier": map[string]any{"system": demo.MRNSystem, "value": p.MRN}},
		"valueQuantity": map[string]any{"value": 101, "unit": "mg/dL"},
	})
	return kafka.Message{Topic: ingest.TopicPrefix + "lis", Key: []byte(p.MRN), Value: v,
		Headers: []kafka.Header{{Key: "content-type", Value: []byte(ingest.ContentFHIRJSON)}}}
}

func TestErasureEndToEnd(t *testing.T) {
	ctx := context.Background()
	h := startHub(t)
	g := governedHub(t, h)
	traffic := demo.Generate(4, time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC))
	publish(t, h, traffic.Messages)
	waitMessages(t, h, len(traffic.Messages))

	physician := mint(t, h, "dr.osei", []string{"physician"}, []string{"TREAT"})
	billing := mint(t, h, "bc.ruiz", []string{"billing_clerk"}, []string{"HPAYMT"})
	officer := mint(t, h, "po.nakamura", []string{"privacy_officer"}, []string{"HOPERAT"})
	analyst := mint(t, h, "sa.ng", []string{"security_analyst"}, []string{"HOPERAT"})
	p0 := traffic.Patients[0]

	// Billing reads the demographics (minimum necessary, no care
	// relationship needed).
	p := patientOf(t, gql(t, h, billing, demo.PatientQuery, map[string]any{"mrn": p0.Identifier()}))
	pid, _ := p["id"].(string)
	if p["name"] == nil || pid == "" {
		t.Fatalf("before erasure: %v", p)
	}
	vars := map[string]any{"p": pid, "c": "LIT-2026-17"}

	t.Run("only privacy officers erase", func(t *testing.T) {
		if r := g.gql(t, analyst, eraseGQL, vars); r.code() != "FORBIDDEN" {
			t.Fatalf("security analyst erase: %+v", r)
		}
		if r := g.gql(t, physician, placeGQL, vars); r.code() != "FORBIDDEN" {
			t.Fatalf("physician hold: %+v", r)
		}
	})

	t.Run("legal hold blocks erasure", func(t *testing.T) {
		r := g.gql(t, officer, placeGQL, vars)
		holds, _ := r.Data["placeLegalHold"].(map[string]any)["legalHolds"].([]any)
		if len(r.Errors) > 0 || len(holds) != 1 {
			t.Fatalf("place hold: %+v", r)
		}
		r = g.gql(t, officer, eraseGQL, vars)
		if r.code() != "FORBIDDEN" || !strings.Contains(r.message(), "legal hold") || !strings.Contains(r.message(), "LIT-2026-17") {
			t.Fatalf("erase under hold: %+v", r)
		}
		patientOf(t, gql(t, h, billing, demo.PatientQuery, map[string]any{"mrn": p0.Identifier()})) // still readable
		if r := g.gql(t, officer, liftGQL, vars); len(r.Errors) > 0 {
			t.Fatalf("lift: %+v", r)
		}
	})

	t.Run("erase", func(t *testing.T) {
		r := g.gql(t, officer, eraseGQL, vars)
		st, _ := r.Data["erasePatient"].(map[string]any)
		if len(r.Errors) > 0 || st["erased"] != true || st["erasedAt"] == nil {
			t.Fatalf("erase: %+v", r)
		}
		r = g.gql(t, officer, statusGQL, vars)
		if st, _ := r.Data["patientStatus"].(map[string]any); st["erased"] != true || st["erasureIncomplete"] != false {
			t.Fatalf("status: %+v", r)
		}
	})

	t.Run("reads say ERASED for every role, audited", func(t *testing.T) {
		for _, tok := range []string{physician, billing} {
			r := gql(t, h, tok, demo.PatientQuery, map[string]any{"mrn": p0.Identifier()})
			if r.code() != "ERASED" || !strings.HasPrefix(r.message(), "patient erased on 20") || r.Data["patient"] != nil {
				t.Fatalf("read after erasure: %+v", r)
			}
		}
		evs, err := h.Store.Query(ctx, audit.Filter{PatientID: pid, Codes: []string{audit.CodeRecordReadDeny}})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if strings.HasPrefix(e.Reason, "patient erased") {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d erased reads audited, want 2", n)
		}
		// The records are still stored, sealed under a key that is gone.
		recs, err := h.Store.PatientRecords(ctx, pid, nil)
		if err != nil || len(recs) == 0 {
			t.Fatalf("records after erasure: %d, %v", len(recs), err)
		}
		for i := range recs {
			var els []string
			for el := range recs[i].Fields {
				els = append(els, el)
			}
			if _, err := h.Sealer.Open(ctx, &recs[i], els); err == nil {
				t.Errorf("%s record of the erased patient still opens", recs[i].Type)
			}
		}
	})

	t.Run("new data for the patient is dead-lettered", func(t *testing.T) {
		publish(t, h, []kafka.Message{observationFor(p0, "late-glucose-1")})
		waitMessages(t, h, len(traffic.Messages)+1)
		rej, err := h.Store.Query(ctx, audit.Filter{Action: audit.ActionReject})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range rej {
			if strings.Contains(e.Reason, "destroyed") {
				found = true
			}
		}
		if !found || len(rej) != traffic.Bad+1 {
			t.Fatalf("rejections: %d (want %d), one for the destroyed key: %v", len(rej), traffic.Bad+1, found)
		}
		if recs, _ := h.Store.PatientRecords(ctx, pid, []string{"Observation"}); len(recs) != len(readObservations(traffic, p0)) {
			t.Errorf("observations stored after erasure: %d", len(recs))
		}
	})

	t.Run("audit log verifies and records the erasure", func(t *testing.T) {
		rep, err := h.VerifyAudit(ctx)
		if err != nil || !rep.OK() {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
		evs, _ := h.Store.Query(ctx, audit.Filter{PatientID: pid, Codes: []string{audit.CodeErasure, audit.CodeErasureDeny, audit.CodeLegalHold, audit.CodeLegalHoldLift, audit.CodeLegalHoldDeny}})
		var codes []string
		for _, e := range evs {
			codes = append(codes, e.Code+"/"+e.Outcome)
		}
		want := []string{ // analyst denied; physician's hold denied; hold; refusal; lift; intent; done
			"CC7001W/deny", "CC7004W/deny", "CC7002I/allow", "CC7001W/deny", "CC7003I/allow", "CC7000I/allow", "CC7000I/allow",
		}
		if strings.Join(codes, " ") != strings.Join(want, " ") {
			t.Errorf("governance events %v, want %v", codes, want)
		}
	})

	t.Run("hubctl", func(t *testing.T) {
		hubctl := filepath.Join(t.TempDir(), "hubctl")
		if out, err := exec.Command("go", "build", "-o", hubctl, "../cmd/hubctl").CombinedOutput(); err != nil {
			t.Fatalf("build hubctl: %v\n%s", err, out)
		}
		run := func(args ...string) (string, error) {
			out, err := exec.Command(hubctl, append(args, "--url", g.gqlURL, "--token", officer)...).CombinedOutput()
			return string(out), err
		}
		out, err := run("patient", "status", "--patient", pid)
		if err != nil || !strings.Contains(out, `"erased": true`) {
			t.Errorf("hubctl patient status: %v\n%s", err, out)
		}
		out, err = run("patient", "hold", "place", "--patient", pid, "--case", "LATE-1")
		if err == nil || !strings.Contains(out, "ERASED") {
			t.Errorf("hubctl patient hold place on an erased patient: %v\n%s", err, out)
		}
		out, err = run("patient", "erase", "--identifier", traffic.Patients[1].Identifier())
		if err != nil || !strings.Contains(out, `"erased": true`) {
			t.Errorf("hubctl patient erase --identifier: %v\n%s", err, out)
		}
	})

	t.Run("data directory holds no plaintext", func(t *testing.T) {
		err := filepath.WalkDir(h.Config.DataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, pt := range traffic.Patients {
				for _, s := range []string{pt.Family, pt.MRN, pt.Phone, pt.Street} {
					if bytes.Contains(b, []byte(s)) {
						t.Errorf("%s holds %q in plaintext", filepath.Base(path), s)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// readObservations counts the demo's observations of p (3 per ORU, 1 per
// FHIR Observation).
func readObservations(tr demo.Traffic, p demo.Patient) []struct{} {
	n := 0
	for i, q := range tr.Patients {
		if q.MRN == p.MRN {
			if i%3 == 2 {
				n = 1
			} else {
				n = 3
			}
		}
	}
	return make([]struct{}, n)
}
