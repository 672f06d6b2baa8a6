package route

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// TopicPrefix is the prefix of every outbound topic: subscriber Name
// receives on TopicPrefix + Name.
const TopicPrefix = "hub.out."

// Subject kinds a subscriber may have (policy.Subject.Kind).
const (
	KindApplication = "application"
	KindSystem      = "system"
)

// Subscriber is a system that receives records routed from the hub. It is
// the policy subject of every routing decision made for it.
type Subscriber struct {
	// Name identifies the subscriber (policy subject id, audit actor) and
	// names its topic: hub.out.<Name>.
	Name string `yaml:"name"`
	// Roles are the policy roles the subscriber holds (rego/data.json).
	Roles []string `yaml:"roles"`
	// Kind is the subject kind: "application" or "system".
	Kind string `yaml:"kind"`
	// Org is the organization that operates the subscriber.
	Org string `yaml:"org"`
	// Purpose is the one HL7 v3 purpose of use (TREAT, HPAYMT, ...) under
	// which records are disclosed to it.
	Purpose string `yaml:"purpose"`
	// Types lists the record types it receives. Empty means none: types
	// are always listed explicitly.
	Types []string `yaml:"types"`
	// Sources, when set, restricts routing to records from these source
	// systems.
	Sources []string `yaml:"sources"`
	// Format is the shape of its messages: FormatResource (the default,
	// one FHIR resource per message) or FormatBundle (one FHIR R4 Bundle
	// per source message and patient, see bundle.go).
	Format string `yaml:"format"`
	// BundleType is the Bundle.type of FormatBundle messages:
	// BundleCollection (the default) or BundleTransaction. "document" is
	// not offered: a document Bundle needs a Composition attested by an
	// author, which the hub, a router of other systems' data, is not.
	BundleType string `yaml:"bundle_type"`
}

// Message formats and Bundle types of a subscriber.
const (
	FormatResource    = "resource"
	FormatBundle      = "bundle"
	BundleCollection  = "collection"
	BundleTransaction = "transaction"
)

// Topic returns the subscriber's outbound topic.
func (s Subscriber) Topic() string { return TopicPrefix + s.Name }

// wants reports whether the subscriber takes records of typ from source.
func (s Subscriber) wants(typ, source string) bool {
	if !slices.Contains(s.Types, typ) {
		return false
	}
	return len(s.Sources) == 0 || slices.Contains(s.Sources, source)
}

// Config lists the subscribers records are routed to. No subscribers means
// routing is off.
type Config struct {
	Subscribers []Subscriber `yaml:"subscribers"`
}

// Defaults fills unset fields: the message format (FormatResource) and,
// for bundles, the Bundle type (BundleCollection). Who receives PHI, in
// which role and for which purpose has no default: it is always stated.
func (c *Config) Defaults() {
	for i := range c.Subscribers {
		s := &c.Subscribers[i]
		if s.Format == "" {
			s.Format = FormatResource
		}
		if s.Format == FormatBundle && s.BundleType == "" {
			s.BundleType = BundleCollection
		}
	}
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Validate reports every configuration error: names unique and matching
// ^[a-z][a-z0-9_-]{0,31}$, a known kind, at least one role, one purpose
// code, at least one record type, no empty list entries and a known format
// and Bundle type.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, s := range c.Subscribers {
		at := fmt.Sprintf("route: subscribers[%d]", i)
		if s.Name != "" {
			at = fmt.Sprintf("route: subscriber %q", s.Name)
		}
		switch {
		case !nameRE.MatchString(s.Name):
			errs = append(errs, fmt.Errorf("%s: name must match %s", at, nameRE))
		case seen[s.Name]:
			errs = append(errs, fmt.Errorf("%s: duplicate name", at))
		}
		seen[s.Name] = true
		if s.Kind != KindApplication && s.Kind != KindSystem {
			errs = append(errs, fmt.Errorf("%s: kind %q unknown (valid: %s, %s)", at, s.Kind, KindApplication, KindSystem))
		}
		if len(s.Roles) == 0 {
			errs = append(errs, fmt.Errorf("%s: roles: at least one role is required", at))
		}
		if s.Purpose == "" || strings.ContainsAny(s.Purpose, " ,\t") {
			errs = append(errs, fmt.Errorf("%s: purpose: exactly one purpose of use code is required", at))
		}
		if len(s.Types) == 0 {
			errs = append(errs, fmt.Errorf("%s: types: at least one record type is required", at))
		}
		switch {
		case s.Format != "" && s.Format != FormatResource && s.Format != FormatBundle:
			errs = append(errs, fmt.Errorf("%s: format %q unknown (valid: %s, %s)", at, s.Format, FormatResource, FormatBundle))
		case s.Format != FormatBundle && s.BundleType != "":
			errs = append(errs, fmt.Errorf("%s: bundle_type is only valid with format %s", at, FormatBundle))
		case s.BundleType == "document":
			errs = append(errs, fmt.Errorf("%s: bundle_type document is not supported: it needs a Composition attested by an author, which the hub is not (valid: %s, %s)", at, BundleCollection, BundleTransaction))
		case s.BundleType != "" && s.BundleType != BundleCollection && s.BundleType != BundleTransaction:
			errs = append(errs, fmt.Errorf("%s: bundle_type %q unknown (valid: %s, %s)", at, s.BundleType, BundleCollection, BundleTransaction))
		}
		if slices.Contains(s.Types, "*") {
			errs = append(errs, fmt.Errorf("%s: types: list record types explicitly (\"*\" is not accepted)", at))
		}
		for _, f := range []struct {
			name string
			list []string
		}{{"roles", s.Roles}, {"types", s.Types}, {"sources", s.Sources}} {
			if slices.Contains(f.list, "") {
				errs = append(errs, fmt.Errorf("%s: %s: empty entry", at, f.name))
			}
		}
	}
	return errors.Join(errs...)
}
