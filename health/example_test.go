package health_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/carecrest/hub/health"
)

// The hub registers one check per dependency and mounts the probes.
func Example() {
	hc, err := health.New(health.Config{Timeout: time.Second}, nil)
	if err != nil {
		panic(err)
	}
	hc.Register("store", func(ctx context.Context) error { return nil })
	hc.Register("keys", func(ctx context.Context) error {
		return health.Categorize(health.CategoryAuth, errors.New("vault: permission denied for role carecrest-hub"))
	})
	mux := http.NewServeMux()
	hc.Mount(mux)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	fmt.Println(rec.Code)
	for _, c := range hc.Check(context.Background()).Checks {
		fmt.Printf("%s: %s\n", c.Name, c.Status)
		if c.Error != "" {
			fmt.Printf("  %s\n", c.Error)
		}
	}
	// Output:
	// 503
	// store: ok
	// keys: unavailable
	//   unavailable: auth
}
