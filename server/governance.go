package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/carecrest/hub/consent/registry"
	"github.com/carecrest/hub/erasure"
	"github.com/carecrest/hub/query"
)

// Governance is the hub's erasure service (with legal holds) and consent
// registry, over the hub's own components.
type Governance struct {
	Erasure  *erasure.Service
	Registry *registry.Registry
	reader   *query.Reader
}

// NewGovernance builds erasure and the consent registry over h's store, key
// cache, reader and pipeline, and makes h's reads erasure-aware (reads of an
// erased patient answer ERASED). Start calls it once h.Reader and
// h.Pipeline exist, then:
//
//	schema, err := query.Schema(hub.Reader, gov.Extensions()...)
//	gov.Mount(mux, authn)
//	hub.wg.Go(func() { gov.Watch(runCtx) })
func NewGovernance(h *Hub) (*Governance, error) {
	if h.Reader == nil || h.Pipeline == nil || h.Store == nil || h.Sealer == nil {
		return nil, errors.New("governance: the hub's reader, pipeline, store and sealer are required")
	}
	svc, err := erasure.New(erasure.Deps{
		Governor: h.Reader, Audit: h.Store, Keys: h.Store, Evict: h.Sealer.Evict, Logger: h.Log,
		// A merged patient (A40/A34) is erased, held and reported as one.
		Group: h.Index.Group,
	})
	if err != nil {
		return nil, err
	}
	h.Reader.Erasures = svc
	st, ok := h.Store.(registry.Store)
	if !ok {
		return nil, fmt.Errorf("governance: store %T keeps no consent history", h.Store)
	}
	reg, err := registry.New(registry.Deps{Reader: h.Reader, Pipeline: h.Pipeline, Store: st, Logger: h.Log})
	if err != nil {
		return nil, err
	}
	return &Governance{Erasure: svc, Registry: reg, reader: h.Reader}, nil
}

// Extensions are the GraphQL fields of erasure, legal holds and the consent
// registry.
func (g *Governance) Extensions() []query.Extension {
	return []query.Extension{
		query.ErasureExtension(g.reader, g.Erasure),
		query.ConsentExtension(g.reader, g.Registry),
	}
}

// Mount serves the registry as FHIR JSON (GET /fhir/Consent and
// /fhir/Consent/_history), authenticated as /graphql is.
func (g *Governance) Mount(mux *http.ServeMux, authn query.Authenticator) {
	fh := &registry.FHIRHandler{Registry: g.Registry, Auth: authn}
	// GET only: POST /fhir/Consent stays with the HTTP ingest gateway
	// (consents in from source systems, through Kafka).
	mux.Handle("GET /fhir/Consent", fh)
	mux.Handle("GET /fhir/Consent/_history", fh)
}

// Watch evicts the cached keys of patients erased on other instances until
// ctx ends (see erasure.Service.Watch).
func (g *Governance) Watch(ctx context.Context) { g.Erasure.Watch(ctx, 2*time.Second) }
