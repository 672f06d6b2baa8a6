package health

import (
	"encoding/json"
	"net/http"
)

// Liveness serves /healthz: 200 while the process is up and serving HTTP.
// It checks no dependency (an outage of the store must not get every
// instance restarted) and stays 200 while draining.
func (c *Checker) Liveness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed(w, r) {
			return
		}
		writeJSON(w, r, http.StatusOK, map[string]string{"status": StatusOK})
	})
}

// Readiness serves /readyz: 200 with the report when every check passes,
// 503 with the report otherwise (or while draining). The body lists each
// check's status and latency; a failed check shows only
// "unavailable: <category>".
func (c *Checker) Readiness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed(w, r) {
			return
		}
		rep := c.Check(r.Context())
		status := http.StatusOK
		if !rep.Ready() {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, r, status, rep)
	})
}

// Mount registers /healthz and /readyz on mux.
func (c *Checker) Mount(mux *http.ServeMux) {
	mux.Handle("/healthz", c.Liveness())
	mux.Handle("/readyz", c.Readiness())
}

func allowed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "use GET or HEAD", http.StatusMethodNotAllowed)
	return false
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}
