package store

import (
	"strings"

	"github.com/carecrest/hub/audit"
)

// Audit query limits shared by every backend.
const (
	DefaultAuditLimit = 1000
	MaxAuditLimit     = 10000
)

// AuditWhere translates an audit filter into a SQL WHERE clause over the
// audit tables' columns ("" when nothing filters) and its arguments, with
// "?" placeholders, and returns the effective limit. Both backends use it,
// so the filter means the same everywhere: [From, To), the After cursor by
// event id, Limit defaulting to DefaultAuditLimit and capped at
// MaxAuditLimit.
func AuditWhere(f audit.Filter) (where string, args []any, limit int) {
	var conds []string
	add := func(cond string, v any) { conds = append(conds, cond); args = append(args, v) }
	if f.PatientID != "" {
		add("patient_id = ?", f.PatientID)
	}
	if len(f.PatientIDs) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(f.PatientIDs)), ", ")
		conds = append(conds, "patient_id IN ("+marks+")")
		for _, p := range f.PatientIDs {
			args = append(args, p)
		}
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if f.Purpose != "" {
		add("purpose = ?", f.Purpose)
	}
	if f.RecordType != "" {
		add("record_type = ?", f.RecordType)
	}
	if f.Application != "" {
		add("application = ?", f.Application)
	}
	if len(f.Codes) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(f.Codes)), ", ")
		conds = append(conds, "code IN ("+marks+")")
		for _, c := range f.Codes {
			args = append(args, c)
		}
	}
	if !f.From.IsZero() {
		add("time_ns >= ?", f.From.UnixNano())
	}
	if !f.To.IsZero() {
		add("time_ns < ?", f.To.UnixNano())
	}
	if f.After != "" {
		add("id > ?", f.After)
	}
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	limit = f.Limit
	if limit <= 0 || limit > MaxAuditLimit {
		limit = DefaultAuditLimit
	}
	return where, args, limit
}
