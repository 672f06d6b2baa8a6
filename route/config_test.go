package route_test

import (
	"strings"
	"testing"

	"github.com/carecrest/hub/route"
	"gopkg.in/yaml.v3"
)

func TestConfigValidate(t *testing.T) {
	ok := route.Subscriber{Name: "hie", Kind: "system", Roles: []string{"hie_participant"}, Purpose: "TREAT", Types: []string{"Patient"}}
	with := func(f func(*route.Subscriber)) route.Subscriber { s := ok; f(&s); return s }
	tests := []struct {
		name string
		subs []route.Subscriber
		want string // substring of the error; "" means valid
	}{
		{"empty", nil, ""},
		{"valid", []route.Subscriber{ok}, ""},
		{"duplicate", []route.Subscriber{ok, ok}, "duplicate name"},
		{"upper-case name", []route.Subscriber{with(func(s *route.Subscriber) { s.Name = "HIE" })}, "name must match"},
		{"dotted name", []route.Subscriber{with(func(s *route.Subscriber) { s.Name = "hie.out" })}, "name must match"},
		{"long name", []route.Subscriber{with(func(s *route.Subscriber) { s.Name = "a" + strings.Repeat("b", 32) })}, "name must match"},
		{"user kind", []route.Subscriber{with(func(s *route.Subscriber) { s.Kind = "user" })}, "kind \"user\" unknown"},
		{"no roles", []route.Subscriber{with(func(s *route.Subscriber) { s.Roles = nil })}, "roles"},
		{"no purpose", []route.Subscriber{with(func(s *route.Subscriber) { s.Purpose = "" })}, "purpose"},
		{"two purposes", []route.Subscriber{with(func(s *route.Subscriber) { s.Purpose = "TREAT,HPAYMT" })}, "purpose"},
		{"no types", []route.Subscriber{with(func(s *route.Subscriber) { s.Types = nil })}, "types"},
		{"wildcard type", []route.Subscriber{with(func(s *route.Subscriber) { s.Types = []string{"*"} })}, "explicitly"},
		{"empty source", []route.Subscriber{with(func(s *route.Subscriber) { s.Sources = []string{""} })}, "sources: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := route.Config{Subscribers: tt.subs}
			c.Defaults()
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
subscribers:
  - name: billing
    kind: system
    roles: [billing_system]
    org: carecrest-rcm
    purpose: HPAYMT
    types: [Patient, Coverage, Claim]
    sources: [ehr, registration, billing]
`
	var c route.Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := c.Subscribers[0]
	if s.Topic() != "hub.out.billing" || s.Org != "carecrest-rcm" || len(s.Types) != 3 || len(s.Sources) != 3 {
		t.Errorf("decoded %+v", s)
	}
}
