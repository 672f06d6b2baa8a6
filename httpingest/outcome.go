package httpingest

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// ContentTypeOutcome is the media type of every response body.
const ContentTypeOutcome = "application/fhir+json; charset=utf-8"

// Texts of OperationOutcome diagnostics that callers and tests may rely on.
const (
	TextAccepted      = "accepted: queued for ingest"
	TextUnavailable   = "temporarily unavailable; not accepted"
	TextTypeMismatch  = "resourceType does not match the URL"
	TextBundleType    = "Bundle.type must be transaction, batch, collection, document or message"
	TextTooLarge      = "request body exceeds the size limit"
	TextUnauthorized  = "authentication required: a valid bearer token of a source system"
	TextForbidden     = "the token's holder may not send to the hub"
	TextNotFound      = "no such endpoint"
	TextUnknownType   = "not an R4 resource type"
	TextNotAllowed    = "method not allowed: use POST"
	TextFHIRMedia     = "Content-Type must be application/fhir+json or application/json"
	TextDICOMMedia    = "Content-Type must be application/dicom+json or application/json"
	TextInternalError = "internal error; not accepted"
)

// operationOutcome is a FHIR R4 OperationOutcome with one issue.
type operationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []issue `json:"issue"`
}

type issue struct {
	Severity    string `json:"severity"` // fatal | error | warning | information
	Code        string `json:"code"`     // http://hl7.org/fhir/issue-type
	Diagnostics string `json:"diagnostics,omitempty"`
}

// reply is one response: status, issue and extra headers. Diagnostics are
// constants or decoder errors, never request content.
type reply struct {
	status   int
	severity string
	code     string
	text     string
	reason   string // for the log: a decoder Reason or a short word
	headers  map[string]string
}

func failure(status int, code, text, reason string) reply {
	return reply{status: status, severity: "error", code: code, text: text, reason: reason}
}

func (rp reply) write(w http.ResponseWriter) {
	body, _ := json.Marshal(operationOutcome{
		ResourceType: "OperationOutcome",
		Issue:        []issue{{Severity: rp.severity, Code: rp.code, Diagnostics: rp.text}},
	})
	h := w.Header()
	for k, v := range rp.headers {
		h.Set(k, v)
	}
	h.Set("Content-Type", ContentTypeOutcome)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(rp.status)
	_, _ = w.Write(body)
}
