package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/oklog/ulid/v2"
)

// Findings a reviewer records on a break-glass session.
const (
	Justified   = "justified"
	Unjustified = "unjustified"
)

// Categories are the fixed categories of each finding. A review records a
// finding and a category only: no free text, which could carry PHI.
var Categories = map[string][]string{
	Justified: {
		"emergency-treatment",          // the patient needed emergency care
		"unplanned-care",               // urgent care outside a scheduled relationship
		"care-relationship-unrecorded", // a real care relationship the systems did not show
		"consent-override-warranted",   // overriding the opt-out was clinically required
		"other",
	},
	Unjustified: {
		"no-clinical-need",        // no care need for the access
		"personal-interest",       // curiosity, family, colleague, acquaintance
		"wrong-patient",           // opened the wrong record
		"policy-misunderstanding", // break-the-glass used for routine access
		"other",
	},
}

// Finding is a reviewer's conclusion on a session.
type Finding struct {
	Finding  string `json:"finding"`  // justified or unjustified
	Category string `json:"category"` // one of Categories[Finding]
}

// Validate checks the finding against the fixed lists.
func (f Finding) Validate() error {
	cats, ok := Categories[f.Finding]
	if !ok {
		return fmt.Errorf("finding must be %s or %s", Justified, Unjustified)
	}
	if !slices.Contains(cats, f.Category) {
		return fmt.Errorf("category for a %s finding must be one of: %s", f.Finding, strings.Join(cats, ", "))
	}
	return nil
}

// ReviewReason is the audit Reason of a review event: the finding, its
// category and the session, in a fixed form ParseReview reads back.
func ReviewReason(sessionID string, f Finding) string {
	return "break-glass review session=" + sessionID + " finding=" + f.Finding + " category=" + f.Category
}

// ParseReview reads a review event's Reason.
func ParseReview(reason string) (session string, f Finding, ok bool) {
	rest, ok := strings.CutPrefix(reason, "break-glass review ")
	if !ok {
		return "", Finding{}, false
	}
	for _, kv := range strings.Fields(rest) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "session":
			session = v
		case "finding":
			f.Finding = v
		case "category":
			f.Category = v
		}
	}
	return session, f, session != "" && f.Validate() == nil
}

// Session is a break-the-glass session awaiting review: the break-glass
// reads of one patient by one actor, each less than the configured gap
// after the previous one. Its ID is the id of its first event.
type Session struct {
	ID          string    `json:"id"`
	Actor       string    `json:"actor"`
	Roles       []string  `json:"roles"`
	Org         string    `json:"org"`
	Application string    `json:"application"`
	PatientID   string    `json:"patient"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	EventIDs    []string  `json:"eventIds"`
	RecordTypes []string  `json:"recordTypes"`
	Records     int       `json:"records"`
	Reasons     []string  `json:"reasons"` // the break-glass reasons given (as audited)
}

// Queue returns the break-glass sessions in [from, to) that are not yet
// reviewed, oldest first. Events covered by a review (an allowed
// CodeBreakGlassReview event listing them) leave the queue.
func Queue(ctx context.Context, q audit.Querier, cfg Config, from, to time.Time) ([]Session, error) {
	reviewed := map[string]bool{}
	err := Each(ctx, q, audit.Filter{Codes: []string{audit.CodeBreakGlassReview}, Outcome: audit.OutcomeAllow, From: from},
		func(e audit.Event) error {
			for _, id := range e.RecordIDs {
				reviewed[id] = true
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	gap := cfg.BreakGlassSessionGap
	if gap <= 0 {
		gap = time.Hour
	}
	open := map[string]*Session{} // actor|patient → its latest session
	var sessions []*Session
	types := map[*Session]map[string]bool{}
	reasons := map[*Session]map[string]bool{}
	err = Each(ctx, q, audit.Filter{Codes: []string{audit.CodeBreakGlass}, From: from, To: to}, func(e audit.Event) error {
		if reviewed[e.ID] || e.Outcome != audit.OutcomeAllow {
			return nil
		}
		k := e.ActorID + "|" + e.PatientID
		s := open[k]
		if s == nil || e.Time.Sub(s.End) >= gap {
			if len(sessions) >= MaxEntries {
				return ErrTooLarge
			}
			s = &Session{
				ID: e.ID, Actor: e.ActorID, Roles: nonNil(e.ActorRoles), Org: e.ActorOrg, Application: e.Application,
				PatientID: e.PatientID, Start: e.Time.UTC(),
			}
			open[k] = s
			sessions = append(sessions, s)
			types[s], reasons[s] = map[string]bool{}, map[string]bool{}
		}
		if e.Time.After(s.End) {
			s.End = e.Time.UTC()
		}
		s.EventIDs = append(s.EventIDs, e.ID)
		s.Records += len(e.RecordIDs)
		if e.RecordType != "" {
			types[s][e.RecordType] = true
		}
		if e.Reason != "" {
			reasons[s][e.Reason] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Session, len(sessions))
	for i, s := range sessions {
		s.RecordTypes, s.Reasons = sortedSet(types[s]), sortedSet(reasons[s])
		if s.End.IsZero() {
			s.End = s.Start
		}
		out[i] = *s
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// ErrNoSession reports a session id that is not in the review queue
// (unknown, or already reviewed).
var ErrNoSession = errors.New("no such break-glass session awaiting review")

// FindSession returns the unreviewed session with id, recomputing the
// queue from one session gap before its start.
func FindSession(ctx context.Context, q audit.Querier, cfg Config, id string) (Session, error) {
	u, err := ulid.ParseStrict(id)
	if err != nil {
		return Session{}, ErrNoSession
	}
	gap := cfg.BreakGlassSessionGap
	if gap <= 0 {
		gap = time.Hour
	}
	start := ulid.Time(u.Time()).Add(-gap)
	sessions, err := Queue(ctx, q, cfg, start, time.Time{})
	if err != nil {
		return Session{}, err
	}
	for _, s := range sessions {
		if s.ID == id {
			return s, nil
		}
	}
	return Session{}, ErrNoSession
}

// QueueText renders the queue.
func QueueText(sessions []Session) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d break-the-glass session(s) awaiting review\n", len(sessions))
	for _, s := range sessions {
		fmt.Fprintf(&b, "- %s  %s [%s]  patient %s  %s to %s  %d event(s), %d record(s): %s  reasons: %s\n",
			s.ID, s.Actor, strings.Join(s.Roles, ","), s.PatientID, s.Start.Format(time.RFC3339), s.End.Format(time.RFC3339),
			len(s.EventIDs), s.Records, strings.Join(s.RecordTypes, ", "), strings.Join(s.Reasons, " | "))
	}
	return b.String()
}
