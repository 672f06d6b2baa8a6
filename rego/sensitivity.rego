# Sensitivity labels (package carecrest.authz): input.labels are the HL7 v3
# sensitivity codes of the records decided (labels/ assigns them at
# ingest); access.sensitivity configures each.
#
# 42 CFR Part 2 (labels with "part2": true, ETH): a disclosure needs an
# in-force permit consent whose deciding rule names the label and the
# purpose of use (and, through its actors, the recipient when it names
# one). Break-the-glass does not override that, except as a bona fide
# medical emergency (42 CFR 2.51): purpose ETREAT with a reason, a fresh
# session, and a role in access.part2.emergency_roles (medical personnel);
# it is noted "part2.medical-emergency" and the hub audits it as
# break-the-glass. A Part 2 deny consent is overridden by the same
# emergency only. Every allowed Part 2 disclosure carries the obligation
# "part2-redisclosure-notice" (42 CFR 2.32).
#
# Other labels: "roles" lists the roles that may see records so labelled
# (absent: every role), "consent_profiles" the profiles under which an
# explicit permit consent naming the label is needed, "break_glass" whether
# break-the-glass overrides both (noted "label.break-glass"). Labels the
# table does not list do not restrict.

package carecrest.authz

import data.carecrest.access

input_labels := ls if {
	is_array(input.labels)
	ls := input.labels
} else := []

no_labels if not input.labels[0]

# The label rules are evaluated only for labelled records (input.labels[0]
# is the cheap test).
blocks contains b if {
	reading
	input.labels[0]
	some b in label_blocks
}

notes contains n if {
	reading
	input.labels[0]
	some n in label_notes
}

part2_labels := {l | some l in input_labels; access.sensitivity[l].part2 == true}

other_labels := {l | some l in input_labels; cfg := access.sensitivity[l]; not cfg.part2}

# --- 42 CFR Part 2 ------------------------------------------------------------

part2_medical_emergency if {
	"break-glass" in grants
	some r in input.subject.roles
	r in access.part2.emergency_roles
}

part2_consent if {
	some e in consent_permits
	some l in part2_labels
	l in e.rule.security_labels
	input.subject.purpose in e.rule.purposes
}

label_blocks contains "part2.consent-required" if {
	count(part2_labels) > 0
	not part2_medical_emergency
	not part2_consent
}

# A deny consent on Part 2 data yields only to a medical emergency: the
# general break-the-glass override (consent.rego) is not enough.
label_blocks contains "consent.opt-out" if {
	count(part2_labels) > 0
	consent_denied
	not part2_medical_emergency
}

label_notes contains "part2.medical-emergency" if {
	count(part2_labels) > 0
	part2_medical_emergency
}

label_notes contains "part2.consent" if {
	count(part2_labels) > 0
	not part2_medical_emergency
	part2_consent
}

obligations contains "part2-redisclosure-notice" if {
	reading
	input.labels[0]
	count(part2_labels) > 0
}

# --- other labels -------------------------------------------------------------

label_role_ok(l) if not access.sensitivity[l].roles

label_role_ok(l) if {
	some r in input.subject.roles
	r in access.sensitivity[l].roles
}

label_needs_consent(l) if profile in object.get(access.sensitivity[l], "consent_profiles", [])

label_consent(l) if {
	some e in consent_permits
	l in e.rule.security_labels
}

label_break_glass(l) if {
	"break-glass" in grants
	access.sensitivity[l].break_glass == true
}

label_role_denied(l) if not label_role_ok(l)

label_consent_missing(l) if {
	label_needs_consent(l)
	not label_consent(l)
}

label_blocks contains "label.role-not-permitted" if {
	some l in other_labels
	label_role_denied(l)
	not label_break_glass(l)
}

label_blocks contains "label.consent-required" if {
	some l in other_labels
	label_consent_missing(l)
	not label_break_glass(l)
}

label_notes contains "label.break-glass" if {
	some l in other_labels
	label_break_glass(l)
	label_restricted(l)
}

label_restricted(l) if label_role_denied(l)

label_restricted(l) if label_consent_missing(l)
