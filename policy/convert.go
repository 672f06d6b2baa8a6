package policy

import (
	"fmt"
	"time"

	"github.com/carecrest/hub/consent"
	"github.com/open-policy-agent/opa/v1/ast"
)

// Object keys of the policy input and decision. Terms are immutable once
// built, so one copy is shared by every evaluation (as OPA's interned terms
// are).
var (
	kAction       = ast.StringTerm("action")
	kSubject      = ast.StringTerm("subject")
	kPatient      = ast.StringTerm("patient")
	kRecordType   = ast.StringTerm("record_type")
	kLabels       = ast.StringTerm("labels")
	kConsents     = ast.StringTerm("consents")
	kRelationship = ast.StringTerm("relationship")
	kNow          = ast.StringTerm("now")

	kID         = ast.StringTerm("id")
	kKind       = ast.StringTerm("kind")
	kRoles      = ast.StringTerm("roles")
	kOrg        = ast.StringTerm("org")
	kPurpose    = ast.StringTerm("purpose")
	kBreakGlass = ast.StringTerm("break_glass_reason")

	kStatus   = ast.StringTerm("status")
	kDecision = ast.StringTerm("decision")
	kPurposes = ast.StringTerm("purposes")
	kStart    = ast.StringTerm("start")
	kEnd      = ast.StringTerm("end")
	kRecorded = ast.StringTerm("recorded")
	kSource   = ast.StringTerm("source")

	kAllow       = ast.StringTerm("allow")
	kFields      = ast.StringTerm("fields")
	kRules       = ast.StringTerm("rules")
	kReasons     = ast.StringTerm("reasons")
	kMask        = ast.StringTerm("mask")
	kObligations = ast.StringTerm("obligations")

	kRefs          = ast.StringTerm("refs")
	kBreakGlassObj = ast.StringTerm("break_glass")
	kReason        = ast.StringTerm("reason")
	kStarted       = ast.StringTerm("started")
	kProfile       = ast.StringTerm("profile")
	kCodes         = ast.StringTerm("codes")
	kDataRefs      = ast.StringTerm("data_refs")
	kDataTime      = ast.StringTerm("data_time")

	kPath           = ast.StringTerm("path")
	kDepth          = ast.StringTerm("depth")
	kActors         = ast.StringTerm("actors")
	kRole           = ast.StringTerm("role")
	kReference      = ast.StringTerm("reference")
	kActions        = ast.StringTerm("actions")
	kSecurityLabels = ast.StringTerm("security_labels")
	kClasses        = ast.StringTerm("classes")
	kData           = ast.StringTerm("data")
	kDataStart      = ast.StringTerm("data_start")
	kDataEnd        = ast.StringTerm("data_end")
)

// inputValue builds the policy input for in directly as an AST object, with
// the same shape json.Marshal(in) has (JSON field names, omitempty and
// omitzero honoured, nil slices as null, times as RFC 3339 with
// nanoseconds), without the cost of encoding and decoding JSON.
func inputValue(in *Input) ast.Value {
	s := &in.Subject
	subject := ast.NewObjectWithCapacity(6)
	subject.Insert(kID, ast.StringTerm(s.ID))
	subject.Insert(kKind, ast.StringTerm(s.Kind))
	subject.Insert(kRoles, stringsTerm(s.Roles))
	if s.Org != "" {
		subject.Insert(kOrg, ast.StringTerm(s.Org))
	}
	subject.Insert(kPurpose, ast.StringTerm(s.Purpose))
	if s.BreakGlassReason != "" {
		subject.Insert(kBreakGlass, ast.StringTerm(s.BreakGlassReason))
	}
	if len(s.Refs) > 0 {
		subject.Insert(kRefs, stringsTerm(s.Refs))
	}

	obj := ast.NewObjectWithCapacity(8)
	obj.Insert(kAction, ast.StringTerm(in.Action))
	obj.Insert(kSubject, ast.NewTerm(subject))
	if in.PatientID != "" {
		obj.Insert(kPatient, ast.StringTerm(in.PatientID))
	}
	obj.Insert(kRecordType, ast.StringTerm(in.RecordType))
	if len(in.Labels) > 0 {
		obj.Insert(kLabels, stringsTerm(in.Labels))
	}
	if len(in.Consents) > 0 {
		cs := make([]*ast.Term, len(in.Consents))
		for i := range in.Consents {
			cs[i] = ast.NewTerm(directiveValue(&in.Consents[i]))
		}
		obj.Insert(kConsents, ast.ArrayTerm(cs...))
	}
	obj.Insert(kRelationship, ast.InternedTerm(in.Relationship))
	obj.Insert(kNow, timeTerm(in.Now))
	if bg := in.BreakGlass; bg != nil {
		o := ast.NewObjectWithCapacity(2)
		o.Insert(kReason, ast.StringTerm(bg.Reason))
		if !bg.Started.IsZero() {
			o.Insert(kStarted, timeTerm(bg.Started))
		}
		obj.Insert(kBreakGlassObj, ast.NewTerm(o))
	}
	if in.Profile != "" {
		obj.Insert(kProfile, ast.StringTerm(in.Profile))
	}
	if in.Codes != nil {
		obj.Insert(kCodes, stringsTerm(in.Codes))
	}
	if in.DataRefs != nil {
		obj.Insert(kDataRefs, stringsTerm(in.DataRefs))
	}
	if !in.DataTime.IsZero() {
		obj.Insert(kDataTime, timeTerm(in.DataTime))
	}
	return obj
}

func directiveValue(d *consent.Directive) ast.Object {
	o := ast.NewObjectWithCapacity(9)
	o.Insert(kID, ast.StringTerm(d.ID))
	o.Insert(kPatient, ast.StringTerm(d.PatientID))
	o.Insert(kStatus, ast.StringTerm(d.Status))
	o.Insert(kDecision, ast.StringTerm(d.Decision))
	if len(d.Purposes) > 0 {
		o.Insert(kPurposes, stringsTerm(d.Purposes))
	}
	if !d.Start.IsZero() {
		o.Insert(kStart, timeTerm(d.Start))
	}
	if !d.End.IsZero() {
		o.Insert(kEnd, timeTerm(d.End))
	}
	o.Insert(kRecorded, timeTerm(d.Recorded))
	o.Insert(kSource, ast.StringTerm(d.Source))
	if len(d.Rules) > 0 {
		rs := make([]*ast.Term, len(d.Rules))
		for i := range d.Rules {
			rs[i] = ast.NewTerm(ruleValue(&d.Rules[i]))
		}
		o.Insert(kRules, ast.ArrayTerm(rs...))
	}
	return o
}

// ruleValue is a consent.Rule as json.Marshal would give it.
func ruleValue(r *consent.Rule) ast.Object {
	o := ast.NewObjectWithCapacity(8)
	o.Insert(kPath, ast.StringTerm(r.Path))
	o.Insert(kDepth, ast.IntNumberTerm(r.Depth))
	o.Insert(kDecision, ast.StringTerm(r.Decision))
	if len(r.Actors) > 0 {
		groups := make([]*ast.Term, len(r.Actors))
		for i, g := range r.Actors {
			as := make([]*ast.Term, len(g))
			for j, a := range g {
				ao := ast.NewObjectWithCapacity(2)
				if a.Role != "" {
					ao.Insert(kRole, ast.StringTerm(a.Role))
				}
				if a.Reference != "" {
					ao.Insert(kReference, ast.StringTerm(a.Reference))
				}
				as[j] = ast.NewTerm(ao)
			}
			groups[i] = ast.ArrayTerm(as...)
		}
		o.Insert(kActors, ast.ArrayTerm(groups...))
	}
	for _, l := range []struct {
		k  *ast.Term
		vs []string
	}{
		{kActions, r.Actions}, {kSecurityLabels, r.SecurityLabels}, {kPurposes, r.Purposes},
		{kClasses, r.Classes}, {kCodes, r.Codes}, {kData, r.Data},
	} {
		if len(l.vs) > 0 {
			o.Insert(l.k, stringsTerm(l.vs))
		}
	}
	for _, t := range []struct {
		k *ast.Term
		v time.Time
	}{{kStart, r.Start}, {kEnd, r.End}, {kDataStart, r.DataStart}, {kDataEnd, r.DataEnd}} {
		if !t.v.IsZero() {
			o.Insert(t.k, timeTerm(t.v))
		}
	}
	return o
}

func stringsTerm(ss []string) *ast.Term {
	if ss == nil {
		return ast.NullTerm()
	}
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(ts...)
}

func timeTerm(t time.Time) *ast.Term {
	return ast.StringTerm(t.Format(time.RFC3339Nano))
}

// decisionFromTerm reads the policy's decision object strictly: allow must be
// a boolean; fields, rules, reasons and consents, when present, arrays of
// strings. A deny never carries fields.
func decisionFromTerm(t *ast.Term) (Decision, error) {
	if t == nil {
		return Decision{}, fmt.Errorf("%w: no value", errMalformed)
	}
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return Decision{}, fmt.Errorf("%w: decision is %s, want object", errMalformed, ast.ValueName(t.Value))
	}
	at := obj.Get(kAllow)
	if at == nil {
		return Decision{}, fmt.Errorf("%w: allow missing", errMalformed)
	}
	allow, ok := at.Value.(ast.Boolean)
	if !ok {
		return Decision{}, fmt.Errorf("%w: allow is %s, want boolean", errMalformed, ast.ValueName(at.Value))
	}
	var d Decision
	d.Allow = bool(allow)
	var err error
	if d.Fields, err = stringList(obj, kFields); err != nil {
		return Decision{}, err
	}
	if d.Rules, err = stringList(obj, kRules); err != nil {
		return Decision{}, err
	}
	if d.Reasons, err = stringList(obj, kReasons); err != nil {
		return Decision{}, err
	}
	if d.Consents, err = stringList(obj, kConsents); err != nil {
		return Decision{}, err
	}
	if d.Mask, err = stringList(obj, kMask); err != nil {
		return Decision{}, err
	}
	if d.Obligations, err = stringList(obj, kObligations); err != nil {
		return Decision{}, err
	}
	if !d.Allow {
		d.Fields = nil
	}
	return d, nil
}

// stringList returns obj[key] as strings: nil when absent, an error when it
// is not an array of strings.
func stringList(obj ast.Object, key *ast.Term) ([]string, error) {
	v := obj.Get(key)
	if v == nil {
		return nil, nil
	}
	arr, ok := v.Value.(*ast.Array)
	if !ok {
		return nil, fmt.Errorf("%w: %s is %s, want array", errMalformed, key.Value, ast.ValueName(v.Value))
	}
	if arr.Len() == 0 {
		return nil, nil
	}
	out := make([]string, arr.Len())
	for i := range out {
		s, ok := arr.Elem(i).Value.(ast.String)
		if !ok {
			return nil, fmt.Errorf("%w: %s[%d] is %s, want string", errMalformed, key.Value, i, ast.ValueName(arr.Elem(i).Value))
		}
		out[i] = string(s)
	}
	return out, nil
}
