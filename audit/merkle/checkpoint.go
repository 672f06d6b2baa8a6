package merkle

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// OriginPrefix starts the origin line of every checkpoint of the hub; the
// shard name follows it.
const OriginPrefix = "carecrest-hub/"

// Checkpoint is a signed statement of a shard's tree: its first Size events
// have the tree head Root. Its text is C2SP tlog-checkpoint
// (https://c2sp.org/tlog-checkpoint) with one extension line, the time:
//
//	carecrest-hub/hub-0
//	1024
//	<base64 root hash>
//	time 2026-05-04T10:00:00Z
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   Hash
	Time   time.Time
	// Note is the signed note (text and signature), when signed.
	Note string
}

// Origin is the checkpoint origin of a shard.
func Origin(shard string) string { return OriginPrefix + shard }

// Shard is the shard the checkpoint covers ("" when the origin is not the
// hub's).
func (c Checkpoint) Shard() string {
	s, _ := strings.CutPrefix(c.Origin, OriginPrefix)
	if s == c.Origin {
		return ""
	}
	return s
}

// Text is the checkpoint body, as signed.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\ntime %s\n", c.Origin, c.Size, c.Root, c.Time.UTC().Format(time.RFC3339))
}

// ErrCheckpoint reports a checkpoint that cannot be read.
var ErrCheckpoint = errors.New("merkle: malformed checkpoint")

// ParseCheckpoint reads a checkpoint body (the text of its note). Unknown
// extension lines are ignored.
func ParseCheckpoint(text string) (Checkpoint, error) {
	if err := checkText(text); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("%w: want origin, size and root lines", ErrCheckpoint)
	}
	var c Checkpoint
	c.Origin = lines[0]
	if c.Origin == "" {
		return Checkpoint{}, fmt.Errorf("%w: empty origin", ErrCheckpoint)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || (len(lines[1]) > 1 && lines[1][0] == '0') {
		return Checkpoint{}, fmt.Errorf("%w: size is not a decimal number", ErrCheckpoint)
	}
	c.Size = size
	if c.Root, err = ParseHash(lines[2]); err != nil || lines[2] != c.Root.String() {
		return Checkpoint{}, fmt.Errorf("%w: root is not a base64 SHA-256 hash", ErrCheckpoint)
	}
	for _, l := range lines[3:] {
		if v, ok := strings.CutPrefix(l, "time "); ok {
			if c.Time, err = time.Parse(time.RFC3339, v); err != nil {
				return Checkpoint{}, fmt.Errorf("%w: time is not RFC 3339", ErrCheckpoint)
			}
		}
	}
	return c, nil
}

// OpenCheckpoint verifies a signed checkpoint note with v and parses it.
func OpenCheckpoint(note string, v *Verifier) (Checkpoint, error) {
	text, err := v.Open(note)
	if err != nil {
		return Checkpoint{}, err
	}
	c, err := ParseCheckpoint(text)
	if err != nil {
		return Checkpoint{}, err
	}
	c.Note = note
	return c, nil
}

// SignCheckpoint signs c with s and returns it with its Note set.
func SignCheckpoint(c Checkpoint, s *Signer) (Checkpoint, error) {
	note, err := s.Sign(c.Text())
	if err != nil {
		return Checkpoint{}, err
	}
	c.Note = note
	c.Time = c.Time.UTC().Truncate(time.Second)
	return c, nil
}
