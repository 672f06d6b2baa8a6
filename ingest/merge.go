package ingest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/mpi"
	"github.com/carecrest/hub/record"
)

// Merges. A merge message (HL7 ADT A34/A40: Record.Replaces on the
// surviving Patient; FHIR Patient.link of type replaces or replaced-by)
// asks the patient index to merge the retired patient into the survivor:
//
//	link → decide → plan merges (resolve both sides, refuse cycles and
//	second merges: the message is dead-lettered) → seal → Commit (records
//	+ one CodePatientMerge event per merge) → write the merge links →
//	route → offsets
//
// The audit event is durable before the merge takes effect, so there is
// never a merge without its audit record; a crash in between leaves the
// offsets uncommitted and redelivery writes the links (Merge is
// idempotent, and the event's key keeps it from being audited twice).
// Records keep the enterprise id they were linked to; later records with
// a retired identifier link to the survivor.

// ActionMerge is the audit action of a patient merge.
const ActionMerge = "patient.merge"

// mergeReq is one merge a record asks for.
type mergeReq struct {
	rec  int // index of the Patient record in item.recs
	req  mpi.MergeRequest
	plan mpi.MergePlan
}

// mergeRequests returns the merges a record asks for.
func mergeRequests(source string, r *record.Record) []mpi.MergeRequest {
	if r.Type != "Patient" {
		return nil
	}
	var out []mpi.MergeRequest
	if len(r.Replaces) > 0 {
		out = append(out, mpi.MergeRequest{Surviving: r.Subject, Retired: r.Replaces})
	}
	links, _ := r.Resource["link"].([]any)
	for _, l := range links {
		m, _ := l.(map[string]any)
		other := patientRefIdentifiers(source, m["other"])
		if len(other) == 0 {
			continue
		}
		switch m["type"] {
		case "replaces":
			out = append(out, mpi.MergeRequest{Surviving: r.Subject, Retired: other})
		case "replaced-by":
			out = append(out, mpi.MergeRequest{Surviving: other, Retired: r.Subject})
		}
	}
	return out
}

// patientRefIdentifiers returns the identifiers of a Reference to a
// Patient as the FHIR decoder gives a Patient's Subject: "Patient/<id>"
// (relative or absolute) as the source-scoped logical id,
// "Patient?identifier=system|value" and Reference.identifier as business
// identifiers.
func patientRefIdentifiers(source string, v any) []record.Identifier {
	m, _ := v.(map[string]any)
	var out []record.Identifier
	if ref, _ := m["reference"].(string); ref != "" {
		if i := strings.Index(ref, "/_history/"); i >= 0 {
			ref = ref[:i]
		}
		if q, ok := strings.CutPrefix(ref, "Patient?identifier="); ok {
			if system, value, ok := strings.Cut(q, "|"); ok && system != "" && value != "" {
				out = append(out, record.Identifier{System: system, Value: value})
			}
		} else if rest, id, ok := cutLast(ref, "/"); ok && (rest == "Patient" || strings.HasSuffix(rest, "/Patient")) && id != "" {
			out = append(out, record.Identifier{System: "urn:carecrest:source:" + source + ":Patient", Value: id})
		}
	}
	if id, ok := m["identifier"].(map[string]any); ok {
		system, _ := id["system"].(string)
		value, _ := id["value"].(string)
		if value != "" {
			if system == "" {
				system = "urn:carecrest:source:" + source + ":id-system-unknown"
			}
			out = append(out, record.Identifier{System: system, Value: value})
		}
	}
	return out
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// planMerges resolves and decides the merges of the accepted messages. A
// refused merge rejects its message; a message with merges and no patient
// index is rejected too (a merge is never silently dropped).
func (p *Pipeline) planMerges(ctx context.Context, items []*item) error {
	var all []*mergeReq
	for _, it := range items {
		if it.reject != "" {
			continue
		}
		for i := range it.recs {
			for _, rq := range mergeRequests(it.source, &it.recs[i]) {
				it.merges = append(it.merges, &mergeReq{rec: i, req: rq})
			}
		}
		if len(it.merges) > 0 && p.Index == nil {
			it.fail(audit.CodeIngestRejected, "merge message, but the hub has no patient index to record merges")
			it.merges = nil
			continue
		}
		all = append(all, it.merges...)
	}
	if len(all) == 0 {
		return nil
	}
	reqs := make([]mpi.MergeRequest, len(all))
	for i, m := range all {
		reqs[i] = m.req
	}
	plans, err := p.Index.PlanMerges(ctx, reqs)
	if err != nil {
		return fmt.Errorf("ingest: plan merges: %w", err)
	}
	for i, m := range all {
		m.plan = plans[i]
	}
	for _, it := range items {
		for _, m := range it.merges {
			if m.plan.Err != nil {
				it.fail(audit.CodeIngestRejected, "merge refused: "+refusal(m.plan.Err))
			}
		}
	}
	return nil
}

func refusal(err error) string {
	switch {
	case errors.Is(err, mpi.ErrMergeCycle):
		return "the surviving patient was merged into the retired one"
	case errors.Is(err, mpi.ErrAlreadyMerged):
		return "the retired patient was already merged into another patient"
	}
	return "invalid merge"
}

// mergeEvents audits an accepted message's merges, one event each, naming
// both enterprise ids (never identifiers). The key makes a redelivered
// merge audited once.
func mergeEvents(it *item) []audit.Event {
	out := make([]audit.Event, 0, len(it.merges))
	for n, m := range it.merges {
		r := &it.recs[m.rec]
		d := it.allowed[r.Type]
		reason := fmt.Sprintf("patient %s merged into %s", m.plan.Retired, m.plan.Into)
		if m.plan.Noop {
			reason = fmt.Sprintf("patient %s already part of %s: nothing to merge", m.plan.Retired, m.plan.Into)
		}
		out = append(out, audit.Event{
			Time: r.Received, Code: audit.CodePatientMerge, Action: ActionMerge, Outcome: audit.OutcomeAllow,
			ActorID: it.source, ActorRoles: []string{"source-system"}, Application: it.msg.Topic,
			PatientID: m.plan.Into, RecordType: r.Type, RecordIDs: []string{r.ID},
			PolicyRevision: d.Revision, Rules: d.Rules, Reason: reason, RequestID: requestID(it.msg),
			Key: "m|" + r.Key + "|" + strconv.Itoa(n),
		})
	}
	return out
}

// applyMerges writes the merges of the committed messages. A merge that
// the index now refuses (another instance merged one side meanwhile) is
// logged and skipped: it cannot be undone from its audit event, and the
// index keeps its first merge. Store errors fail the batch, which is
// retried.
func (p *Pipeline) applyMerges(ctx context.Context, items []*item) error {
	for _, it := range items {
		if it.reject != "" {
			continue
		}
		for _, m := range it.merges {
			if m.plan.Noop || m.plan.Err != nil {
				continue
			}
			_, err := p.Index.Merge(ctx, m.plan.Retired, m.plan.Survivor)
			switch {
			case errors.Is(err, mpi.ErrMergeCycle), errors.Is(err, mpi.ErrAlreadyMerged):
				p.Logger.Warn("ingest: merge refused after it was planned; the index keeps its earlier merge",
					"retired", m.plan.Retired, "survivor", m.plan.Survivor, "reason", refusal(err))
			case err != nil:
				return fmt.Errorf("ingest: merge patients: %w", err)
			}
		}
	}
	return nil
}

// putFacts stores the care relationships and demographic match keys of
// the committed records.
func (p *Pipeline) putFacts(ctx context.Context, items []*item) error {
	if p.Index == nil {
		return nil
	}
	var f mpi.Facts
	for _, it := range items {
		if it.reject == "" {
			f.Care = append(f.Care, it.facts.Care...)
			f.Surnames = append(f.Surnames, it.facts.Surnames...)
			f.Addresses = append(f.Addresses, it.facts.Addresses...)
		}
	}
	if len(f.Care)+len(f.Surnames)+len(f.Addresses) == 0 {
		return nil
	}
	if err := p.Index.PutFacts(ctx, f); err != nil {
		return fmt.Errorf("ingest: care relationships: %w", err)
	}
	return nil
}
