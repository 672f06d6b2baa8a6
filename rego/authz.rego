# Package carecrest.authz decides every access in CareCrest Hub: a source
# system writing records, a subscriber receiving routed records, a person or
# application reading them.
#
# Entry point: data.carecrest.authz.decision, one object:
#
#   allow     bool      false unless a rule grants and no rule blocks
#   fields    [string]  PHI element names that may be disclosed; ["*"] = all
#   rules     [string]  ids of the rules that matched (grants, blocks, notes,
#                       and, when nothing granted, the miss that explains it)
#   reasons   [string]  short human reasons, never PHI (one per rule)
#   consents  [string]  ids of the consent directives that applied
#
# The tables (record types, sources, purposes, roles with their field
# allowlists) are data.carecrest.access, loaded from data.json beside this
# file; loading another directory replaces them.
#
# Shape, so that rules can be added without touching the decision. Each rule
# adds its id to one of four sets (and its text to the `reason` table):
#
#   grants  a rule that grants access
#   blocks  a rule that vetoes any grant (consent, later labels, ...)
#   notes   a rule that applied without changing allow
#   misses  why nothing granted (evaluated only when nothing granted)
#
# allow := some grant and no block. Everything else is deny.
#
# Performance: the decision runs on every read (target p99 <= 100 us in
# process). In OPA's evaluator a reference to a rule costs several times an
# inline expression, so the path of an allowed read uses few rules: inline
# lookups into data rather than helper rules, one comprehension for the role
# grants, a fast path for the most common read (see decision), and the
# misses only when nothing granted, as else-chains that stop at the first
# cause.
package carecrest.authz

import data.carecrest.access

# --- the decision -----------------------------------------------------------

# decision is the fast path when it applies, else the full decision. The fast
# path covers the most common read: one role whose grant for the purpose gives
# fields for the record type, no relationship requirement, nothing blocking
# and nothing noted (so no applicable opt-out). It must give exactly what
# full_decision gives: the test test_fast_path_equals_full_decision checks
# it over a matrix of inputs. A rule that changes fields (rather than adding
# to grants, blocks or notes) must be reflected here too.
decision := {
	"allow": true,
	"fields": sort({f | some f in fs}),
	"rules": ["read.role-purpose"],
	"reasons": [reason["read.role-purpose"]],
	"consents": [],
} if {
	input.action in {"read", "route"}
	[r] := input.subject.roles
	role := access.roles[r]
	input.subject.kind in role.kinds
	g := role.purposes[input.subject.purpose]
	not g.require_relationship
	fs := grant_fields(g)
	count(fs) > 0
	count(blocks) == 0
	count(notes) == 0
} else := full_decision

full_decision := d if {
	# Granted, nothing blocks.
	g := grants
	count(g) > 0
	count(blocks) == 0
	rules := sort(g | notes)
	d := {
		"allow": true,
		"fields": granted_fields,
		"rules": rules,
		"reasons": [object.get(reason, r, r) | some r in rules],
		"consents": sort({c.id | some c in opt_outs}),
	}
} else := d if {
	# Granted, but blocked.
	count(grants) > 0
	rules := sort((grants | blocks) | notes)
	d := deny(rules)
} else := d if {
	# Nothing granted: the misses say why.
	rules := sort(((grants | blocks) | notes) | misses)
	d := deny(rules)
}

# A deny's reasons say why it was denied: every matched rule is listed in
# rules (for audit and explain), but a grant that a block overrode is not a
# reason for the denial.
deny(rules) := {
	"allow": false,
	"fields": [],
	"rules": rules,
	"reasons": [object.get(reason, r, r) | some r in rules; not r in grants],
	"consents": sort({c.id | some c in opt_outs}),
}

# granted_fields: the fields of an allowed decision.
granted_fields := ["*"] if {
	input.action == "write"
} else := ["*"] if {
	"*" in read_fields
} else := sort(read_fields)

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
	"consent.opt-out": "patient opted out for this purpose",
	"consent.opt-out-overridden": "patient opt-out overridden by break-the-glass",
	"governance.role": "role may perform this governance action",
	"governance.role-not-permitted": "role may not perform this governance action",
}

# --- actions ----------------------------------------------------------------

# A helper rule: `not input.action in {...}` is undefined, not true, when
# input.action is missing.
known_action if input.action in {"read", "route", "write"}

known_action if access.governance_actions[input.action]

misses contains "action.unknown" if not known_action

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
# break_glass, only with a reason, and then as its grants_as purpose (TREAT).
# No role lists a break-glass purpose itself (a Rego test checks the data).
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
	access.purposes[input.subject.purpose].break_glass == true
	trim_space(input.subject.break_glass_reason) != ""
}

# grant_fields(g) is the field allowlist of grant g for the record type: the
# per-type entry wins over the entry of the type's class, so that a type can
# be narrowed (or emptied, which denies it) inside a granted class. Types
# outside the catalog have no class and get no fields from a class (a Rego
# test checks that grants and sources name only catalogued types).
grant_fields(g) := fs if {
	fs := g.types[input.record_type]
} else := g.classes[access.record_types[input.record_type].class]

relationship_ok(g) if object.get(g, "require_relationship", false) == false

relationship_ok(_) if input.relationship == true

read_fields contains f if {
	some g in role_grants
	relationship_ok(g)
	some f in grant_fields(g)
}

grants contains "read.role-purpose" if {
	input.action in {"read", "route"}
	count(read_fields) > 0
}

grants contains "break-glass" if {
	input.action in {"read", "route"}
	access.purposes[input.subject.purpose].break_glass == true
	count(read_fields) > 0
}

# Why a read was not granted: read_miss is the first cause, in the order
# of the checks (evaluated only when nothing granted).

misses contains read_miss if input.action in {"read", "route"}

read_miss := "read.purpose-unknown" if {
	not access.purposes[input.subject.purpose]
} else := "read.role-unknown" if {
	count(held_roles) == 0
} else := "read.role-kind" if {
	count(kind_roles) == 0
} else := "break-glass.not-permitted" if {
	access.purposes[input.subject.purpose].break_glass == true
	not can_break_glass
} else := "break-glass.reason-required" if {
	access.purposes[input.subject.purpose].break_glass == true
	not break_glass_reason_given
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

break_glass_reason_given if trim_space(input.subject.break_glass_reason) != ""

type_granted if {
	some g in role_grants
	count(grant_fields(g)) > 0
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

# --- consent ----------------------------------------------------------------
#
# input.consents are the directives in force for the patient:
# {id, patient, status, decision, purposes, start, end}. An active "deny"
# directive in its period whose purposes are empty or include the purpose of
# use blocks reads and routes, unless break-the-glass applies. Either way the
# directive is reported in consents and rule "consent.opt-out" matches.
#
# Writes are never blocked by consent, and report no consents.
#
# Time checks fail closed: a directive whose period cannot be evaluated
# (unparseable times, unparseable input.now) is taken to be in force.

opt_outs contains c if {
	input.action != "write"
	some c in input.consents
	c.decision == "deny"
	c.status == "active"
	covers_purpose(c)
	not outside_period(c)
}

# covers_purpose(c): the directive names no purposes, or the purpose of use.
covers_purpose(c) if {
	not c.purposes
} else if {
	c.purposes == null
} else if {
	count(c.purposes) == 0
} else if {
	input.subject.purpose in c.purposes
}

# outside_period(c): now is provably outside the directive's period. A start
# or end that is absent, Go's zero time (year 1 is outside the range
# time.parse_rfc3339_ns accepts) or unparseable leaves the period open on
# that side, so the directive applies.
outside_period(c) if now_ns < time.parse_rfc3339_ns(c.start)

outside_period(c) if now_ns >= time.parse_rfc3339_ns(c.end)

# now_ns: input.now; when absent, empty or Go's zero time, the evaluation's
# clock; when unparseable, undefined (and every opt-out then applies).
now_ns := time.parse_rfc3339_ns(input.now) if {
	input.now
} else := time.now_ns() if {
	object.get(input, "now", "") == ""
} else := time.now_ns() if {
	startswith(input.now, "0001-01-01T00:00:00")
}

# break_glass_override: break-the-glass was invoked and granted a role.
break_glass_override if "break-glass" in grants

blocks contains "consent.opt-out" if {
	count(opt_outs) > 0
	not break_glass_override
}

notes contains r if {
	count(opt_outs) > 0
	break_glass_override
	some r in ["consent.opt-out", "consent.opt-out-overridden"]
}
