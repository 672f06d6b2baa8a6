package httpingest

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"
)

type observed struct {
	route  string
	status int
	d      time.Duration
}

type recordingObserver struct {
	mu  sync.Mutex
	got []observed
}

func (o *recordingObserver) ObserveHTTPIngest(route string, status int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, observed{route, status, d})
}

// TestObserverSeesEveryRequest: each request is reported once with its
// route, status and a positive duration; nothing else (no source, no body).
func TestObserverSeesEveryRequest(t *testing.T) {
	obs := &recordingObserver{}
	pub := &memPublisher{}
	h, err := New(Config{}, Deps{Publisher: pub, Auth: testAuth, Logger: slog.New(slog.DiscardHandler), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	e := env{h: h, pub: pub, logs: &syncBuffer{}}
	patient := []byte(`{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:1.2.3","value":"MRN-1"}]}`)
	e.post(t, "/fhir/Patient", "application/fhir+json", "ehr-token", patient)
	e.post(t, "/fhir/Patient", "application/fhir+json", "", patient)
	e.post(t, "/fhir", "application/fhir+json", "ehr-token", []byte(`{"resourceType":"Bundle","type":"history"}`))
	e.post(t, "/dicom/studies", "application/dicom+json", "pacs-token", []byte(`[{}]`))
	e.post(t, "/nowhere", "application/json", "ehr-token", nil)
	pub.fail = errors.New("kafka: not enough replicas")
	e.post(t, "/fhir/Patient", "application/fhir+json", "ehr-token", patient)

	want := []observed{
		{"fhir-resource", http.StatusAccepted, 0},
		{"fhir-resource", http.StatusUnauthorized, 0},
		{"fhir-bundle", http.StatusUnprocessableEntity, 0},
		{"dicom", http.StatusUnprocessableEntity, 0},
		{"unknown", http.StatusNotFound, 0},
		{"fhir-resource", http.StatusServiceUnavailable, 0},
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.got) != len(want) {
		t.Fatalf("observed %+v, want %d requests", obs.got, len(want))
	}
	for i, o := range obs.got {
		if o.route != want[i].route || o.status != want[i].status || o.d <= 0 {
			t.Errorf("request %d observed %+v, want %s %d", i, o, want[i].route, want[i].status)
		}
	}
}
