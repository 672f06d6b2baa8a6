# Unit tests of consent provisions, jurisdiction profiles, sensitivity labels
# (42 CFR Part 2 and others), time-boxed break-the-glass, mask, obligations
# and explain. Builders (user, read, opt_out, ...) are in authz_test.rego.
package carecrest.authz_test

import data.carecrest.authz

# rule(decision, depth, conditions) builds one flattened consent rule.
rule(decision, depth, conds) := object.union({"decision": decision, "depth": depth, "path": "provision"}, conds)

directive(id, rules) := {
	"id": id,
	"patient": "p-1",
	"status": "active",
	"decision": rules[0].decision,
	"rules": rules,
	"recorded": "2026-01-01T00:00:00Z",
	"source": "ehr",
}

with_labels(x, labels) := object.union(x, {"labels": labels})


# break_glass_at(inp, started): a break-the-glass declaration on input inp.
break_glass_at(inp, started) := object.union(inp, {"break_glass": {"reason": "unconscious patient", "started": started}})

etreat(roles, record_type) := object.union(read(user(roles, "ETREAT"), record_type), {"break_glass": {"reason": "unconscious patient"}})

# --- nested provisions ----------------------------------------------------------

test_consent_deepest_rule_decides if {
	# Opt-in, except Observations, except for Dr A again.
	c := directive("c-1", [
		rule("permit", 0, {}),
		rule("deny", 1, {"classes": ["Observation"]}),
		rule("permit", 2, {"classes": ["Observation"], "actors": [[{"reference": "Practitioner/dr-a"}]]}),
	])
	obs := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	not obs.allow
	obs.consents == ["c-1"]
	"consent.opt-out" in obs.rules
	dra := object.union(user(["physician"], "TREAT"), {"refs": ["Practitioner/dr-a"]})
	obs_a := authz.decision with input as with_consents(read(dra, "Observation"), [c])
	obs_a.allow
	"consent.permit" in obs_a.rules
	cond := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Condition"), [c])
	cond.allow
	cond.consents == ["c-1"]
	"consent.permit" in cond.rules
}

test_consent_deny_wins_a_tie if {
	c := directive("c-1", [rule("permit", 1, {}), rule("deny", 1, {})])
	d := authz.decision with input as with_consents(read(user(["nurse"], "TREAT"), "Patient"), [c])
	not d.allow
}

test_consent_actor_org_matches_recipient if {
	c := directive("c-1", [rule("permit", 0, {}), rule("deny", 1, {"actors": [[{"role": "PRCP", "reference": "Organization/f001"}]], "actions": ["access", "correct"]})])
	f001 := object.union(user(["physician"], "TREAT"), {"org": "f001"})
	d1 := authz.decision with input as with_consents(read(f001, "Observation"), [c])
	not d1.allow
	other := object.union(user(["physician"], "TREAT"), {"org": "Organization/other"})
	d2 := authz.decision with input as with_consents(read(other, "Observation"), [c])
	d2.allow
	# Routing to f001 is a disclosure giving it access: denied too.
	d3 := authz.decision with input as with_consents(object.union(read(f001, "Observation"), {"action": "route"}), [c])
	not d3.allow
}

test_consent_action_not_named_does_not_match if {
	c := directive("c-1", [rule("deny", 0, {"actions": ["collect"]})])
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	d.allow
	d.consents == []
}

test_consent_recipient_role_alone_matches_anyone if {
	c := directive("c-1", [rule("deny", 0, {"actors": [[{"role": "IRCP"}]]})])
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	not d.allow
	hub_role := directive("c-2", [rule("deny", 0, {"actors": [[{"role": "billing_clerk"}]]})])
	d2 := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [hub_role])
	d2.allow
	d3 := authz.decision with input as with_consents(read(user(["billing_clerk"], "HPAYMT"), "Coverage"), [hub_role])
	not d3.allow
}

test_consent_security_label_condition if {
	c := directive("c-1", [rule("deny", 0, {"security_labels": ["HIV"]})])
	plain := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	plain.allow
	hiv := authz.decision with input as with_labels(with_consents(read(user(["physician"], "TREAT"), "Observation"), [c]), ["HIV"])
	not hiv.allow
	"consent.opt-out" in hiv.rules
}

test_consent_unknown_data_fails_closed if {
	# The withheld record (consent-example-notThis): a deny naming data
	# applies when the input does not say which record it is.
	c := directive("c-1", [rule("permit", 0, {}), rule("deny", 1, {"data": ["Task/example3"]})])
	unknown := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	not unknown.allow
	other := authz.decision with input as object.union(with_consents(read(user(["physician"], "TREAT"), "Observation"), [c]), {"data_refs": ["Observation/o-9"]})
	other.allow
	this := authz.decision with input as object.union(with_consents(read(user(["physician"], "TREAT"), "Observation"), [c]), {"data_refs": ["Observation/o-9", "Task/example3"]})
	not this.allow
}

test_consent_unknown_codes_do_not_permit if {
	# A permit naming codes does not apply to a record of unknown codes.
	c := directive("c-1", [rule("permit", 0, {"codes": ["http://loinc.org|1-8"], "purposes": ["HRESCH"]})])
	unknown := authz.decision with input as with_consents(read(user(["physician"], "HRESCH"), "Observation"), [c])
	not unknown.allow
	"profile.consent-required" in unknown.rules
	known := authz.decision with input as object.union(with_consents(read(user(["physician"], "HRESCH"), "Observation"), [c]), {"codes": ["http://loinc.org|1-8"]})
	known.allow
}

test_consent_data_period if {
	c := directive("c-1", [rule("deny", 0, {"data_end": "2020-01-01T00:00:00Z"})])
	old := authz.decision with input as object.union(with_consents(read(user(["physician"], "TREAT"), "Observation"), [c]), {"data_time": "2019-06-01T00:00:00Z"})
	not old.allow
	recent := authz.decision with input as object.union(with_consents(read(user(["physician"], "TREAT"), "Observation"), [c]), {"data_time": "2021-06-01T00:00:00Z"})
	recent.allow
	unknown := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	not unknown.allow
}

test_consent_nested_period if {
	c := directive("c-1", [rule("deny", 0, {"start": "2026-06-01T00:00:00Z"})])
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	d.allow
	c2 := directive("c-2", [rule("deny", 0, {"start": "2026-01-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"})])
	d2 := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c2])
	not d2.allow
}

test_consent_status_other_than_active_never_applies if {
	every st in ["inactive", "rejected", "entered-in-error", "draft", "proposed"] {
		c := object.union(opt_out("c-1"), {"status": st})
		d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
		d.allow
		d.consents == []
	}
}

test_consent_not_applied_to_governance if {
	d := authz.decision with input as with_consents(audit_query(user(["privacy_officer"], "HOPERAT")), [opt_out("c-1")])
	d.allow
	d.consents == []
}

# --- jurisdiction profiles --------------------------------------------------------

research_permit(id) := directive(id, [rule("permit", 0, {"purposes": ["HRESCH"]})])

test_hipaa_research_needs_explicit_permit if {
	d := authz.decision with input as read(user(["physician"], "HRESCH"), "Observation")
	not d.allow
	"profile.consent-required" in d.rules
	"purpose requires the patient's explicit consent" in d.reasons
	# A general opt-in does not name research.
	general := directive("c-0", [rule("permit", 0, {})])
	d0 := authz.decision with input as with_consents(read(user(["physician"], "HRESCH"), "Observation"), [general])
	not d0.allow
	d1 := authz.decision with input as with_consents(read(user(["physician"], "HRESCH"), "Observation"), [research_permit("c-1")])
	d1.allow
	d1.consents == ["c-1"]
	"consent.permit" in d1.rules
	p := authz.decision with input as with_consents(read(user(["physician"], "HRESCH"), "Patient"), [research_permit("c-1")])
	p.fields == ["birthDate", "gender"]
	"name" in p.mask
}

test_hipaa_tpo_without_consent if {
	every c in [["physician", "TREAT", "Observation"], ["billing_clerk", "HPAYMT", "Claim"], ["registration_clerk", "HOPERAT", "Patient"]] {
		d := authz.decision with input as read(user([c[0]], c[1]), c[2])
		d.allow
		d.consents == []
	}
}

test_gdpr_profile_selected_by_input if {
	inp := object.union(read(user(["physician"], "HRESCH"), "Observation"), {"profile": "gdpr"})
	d := authz.decision with input as inp
	not d.allow
	"profile.consent-required" in d.rules
	d2 := authz.decision with input as with_consents(inp, [research_permit("c-1")])
	d2.allow
}

test_gdpr_withdrawal_ends_consent_based_processing if {
	withdrawn := object.union(research_permit("c-1"), {"status": "inactive"})
	inp := object.union(read(user(["physician"], "HRESCH"), "Observation"), {"profile": "gdpr"})
	d := authz.decision with input as with_consents(inp, [withdrawn])
	not d.allow
	"profile.consent-required" in d.rules
}

test_gdpr_labels_need_explicit_consent if {
	inp := with_labels(object.union(read(user(["physician"], "TREAT"), "Observation"), {"profile": "gdpr"}), ["GDIS"])
	d := authz.decision with input as inp
	not d.allow
	"label.consent-required" in d.rules
	c := directive("c-1", [rule("permit", 0, {"security_labels": ["GDIS"]})])
	d2 := authz.decision with input as with_consents(inp, [c])
	d2.allow
	# Under HIPAA the same read needs no consent.
	d3 := authz.decision with input as with_labels(read(user(["physician"], "TREAT"), "Observation"), ["GDIS"])
	d3.allow
}

test_unknown_profile_denied if {
	d := authz.decision with input as object.union(read(user(["physician"], "TREAT"), "Observation"), {"profile": "mars"})
	not d.allow
	"profile.unknown" in d.rules
}

test_purpose_without_lawful_basis_denied if {
	profiles := {"hipaa": {"purposes": {"HPAYMT": "law"}}}
	d := authz.decision with input as read(user(["physician"], "TREAT"), "Observation")
		with data.carecrest.access.profiles as profiles
	not d.allow
	"profile.no-lawful-basis" in d.rules
}

# --- treatment relationship -------------------------------------------------------

test_clinicians_need_relationship_for_treat if {
	every c in [
		["physician", "Observation"], ["nurse", "Observation"], ["telehealth_clinician", "Observation"],
		["pharmacist", "MedicationRequest"], ["lab_technician", "Observation"], ["radiologist", "ImagingStudy"],
	] {
		d := authz.decision with input as without_relationship(read(user([c[0]], "TREAT"), c[1]))
		not d.allow
		"read.relationship-required" in d.rules
		"care relationship required" in d.reasons
		ok := authz.decision with input as read(user([c[0]], "TREAT"), c[1])
		ok.allow
	}
}

test_break_glass_waives_relationship if {
	d := authz.decision with input as without_relationship(etreat(["physician"], "Observation"))
	d.allow
	"break-glass" in d.rules
}

# --- minimum necessary --------------------------------------------------------------

test_minimum_necessary_by_role if {
	every c in [
		["pharmacist", "TREAT", "MedicationDispense", true],
		["pharmacist", "TREAT", "DiagnosticReport", false],
		["radiologist", "TREAT", "ImagingStudy", true],
		["radiologist", "TREAT", "MedicationRequest", false],
		["scheduler", "HOPERAT", "Appointment", true],
		["scheduler", "HOPERAT", "Observation", false],
		["billing_clerk", "HPAYMT", "DocumentReference", false],
		["billing_clerk", "HPAYMT", "DiagnosticReport", false],
		["registration_clerk", "HOPERAT", "Coverage", true],
		["telehealth_clinician", "TREAT", "DocumentReference", true],
		["telehealth_clinician", "TREAT", "Claim", false],
	] {
		d := authz.decision with input as read(user([c[0]], c[1]), c[2])
		d.allow == c[3]
	}
}

test_mask_lists_catalogued_elements_not_allowed if {
	d := authz.decision with input as read(user(["billing_clerk"], "HPAYMT"), "Patient")
	d.fields == ["address", "birthDate", "identifier", "name"]
	"telecom" in d.mask
	"gender" in d.mask
	not "name" in d.mask
	full := authz.decision with input as read(user(["physician"], "TREAT"), "Patient")
	full.mask == []
	denied := authz.decision with input as read(user(["billing_clerk"], "HPAYMT"), "Observation")
	"valueQuantity" in denied.mask
}

test_hie_public_health if {
	hie := {"id": "hie", "kind": "system", "roles": ["hie_participant"], "purpose": "PUBHLTH"}
	d := authz.decision with input as object.union(read(hie, "Immunization"), {"action": "route"})
	d.allow
	p := authz.decision with input as object.union(read(hie, "Patient"), {"action": "route"})
	not "name" in p.fields
}

# --- 42 CFR Part 2 ------------------------------------------------------------------

part2_permit(id, purposes) := directive(id, [rule("permit", 0, {"security_labels": ["ETH"], "purposes": purposes})])

test_part2_needs_consent if {
	d := authz.decision with input as with_labels(read(user(["physician"], "TREAT"), "Condition"), ["ETH"])
	not d.allow
	"part2.consent-required" in d.rules
	d.obligations == []
}

test_part2_with_consent_carries_notice if {
	d := authz.decision with input as with_consents(with_labels(read(user(["physician"], "TREAT"), "Condition"), ["ETH"]), [part2_permit("c-1", ["TREAT"])])
	d.allow
	"part2.consent" in d.rules
	d.obligations == ["part2-redisclosure-notice"]
	d.consents == ["c-1"]
}

test_part2_consent_must_name_purpose if {
	d := authz.decision with input as with_consents(with_labels(read(user(["billing_clerk"], "HPAYMT"), "Claim"), ["ETH"]), [part2_permit("c-1", ["TREAT"])])
	not d.allow
	"part2.consent-required" in d.rules
	general := directive("c-2", [rule("permit", 0, {"purposes": ["TREAT"]})])
	d2 := authz.decision with input as with_consents(with_labels(read(user(["physician"], "TREAT"), "Condition"), ["ETH"]), [general])
	not d2.allow
}

test_part2_consent_names_recipient if {
	c := directive("c-1", [rule("permit", 0, {"security_labels": ["ETH"], "purposes": ["TREAT"], "actors": [[{"reference": "Organization/clinic-a"}]]})])
	a := authz.decision with input as with_consents(with_labels(read(object.union(user(["physician"], "TREAT"), {"org": "clinic-a"}), "Condition"), ["ETH"]), [c])
	a.allow
	b := authz.decision with input as with_consents(with_labels(read(object.union(user(["physician"], "TREAT"), {"org": "clinic-b"}), "Condition"), ["ETH"]), [c])
	not b.allow
}

test_part2_medical_emergency if {
	d := authz.decision with input as with_labels(etreat(["physician"], "Condition"), ["ETH"])
	d.allow
	"part2.medical-emergency" in d.rules
	"break-glass" in d.rules
	d.obligations == ["break-glass-review", "part2-redisclosure-notice"]
	"42 CFR 2.51 medical emergency disclosure" in d.reasons
}

test_part2_emergency_overrides_part2_opt_out if {
	c := directive("c-1", [rule("deny", 0, {"security_labels": ["ETH"]})])
	d := authz.decision with input as with_consents(with_labels(etreat(["nurse"], "Condition"), ["ETH"]), [c])
	d.allow
	"consent.opt-out-overridden" in d.rules
	d2 := authz.decision with input as with_consents(with_labels(read(user(["nurse"], "TREAT"), "Condition"), ["ETH"]), [c, part2_permit("c-2", ["TREAT"])])
	not d2.allow
}

test_part2_break_glass_by_non_medical_role_denied if {
	data_roles := object.union(data.carecrest.access.part2, {"emergency_roles": ["nurse"]})
	d := authz.decision with input as with_labels(etreat(["physician"], "Condition"), ["ETH"])
		with data.carecrest.access.part2 as data_roles
	not d.allow
	"part2.consent-required" in d.rules
}

test_part2_expired_break_glass_denied if {
	d := authz.decision with input as with_labels(break_glass_at(read(user(["physician"], "ETREAT"), "Condition"), "2026-03-01T07:00:00Z"), ["ETH"])
	not d.allow
	"break-glass.expired" in d.rules
}

# --- other labels ---------------------------------------------------------------------

test_label_roles if {
	every c in [
		["physician", "TREAT", "Observation", "BH", true],
		["lab_technician", "TREAT", "Observation", "BH", false],
		["lab_technician", "TREAT", "Observation", "HIV", true],
		["pharmacist", "TREAT", "Observation", "HIV", false],
		["nurse", "TREAT", "Observation", "GDIS", false],
		["physician", "TREAT", "Observation", "GDIS", true],
		["physician", "TREAT", "Observation", "N", true],
	] {
		d := authz.decision with input as with_labels(read(user([c[0]], c[1]), c[2]), [c[3]])
		d.allow == c[4]
	}
	d := authz.decision with input as with_labels(read(user(["lab_technician"], "TREAT"), "Observation"), ["BH"])
	"label.role-not-permitted" in d.rules
}

test_label_break_glass_override if {
	d := authz.decision with input as with_labels(etreat(["radiologist"], "Observation"), ["BH"])
	d.allow
	"label.break-glass" in d.rules
}

# --- break-the-glass time box ----------------------------------------------------------

test_break_glass_session_within_window if {
	d := authz.decision with input as break_glass_at(read(user(["physician"], "ETREAT"), "Observation"), "2026-03-01T09:00:00Z")
	d.allow
	"break-glass" in d.rules
	"break-glass-review" in d.obligations
}

test_break_glass_session_expired if {
	d := authz.decision with input as break_glass_at(read(user(["physician"], "ETREAT"), "Observation"), "2026-03-01T08:00:00Z")
	not d.allow
	"break-glass.expired" in d.rules
	"break-the-glass session expired; declare again" in d.reasons
}

test_break_glass_window_configurable if {
	inp := break_glass_at(read(user(["physician"], "ETREAT"), "Observation"), "2026-03-01T11:50:00Z")
	d := authz.decision with input as inp with data.carecrest.access.break_glass_window_seconds as 300
	not d.allow
	"break-glass.expired" in d.rules
}

test_break_glass_bad_or_future_start_fails_closed if {
	every s in ["yesterday", "2026-03-01T13:00:00Z"] {
		d := authz.decision with input as break_glass_at(read(user(["physician"], "ETREAT"), "Observation"), s)
		not d.allow
		"break-glass.expired" in d.rules
	}
}

test_break_glass_reason_in_input_break_glass if {
	d := authz.decision with input as object.union(read(user(["nurse"], "ETREAT"), "Patient"), {"break_glass": {"reason": "  "}})
	not d.allow
	"break-glass.reason-required" in d.rules
}

# --- explain ---------------------------------------------------------------------------

test_explain_reports_consents_and_rule_sets if {
	expired := object.union(opt_out("c-old"), {"end": "2026-02-01T00:00:00Z"})
	c := directive("c-1", [rule("permit", 0, {}), rule("deny", 1, {"classes": ["Observation"]})])
	inp := with_consents(read(user(["physician"], "TREAT"), "Observation"), [expired, c])
	x := authz.explain with input as inp
	x.profile == "hipaa"
	x.decision.allow == false
	x.grants == ["read.role-purpose"]
	x.blocks == ["consent.opt-out"]
	x.misses == []
	x.consents == [
		{"id": "c-old", "status": "active", "in_force": false, "effect": "none"},
		{"id": "c-1", "status": "active", "in_force": true, "effect": "deny", "provision": "provision", "depth": 1},
	]
}

test_explain_misses_when_nothing_granted if {
	x := authz.explain with input as read(user(["janitor"], "TREAT"), "Observation")
	x.misses == ["read.role-unknown"]
	x.consents == []
}
