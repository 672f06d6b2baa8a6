package policy

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them (OPA
// evaluations watch their context; Decide must not leave watchers behind).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
