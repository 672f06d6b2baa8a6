// Package samples finds the shared sample messages (../shared/samples beside
// the repository, or $CARECREST_SAMPLES) for tests. They are not copied into
// the repository; tests that need them skip when they are absent.
package samples

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the samples folder, or "" when it cannot be found.
func Dir() string {
	if d := os.Getenv("CARECREST_SAMPLES"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			cand := filepath.Join(filepath.Dir(d), "shared", "samples")
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return cand
			}
			return ""
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// Path returns the path of a sample below the samples folder (for example
// "hl7v2/01_ms_ADT-A01_v2.8.hl7"), skipping the test when samples are absent.
func Path(t testing.TB, rel string) string {
	t.Helper()
	d := Dir()
	if d == "" {
		t.Skip("shared samples not found: set CARECREST_SAMPLES or check out shared/ beside the repository")
	}
	p := filepath.Join(d, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("sample %s absent: %v", rel, err)
	}
	return p
}

// Glob returns the samples matching pattern (relative to the samples folder),
// skipping the test when samples are absent.
func Glob(t testing.TB, pattern string) []string {
	t.Helper()
	d := Dir()
	if d == "" {
		t.Skip("shared samples not found: set CARECREST_SAMPLES or check out shared/ beside the repository")
	}
	m, _ := filepath.Glob(filepath.Join(d, pattern))
	if len(m) == 0 {
		t.Skipf("no samples match %s", pattern)
	}
	return m
}
