// Package rego holds the hub's default authorization policy: the Rego
// modules of package carecrest.authz, the tables they read (data.json, which
// becomes data.carecrest.access) and their unit tests (*_test.rego, run by
// `go test ./rego/`).
//
// The policy package compiles FS when no policy directory is configured; a
// directory with the same layout (see IsPolicyFile) replaces it, data
// included.
//
// The package is named after its folder; importers that also use OPA's rego
// package give one of the two a local name.
package rego

import (
	"embed"
	"path"
	"strings"
)

// FS is the default policy: the Rego modules and data.json of this folder,
// without the tests. A new module must be added to the embed list below;
// TestEmbedHoldsEveryPolicyFile fails until it is.
//
//go:embed authz.rego consent.rego sensitivity.rego data.json
var FS embed.FS

// DataFile is the name of the data document of a policy directory. Its JSON
// object is merged at the root of data (so the hub's tables sit under
// {"carecrest": {"access": ...}}), as `opa eval -d DIR` and `opa test DIR`
// would load it.
const DataFile = "data.json"

// IsPolicyFile reports whether a file name (base name or slash path) belongs
// to the policy an engine loads: Rego modules except tests, and DataFile.
func IsPolicyFile(name string) bool {
	base := path.Base(name)
	if base == DataFile {
		return true
	}
	return strings.HasSuffix(base, ".rego") && !IsTestFile(base)
}

// IsTestFile reports whether a file name is a Rego unit-test module.
func IsTestFile(name string) bool {
	return strings.HasSuffix(path.Base(name), "_test.rego")
}
