# Unit tests of package carecrest.authz, run by `go test ./rego/` (and by
# `opa test rego/` where the CLI is installed). Each test states one rule, the
# allow and the deny side.
package carecrest.authz_test

import data.carecrest.authz

now := "2026-03-01T12:00:00Z"

# --- input builders ----------------------------------------------------------

user(roles, purpose) := {"id": "u-1", "kind": "user", "roles": roles, "purpose": purpose}

# read: a read with a care relationship (the relationship rule has its own
# tests, with without_relationship).
read(subject, record_type) := {
	"action": "read",
	"subject": subject,
	"patient": "p-1",
	"record_type": record_type,
	"relationship": true,
	"now": now,
}

without_relationship(x) := object.union(x, {"relationship": false})

write(source, record_type) := {
	"action": "write",
	"subject": {"id": source, "kind": "system", "roles": ["source-system"]},
	"patient": "p-1",
	"record_type": record_type,
	"now": now,
}

with_consents(x, consents) := object.union(x, {"consents": consents})

opt_out(id) := {
	"id": id,
	"patient": "p-1",
	"status": "active",
	"decision": "deny",
	"start": "2026-01-01T00:00:00Z",
	"recorded": "2026-01-01T00:00:00Z",
	"source": "ehr",
}

break_glass(roles) := object.union(user(roles, "ETREAT"), {"break_glass_reason": "unconscious patient in ED"})

# --- decision shape ----------------------------------------------------------

test_decision_has_every_key_on_empty_input if {
	d := authz.decision with input as {}
	d.allow == false
	d.fields == []
	is_array(d.rules)
	is_array(d.reasons)
	d.consents == []
	"action.unknown" in d.rules
}

test_unknown_action_denied if {
	d := authz.decision with input as object.union(read(user(["physician"], "TREAT"), "Observation"), {"action": "delete"})
	not d.allow
	"action.unknown" in d.rules
}

# --- write -------------------------------------------------------------------

test_write_lis_observation_allowed if {
	d := authz.decision with input as write("lis", "Observation")
	d.allow
	d.fields == ["*"]
	d.rules == ["write.source-allowed"]
}

test_write_lis_patient_denied if {
	d := authz.decision with input as write("lis", "Patient")
	not d.allow
	d.fields == []
	"write.type-not-permitted" in d.rules
	"record type not permitted for source system" in d.reasons
}

test_write_every_listed_source_type_allowed if {
	every source, def in data.carecrest.access.sources {
		every t in def.types {
			allowed_write(source, t)
		}
	}
}

allowed_write(_, "*")

allowed_write(source, t) if {
	t != "*"
	d := authz.decision with input as write(source, t)
	d.allow
}

# Orders come from the EHR too, and clinical systems' messages routinely
# carry the patient's insurance (IN1 segments → Coverage).
test_write_source_lists if {
	allowed_types("ehr") == {
		"Patient", "Encounter", "Observation", "Condition", "AllergyIntolerance", "MedicationRequest",
		"Consent", "DocumentReference", "Procedure", "Coverage", "RelatedPerson", "Appointment", "ServiceRequest",
	}
	allowed_types("lis") == {"Observation", "DiagnosticReport", "Specimen", "ServiceRequest", "Coverage"}
	allowed_types("registration") == {"Patient", "Encounter", "Coverage", "RelatedPerson"}
	allowed_types("ris") == {"ImagingStudy", "ServiceRequest", "DiagnosticReport", "Observation", "Coverage"}
	allowed_types("pharmacy") == {"MedicationRequest", "MedicationDispense", "Coverage"}
	allowed_types("scheduling") == {"Appointment", "Coverage"}
	allowed_types("billing") == {"ChargeItem", "Claim", "Coverage", "ExplanationOfBenefit"}
	allowed_types("telemedicine") == {"Encounter", "Observation", "Appointment", "DocumentReference"}
	allowed_types("hie") == {t | some t, _ in data.carecrest.access.record_types}
}

allowed_types(source) := {t |
	some t, _ in data.carecrest.access.record_types
	d := authz.decision with input as write(source, t)
	d.allow
}

test_write_hie_consent_allowed_unknown_type_denied if {
	d1 := authz.decision with input as write("hie", "Consent")
	d1.allow
	d2 := authz.decision with input as write("hie", "Practitioner")
	not d2.allow
	"write.type-not-permitted" in d2.rules
}

test_write_unknown_source_denied if {
	d := authz.decision with input as write("mystery", "Observation")
	not d.allow
	"write.source-unknown" in d.rules
}

test_write_by_user_denied if {
	inp := object.union(write("lis", "Observation"), {"subject": {"id": "lis", "kind": "user", "roles": ["physician"]}})
	d := authz.decision with input as inp
	not d.allow
	"write.subject-kind" in d.rules
}

test_write_without_subject_denied if {
	d := authz.decision with input as {"action": "write", "record_type": "Observation"}
	not d.allow
	"write.subject-kind" in d.rules
}

test_write_not_blocked_by_consent if {
	d := authz.decision with input as with_consents(write("ehr", "Observation"), [opt_out("c-1")])
	d.allow
	d.consents == []
	not "consent.opt-out" in d.rules
}

# --- read: role x purpose x record type -> fields ----------------------------

test_physician_treat_observation_all_fields if {
	d := authz.decision with input as read(user(["physician"], "TREAT"), "Observation")
	d.allow
	d.fields == ["*"]
	d.rules == ["read.role-purpose"]
	d.consents == []
}

test_nurse_treat_clinical_and_patient if {
	every t in ["Patient", "Observation", "Condition", "MedicationRequest", "Encounter"] {
		d := authz.decision with input as read(user(["nurse"], "TREAT"), t)
		d.allow
		d.fields == ["*"]
	}
}

test_physician_treat_no_financial if {
	d := authz.decision with input as read(user(["physician"], "TREAT"), "Claim")
	not d.allow
	"read.type-not-permitted" in d.rules
}

test_route_follows_read_rules if {
	d1 := authz.decision with input as object.union(read(user(["physician"], "TREAT"), "Observation"), {"action": "route"})
	d1.allow
	d2 := authz.decision with input as object.union(read(user(["billing_clerk"], "HPAYMT"), "Observation"), {"action": "route"})
	not d2.allow
}

test_lab_technician_masked_patient_full_observation if {
	p := authz.decision with input as read(user(["lab_technician"], "TREAT"), "Patient")
	p.allow
	p.fields == ["birthDate", "gender", "identifier", "name"]
	o := authz.decision with input as read(user(["lab_technician"], "TREAT"), "Observation")
	o.allow
	o.fields == ["*"]
	c := authz.decision with input as read(user(["lab_technician"], "TREAT"), "Condition")
	not c.allow
}

test_registration_clerk_patient_only if {
	p := authz.decision with input as read(user(["registration_clerk"], "HOPERAT"), "Patient")
	p.allow
	p.fields == ["address", "birthDate", "contact", "gender", "identifier", "maritalStatus", "name", "telecom"]
	o := authz.decision with input as read(user(["registration_clerk"], "HOPERAT"), "Observation")
	not o.allow
	"read.type-not-permitted" in o.rules
}

test_billing_clerk_masked_patient_financial_no_clinical if {
	p := authz.decision with input as read(user(["billing_clerk"], "HPAYMT"), "Patient")
	p.allow
	p.fields == ["address", "birthDate", "identifier", "name"]
	every t in ["Coverage", "ChargeItem", "Claim", "ExplanationOfBenefit"] {
		f := authz.decision with input as read(user(["billing_clerk"], "HPAYMT"), t)
		f.allow
		f.fields == ["*"]
	}
	o := authz.decision with input as read(user(["billing_clerk"], "HPAYMT"), "Observation")
	not o.allow
	o.fields == []
	"read.type-not-permitted" in o.rules
	"record type not permitted for role and purpose" in o.reasons
}

test_billing_clerk_treat_not_permitted if {
	d := authz.decision with input as read(user(["billing_clerk"], "TREAT"), "Patient")
	not d.allow
	"read.purpose-not-permitted" in d.rules
}

test_privacy_officer_no_clinical_reads if {
	every p in ["TREAT", "HOPERAT", "HPAYMT"] {
		d := authz.decision with input as read(user(["privacy_officer"], p), "Observation")
		not d.allow
		"read.purpose-not-permitted" in d.rules
	}
}

test_unknown_role_denied if {
	d := authz.decision with input as read(user(["janitor"], "TREAT"), "Observation")
	not d.allow
	"read.role-unknown" in d.rules
	"subject holds no known role" in d.reasons
}

test_no_roles_denied if {
	d := authz.decision with input as read({"id": "u-1", "kind": "user", "purpose": "TREAT"}, "Observation")
	not d.allow
	"read.role-unknown" in d.rules
}

test_unknown_purpose_denied if {
	d := authz.decision with input as read(user(["physician"], "MARKETING"), "Observation")
	not d.allow
	"read.purpose-unknown" in d.rules
}

test_known_purpose_no_role_grants_it if {
	every p in ["PUBHLTH", "PATRQT"] {
		d := authz.decision with input as read(user(["physician"], p), "Observation")
		not d.allow
		"read.purpose-not-permitted" in d.rules
	}
}

test_unknown_record_type_denied if {
	d := authz.decision with input as read(user(["physician"], "TREAT"), "Spaceship")
	not d.allow
	"read.type-unknown" in d.rules
}

test_role_bound_to_subject_kind if {
	sys := object.union(user(["physician"], "TREAT"), {"kind": "system"})
	d := authz.decision with input as read(sys, "Observation")
	not d.allow
	"read.role-kind" in d.rules
}

test_unknown_role_beside_known_role_still_allows if {
	d := authz.decision with input as read(user(["janitor", "nurse"], "TREAT"), "Observation")
	d.allow
	d.rules == ["read.role-purpose"]
}

test_roles_union_fields if {
	d := authz.decision with input as read(user(["lab_technician", "registration_clerk"], "TREAT"), "Patient")
	d.allow
	d.fields == ["birthDate", "gender", "identifier", "name"]
}

test_application_needs_relationship if {
	app := {"id": "carecrest-app", "kind": "application", "roles": ["application"], "purpose": "PATRQT"}
	d1 := authz.decision with input as without_relationship(read(app, "Observation"))
	not d1.allow
	"read.relationship-required" in d1.rules
	d2 := authz.decision with input as object.union(read(app, "Observation"), {"relationship": true})
	d2.allow
	d2.fields == ["*"]
}

test_application_role_not_for_users if {
	d := authz.decision with input as object.union(read(user(["application"], "PATRQT"), "Observation"), {"relationship": true})
	not d.allow
	"read.role-kind" in d.rules
}

test_field_type_entry_overrides_class if {
	roles := {"r": {"kinds": ["user"], "purposes": {"TREAT": {
		"types": {"Observation": []},
		"classes": {"clinical": ["*"]},
	}}}}
	o := authz.decision with input as read(user(["r"], "TREAT"), "Observation")
		with data.carecrest.access.roles as roles
	not o.allow
	"read.type-not-permitted" in o.rules
	c := authz.decision with input as read(user(["r"], "TREAT"), "Condition")
		with data.carecrest.access.roles as roles
	c.allow
}

# --- consent -----------------------------------------------------------------

test_opt_out_blocks_read if {
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [opt_out("c-1")])
	not d.allow
	d.fields == []
	d.consents == ["c-1"]
	"consent.opt-out" in d.rules
	"patient opted out for this purpose" in d.reasons
}

test_opt_out_blocks_route if {
	inp := object.union(read(user(["physician"], "TREAT"), "Observation"), {"action": "route"})
	d := authz.decision with input as with_consents(inp, [opt_out("c-1")])
	not d.allow
	"consent.opt-out" in d.rules
}

test_opt_out_for_other_purpose_does_not_apply if {
	c := object.union(opt_out("c-1"), {"purposes": ["HRESCH"]})
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	d.allow
	d.consents == []
}

test_opt_out_for_this_purpose_applies if {
	c := object.union(opt_out("c-1"), {"purposes": ["HRESCH", "TREAT"]})
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	not d.allow
	d.consents == ["c-1"]
}

test_expired_opt_out_does_not_apply if {
	c := object.union(opt_out("c-1"), {"end": "2026-02-01T00:00:00Z"})
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	d.allow
	d.consents == []
	not "consent.opt-out" in d.rules
}

test_opt_out_ends_exactly_now_does_not_apply if {
	c := object.union(opt_out("c-1"), {"end": now})
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	d.allow
}

test_future_opt_out_does_not_apply_yet if {
	c := object.union(opt_out("c-1"), {"start": "2026-06-01T00:00:00Z"})
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	d.allow
}

test_zero_time_bounds_mean_unbounded if {
	c := object.union(opt_out("c-1"), {"start": "0001-01-01T00:00:00Z", "end": "0001-01-01T00:00:00Z"})
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	not d.allow
	d.consents == ["c-1"]
}

test_unparseable_period_fails_closed if {
	c := object.union(opt_out("c-1"), {"end": "next tuesday"})
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	not d.allow
}

test_missing_now_uses_clock if {
	inp := object.remove(read(user(["physician"], "TREAT"), "Observation"), ["now"])
	expired := object.union(opt_out("c-1"), {"start": "2000-01-01T00:00:00Z", "end": "2000-02-01T00:00:00Z"})
	d1 := authz.decision with input as with_consents(inp, [expired])
	d1.allow
	d2 := authz.decision with input as with_consents(inp, [opt_out("c-2")])
	not d2.allow
}

test_inactive_or_permit_directives_do_not_block if {
	inactive := object.union(opt_out("c-1"), {"status": "inactive"})
	permit := object.union(opt_out("c-2"), {"decision": "permit"})
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [inactive, permit])
	d.allow
	d.consents == ["c-2"] # the permit applied, as explicit consent
	"consent.permit" in d.rules
	not "consent.opt-out" in d.rules
}

test_opt_out_without_id_still_blocks if {
	c := object.remove(opt_out("c-1"), ["id"])
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [c])
	not d.allow
}

test_several_opt_outs_all_reported if {
	d := authz.decision with input as with_consents(read(user(["nurse"], "TREAT"), "Patient"), [opt_out("c-2"), opt_out("c-1")])
	not d.allow
	d.consents == ["c-1", "c-2"]
}

# --- break-the-glass ---------------------------------------------------------

test_break_glass_overrides_opt_out if {
	d := authz.decision with input as with_consents(read(break_glass(["physician"]), "Observation"), [opt_out("c-1")])
	d.allow
	d.fields == ["*"]
	d.consents == ["c-1"]
	"break-glass" in d.rules
	"consent.opt-out" in d.rules
	"read.role-purpose" in d.rules
	"patient opt-out overridden by break-the-glass" in d.reasons
}

test_break_glass_nurse_allowed_as_treat if {
	d := authz.decision with input as read(break_glass(["nurse"]), "Patient")
	d.allow
	d.fields == ["*"]
	d.rules == ["break-glass", "read.role-purpose"]
}

test_break_glass_needs_reason if {
	d := authz.decision with input as with_consents(read(user(["physician"], "ETREAT"), "Observation"), [opt_out("c-1")])
	not d.allow
	"break-glass.reason-required" in d.rules
	"consent.opt-out" in d.rules
	not "break-glass" in d.rules
}

test_break_glass_blank_reason_is_no_reason if {
	s := object.union(user(["physician"], "ETREAT"), {"break_glass_reason": "   "})
	d := authz.decision with input as read(s, "Observation")
	not d.allow
	"break-glass.reason-required" in d.rules
}

test_break_glass_not_for_other_roles if {
	d := authz.decision with input as with_consents(read(break_glass(["lab_technician"]), "Observation"), [opt_out("c-1")])
	not d.allow
	"break-glass.not-permitted" in d.rules
	not "break-glass" in d.rules
}

test_break_glass_only_with_etreat if {
	s := object.union(user(["physician"], "TREAT"), {"break_glass_reason": "urgent"})
	d := authz.decision with input as with_consents(read(s, "Observation"), [opt_out("c-1")])
	not d.allow
	not "break-glass" in d.rules
}

test_break_glass_keeps_field_limits if {
	d := authz.decision with input as read(break_glass(["physician"]), "Claim")
	not d.allow
	"read.type-not-permitted" in d.rules
}

# --- data consistency: every name the tables use is defined ------------------

test_data_source_types_are_catalogued if {
	every _, s in data.carecrest.access.sources {
		every t in s.types {
			known_type_or_star(t)
		}
	}
}

known_type_or_star("*")

known_type_or_star(t) if data.carecrest.access.record_types[t]

test_data_role_grants_are_catalogued if {
	every _, role in data.carecrest.access.roles {
		every p, g in role.purposes {
			data.carecrest.access.purposes[p]
			every t, _ in object.get(g, "types", {}) {
				data.carecrest.access.record_types[t]
			}
			every c, _ in object.get(g, "classes", {}) {
				some _, def in data.carecrest.access.record_types
				def.class == c
			}
		}
	}
}

test_data_break_glass_purposes_resolve if {
	every _, def in data.carecrest.access.purposes {
		bg_resolves(def)
	}
	every _, role in data.carecrest.access.roles {
		role_bg_ok(role)
	}
}

bg_resolves(def) if not def.break_glass

bg_resolves(def) if {
	def.break_glass == true
	data.carecrest.access.purposes[def.grants_as]
	not data.carecrest.access.purposes[def.grants_as].break_glass
}

test_data_no_role_lists_a_break_glass_purpose if {
	every _, role in data.carecrest.access.roles {
		every p, _ in role.purposes {
			not data.carecrest.access.purposes[p].break_glass
		}
	}
}

test_data_every_rule_has_a_reason if {
	# Decisions covering every rule id; each reported rule has its own text.
	inputs := [
		{},
		write("lis", "Observation"), write("lis", "Patient"), write("nope", "Patient"),
		object.union(write("lis", "Patient"), {"subject": {"kind": "user"}}),
		read(user(["physician"], "TREAT"), "Observation"),
		audit_query(user(["privacy_officer"], "HOPERAT")), audit_query(user(["nurse"], "TREAT")),
		read(user(["physician"], "NOPE"), "Observation"),
		read(user(["nope"], "TREAT"), "Observation"),
		read(object.union(user(["physician"], "TREAT"), {"kind": "system"}), "Observation"),
		read(user(["billing_clerk"], "TREAT"), "Observation"),
		read(user(["billing_clerk"], "HPAYMT"), "Observation"),
		read(user(["physician"], "TREAT"), "Nope"),
		without_relationship(read({"id": "a", "kind": "application", "roles": ["application"], "purpose": "PATRQT"}, "Observation")),
		read(user(["lab_technician"], "ETREAT"), "Observation"),
		read(user(["physician"], "ETREAT"), "Observation"),
		with_consents(read(break_glass(["physician"]), "Observation"), [opt_out("c-1")]),
		with_consents(read(user(["physician"], "TREAT"), "Observation"), [opt_out("c-1")]),
		with_consents(read(user(["physician"], "TREAT"), "Observation"), [object.union(opt_out("c-2"), {"decision": "permit"})]),
		object.union(read(break_glass(["physician"]), "Observation"), {"break_glass": {"reason": "x", "started": "2026-03-01T01:00:00Z"}}),
		object.union(read(user(["physician"], "TREAT"), "Observation"), {"profile": "nope"}),
		read(user(["physician"], "HRESCH"), "Observation"),
		object.union(read(user(["physician"], "TREAT"), "Observation"), {"labels": ["ETH"]}),
		with_consents(object.union(read(user(["physician"], "TREAT"), "Observation"), {"labels": ["ETH"]}), [{
			"id": "c-3", "status": "active", "decision": "permit",
			"rules": [{"decision": "permit", "depth": 0, "security_labels": ["ETH"], "purposes": ["TREAT"]}],
		}]),
		object.union(read(break_glass(["physician"]), "Observation"), {"labels": ["ETH", "BH"]}),
		object.union(read(break_glass(["radiologist"]), "Observation"), {"labels": ["BH"]}),
		object.union(read(user(["lab_technician"], "TREAT"), "Observation"), {"labels": ["BH"]}),
		object.union(read(user(["physician"], "TREAT"), "Observation"), {"labels": ["GDIS"], "profile": "gdpr"}),
	]
	no_basis := authz.decision with input as read(user(["physician"], "TREAT"), "Observation")
		with data.carecrest.access.profiles as {"hipaa": {"purposes": {}}}
	seen := {r |
		some inp in inputs
		d := authz.decision with input as inp
		some r in d.rules
	} | {r | some r in no_basis.rules}
	every r in seen {
		authz.reason[r]
	}
	count(seen) == count(authz.reason)
}

role_bg_ok(role) if not role.break_glass

role_bg_ok(role) if {
	role.break_glass == true
	some _, def in data.carecrest.access.purposes
	def.break_glass == true
	role.purposes[def.grants_as]
}

test_zero_now_uses_clock if {
	inp := object.union(read(user(["physician"], "TREAT"), "Observation"), {"now": "0001-01-01T00:00:00Z"})
	expired := object.union(opt_out("c-1"), {"start": "2000-01-01T00:00:00Z", "end": "2000-02-01T00:00:00Z"})
	d := authz.decision with input as with_consents(inp, [expired])
	d.allow
}

test_unparseable_now_fails_closed if {
	inp := object.union(read(user(["physician"], "TREAT"), "Observation"), {"now": "yesterday"})
	expired := object.union(opt_out("c-1"), {"end": "2000-02-01T00:00:00Z"})
	d := authz.decision with input as with_consents(inp, [expired])
	not d.allow
	d.consents == ["c-1"]
}

test_null_roles_denied if {
	s := {"id": "u-1", "kind": "user", "roles": null, "purpose": "TREAT"}
	d := authz.decision with input as read(s, "Observation")
	not d.allow
	"read.role-unknown" in d.rules
}

test_write_without_record_type_denied_with_reason if {
	d := authz.decision with input as object.remove(write("lis", "Observation"), ["record_type"])
	not d.allow
	"write.type-not-permitted" in d.rules
}

# --- the fast path -----------------------------------------------------------

test_fast_path_equals_full_decision if {
	subjects := [
		user(["physician"], "TREAT"), user(["nurse"], "TREAT"), user(["lab_technician"], "TREAT"),
		user(["registration_clerk"], "HOPERAT"), user(["billing_clerk"], "HPAYMT"),
		user(["privacy_officer"], "HOPERAT"), user(["physician", "billing_clerk"], "HPAYMT"),
		user(["janitor"], "TREAT"), user(["physician"], "ETREAT"), break_glass(["nurse"]),
		break_glass(["physician"]), break_glass(["billing_clerk"]), break_glass(["physician", "nurse"]),
		object.union(break_glass(["nurse"]), {"break_glass_reason": " "}),
		object.union(break_glass(["radiologist"]), {"kind": "application"}),
		object.union(user(["physician"], "TREAT"), {"kind": "application"}),
		{"id": "app", "kind": "application", "roles": ["application"], "purpose": "PATRQT"},
	]
	types := ["Patient", "Observation", "Coverage", "Consent", "Nope"]
	consent_sets := [
		[],
		[opt_out("c-1")],
		[object.union(opt_out("c-2"), {"end": "2026-02-01T00:00:00Z"})],
		[object.union(opt_out("c-3"), {"decision": "permit"})],
		[object.union(opt_out("c-4"), {"decision": "permit"}), opt_out("c-5")],
		[object.union(opt_out("c-6"), {"rules": [
			{"decision": "permit", "depth": 0},
			{"decision": "deny", "depth": 1, "classes": ["Observation"]},
			{"decision": "permit", "depth": 2, "actors": [[{"role": "nurse"}]]},
		]})],
	]
	every s in subjects {
		every t in types {
			every cs in consent_sets {
				every rel in [false, true] {
					every action in ["read", "route"] {
						same_decision(object.union(with_consents(read(s, t), cs), {"relationship": rel, "action": action}))
					}
				}
			}
		}
	}
	# Labels, profiles and purposes whose basis is consent leave the fast path.
	every s in [
		user(["physician"], "TREAT"), user(["physician"], "HRESCH"), user(["billing_clerk"], "HPAYMT"),
		break_glass(["physician"]),
	] {
		every extra in [
			{"labels": ["ETH"]}, {"labels": ["BH"]}, {"labels": []}, {"labels": null},
			{"profile": "gdpr"}, {"profile": "nope"}, {"consents": []}, {"consents": null},
			{"break_glass": {"reason": "x", "started": "2026-03-01T01:00:00Z"}},
			{"break_glass": {"reason": "x", "started": "2026-03-01T11:00:00Z"}},
			{"break_glass": {"reason": "x", "started": "not a time"}}, {"now": "not a time"},
		] {
			same_decision(object.union(read(s, "Patient"), extra))
		}
	}
}

# The second fast path with 42 CFR Part 2 labels, and labels it leaves to
# the full decision.
test_fast_path_with_labels_equals_full_decision if {
	part2_permit := object.union(opt_out("c-p2"), {"decision": "permit", "rules": [
		{"decision": "permit", "depth": 0, "security_labels": ["ETH"], "purposes": ["TREAT"]},
	]})
	part2_other_purpose := object.union(opt_out("c-p2r"), {"decision": "permit", "rules": [
		{"decision": "permit", "depth": 0, "security_labels": ["ETH"], "purposes": ["HRESCH"]},
	]})
	general_permit := object.union(opt_out("c-gp"), {"decision": "permit"})
	consent_sets := [
		[], [part2_permit], [part2_other_purpose], [general_permit], [opt_out("c-1")],
		[part2_permit, opt_out("c-1")], [part2_permit, general_permit],
	]
	every s in [
		user(["physician"], "TREAT"), user(["nurse"], "TREAT"), user(["billing_clerk"], "HPAYMT"),
		user(["physician"], "HRESCH"), break_glass(["physician"]),
	] {
		every labels in [["ETH"], ["ETH", "ETH"], ["ETH", "BH"], ["BH"], ["HIV"], ["XYZ"], ["ETH", "XYZ"], []] {
			every cs in consent_sets {
				every profile in ["hipaa", "gdpr"] {
					same_decision(object.union(with_consents(read(s, "Observation"), cs), {"labels": labels, "profile": profile}))
				}
			}
		}
	}
}

test_part2_fast_path_taken if {
	d := authz.decision with input as object.union(
		with_consents(read(user(["physician"], "TREAT"), "Condition"), [object.union(opt_out("c-p2"), {"decision": "permit", "rules": [
			{"decision": "permit", "depth": 0, "security_labels": ["ETH"], "purposes": ["TREAT"]},
		]})]),
		{"labels": ["ETH"]},
	)
		with authz.full_decision as "full"
	d.allow
	d.rules == ["consent.permit", "part2.consent", "read.role-purpose"]
	d.obligations == ["part2-redisclosure-notice"]
}

same_decision(inp) if {
	fast := authz.decision with input as inp
	full := authz.full_decision with input as inp
	fast == full
}

test_fast_path_taken if {
	# The common read takes the fast path (so the equivalence test above
	# exercises it): replacing full_decision does not change it.
	d := authz.decision with input as read(user(["lab_technician"], "TREAT"), "Patient")
		with authz.full_decision as "full"
	d.allow
	d.fields == ["birthDate", "gender", "identifier", "name"]
}

test_fast_path_not_taken_when_something_applies if {
	every inp in [
		read(user(["physician", "nurse"], "TREAT"), "Observation"),
		read(break_glass(["physician", "nurse"]), "Observation"),
		object.union(read(break_glass(["physician"]), "Observation"), {"labels": ["ETH"]}),
		object.union(read(break_glass(["physician"]), "Observation"), {"break_glass": {"reason": "x", "started": "2026-03-01T01:00:00Z"}}),
		read(user(["billing_clerk"], "HPAYMT"), "Observation"),
		write("lis", "Observation"),
		object.union(read(user(["physician"], "TREAT"), "Observation"), {"labels": ["BH"]}),
		read(user(["physician"], "HRESCH"), "Observation"),
		without_relationship(read(user(["physician"], "TREAT"), "Observation")),
	] {
		"full" == authz.decision with input as inp with authz.full_decision as "full"
	}
}

test_consent_fast_path_taken if {
	# A single-role read with directives (and no labels) is decided from the
	# directives alone.
	d := authz.decision with input as with_consents(read(user(["physician"], "TREAT"), "Observation"), [opt_out("c-1")])
		with authz.full_decision as "full"
	not d.allow
	d.rules == ["consent.opt-out", "read.role-purpose"]
	d.consents == ["c-1"]
}

test_break_glass_fast_path_taken if {
	# Break-the-glass by a single role (no labels) is decided without the
	# full rule sets, a deny consent overridden.
	d := authz.decision with input as with_consents(read(break_glass(["physician"]), "Observation"), [opt_out("c-1")])
		with authz.full_decision as "full"
	d.allow
	d.rules == ["break-glass", "consent.opt-out", "consent.opt-out-overridden", "read.role-purpose"]
	d.consents == ["c-1"]
	d.obligations == ["break-glass-review"]
}

test_data_star_stands_alone if {
	every _, role in data.carecrest.access.roles {
		every _, g in role.purposes {
			every _, fs in object.union(object.get(g, "types", {}), object.get(g, "classes", {})) {
				star_alone(fs)
			}
		}
	}
}

star_alone(fs) if not "*" in fs

star_alone(fs) if fs == ["*"]

# --- audit.query ---------------------------------------------------------------

audit_query(subject) := {"action": "audit.query", "subject": subject, "record_type": "AuditEvent", "now": now}

test_audit_query_privacy_officer_and_security_analyst_allowed if {
	every role in ["privacy_officer", "security_analyst"] {
		d := authz.decision with input as audit_query(user([role], "HOPERAT"))
		d.allow
		d.rules == ["governance.role"]
	}
}

test_audit_query_other_roles_denied if {
	every role in ["physician", "billing_clerk", "nurse", "application"] {
		d := authz.decision with input as audit_query(user([role], "TREAT"))
		not d.allow
		"governance.role-not-permitted" in d.rules
	}
}

governance(action, subject) := {"action": action, "subject": subject, "record_type": "AuditEvent", "now": now}

test_governance_actions_by_role if {
	every case in [
		["privacy_officer", "patient.erase", true],
		["privacy_officer", "legal.hold", true],
		["privacy_officer", "audit.review", true],
		["security_analyst", "alert.manage", true],
		["security_analyst", "patient.erase", false],
		["security_analyst", "audit.review", false],
		["administrator", "policy.explain", false], # explain shows a patient's sensitivity labels: privacy office only
		["security_analyst", "policy.explain", false],
		["privacy_officer", "policy.explain", true],
		["administrator", "audit.query", false],
		["physician", "policy.explain", false],
		["registration_clerk", "consent.write", true],
		["nurse", "consent.write", false],
	] {
		d := authz.decision with input as governance(case[1], user([case[0]], "HOPERAT"))
		d.allow == case[2]
	}
}

test_unknown_governance_action_denied if {
	d := authz.decision with input as governance("patient.teleport", user(["privacy_officer"], "HOPERAT"))
	not d.allow
	"action.unknown" in d.rules
}

test_audit_query_needs_user_kind if {
	s := object.union(user(["privacy_officer"], "HOPERAT"), {"kind": "application"})
	d := authz.decision with input as audit_query(s)
	not d.allow
}

# --- route: subscriber systems -------------------------------------------------

subscriber(role, purpose) := {"id": "sub-1", "kind": "system", "roles": [role], "purpose": purpose}

route(subject, record_type) := object.union(read(subject, record_type), {"action": "route"})

test_route_hie_participant_gets_clinical_data if {
	d := authz.decision with input as route(subscriber("hie_participant", "TREAT"), "Observation")
	d.allow
	d.fields == ["*"]
}

test_route_opt_out_blocks_hie if {
	d := authz.decision with input as with_consents(route(subscriber("hie_participant", "TREAT"), "Observation"), [opt_out("c-9")])
	not d.allow
	"consent.opt-out" in d.rules
}

test_route_billing_system_minimum_necessary if {
	p := authz.decision with input as route(subscriber("billing_system", "HPAYMT"), "Patient")
	p.allow
	p.fields == ["address", "birthDate", "identifier", "name"]
	o := authz.decision with input as route(subscriber("billing_system", "HPAYMT"), "Observation")
	not o.allow
}

test_route_system_roles_not_for_users if {
	d := authz.decision with input as route(user(["hie_participant"], "TREAT"), "Observation")
	not d.allow
}
