# Package carecrest.authz decides every access in CareCrest Hub: a source
# system writing records, a subscriber receiving routed records, a person or
# application reading them, and the hub's governance actions.
#
# Entry points:
#
#   data.carecrest.authz.decision   one object:
#     allow        bool      false unless a rule grants and no rule blocks
#     fields       [string]  PHI elements that may be disclosed; ["*"] = all
#     mask         [string]  catalogued PHI elements of the record type that
#                            may not be disclosed (access.elements)
#     rules        [string]  ids of the rules that matched (grants, blocks,
#                            notes and, when nothing granted, the miss)
#     reasons      [string]  short human reasons, never PHI
#     consents     [string]  ids of the consent directives that applied
#                            (permit and deny)
#     obligations  [string]  what the caller must do when it discloses
#   data.carecrest.authz.explain    the decision with the profile, every
#                                   consent considered and the rule sets
#
# Modules: authz.rego (this file: decision, actions, write, read, break-the-
# glass, governance), consent.rego (consent directives and jurisdiction
# profiles), sensitivity.rego (42 CFR Part 2 and other sensitivity labels).
# The tables are data.carecrest.access (data.json beside this file).
#
# Shape, so that rules can be added without touching the decision. Each rule
# adds its id to one of four sets (and its text to the `reason` table):
#
#   grants  a rule that grants access
#   blocks  a rule that vetoes any grant (consent, labels, profile)
#   notes   a rule that applied without changing allow
#   misses  why nothing granted (evaluated only when nothing granted)
#
# allow := some grant and no block. Everything else is deny.
#
# Performance: the decision runs on every read (target p99 <= 100 us in
# process). In OPA's evaluator a reference to a rule costs several times an
# inline expression, so the most common reads take a fast path (see
# decision) that computes no rule sets and no labels, and the misses are
# evaluated only when nothing granted, as else-chains that stop at the first
# cause.
package carecrest.authz

import data.carecrest.access

# --- the decision -----------------------------------------------------------

# decision is a fast path when one applies, else the full decision. The first
# covers the most common read: one role whose grant for the purpose gives
# fields for the record type, its relationship requirement met, no labels, no
# consents, and a purpose the profile allows by law. Nothing can then block
# or note. The second is the same read with consents, the third
# break-the-glass by a single role. Each must give exactly what
# full_decision gives: test_fast_path_equals_full_decision checks them over
# a matrix of inputs.
decision := {
	"allow": true,
	"fields": fields,
	"mask": mask_of(fields),
	"rules": ["read.role-purpose"],
	"reasons": [reason["read.role-purpose"]],
	"consents": [],
	"obligations": [],
} if {
	no_consents
	input.action in {"read", "route"}
	[r] := input.subject.roles
	role := access.roles[r]
	input.subject.kind in role.kinds
	g := role.purposes[input.subject.purpose]
	not break_glass_purpose
	fast_relationship_ok(g)
	fs := grant_fields(g)
	count(fs) > 0
	no_labels
	access.profiles[profile].purposes[input.subject.purpose] == "law"
	fields := sort({f | some f in fs})
} else := d if {
	# The same read with consent directives: only the consents can block or
	# note, so the decision follows from them alone.
	d := consent_fast_decision(fast_fields)
} else := d if {
	# Break-the-glass by a single role: it grants, and only the consents
	# can note (a deny is overridden).
	d := break_glass_fast_decision
} else := full_decision

# fast_fields: the fields the single role's grant gives when the read can
# take the second fast path: the conditions of the first, except that
# consents and 42 CFR Part 2 labels may be present (labels the sensitivity
# table does not list do not restrict). The purpose is not a break-glass
# one, so "break-glass" cannot be granted, and no medical emergency or
# label break-the-glass can apply.
fast_fields := fs if {
	input.action in {"read", "route"}
	[r] := input.subject.roles
	role := access.roles[r]
	input.subject.kind in role.kinds
	g := role.purposes[input.subject.purpose]
	not break_glass_purpose
	fast_relationship_ok(g)
	fs := grant_fields(g)
	count(fs) > 0
	fast_labels_ok
	access.profiles[profile].purposes[input.subject.purpose] == "law"
}

fast_labels_ok if no_labels

fast_labels_ok if {
	input.labels[0]
	count(other_labels) == 0
}

# consent_fast_decision(fs): the decision of a fast_fields read. Only the
# consents and the Part 2 rules can block or note (consent.rego and
# sensitivity.rego without break-the-glass; the profile allows the purpose
# by law).
consent_fast_decision(fs) := d if {
	not consent_denied
	not fast_part2_unconsented
	rules := sort({"read.role-purpose"} | fast_notes)
	fields := sort({f | some f in fs})
	d := {
		"allow": true,
		"fields": fields,
		"mask": mask_of(fields),
		"rules": rules,
		"reasons": [reason[x] | some x in rules],
		"consents": applied_consents,
		"obligations": fast_obligations,
	}
} else := fast_deny(sort({"consent.opt-out", "read.role-purpose"} | fast_consent_notes)) if {
	# Without labels only a deny consent blocks.
	no_labels
} else := fast_deny(sort(({"read.role-purpose"} | fast_deny_blocks) | fast_notes))

fast_deny(rules) := {
	"allow": false,
	"fields": [],
	"mask": type_elements,
	"rules": rules,
	"reasons": [reason[x] | some x in rules; x != "read.role-purpose"],
	"consents": applied_consents,
	"obligations": [],
}

fast_part2 if {
	input.labels[0]
	count(part2_labels) > 0
}

fast_part2_unconsented if {
	fast_part2
	not part2_consent
}

# fast_deny_blocks: the blocks of a fast_fields read that was denied
# (without Part 2 labels only a deny consent blocks; labels the table does
# not list do not restrict).
fast_deny_blocks := {"consent.opt-out"} if {
	not fast_part2
} else := {b | some b in ["consent.opt-out"]; consent_denied} | {b | some b in ["part2.consent-required"]; not part2_consent}

fast_notes := fast_consent_notes if {
	not fast_part2
} else := fast_consent_notes | {n | some n in ["part2.consent"]; part2_consent}

fast_consent_notes := {"consent.permit"} if count(consent_permits) > 0 else := set()

fast_obligations := ["part2-redisclosure-notice"] if fast_part2 else := []

# break_glass_fast_decision: a break-the-glass read (a valid session, no
# labels) by a single role that has no grant of its own for the purpose:
# the role's grant for the purpose it is granted as, without the
# relationship requirement, noted "break-glass"; a deny consent is
# overridden.
break_glass_fast_decision := d if {
	input.action in {"read", "route"}
	[r] := input.subject.roles
	role := access.roles[r]
	role.break_glass == true
	input.subject.kind in role.kinds
	not role.purposes[input.subject.purpose]
	break_glass_valid
	g := role.purposes[access.purposes[input.subject.purpose].grants_as]
	fs := grant_fields(g)
	count(fs) > 0
	no_labels
	access.profiles[profile].purposes[input.subject.purpose] == "law"
	rules := sort({"break-glass", "read.role-purpose"} | break_glass_consent_notes)
	fields := sort({f | some f in fs})
	d := {
		"allow": true,
		"fields": fields,
		"mask": mask_of(fields),
		"rules": rules,
		"reasons": [reason[x] | some x in rules],
		"consents": applied_consents,
		"obligations": ["break-glass-review"],
	}
}

# break_glass_consent_notes: consent_notes when "break-glass" is granted.
break_glass_consent_notes contains n if {
	consent_denied
	some n in ["consent.opt-out", "consent.opt-out-overridden"]
}

break_glass_consent_notes contains "consent.permit" if count(consent_permits) > 0

fast_relationship_ok(g) if not g.require_relationship

fast_relationship_ok(_) if input.relationship == true

full_decision := d if {
	# Granted, nothing blocks.
	g := grants
	count(g) > 0
	count(blocks) == 0
	rules := sort(g | notes)
	fields := granted_fields
	d := {
		"allow": true,
		"fields": fields,
		"mask": mask_of(fields),
		"rules": rules,
		"reasons": [object.get(reason, r, r) | some r in rules],
		"consents": applied_consents,
		"obligations": sort(obligations),
	}
} else := d if {
	# Granted, but blocked.
	count(grants) > 0
	d := deny(sort((grants | blocks) | notes))
} else := deny(sort(((grants | blocks) | notes) | misses))

# A deny's reasons say why it was denied: every matched rule is listed in
# rules (for audit and explain), but a grant that a block overrode is not a
# reason for the denial. A deny masks every catalogued element.
deny(rules) := {
	"allow": false,
	"fields": [],
	"mask": type_elements,
	"rules": rules,
	"reasons": [object.get(reason, r, r) | some r in rules; not r in grants],
	"consents": applied_consents,
	"obligations": [],
}

# granted_fields: the fields of an allowed decision.
granted_fields := ["*"] if {
	input.action != "read"
	input.action != "route"
} else := ["*"] if {
	"*" in read_fields
} else := sort(read_fields)

# mask_of(fields): the catalogued PHI elements of the record type outside
# fields (none when fields is ["*"] or the type has no catalog).
mask_of(fields) := [] if {
	"*" in fields
} else := [] if {
	not access.elements[input.record_type]
} else := sort({e | some e in access.elements[input.record_type]} - {f | some f in fields})

# type_elements: the catalogued PHI elements of the record type.
type_elements := access.elements[input.record_type] if {
	access.elements[input.record_type]
} else := []

# reason is the human text of each rule id.
reason := {
	"action.unknown": "unknown action",
	"write.source-allowed": "source system may write this record type",
	"write.subject-kind": "only source systems write records",
	"write.source-unknown": "unknown source system",
	"write.type-not-permitted": "record type not permitted for source system",
	"read.role-purpose": "role and purpose permit this record type",
	"read.purpose-unknown": "unknown purpose of use",
	"read.role-unknown": "subject holds no known role",
	"read.role-kind": "role not valid for this kind of subject",
	"read.purpose-not-permitted": "purpose of use not permitted for role",
	"read.type-unknown": "unknown record type",
	"read.type-not-permitted": "record type not permitted for role and purpose",
	"read.relationship-required": "care relationship required",
	"break-glass": "break-the-glass emergency access",
	"break-glass.not-permitted": "role may not break the glass",
	"break-glass.reason-required": "break-the-glass requires a reason",
	"break-glass.expired": "break-the-glass session expired; declare again",
	"consent.opt-out": "patient opted out for this purpose",
	"consent.opt-out-overridden": "patient opt-out overridden by break-the-glass",
	"consent.permit": "patient consent permits this disclosure",
	"profile.unknown": "unknown jurisdiction profile",
	"profile.no-lawful-basis": "no lawful basis for this purpose in the jurisdiction profile",
	"profile.consent-required": "purpose requires the patient's explicit consent",
	"part2.consent-required": "substance use disorder records (42 CFR Part 2) require the patient's consent for this disclosure",
	"part2.consent": "patient consent covers this 42 CFR Part 2 disclosure",
	"part2.medical-emergency": "42 CFR 2.51 medical emergency disclosure",
	"label.role-not-permitted": "role may not see records with this sensitivity label",
	"label.consent-required": "sensitivity label requires the patient's explicit consent",
	"label.break-glass": "sensitivity restriction overridden by break-the-glass",
	"governance.role": "role may perform this governance action",
	"governance.role-not-permitted": "role may not perform this governance action",
}

# --- actions ----------------------------------------------------------------

# A helper rule: `not input.action in {...}` is undefined, not true, when
# input.action is missing.
known_action if input.action in {"read", "route", "write"}

known_action if access.governance_actions[input.action]

misses contains "action.unknown" if not known_action

# reading: a disclosure (read or route), the actions consent, labels and the
# jurisdiction profile apply to.
reading if input.action in {"read", "route"}

# --- write: a source system records what it sent ----------------------------
#
# Writes are not blocked by consent: the hub must still record what a source
# sends. Disclosure is decided on read and route. A source's types list "*"
# for every record type in the catalog.

grants contains "write.source-allowed" if {
	input.action == "write"
	input.subject.kind == "system"
	input.record_type in access.sources[input.subject.id].types
}

grants contains "write.source-allowed" if {
	input.action == "write"
	input.subject.kind == "system"
	"*" in access.sources[input.subject.id].types
	access.record_types[input.record_type]
}

misses contains write_miss if input.action == "write"

# write_miss: the first reason a write was not granted.
write_miss := "write.subject-kind" if {
	not input.subject.kind == "system"
} else := "write.source-unknown" if {
	not access.sources[input.subject.id]
} else := "write.type-not-permitted"

# --- read and route: role x purpose x record type -> fields -----------------

# role_grants: the grants of the subject's roles (known, valid for its kind)
# for the purpose of use, each
# {"types": {type: fields}, "classes": {class: fields}, "require_relationship": bool}.
#
# A purpose marked break_glass (ETREAT) is granted only to roles with
# break_glass, only with a reason and a fresh session, and then as its
# grants_as purpose (TREAT). No role lists a break-glass purpose itself (a
# Rego test checks the data).
default role_grants := []

role_grants := gs if {
	gs := [g |
		some r in input.subject.roles
		role := access.roles[r]
		input.subject.kind in role.kinds
		g := role.purposes[input.subject.purpose]
	]
	count(gs) > 0
} else := [g |
	some r in input.subject.roles
	role := access.roles[r]
	role.break_glass == true
	input.subject.kind in role.kinds
	g := role.purposes[access.purposes[input.subject.purpose].grants_as]
] if {
	break_glass_valid
}

# grant_fields(g) is the field allowlist of grant g for the record type: the
# per-type entry wins over the entry of the type's class, so that a type can
# be narrowed (or emptied, which denies it) inside a granted class. Types
# outside the catalog have no class and get no fields from a class (a Rego
# test checks that grants and sources name only catalogued types).
grant_fields(g) := fs if {
	fs := g.types[input.record_type]
} else := g.classes[access.record_types[input.record_type].class]

# relationship_ok(g): the grant needs no care relationship, there is one, or
# break-the-glass waives it.
relationship_ok(g) if object.get(g, "require_relationship", false) == false

relationship_ok(_) if input.relationship == true

relationship_ok(_) if break_glass_valid

read_fields contains f if {
	some g in role_grants
	relationship_ok(g)
	some f in grant_fields(g)
}

grants contains "read.role-purpose" if {
	reading
	count(read_fields) > 0
}

grants contains "break-glass" if {
	reading
	break_glass_valid
	count(read_fields) > 0
}

# Why a read was not granted: read_miss is the first cause, in the order
# of the checks (evaluated only when nothing granted).

misses contains read_miss if reading

read_miss := "read.purpose-unknown" if {
	not access.purposes[input.subject.purpose]
} else := "read.role-unknown" if {
	count(held_roles) == 0
} else := "read.role-kind" if {
	count(kind_roles) == 0
} else := "break-glass.not-permitted" if {
	break_glass_purpose
	not can_break_glass
} else := "break-glass.reason-required" if {
	break_glass_purpose
	not break_glass_reason
} else := "break-glass.expired" if {
	break_glass_purpose
	not break_glass_fresh
} else := "read.purpose-not-permitted" if {
	count(role_grants) == 0
} else := "read.type-unknown" if {
	not access.record_types[input.record_type]
} else := "read.type-not-permitted" if {
	not type_granted
} else := "read.relationship-required"

held_roles := {r | some r in input.subject.roles; access.roles[r]}

kind_roles := {r | some r in held_roles; input.subject.kind in access.roles[r].kinds}

can_break_glass if {
	some r in kind_roles
	access.roles[r].break_glass == true
}

type_granted if {
	some g in role_grants
	count(grant_fields(g)) > 0
}

# --- break-the-glass ----------------------------------------------------------
#
# Purpose ETREAT with a reason (input.break_glass.reason, or the older
# input.subject.break_glass_reason) opens a session; input.break_glass.started
# (RFC 3339) is when it opened, absent for a session opening now. A session
# grants for access.break_glass_window_seconds (default 4 h) from its start;
# then "break-glass.expired": the caller must declare again. A start that
# cannot be parsed, or lies more than a minute in the future, fails closed
# as expired.

break_glass_purpose if access.purposes[input.subject.purpose].break_glass == true

break_glass_reason := r if {
	r := input.break_glass.reason
	trim_space(r) != ""
} else := r if {
	r := input.subject.break_glass_reason
	trim_space(r) != ""
}

break_glass_fresh if not input.break_glass.started

break_glass_fresh if {
	age := now_ns - time.parse_rfc3339_ns(input.break_glass.started)
	age < object.get(access, "break_glass_window_seconds", 14400) * 1000000000
	age > -60000000000
}

break_glass_valid if {
	break_glass_purpose
	break_glass_reason
	break_glass_fresh
}

obligations contains "break-glass-review" if "break-glass" in grants

# now_ns: input.now; when absent, empty or Go's zero time, the evaluation's
# clock; when unparseable, undefined (time checks then fail closed).
now_ns := time.parse_rfc3339_ns(input.now) if {
	input.now
} else := time.now_ns() if {
	object.get(input, "now", "") == ""
} else := time.now_ns() if {
	startswith(input.now, "0001-01-01T00:00:00")
}

# --- governance: the audit log and the hub's own controls -------------------
#
# Governance actions (access.governance_actions: audit.query, audit.review,
# patient.erase, legal.hold, consent.write, policy.explain, alert.manage,
# report.generate) are granted to roles that list them in `governance`; the
# hub audits every one of them, allowed or denied.

grants contains "governance.role" if {
	access.governance_actions[input.action]
	some r in input.subject.roles
	role := access.roles[r]
	input.action in object.get(role, "governance", [])
	input.subject.kind in role.kinds
}

misses contains "governance.role-not-permitted" if access.governance_actions[input.action]

# --- explain ------------------------------------------------------------------

# explain is the decision with what led to it, for privacy officers: the
# profile, every consent considered (whether in force, which provision
# matched and its effect) and the rule ids by kind. No PHI: ids, codes and
# provision paths only.
explain := {
	"decision": decision,
	"profile": profile,
	"consents": [consent_explanation(c) | some c in object.get(input, "consents", [])],
	"grants": sort(grants),
	"blocks": sort(blocks),
	"notes": sort(notes),
	"misses": explain_misses,
	"reason": {r: object.get(reason, r, r) | some r in ((grants | blocks) | notes) | {m | some m in explain_misses}},
}

explain_misses := [] if count(grants) > 0 else := sort(misses)
