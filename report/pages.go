package report

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/carecrest/hub/audit"
)

// PageSize is how many events Each reads per query.
const PageSize = 5000

// Each calls fn for every event f selects, oldest first (by event id),
// reading one page of PageSize events at a time by cursor, so that any
// number of events streams in bounded memory. f.After starts after a
// cursor; f.Limit is ignored (use the callback to stop: return ErrStop).
func Each(ctx context.Context, q audit.Querier, f audit.Filter, fn func(audit.Event) error) error {
	f.Limit = PageSize
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := q.Query(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
		}
		if len(page) < f.Limit {
			return nil
		}
		f.After = page[len(page)-1].ID
	}
}

// ErrStop, returned by an Each callback, ends the walk without error.
var ErrStop = errors.New("report: stop")

const cursorPrefix = "cc1:"

// EncodeCursor makes the opaque page cursor that resumes after event id.
func EncodeCursor(id string) string {
	if id == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + id))
}

// DecodeCursor returns the event id of a cursor made by EncodeCursor.
func DecodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) > 64 {
		return "", ErrBadCursor
	}
	id, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok || id == "" || !idChars(id) {
		return "", ErrBadCursor
	}
	return id, nil
}

// ErrBadCursor reports a cursor this package did not make.
var ErrBadCursor = errors.New("invalid cursor")

func idChars(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
