# Consent directives and jurisdiction profiles (package carecrest.authz).
#
# input.consents are the patient's directives: {id, patient, status,
# decision, purposes, start, end, rules}. A directive applies when it is
# active and now is inside [start, end). Its rules (consent.Rule, flattened
# from FHIR Consent.provision by the consent package) each carry a decision,
# a depth and conditions; a directive without rules is one rule at depth 0
# with its decision and purposes (directives stored before rules existed).
#
# Per directive the deepest matching rule decides (a deny wins a tie): a
# nested provision is an exception to its parent. A rule matches when none
# of its conditions is provably false; a permit rule must moreover have no
# condition the input cannot answer (codes, data, data period unknown). So
# unknown facts make deny provisions apply and permit provisions not: fail
# closed.
#
# Effects, on read and route only (writes record what sources send):
#   deny    blocks ("consent.opt-out"), unless break-the-glass was granted
#           (then noted with "consent.opt-out-overridden"); for 42 CFR Part 2
#           records only a medical emergency overrides (sensitivity.rego)
#   permit  noted as explicit consent ("consent.permit"); it satisfies a
#           purpose whose lawful basis is consent only when the deciding
#           rule names that purpose (a general opt-in is not a research
#           authorization)
#
# Time checks fail closed: a directive whose period cannot be evaluated
# (unparseable times, unparseable input.now) is taken to be in force.

package carecrest.authz

import data.carecrest.access

# --- which directives apply, and how ------------------------------------------

consent_in_force(c) if {
	c.status == "active"
	not outside_period(c)
}

# outside_period(c): now is provably outside the directive's period. A start
# or end that is absent, Go's zero time (year 1 is outside the range
# time.parse_rfc3339_ns accepts) or unparseable leaves the period open on
# that side, so the directive applies.
outside_period(c) if now_ns < time.parse_rfc3339_ns(c.start)

outside_period(c) if now_ns >= time.parse_rfc3339_ns(c.end)

# consent_effects: one {id, effect, path, depth, rule} per directive in
# force that has a matching rule.
consent_effects := [e |
	reading
	some c in input.consents
	consent_in_force(c)
	e := consent_effect(c)
]

consent_effect(c) := e if {
	rs := consent_rules(c)
	ms := [i |
		some i, r in rs
		not rule_fails(object.keys(r) & {
			"purposes", "actions", "security_labels", "classes", "actors", "codes", "data",
			"start", "end", "data_start", "data_end",
		}, r)
	]
	k := deciding(rs, ms)
	r := rs[k]
	e := {
		"id": object.get(c, "id", ""),
		"effect": effect_of(r),
		"path": object.get(r, "path", ""),
		"depth": object.get(r, "depth", 0),
		"rule": r,
	}
}

consent_rules(c) := c.rules if {
	is_array(c.rules)
	count(c.rules) > 0
} else := [{"path": "provision", "depth": 0, "decision": object.get(c, "decision", ""), "purposes": object.get(c, "purposes", null)}]

# deciding(rs, ms): of the matching rules ms (indices into rs), the first
# deny among the deepest, else the first of the deepest. Undefined when
# nothing matched. (Most directives have one matching rule.)
deciding(_, [k]) := k

deciding(rs, ms) := k if {
	count(ms) > 1
	d := max([object.get(rs[i], "depth", 0) | some i in ms])
	top := [i | some i in ms; object.get(rs[i], "depth", 0) == d]
	k := first_deny(rs, top)
}

first_deny(_, [k]) := k

first_deny(rs, top) := k if {
	count(top) > 1
	k := first_deny_of(rs, top)
}

first_deny_of(rs, top) := k if {
	ks := [i | some i in top; effect_of(rs[i]) == "deny"]
	k := ks[0]
} else := top[0]

# effect_of(r): permit only when the rule says so; anything else denies.
effect_of(r) := "permit" if r.decision == "permit" else := "deny"

# A rule matches when no condition of it is provably false, and, for a
# permit, none cannot be answered from the input (not rule_fails). Only the
# conditions r has are tried: object.keys and a set intersection are
# builtins, and excluded_by and unknown_by are indexed on their first
# argument, so a rule without conditions costs one intersection. (The
# set of condition keys is a literal in consent_effect: a literal is a
# constant, a rule would be evaluated on every decision.)
#
# rule_fails(ks, r): a condition of r (its keys ks) is provably false, or r
# is a permit with a condition the input cannot answer.
rule_fails(ks, r) if {
	some k in ks
	excluded_by(k, r)
}

rule_fails(ks, r) if {
	r.decision == "permit"
	some k in ks & {"codes", "data", "start", "end", "data_start", "data_end"}
	unknown_by(k, r)
}

excluded_by("purposes", r) if {
	is_array(r.purposes)
	count(r.purposes) > 0
	not input.subject.purpose in r.purposes
}

excluded_by("actions", r) if {
	is_array(r.actions)
	count(r.actions) > 0
	not consent_action_named(r.actions)
}

excluded_by("security_labels", r) if {
	is_array(r.security_labels)
	count(r.security_labels) > 0
	not some_label_in(r.security_labels)
}

excluded_by("classes", r) if {
	is_array(r.classes)
	count(r.classes) > 0
	not input.record_type in r.classes
}

excluded_by("actors", r) if {
	some g in r.actors
	not actor_group_matches(g)
}

excluded_by("codes", r) if {
	is_array(r.codes)
	count(r.codes) > 0
	input_codes_known
	not some_in(r.codes, input.codes)
}

excluded_by("data", r) if {
	is_array(r.data)
	count(r.data) > 0
	input_data_refs_known
	not some_in(r.data, input.data_refs)
}

excluded_by("start", r) if now_ns < time.parse_rfc3339_ns(r.start)

excluded_by("end", r) if now_ns >= time.parse_rfc3339_ns(r.end)

excluded_by("data_start", r) if input_data_time_ns < time.parse_rfc3339_ns(r.data_start)

excluded_by("data_end", r) if input_data_time_ns >= time.parse_rfc3339_ns(r.data_end)

# unknown_by(k, r): condition k of r cannot be answered from the input.
# (Helper rules rather than `not is_array(input.codes)`: a call on an
# undefined argument is undefined, and so is its negation.)
unknown_by("codes", r) if {
	is_array(r.codes)
	count(r.codes) > 0
	not input_codes_known
}

unknown_by("data", r) if {
	is_array(r.data)
	count(r.data) > 0
	not input_data_refs_known
}

unknown_by("data_start", _) if not input_data_time_ns

unknown_by("data_end", _) if not input_data_time_ns

unknown_by("start", r) if not time.parse_rfc3339_ns(r.start)

unknown_by("end", r) if not time.parse_rfc3339_ns(r.end)

input_codes_known if is_array(input.codes)

input_data_refs_known if is_array(input.data_refs)

input_data_time_ns := time.parse_rfc3339_ns(input.data_time)

consent_action_named(actions) if {
	some a in access.consent.actions[input.action]
	a in actions
}

some_label_in(ls) if {
	some l in input_labels
	l in ls
}

some_in(xs, ys) if {
	some x in xs
	x in ys
}

actor_group_matches(g) if {
	some a in g
	actor_matches(a)
}

# An actor with a reference matches a subject that has it (subject.refs,
# subject.org, "Organization/" + subject.org); an actor with only a role
# matches a subject holding that hub role, and a recipient role
# (access.consent.recipient_roles: IRCP, PRCP) alone matches any recipient.
actor_matches(a) if {
	ref := a.reference
	ref != ""
	ref in subject_refs
}

actor_matches(a) if {
	object.get(a, "reference", "") == ""
	a.role in input.subject.roles
}

actor_matches(a) if {
	object.get(a, "reference", "") == ""
	a.role in access.consent.recipient_roles
}

subject_refs contains r if some r in input.subject.refs

subject_refs contains o if {
	o := input.subject.org
	o != ""
}

subject_refs contains concat("", ["Organization/", o]) if {
	o := input.subject.org
	o != ""
}

# --- effects ------------------------------------------------------------------

consent_denied if {
	some e in consent_effects
	e.effect == "deny"
}

consent_permits := [e | some e in consent_effects; e.effect == "permit"]

# applied_consents: the ids of the directives that applied. (input.consents[0]
# is the cheap test for "some directive": most decisions have none.)
applied_consents := [] if {
	not input.consents[0]
} else := sort({e.id | some e in consent_effects})

# explicit_permit: a permit consent whose deciding rule names the purpose.
explicit_permit if {
	some e in consent_permits
	input.subject.purpose in e.rule.purposes
}

# The consent rules are evaluated only when there are directives.
blocks contains b if {
	input.consents[0]
	some b in consent_blocks
}

notes contains n if {
	input.consents[0]
	some n in consent_notes
}

consent_blocks contains "consent.opt-out" if {
	consent_denied
	not "break-glass" in grants
}

consent_notes contains r if {
	consent_denied
	"break-glass" in grants
	some r in ["consent.opt-out", "consent.opt-out-overridden"]
}

consent_notes contains "consent.permit" if count(consent_permits) > 0

# --- jurisdiction profiles ----------------------------------------------------
#
# access.profiles[name].purposes[PURPOSE] is the lawful basis of a purpose of
# use: "law" (HIPAA treatment, payment, operations; GDPR Art. 9(2)(h)/(i))
# needs no consent unless a consent restricts; "consent" needs an explicit
# permit consent that names the purpose (research under both profiles). A
# purpose without a basis in the profile is never disclosed. Under GDPR a
# withdrawal (consent inactive) or opt-out therefore ends everything based
# on consent. The profile is input.profile, else access.default_profile.

profile := p if {
	p := input.profile
	p != ""
} else := access.default_profile

purpose_basis := access.profiles[profile].purposes[input.subject.purpose]

blocks contains profile_block if reading

# profile_block: the first reason the profile refuses the purpose.
profile_block := "profile.unknown" if {
	not access.profiles[profile]
} else := "profile.no-lawful-basis" if {
	not purpose_basis
} else := "profile.consent-required" if {
	purpose_basis == "consent"
	not explicit_permit
}

no_consents if not input.consents

no_consents if count(input.consents) == 0

# consent_explanation(c): what explain says of one directive.
consent_explanation(c) := object.union(
	{"id": object.get(c, "id", ""), "status": object.get(c, "status", ""), "in_force": consent_in_force_bool(c)},
	consent_outcome(c),
)

consent_in_force_bool(c) := true if consent_in_force(c) else := false

consent_outcome(c) := {"effect": e.effect, "provision": e.path, "depth": e.depth} if {
	reading
	consent_in_force(c)
	e := consent_effect(c)
} else := {"effect": "none"}
