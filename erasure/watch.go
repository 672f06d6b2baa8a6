package erasure

import (
	"context"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
)

// Watch evicts from this instance's key cache the keys of patients erased
// on any instance, polling the audit log every interval until ctx ends.
//
// Reads do not depend on it (they check the key store on every read), but
// the ingest pipeline and routing seal and open with cached keys: without
// Watch, another instance could keep using an erased patient's cached key
// until the cache TTL ran out. With it, for at most about one interval.
func (s *Service) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	since := s.d.Now().Add(-time.Minute)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Overlap the windows generously: instances' clocks differ and an
		// event is stamped before it is appended. Evicting twice is free.
		next := s.d.Now().Add(-time.Minute)
		if err := s.evictErased(ctx, since); err != nil {
			s.d.Logger.Warn("erasure: watching for erasures failed; retrying", "err", err)
			continue
		}
		since = next
	}
}

// evictErased evicts every owner of an erasure recorded since.
func (s *Service) evictErased(ctx context.Context, since time.Time) error {
	f := audit.Filter{Codes: []string{audit.CodeErasure}, From: since, Limit: 1000}
	for {
		evs, err := s.d.Audit.Query(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.Outcome != audit.OutcomeAllow {
				continue
			}
			for _, o := range erasedOwners(e) {
				s.d.Evict(o)
			}
		}
		if len(evs) < f.Limit {
			return nil
		}
		f.After = evs[len(evs)-1].ID
	}
}

// erasedOwners are the patient of an erasure event and the owners its
// reason lists ("<what>: data keys P1,P2").
func erasedOwners(e audit.Event) []string {
	owners := []string{e.PatientID}
	if _, list, ok := strings.Cut(e.Reason, ownersPrefix); ok {
		list, _, _ = strings.Cut(list, ":")
		owners = append(owners, strings.Split(list, ",")...)
	}
	out := owners[:0]
	for _, o := range owners {
		if validPatient(o) == nil {
			out = append(out, o)
		}
	}
	return out
}
