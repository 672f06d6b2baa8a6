package server

import (
	"io/fs"
	"net/http"
	"os"

	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/report"
)

// ExportPath is where the audit export is served.
const ExportPath = "/audit/export"

// NewReports builds the privacy office's service (GraphQL extension and
// audit export) from the configuration: the compliance section, the
// policy's tables (policy.dir or the embedded policy), the sources and the
// routing subscribers.
func NewReports(cfg *config.Config, r *query.Reader) (*query.Reports, error) {
	var fsys fs.FS // nil: the embedded policy
	if cfg.Policy.Dir != "" {
		fsys = os.DirFS(cfg.Policy.Dir)
	}
	pd, err := report.LoadPolicyData(fsys)
	if err != nil {
		return nil, err
	}
	return &query.Reports{
		Reader: r,
		Processing: report.ProcessingInputs{
			Config: cfg.Compliance, Policy: pd, Sources: cfg.Kafka.Sources, Subscribers: cfg.Route.Subscribers,
			KeyBackend: cfg.Keys.Backend, Store: cfg.Store.Backend,
		},
		Observer: report.Observer{Instance: cfg.Instance},
	}, nil
}

// MountReports serves the audit export (GET /audit/export) on mux, with
// callers authenticated by authn as on /graphql.
func MountReports(mux *http.ServeMux, rp *query.Reports, authn query.Authenticator) {
	mux.Handle(ExportPath, rp.ExportHandler(authn))
}
