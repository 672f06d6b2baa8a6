package query

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/policy"
	"github.com/graphql-go/graphql"
)

// Identity is an authenticated caller, as its token describes it.
type Identity struct {
	Subject     string
	Kind        string // user or application
	Roles       []string
	Org         string
	Purposes    []string // purposes of use the token grants
	Application string   // client application (azp)
	FHIRUser    string   // SMART fhirUser: the caller's Practitioner, for treatment relationships
}

// Authenticator verifies a bearer token (auth.Verifier behind an adapter).
type Authenticator interface {
	Authenticate(token string) (Identity, error)
}

type ctxKey int

const (
	identityKey ctxKey = iota
	requestIDKey
)

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey, id)
}

// IdentityFrom returns the caller's identity.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey).(Identity)
	return id, ok
}

// RequestIDFrom returns the request id.
func RequestIDFrom(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

func subjectOf(id Identity, purpose, breakGlassReason string) policy.Subject {
	kind := id.Kind
	if kind == "" {
		kind = "user"
	}
	var refs []string
	if id.FHIRUser != "" {
		refs = []string{id.FHIRUser}
	}
	return policy.Subject{
		ID: id.Subject, Kind: kind, Roles: id.Roles, Org: id.Org,
		Purpose: purpose, BreakGlassReason: breakGlassReason, Refs: refs,
	}
}

// Handler serves GraphQL over HTTP (POST JSON, or GET with ?query=).
type Handler struct {
	Schema graphql.Schema
	Auth   Authenticator
	// MaxBody bounds a request body (default 64 KiB).
	MaxBody int64
	// Observe, when set, receives each request's top-level field
	// (patient, auditEvents), result code and duration.
	Observe func(operation, code string, d time.Duration)
}

type gqlRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	reqID := req.Header.Get("X-Request-Id")
	if reqID == "" || len(reqID) > 128 {
		reqID = audit.NewID(time.Now())
	}
	w.Header().Set("X-Request-Id", reqID)
	w.Header().Set("Cache-Control", "no-store")

	token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		writeErr(w, http.StatusUnauthorized, "UNAUTHENTICATED", "bearer token required")
		return
	}
	id, err := h.Auth.Authenticate(strings.TrimSpace(token))
	if err != nil {
		writeErr(w, http.StatusUnauthorized, "UNAUTHENTICATED", "invalid token")
		return
	}

	var body gqlRequest
	switch req.Method {
	case http.MethodPost:
		max := h.MaxBody
		if max <= 0 {
			max = 64 << 10
		}
		raw, err := io.ReadAll(io.LimitReader(req.Body, max+1))
		if err != nil || int64(len(raw)) > max {
			writeErr(w, http.StatusRequestEntityTooLarge, "BAD_REQUEST", "request body too large or unreadable")
			return
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			writeErr(w, http.StatusBadRequest, "BAD_REQUEST", "body must be a JSON GraphQL request")
			return
		}
	case http.MethodGet:
		body.Query = req.URL.Query().Get("query")
		body.OperationName = req.URL.Query().Get("operationName")
		if v := req.URL.Query().Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &body.Variables); err != nil {
				writeErr(w, http.StatusBadRequest, "BAD_REQUEST", "variables must be JSON")
				return
			}
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeErr(w, http.StatusMethodNotAllowed, "BAD_REQUEST", "use GET or POST")
		return
	}
	if body.Query == "" {
		writeErr(w, http.StatusBadRequest, "BAD_REQUEST", "query is required")
		return
	}
	ctx := context.WithValue(WithIdentity(req.Context(), id), requestIDKey, reqID)
	start := time.Now()
	res := graphql.Do(graphql.Params{
		Schema: h.Schema, RequestString: body.Query, VariableValues: body.Variables,
		OperationName: body.OperationName, Context: ctx,
	})
	if h.Observe != nil {
		h.Observe(topField(res), resultCode(res), time.Since(start))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}

// ErrUnauthenticated is what an Authenticator returns for a bad token.
var ErrUnauthenticated = errors.New("unauthenticated")

// topField names the request's top-level field, for metrics.
// operations are the top-level fields reported by name in metrics (a
// closed set: any other field is "other").
var operations = []string{
	"patient", "auditEvents", "auditLog", "accountingOfDisclosures", "accessReport", "gdprSubjectAccess",
	"recordOfProcessing", "breakGlassQueue", "alerts", "consents", "patientStatus", "explain",
	"auditCheckpoint", "inclusionProof", "consistencyProof",
	"recordConsent", "withdrawConsent", "erasePatient", "placeLegalHold", "liftLegalHold",
	"acknowledgeAlert", "resolveAlert", "reviewBreakGlass",
}

func topField(res *graphql.Result) string {
	if data, ok := res.Data.(map[string]any); ok {
		for _, f := range operations {
			if _, ok := data[f]; ok {
				return f
			}
		}
	}
	return "other"
}

// resultCode is "OK" or the first error's code.
func resultCode(res *graphql.Result) string {
	if len(res.Errors) == 0 {
		return "OK"
	}
	if c, ok := res.Errors[0].Extensions["code"].(string); ok {
		return c
	}
	return "BAD_REQUEST"
}
