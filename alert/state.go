package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
)

// Alert statuses.
const (
	StatusOpen         = "open"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Resolutions an alert may be resolved with (a closed set: resolutions are
// stored in the audit log, which carries no free text that could hold PHI).
var Resolutions = []string{"true-positive", "false-positive", "benign", "duplicate"}

// NotePattern is what an acknowledgement note may hold: a case or ticket
// reference, not free text.
var NotePattern = regexp.MustCompile(`^[A-Za-z0-9._:/#-]{1,64}$`)

// State is an alert with what has been done about it.
type State struct {
	Alert
	EventID        string // audit event id of the raise (cursor order)
	Status         string
	AcknowledgedBy string
	AcknowledgedAt time.Time
	Note           string
	ResolvedBy     string
	ResolvedAt     time.Time
	Resolution     string
}

// FromEvent decodes the alert an audit event (CodeAlert) records.
func FromEvent(e audit.Event) (Alert, bool) {
	if e.Code != audit.CodeAlert || len(e.RecordIDs) != 1 {
		return Alert{}, false
	}
	var a Alert
	if err := json.Unmarshal([]byte(e.Reason), &a); err != nil || a.ID != e.RecordIDs[0] {
		return Alert{}, false
	}
	return a, true
}

// AckReason and ResolveReason are the audit Reasons of acknowledgements
// and resolutions; parse reverses them.
func AckReason(id, note string) string { return "acknowledge alert " + id + " note=" + note }

// ResolveReason is the Reason of a resolution event.
func ResolveReason(id, resolution string) string {
	return "resolve alert " + id + " resolution=" + resolution
}

func after(reason, key string) string {
	_, v, ok := strings.Cut(reason, key+"=")
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, " ")
	return v
}

// Load reads every alert event from the log and folds it into states,
// ordered by the raise event's id.
func Load(ctx context.Context, q audit.Querier) ([]State, error) {
	f := audit.Filter{Codes: []string{audit.CodeAlert, audit.CodeAlertAck, audit.CodeAlertResolve}, Limit: 10_000}
	var out []State
	byID := map[string]int{}
	for {
		evs, err := q.Query(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("alert: load: %w", err)
		}
		for _, e := range evs {
			switch e.Code {
			case audit.CodeAlert:
				a, ok := FromEvent(e)
				if !ok {
					continue
				}
				if _, dup := byID[a.ID]; dup {
					continue
				}
				byID[a.ID] = len(out)
				out = append(out, State{Alert: a, EventID: e.ID, Status: StatusOpen})
			case audit.CodeAlertAck, audit.CodeAlertResolve:
				if e.Outcome != audit.OutcomeAllow || len(e.RecordIDs) != 1 {
					continue
				}
				i, ok := byID[e.RecordIDs[0]]
				if !ok {
					continue
				}
				s := &out[i]
				if e.Code == audit.CodeAlertAck && s.Status == StatusOpen {
					s.Status, s.AcknowledgedBy, s.AcknowledgedAt, s.Note = StatusAcknowledged, e.ActorID, e.Time, after(e.Reason, "note")
				}
				if e.Code == audit.CodeAlertResolve && s.Status != StatusResolved {
					s.Status, s.ResolvedBy, s.ResolvedAt, s.Resolution = StatusResolved, e.ActorID, e.Time, after(e.Reason, "resolution")
				}
			}
		}
		if len(evs) < f.Limit {
			return out, nil
		}
		f.After = evs[len(evs)-1].ID
	}
}
