package labels

import (
	"testing"

	"github.com/carecrest/hub/record"
)

// BenchmarkLabel labels a typical lab result and a diagnosis: five codes in
// three systems, two of which match.
func BenchmarkLabel(b *testing.B) {
	l := mustNew(b, Default())
	codes := []record.Coding{
		c(SystemLOINC, "7917-8"),
		c(SystemLOINC, "2345-7"),
		c(SystemICD10CM, "F10.20"),
		c(SystemICD10CM, "E11.9"),
		c(SystemSNOMED, "44054006"),
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Label(codes)
	}
}

// BenchmarkLabelNoMatch is the common case: nothing sensitive.
func BenchmarkLabelNoMatch(b *testing.B) {
	l := mustNew(b, Default())
	codes := []record.Coding{c(SystemLOINC, "2345-7"), c(SystemICD10CM, "E11.9"), c("urn:carecrest:local:lis", "GLU")}
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Label(codes)
	}
}
