package httpingest

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/carecrest/hub/internal/samples"
)

// BenchmarkPostObservation measures one accepted Observation, from request to
// 202, with an in-memory publisher: authentication, decoding and validation,
// and the response.
func BenchmarkPostObservation(b *testing.B) {
	pub := &memPublisher{}
	h, err := New(Config{}, Deps{Publisher: pub, Auth: testAuth, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	body := read(b, samples.Path(b, "fhir-r4/observation-example-f001-glucose.json"))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/fhir/Observation", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/fhir+json")
		req.Header.Set("Authorization", "Bearer ehr-token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d", rec.Code)
		}
		pub.msgs = pub.msgs[:0]
	}
}
