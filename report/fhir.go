package report

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
)

// Terminology used by the FHIR AuditEvent mapping (FHIR R4 and IHE Basic
// Audit Log Patterns).
const (
	sysEventType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	sysRestful     = "http://hl7.org/fhir/restful-interaction"
	sysDICOM       = "http://dicom.nema.org/resources/ontology/DCM"
	sysActReason   = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	sysEntityType  = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	sysObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	sysSourceType  = "http://terminology.hl7.org/CodeSystem/security-source-type"
	sysSecRoleType = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	// The hub's own identifiers and codes.
	SysHubCode  = "urn:carecrest:audit-code" // subtype: the hub's stable event code (CC2000I, ...)
	SysHubActor = "urn:carecrest:actor"      // agent identifiers: user, application or system ids
	SysHubRole  = "urn:carecrest:role"       // agent roles (rego/data.json roles)
	SysHubOrg   = "urn:carecrest:org"        // organisations
	SysHubApp   = "urn:carecrest:application"
	SysHubInst  = "urn:carecrest:hub" // observer: the hub instance
)

type coding = map[string]any

func code(system, c, display string) coding {
	m := coding{"system": system, "code": c}
	if display != "" {
		m["display"] = display
	}
	return m
}

// eventKind maps a hub event code to the AuditEvent type, subtype and
// action (C create, R read, U update, D delete, E execute), following IHE
// BALP where it has a pattern: RESTful reads, creates and updates use
// audit-event-type "rest" with a restful-interaction subtype; disclosures
// to subscribers are DICOM 110106 Export; queries of the audit log and
// reports are DICOM 110112 Query; other hub activity is DICOM 110100
// Application Activity.
func eventKind(e audit.Event) (typ coding, sub coding, action string) {
	rest := code(sysEventType, "rest", "RESTful Operation")
	switch e.Code {
	case audit.CodeRecordRead, audit.CodeRecordReadDeny, audit.CodeBreakGlass, audit.CodeReadFailed:
		return rest, code(sysRestful, "read", "read"), "R"
	case audit.CodeRecordWrite, audit.CodeRecordWriteDeny, audit.CodeIngestRejected:
		return rest, code(sysRestful, "create", "create"), "C"
	case audit.CodeConsentChange:
		return rest, code(sysRestful, "update", "update"), "U"
	case audit.CodeRouted, audit.CodeRouteDeny:
		return code(sysDICOM, "110106", "Export"), nil, "R"
	case audit.CodeAuditExport:
		return code(sysDICOM, "110106", "Export"), nil, "E"
	case audit.CodeAuditQuery, audit.CodeAuditQueryDeny, audit.CodeReport, audit.CodeReportDeny:
		return code(sysDICOM, "110112", "Query"), nil, "E"
	case audit.CodeErasure:
		return rest, code(sysRestful, "delete", "delete"), "D"
	case audit.CodePatientMerge:
		return code(sysDICOM, "110110", "Patient Record"), nil, "U"
	}
	return code(sysDICOM, "110100", "Application Activity"), nil, "E"
}

// outcomeCode maps an outcome: 0 success, 4 minor failure (denied), 8
// serious failure (error).
func outcomeCode(o string) string {
	switch o {
	case audit.OutcomeAllow:
		return "0"
	case audit.OutcomeDeny:
		return "4"
	}
	return "8"
}

// queryCodes are the events whose Reason holds what was asked (a query
// description, no PHI); it goes to the query entity.
var queryCodes = map[string]bool{
	audit.CodeAuditQuery: true, audit.CodeAuditQueryDeny: true, audit.CodeAuditExport: true,
	audit.CodeReport: true, audit.CodeReportDeny: true,
}

// FHIRAuditEvent converts a hub audit event into a FHIR R4 AuditEvent
// resource (as a JSON-ready map) after the IHE Basic Audit Log Patterns:
// type/subtype, action, recorded, outcome, purposeOfEvent, agents (the
// requestor with its roles and purpose of use, its application and its
// organisation), source (observer: the hub instance) and entities (the
// patient, the records concerned with the elements disclosed and masked,
// the query). It carries exactly what the audit row carries.
func FHIRAuditEvent(e audit.Event, obs Observer) map[string]any {
	typ, sub, action := eventKind(e)
	subtype := []coding{}
	if sub != nil {
		subtype = append(subtype, sub)
	}
	subtype = append(subtype, code(SysHubCode, e.Code, ""))
	var purpose []map[string]any
	if e.Purpose != "" {
		purpose = []map[string]any{{"coding": []coding{code(sysActReason, e.Purpose, "")}}}
	}

	actor := map[string]any{
		"who":       map[string]any{"identifier": map[string]any{"system": SysHubActor, "value": e.ActorID}},
		"requestor": true,
	}
	switch e.Code {
	case audit.CodeRouted, audit.CodeRouteDeny:
		actor["type"] = map[string]any{"coding": []coding{code(sysDICOM, "110152", "Destination Role ID")}}
		actor["requestor"] = false // the hub pushed to the subscriber
	case audit.CodeRecordWrite, audit.CodeRecordWriteDeny, audit.CodeIngestRejected, audit.CodeConsentChange:
		actor["type"] = map[string]any{"coding": []coding{code(sysDICOM, "110153", "Source Role ID")}}
	default:
		actor["type"] = map[string]any{"coding": []coding{code(sysSecRoleType, "humanuser", "human user")}}
	}
	if len(e.ActorRoles) > 0 {
		roles := make([]map[string]any, len(e.ActorRoles))
		for i, r := range e.ActorRoles {
			roles[i] = map[string]any{"coding": []coding{code(SysHubRole, r, "")}}
		}
		actor["role"] = roles
	}
	if purpose != nil {
		actor["purposeOfUse"] = purpose
	}
	agents := []map[string]any{actor}
	if e.Application != "" {
		agents = append(agents, map[string]any{
			"type":      map[string]any{"coding": []coding{code(sysDICOM, "110150", "Application")}},
			"who":       map[string]any{"identifier": map[string]any{"system": SysHubApp, "value": e.Application}},
			"requestor": false,
		})
	}
	if e.ActorOrg != "" {
		agents = append(agents, map[string]any{
			"type":      map[string]any{"text": "organization"},
			"who":       map[string]any{"type": "Organization", "identifier": map[string]any{"system": SysHubOrg, "value": e.ActorOrg}},
			"requestor": false,
		})
	}
	if e.Code == audit.CodeRouted || e.Code == audit.CodeRouteDeny {
		// The hub itself is the requestor of a push to a subscriber.
		agents = append(agents, map[string]any{
			"type":      map[string]any{"coding": []coding{code(sysDICOM, "110153", "Source Role ID")}},
			"who":       map[string]any{"identifier": map[string]any{"system": SysHubInst, "value": obs.Instance}},
			"requestor": true,
		})
	}

	source := map[string]any{
		"observer": map[string]any{
			"identifier": map[string]any{"system": SysHubInst, "value": obs.Instance},
			"display":    "CareCrest Hub " + obs.Instance,
		},
		"type": []coding{code(sysSourceType, "4", "Application Server")},
	}
	if obs.Site != "" {
		source["site"] = obs.Site
	}

	var entities []map[string]any
	if e.PatientID != "" {
		entities = append(entities, map[string]any{
			"what": map[string]any{"reference": "Patient/" + e.PatientID},
			"type": code(sysEntityType, "1", "Person"),
			"role": code(sysObjectRole, "1", "Patient"),
		})
	}
	for _, id := range e.RecordIDs {
		ent := map[string]any{
			"what": map[string]any{"reference": refType(e.RecordType) + "/" + id},
			"type": code(sysEntityType, "2", "System Object"),
			"role": code(sysObjectRole, "4", "Domain Resource"),
		}
		var detail []map[string]any
		if len(e.Disclosed) > 0 {
			detail = append(detail, map[string]any{"type": "disclosed", "valueString": strings.Join(e.Disclosed, ",")})
		}
		if len(e.Masked) > 0 {
			detail = append(detail, map[string]any{"type": "masked", "valueString": strings.Join(e.Masked, ",")})
		}
		if detail != nil {
			ent["detail"] = detail
		}
		entities = append(entities, ent)
	}
	if queryCodes[e.Code] && e.Reason != "" {
		entities = append(entities, map[string]any{
			"type":  code(sysEntityType, "2", "System Object"),
			"role":  code(sysObjectRole, "24", "Query"),
			"query": base64.StdEncoding.EncodeToString([]byte(e.Reason)),
		})
	}
	// Chain position: lets a reader match the resource to the verified log.
	entities = append(entities, map[string]any{
		"what": map[string]any{"identifier": map[string]any{"system": "urn:carecrest:audit-chain:" + e.Shard, "value": e.Hash}},
		"type": code(sysEntityType, "4", "Other"),
		"detail": []map[string]any{
			{"type": "shard", "valueString": e.Shard},
			{"type": "seq", "valueString": strconv.FormatUint(e.Seq, 10)},
			{"type": "policyRevision", "valueString": e.PolicyRevision},
		},
	})

	out := map[string]any{
		"resourceType": "AuditEvent",
		"id":           e.ID,
		"type":         typ,
		"subtype":      subtype,
		"action":       action,
		"recorded":     e.Time.UTC().Format(time.RFC3339Nano),
		"outcome":      outcomeCode(e.Outcome),
		"agent":        agents,
		"source":       source,
		"entity":       entities,
	}
	if e.Reason != "" {
		out["outcomeDesc"] = e.Reason
	}
	if purpose != nil {
		out["purposeOfEvent"] = purpose
	}
	return out
}

// refType keeps a reference type well formed: "" or a list of types (a
// read that found nothing names the types asked) becomes "Resource".
func refType(t string) string {
	if t == "" || strings.ContainsAny(t, ", /") {
		return "Resource"
	}
	return t
}
