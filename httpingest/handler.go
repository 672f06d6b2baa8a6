package httpingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/carecrest/hub/dicom"
	"github.com/carecrest/hub/fhir"
	"github.com/carecrest/hub/ingest"
	"github.com/oklog/ulid/v2"
	"github.com/segmentio/kafka-go"
)

// Publisher is the part of a Kafka producer the gateway uses (kafka-go's
// *Writer, configured without a Topic: each message names its topic).
//
// Contract: WriteMessages returns nil only when every message is acknowledged
// by the broker (RequiredAcks = all). The gateway answers 202 only after
// that; any error is answered 503 and the sender retries.
type Publisher interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

var _ Publisher = (*kafka.Writer)(nil)

// Kafka headers of published messages.
const (
	HeaderContentType = "content-type"    // ingest.ContentFHIRJSON or ingest.ContentDICOMJSON
	HeaderRequestID   = "http-request-id" // the response's X-Request-Id
	HeaderReceived    = "http-received"   // RFC 3339, UTC, nanoseconds
)

// Deps are a Handler's collaborators.
type Deps struct {
	// Publisher receives every accepted message. Required.
	Publisher Publisher
	// Auth maps bearer tokens to source systems (see SourceSystems).
	// Required.
	Auth Authenticator
	// Logger receives request events (never bodies or tokens). Default:
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Observer receives one event per request (metrics). Default: none.
	Observer Observer
}

// Observer receives the gateway's requests, for metrics (metrics.Metrics
// is one). ObserveHTTPIngest must be cheap, safe for concurrent use and
// must not block; route is one of "fhir-bundle", "fhir-resource", "dicom"
// and "unknown", status the HTTP status answered and d the time from the
// request's arrival to the answer written.
type Observer interface {
	ObserveHTTPIngest(route string, status int, d time.Duration)
}

type noObserver struct{}

func (noObserver) ObserveHTTPIngest(string, int, time.Duration) {}

// Handler is the HTTP ingest gateway; see the package documentation for its
// routes and responses. It is safe for concurrent use.
type Handler struct {
	cfg  Config
	pub  Publisher
	auth Authenticator
	log  *slog.Logger
	now  func() time.Time
	obs  Observer
	mux  *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler. cfg gets its defaults and is validated.
func New(cfg Config, deps Deps) (*Handler, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Publisher == nil {
		return nil, errors.New("httpingest: a Publisher is required")
	}
	if deps.Auth == nil {
		return nil, errors.New("httpingest: an Authenticator is required")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Observer == nil {
		deps.Observer = noObserver{}
	}
	h := &Handler{
		cfg: cfg, pub: deps.Publisher, auth: deps.Auth,
		log: deps.Logger.With("component", "httpingest"), now: deps.Now,
		obs: deps.Observer, mux: http.NewServeMux(),
	}
	h.mux.Handle("/fhir", h.route(kindFHIR, "fhir-bundle"))
	h.mux.Handle("/fhir/{type}", h.route(kindFHIR, "fhir-resource"))
	h.mux.Handle("/dicom", h.route(kindDICOM, "dicom"))
	h.mux.Handle("/dicom/studies", h.route(kindDICOM, "dicom"))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.finish(w, r, time.Now(), newRequestID(h.now()), "", "unknown", failure(http.StatusNotFound, "not-found", TextNotFound, "no-route"))
	})
	return h, nil
}

// ServeHTTP serves the routes at /fhir and /dicom.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Mount registers the gateway's routes on mux below prefix ("" or a path
// such as "/ingest" without a trailing slash): prefix+"/fhir",
// prefix+"/fhir/", prefix+"/dicom" and prefix+"/dicom/".
func (h *Handler) Mount(mux *http.ServeMux, prefix string) {
	prefix = strings.TrimSuffix(prefix, "/")
	var handler http.Handler = h
	if prefix != "" {
		handler = http.StripPrefix(prefix, h)
	}
	for _, p := range []string{"/fhir", "/fhir/", "/dicom", "/dicom/"} {
		mux.Handle(prefix+p, handler)
	}
}

type kind int

const (
	kindFHIR kind = iota
	kindDICOM
)

// sourceName is what a source may be: it becomes part of a Kafka topic name,
// whose legal characters are fewer than ingest.SourceOf accepts.
var sourceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (h *Handler) route(k kind, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start, received := time.Now(), h.now()
		id := newRequestID(received)
		source, rp := h.serve(w, r, k, received, id)
		h.finish(w, r, start, id, source, name, rp)
	})
}

// finish writes rp, logs the request and reports it to the observer.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, start time.Time, id, source, route string, rp reply) {
	w.Header().Set("X-Request-Id", id)
	rp.write(w)
	h.obs.ObserveHTTPIngest(route, rp.status, time.Since(start))
	level := slog.LevelInfo
	switch {
	case rp.status >= 500:
		level = slog.LevelError
	case rp.status >= 400:
		level = slog.LevelWarn
	}
	h.log.Log(r.Context(), level, "http ingest",
		"request_id", id, "source", source, "route", route, "method", r.Method,
		"status", rp.status, "reason", rp.reason, "peer", r.RemoteAddr)
}

// serve handles one request up to its reply. It returns the authenticated
// source ("" when none).
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, k kind, received time.Time, id string) (string, reply) {
	if r.Method != http.MethodPost {
		rp := failure(http.StatusMethodNotAllowed, "not-supported", TextNotAllowed, "method")
		rp.headers = map[string]string{"Allow": http.MethodPost}
		return "", rp
	}
	source, rp, ok := h.authenticate(r)
	if !ok {
		return "", rp
	}
	typ := r.PathValue("type")
	if k == kindFHIR && typ != "" && !fhir.IsResourceType(typ) {
		return source, failure(http.StatusNotFound, "not-supported", TextUnknownType, "unknown-type")
	}
	contentType, ok := mediaType(r.Header.Get("Content-Type"), k)
	if !ok {
		text := TextFHIRMedia
		if k == kindDICOM {
			text = TextDICOMMedia
		}
		return source, failure(http.StatusUnsupportedMediaType, "not-supported", text, "content-type")
	}
	if r.ContentLength > h.cfg.MaxBody {
		return source, failure(http.StatusRequestEntityTooLarge, "too-long", TextTooLarge, "too-large")
	}
	// With w, MaxBytesReader also tells net/http to close the connection
	// rather than read the rest of an oversized body.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return source, failure(http.StatusRequestEntityTooLarge, "too-long", TextTooLarge, "too-large")
		}
		return source, failure(http.StatusBadRequest, "incomplete", "request body could not be read", "read-body")
	}
	if rp, ok := validate(k, typ, source, body, received); !ok {
		return source, rp
	}
	return source, h.publish(r.Context(), source, contentType, id, body, received)
}

// authenticate maps the bearer token to a source whose name can be a topic.
func (h *Handler) authenticate(r *http.Request) (string, reply, bool) {
	unauthorized := failure(http.StatusUnauthorized, "login", TextUnauthorized, "unauthenticated")
	unauthorized.headers = map[string]string{"WWW-Authenticate": `Bearer realm="carecrest-hub"`}
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", unauthorized, false
	}
	source, err := h.auth.Authenticate(token)
	switch {
	case errors.Is(err, ErrForbidden):
		h.log.Warn("http ingest token refused", "error", err, "peer", r.RemoteAddr)
		return "", failure(http.StatusForbidden, "forbidden", TextForbidden, "not-a-source"), false
	case err != nil:
		h.log.Warn("http ingest token rejected", "error", err, "peer", r.RemoteAddr)
		unauthorized.headers["WWW-Authenticate"] = `Bearer realm="carecrest-hub", error="invalid_token"`
		return "", unauthorized, false
	case ingest.SourceOf(ingest.TopicPrefix+source) == "" || !sourceName.MatchString(source):
		// The subject cannot name a topic: a misissued token or a
		// misconfigured identity provider, not the sender's message.
		h.log.Warn("http ingest source name cannot be a topic", "source_len", len(source), "peer", r.RemoteAddr)
		return "", failure(http.StatusForbidden, "forbidden", TextForbidden, "invalid-source"), false
	}
	return source, reply{}, true
}

// mediaType returns the ingest content type of a request's Content-Type.
func mediaType(header string, k kind) (string, bool) {
	mt, params, err := mime.ParseMediaType(header)
	if err != nil {
		return "", false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", false
	}
	switch {
	case k == kindFHIR && (mt == ingest.ContentFHIRJSON || mt == "application/json"):
		return ingest.ContentFHIRJSON, true
	case k == kindDICOM && (mt == ingest.ContentDICOMJSON || mt == "application/json"):
		return ingest.ContentDICOMJSON, true
	}
	return "", false
}

// acceptedBundles are the Bundle types a sender may submit. fhir.Decode also
// reads searchset, a search result rather than a submission.
var acceptedBundles = map[string]bool{
	"transaction": true, "batch": true, "collection": true, "document": true, "message": true,
}

// validate decodes body as the hub's consumer will. typ is the URL's
// resource type, "" for POST /fhir (a Bundle).
func validate(k kind, typ, source string, body []byte, received time.Time) (reply, bool) {
	var err error
	if k == kindDICOM {
		_, err = dicom.Decode(source, body, received)
	} else {
		want := typ
		if want == "" {
			want = "Bundle"
		}
		// The cheap check first: a body sent to the wrong URL is answered
		// without decoding it. When top cannot read it, Decode says why.
		if top, ok := peek(body); ok {
			if string(top["resourceType"]) != want {
				return failure(http.StatusBadRequest, "invalid", TextTypeMismatch, "type-mismatch"), false
			}
			if want == "Bundle" && !acceptedBundles[string(top["type"])] {
				return failure(http.StatusUnprocessableEntity, "not-supported", TextBundleType, "bundle-type"), false
			}
		}
		_, err = fhir.Decode(source, body, received)
	}
	if err == nil {
		return reply{}, true
	}
	var fe *fhir.DecodeError
	var de *dicom.DecodeError
	switch {
	case errors.As(err, &fe):
		return decodeFailure(fe.Reason, err.Error(), fhirSyntax[fe.Reason]), false
	case errors.As(err, &de):
		return decodeFailure(de.Reason, err.Error(), dicomSyntax[de.Reason]), false
	}
	// Not an error about the data (the decoders' only other errors are
	// about their arguments): a bug, not the sender's fault.
	return failure(http.StatusInternalServerError, "exception", TextInternalError, "decoder"), false
}

// fhirSyntax and dicomSyntax are the decoder reasons answered 400: the body
// is not JSON of the right kind at all. The other reasons are 422: it is,
// but the hub cannot ingest it.
var (
	fhirSyntax = map[string]bool{
		fhir.ReasonInvalidJSON: true, fhir.ReasonNotAnObject: true, fhir.ReasonMissingType: true,
		fhir.ReasonUnknownType: true, fhir.ReasonTooDeep: true,
	}
	dicomSyntax = map[string]bool{
		dicom.ReasonInvalidJSON: true, dicom.ReasonNotDICOMJSON: true, dicom.ReasonTooDeep: true,
	}
)

// decodeFailure answers a decoder error. Its text is PHI-free by the
// decoders' contract (DecodeError).
func decodeFailure(reason, text string, syntax bool) reply {
	switch {
	case reason == fhir.ReasonTooLarge || reason == dicom.ReasonTooLarge:
		return failure(http.StatusRequestEntityTooLarge, "too-long", text, reason)
	case syntax:
		return failure(http.StatusBadRequest, "structure", text, reason)
	}
	return failure(http.StatusUnprocessableEntity, "processing", text, reason)
}

// topString is a top-level JSON value kept only when it is a string.
type topString string

// UnmarshalJSON keeps strings and ignores other values without copying them.
func (s *topString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = topString(v)
	}
	return nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// peek reads the top-level string members of a JSON object. Keys match
// exactly, as in fhir.Decode (a struct would match them case-insensitively
// and could see another resourceType than the decoder), and the last of
// duplicate keys wins in both.
func peek(body []byte) (map[string]topString, bool) {
	var top map[string]topString
	if err := json.Unmarshal(bytes.TrimPrefix(body, utf8BOM), &top); err != nil || top == nil {
		return nil, false
	}
	return top, true
}

// publish writes the message and waits for Kafka's acknowledgement. The
// publish outlives the client's cancellation (bounded by PublishTimeout): a
// message Kafka may already hold should not be abandoned half way.
func (h *Handler) publish(ctx context.Context, source, contentType, id string, body []byte, received time.Time) reply {
	msg := kafka.Message{
		Topic: ingest.TopicPrefix + source,
		Key:   []byte(source),
		Value: body,
		Time:  received,
		Headers: []kafka.Header{
			{Key: HeaderContentType, Value: []byte(contentType)},
			{Key: HeaderRequestID, Value: []byte(id)},
			{Key: HeaderReceived, Value: []byte(received.UTC().Format(time.RFC3339Nano))},
		},
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.PublishTimeout)
	err := h.pub.WriteMessages(pctx, msg)
	cancel()
	if err == nil {
		return reply{status: http.StatusAccepted, severity: "information", code: "informational", text: TextAccepted, reason: "accepted"}
	}
	// kafka-go errors name brokers, topics and protocol codes, not values.
	h.log.Warn("http ingest publish failed", "request_id", id, "source", source, "bytes", len(body), "error", err)
	if tooLarge(err) {
		// Resending will not help: Kafka's message size limit is below
		// MaxBody (a configuration to fix, see Config.MaxBody).
		return failure(http.StatusRequestEntityTooLarge, "too-long", TextTooLarge, "kafka-too-large")
	}
	rp := failure(http.StatusServiceUnavailable, "transient", TextUnavailable, "publish-failed")
	secs := int((h.cfg.RetryAfter + time.Second - 1) / time.Second)
	rp.headers = map[string]string{"Retry-After": strconv.Itoa(secs)}
	return rp
}

// tooLarge reports whether err says the message exceeds Kafka's size limit
// (the writer's BatchBytes or the broker's message.max.bytes).
func tooLarge(err error) bool {
	var mtl kafka.MessageTooLargeError
	if errors.As(err, &mtl) || errors.Is(err, kafka.MessageSizeTooLarge) {
		return true
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && tooLarge(e) {
				return true
			}
		}
	}
	return false
}

// newRequestID returns a ULID: sortable, and random enough to be unique.
func newRequestID(t time.Time) string {
	return ulid.MustNew(ulid.Timestamp(t), rand.Reader).String()
}
