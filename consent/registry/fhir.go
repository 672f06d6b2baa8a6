package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/consent"
	"github.com/carecrest/hub/query"
)

// FHIRHandler serves the registry as FHIR R4 JSON, authenticated with the
// same bearer tokens as /graphql:
//
//	GET /fhir/Consent?patient=P...           searchset Bundle: the latest version of each directive
//	GET /fhir/Consent/_history?patient=P...  history Bundle: every version, oldest first
//
// The purpose of use is the token's first, or the X-Purpose-Of-Use header.
// Errors are OperationOutcomes; reads are governed and audited as in
// Versions.
type FHIRHandler struct {
	Registry *Registry
	Auth     query.Authenticator
}

// ServeHTTP implements http.Handler.
func (h *FHIRHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	reqID := req.Header.Get("X-Request-Id")
	if reqID == "" || len(reqID) > 128 {
		reqID = audit.NewID(time.Now())
	}
	w.Header().Set("X-Request-Id", reqID)
	w.Header().Set("Cache-Control", "no-store")
	if req.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		outcome(w, http.StatusMethodNotAllowed, "not-supported", "use GET")
		return
	}
	history := false
	switch strings.TrimSuffix(req.URL.Path, "/") {
	case "/fhir/Consent":
	case "/fhir/Consent/_history":
		history = true
	default:
		outcome(w, http.StatusNotFound, "not-found", "unknown path: use /fhir/Consent or /fhir/Consent/_history")
		return
	}
	token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		outcome(w, http.StatusUnauthorized, "login", "bearer token required")
		return
	}
	id, err := h.Auth.Authenticate(strings.TrimSpace(token))
	if err != nil {
		outcome(w, http.StatusUnauthorized, "login", "invalid token")
		return
	}
	ctx := query.WithIdentity(req.Context(), id)
	c, err := query.CallerFrom(ctx, map[string]any{"purpose": req.Header.Get("X-Purpose-Of-Use")})
	if err != nil {
		apiOutcome(w, err)
		return
	}
	c.RequestID = reqID
	patient := strings.TrimPrefix(req.URL.Query().Get("patient"), "Patient/")
	if patient == "" {
		outcome(w, http.StatusBadRequest, "required", "search parameter patient is required")
		return
	}
	vs, err := h.Registry.Versions(ctx, c, patient, history)
	if err != nil {
		apiOutcome(w, err)
		return
	}
	b := Bundle(vs, history, time.Now())
	w.Header().Set("Content-Type", "application/fhir+json")
	_ = json.NewEncoder(w).Encode(b)
}

// Bundle is the FHIR R4 Bundle of consent versions: a searchset, or with
// history a history Bundle.
func Bundle(vs []query.ConsentVersion, history bool, now time.Time) map[string]any {
	typ := "searchset"
	if history {
		typ = "history"
	}
	entries := make([]any, 0, len(vs))
	for _, v := range vs {
		res := Resource(v)
		e := map[string]any{"fullUrl": "Consent/" + res["id"].(string), "resource": res}
		if history {
			e["request"] = map[string]any{"method": "PUT", "url": "Consent/" + res["id"].(string)}
		} else {
			e["search"] = map[string]any{"mode": "match"}
		}
		entries = append(entries, e)
	}
	return map[string]any{
		"resourceType": "Bundle", "type": typ, "total": len(vs),
		"meta":  map[string]any{"lastUpdated": now.UTC().Format(time.RFC3339Nano)},
		"entry": entries,
	}
}

// Resource is one consent version as a FHIR R4 Consent: the directive the
// hub enforces (its root provision), not the source's full resource. The
// directive id, which FHIR ids cannot hold, is the Consent's identifier.
func Resource(v query.ConsentVersion) map[string]any {
	sum := sha256.Sum256([]byte(v.ID))
	policy := map[string]string{consent.Permit: "OPTIN", consent.Deny: "OPTOUT"}[v.Decision]
	prov := map[string]any{"type": v.Decision}
	if p := period(v.Directive); p != nil {
		prov["period"] = p
	}
	if len(v.Purposes) > 0 {
		var ps []any
		for _, p := range v.Purposes {
			ps = append(ps, map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": p})
		}
		prov["purpose"] = ps
	}
	res := map[string]any{
		"resourceType": "Consent",
		"id":           "c" + hex.EncodeToString(sum[:16]),
		"meta": map[string]any{
			"versionId":   strconv.Itoa(max(1, v.Version)),
			"lastUpdated": v.Recorded.UTC().Format(time.RFC3339Nano),
			"source":      "urn:carecrest:source:" + v.Source,
		},
		"identifier": []any{map[string]any{"system": "urn:carecrest:consent-directive", "value": v.ID}},
		"status":     v.Status,
		"scope": map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
		"category":  []any{map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "59284-0"}}}},
		"patient":   map[string]any{"reference": "Patient/" + v.PatientID},
		"dateTime":  v.Recorded.UTC().Format(time.RFC3339Nano),
		"provision": prov,
	}
	if policy != "" {
		res["policyRule"] = map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": policy}}}
	}
	return res
}

// period turns the directive's [Start, End) back into a FHIR period, whose
// end is inclusive: an End at midnight UTC is the date before it.
func period(d consent.Directive) map[string]any {
	if d.Start.IsZero() && d.End.IsZero() {
		return nil
	}
	p := map[string]any{}
	if !d.Start.IsZero() {
		p["start"] = d.Start.UTC().Format(time.RFC3339Nano)
	}
	if !d.End.IsZero() {
		e := d.End.UTC()
		if e.Equal(e.Truncate(24 * time.Hour)) {
			p["end"] = e.AddDate(0, 0, -1).Format(time.DateOnly)
		} else {
			p["end"] = e.Add(-time.Nanosecond).Format(time.RFC3339Nano)
		}
	}
	return p
}

// apiOutcome maps an API error to an HTTP status and an OperationOutcome.
func apiOutcome(w http.ResponseWriter, err error) {
	var api *query.APIError
	var erased *query.ErasedError
	switch {
	case errors.As(err, &erased), errors.Is(err, query.ErrErased):
		outcome(w, http.StatusGone, "deleted", "patient erased")
		return
	case !errors.As(err, &api):
		api = query.APIErrorOf(err).(*query.APIError)
	}
	status, code := http.StatusServiceUnavailable, "transient"
	switch api.Code {
	case "BAD_REQUEST":
		status, code = http.StatusBadRequest, "invalid"
	case "UNAUTHENTICATED":
		status, code = http.StatusUnauthorized, "login"
	case "FORBIDDEN":
		status, code = http.StatusForbidden, "forbidden"
	case "NOT_FOUND":
		status, code = http.StatusNotFound, "not-found"
	}
	outcome(w, status, code, api.Message)
}

func outcome(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"resourceType": "OperationOutcome",
		"issue":        []any{map[string]any{"severity": "error", "code": code, "diagnostics": msg}},
	})
}
