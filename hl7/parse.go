package hl7

import (
	"iter"
	"strings"
)

// Limits bound the work and memory of parsing one input. A zero field takes
// its default (see DefaultLimits); exceeding any limit is a *DecodeError.
//
// Memory is bounded: parsing keeps one copy of the input and 32 bytes per
// segment (at most MaxTotalSegments of them); fields are located when read.
type Limits struct {
	MaxBytes         int // input size, after which nothing is parsed
	MaxMessages      int // messages in one input (batch or stream)
	MaxSegments      int // segments in one message, MSH included
	MaxTotalSegments int // segments in the whole input
	MaxFields        int // fields in one segment
	MaxRepetitions   int // repetitions in one field
}

// DefaultLimits returns the limits used for zero fields of Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:         4 << 20,
		MaxMessages:      10000,
		MaxSegments:      5000,
		MaxTotalSegments: 100000,
		MaxFields:        1000,
		MaxRepetitions:   5000,
	}
}

func (l Limits) withDefaults() Limits {
	def := DefaultLimits()
	pick := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	l.MaxBytes = pick(l.MaxBytes, def.MaxBytes)
	l.MaxMessages = pick(l.MaxMessages, def.MaxMessages)
	l.MaxSegments = pick(l.MaxSegments, def.MaxSegments)
	l.MaxTotalSegments = pick(l.MaxTotalSegments, def.MaxTotalSegments)
	l.MaxFields = pick(l.MaxFields, def.MaxFields)
	l.MaxRepetitions = pick(l.MaxRepetitions, def.MaxRepetitions)
	return l
}

// Message is one parsed HL7 v2 message: its MSH segment and the segments up
// to the next MSH, batch segment or the end of the input.
//
// A Message and everything read from it are immutable and safe for
// concurrent use. Values are substrings of one private copy of the input.
type Message struct {
	delims Delimiters
	text   string // from the start of MSH to the end of the last segment
	segs   []Segment
}

// Delimiters returns the message's encoding characters.
func (m *Message) Delimiters() Delimiters { return m.delims }

// Len returns the number of segments, MSH included.
func (m *Message) Len() int { return len(m.segs) }

// At returns the i-th segment (MSH is 0).
func (m *Message) At(i int) *Segment { return &m.segs[i] }

// All yields the segments in order with their index.
func (m *Message) All() iter.Seq2[int, *Segment] {
	return func(yield func(int, *Segment) bool) {
		for i := range m.segs {
			if !yield(i, &m.segs[i]) {
				return
			}
		}
	}
}

// Segments returns the segments named name, in order.
func (m *Message) Segments(name string) []*Segment {
	var out []*Segment
	for i := range m.segs {
		if m.segs[i].Name() == name {
			out = append(out, &m.segs[i])
		}
	}
	return out
}

// Segment returns the first segment named name, or nil.
func (m *Message) Segment(name string) *Segment {
	for i := range m.segs {
		if m.segs[i].Name() == name {
			return &m.segs[i]
		}
	}
	return nil
}

// Header returns the MSH segment.
func (m *Message) Header() *Segment { return &m.segs[0] }

// Type returns MSH-9: message code, trigger event and message structure
// (ADT, A08, ADT_A01). The structure is empty before 2.3.1.
func (m *Message) Type() (code, trigger, structure string) {
	f := m.segs[0].Field(9)
	return trim(f.Comp(1).String()), trim(f.Comp(2).String()), trim(f.Comp(3).String())
}

// ControlID returns MSH-10, the message control id.
func (m *Message) ControlID() string { return trim(m.segs[0].Field(10).Comp(1).String()) }

// Version returns the version id of MSH-12 (2.5.1).
func (m *Message) Version() string { return trim(m.segs[0].Field(12).Comp(1).String()) }

// Text returns the message as received, from MSH to the end of its last
// segment (segment terminators as in the input).
func (m *Message) Text() string { return m.text }

// Parse parses an input that holds exactly one message (optionally wrapped
// in batch segments).
func Parse(data []byte, lim Limits) (*Message, error) {
	msgs, err := ParseAll(data, lim)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, errorf(ReasonNotOneMessage, -1, 0, "input holds more than one message")
	}
	return msgs[0], nil
}

// ParseAll parses every message of an input: a single message, several
// messages one after the other, or a batch file (FHS/BHS ... BTS/FTS, the
// trailers optional). Batch header and trailer segments are checked but not
// returned.
//
// Segments may end with CR, LF or CRLF, mixed; a leading UTF-8 byte order
// mark, blank lines and MLLP framing characters are ignored. Each message
// uses the delimiters of its own MSH.
func ParseAll(data []byte, lim Limits) ([]*Message, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes {
		return nil, errorf(ReasonTooLarge, -1, 0, "input exceeds the size limit")
	}
	data = trimBOM(data)
	p := parser{src: string(data), lim: lim}
	return p.run()
}

func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		return b[3:]
	}
	return b
}

// parser splits an input into messages. All segments of all messages share
// one backing array, so that parsing costs a handful of allocations however
// many segments and fields the input has.
type parser struct {
	src  string
	lim  Limits
	segs []Segment
	msgs []msgSpan
}

type msgSpan struct {
	delims             Delimiters
	first, last        int // segment range [first, last)
	textStart, textEnd int
}

func (p *parser) run() ([]*Message, error) {
	var (
		cur    *msgSpan // message being filled, nil between messages
		lineNo int      // index of the current non-blank line in the input
		sc     = lineScanner{s: p.src, cr: -1, lf: -1}
	)
	// inMessage and outside place an error at the current line.
	inMessage := func(e *DecodeError) ([]*Message, error) {
		e.Message, e.Segment = len(p.msgs)-1, cur.last-cur.first
		return nil, e
	}
	outside := func(e *DecodeError) ([]*Message, error) {
		e.Message, e.Segment = len(p.msgs), lineNo
		return nil, e
	}
	p.reserve()
	for ; ; lineNo++ {
		line, start, ok := sc.next()
		if !ok {
			break
		}
		if trimmed := strings.TrimLeft(line, "\x0b"); len(trimmed) != len(line) { // MLLP start block
			start += len(line) - len(trimmed)
			line = trimmed
		}
		if blank(line) {
			lineNo--
			continue
		}
		if len(line) < 3 || !segmentName(line[:3]) {
			e := errorf(ReasonBadSegment, 0, 0, "line does not start with a segment name")
			if cur != nil {
				return inMessage(e)
			}
			return outside(e)
		}
		switch line[:3] {
		case "MSH":
			cur = nil
			if len(p.msgs) == p.lim.MaxMessages {
				e := errorf(ReasonTooManyMessages, -1, 0, "input holds more messages than the limit")
				e.Message = len(p.msgs)
				return nil, e
			}
			d, err := parseDelimiters(line)
			if err != nil {
				err.Message = len(p.msgs)
				return nil, err
			}
			p.msgs = append(p.msgs, msgSpan{delims: d, first: len(p.segs), last: len(p.segs), textStart: start})
			cur = &p.msgs[len(p.msgs)-1]
		case "FHS", "BHS":
			cur = nil
			if _, err := parseDelimiters(line); err != nil {
				return outside(err)
			}
			continue
		case "FTS", "BTS":
			cur = nil
			continue
		default:
			if cur == nil {
				return outside(errorf(ReasonNoMSH, 0, 0, "segment outside a message (no MSH before it)"))
			}
			if len(line) > 3 && line[3] != cur.delims.Field {
				return inMessage(errorf(ReasonBadSegment, 0, 0, "segment name not followed by the field separator"))
			}
			if cur.last-cur.first == p.lim.MaxSegments {
				return inMessage(errorf(ReasonTooManySegments, 0, 0, "message has more segments than the limit"))
			}
		}
		if len(p.segs) == p.lim.MaxTotalSegments {
			return inMessage(errorf(ReasonTooManySegments, 0, 0, "input has more segments than the limit"))
		}
		if err := p.addSegment(cur.delims, line, line[:3] == "MSH"); err != nil {
			return inMessage(err)
		}
		cur.last++
		cur.textEnd = start + len(line)
	}
	if len(p.msgs) == 0 {
		if lineNo > 0 {
			return nil, errorf(ReasonNoMSH, -1, 0, "input holds no MSH segment")
		}
		return nil, errorf(ReasonEmpty, -1, 0, "input holds no segment")
	}
	out := make([]*Message, len(p.msgs))
	all := make([]Message, len(p.msgs))
	for i, ms := range p.msgs {
		all[i] = Message{delims: ms.delims, text: p.src[ms.textStart:ms.textEnd], segs: p.segs[ms.first:ms.last:ms.last]}
		out[i] = &all[i]
	}
	return out, nil
}

// reserve sizes the segment array from a cheap count of line ends (an
// over-estimate with CRLF), capped by the segment limit.
func (p *parser) reserve() {
	lines := strings.Count(p.src, "\n") + strings.Count(p.src, "\r") + 1
	p.segs = make([]Segment, 0, min(lines, p.lim.MaxTotalSegments))
}

// addSegment checks the field and repetition limits of a segment and
// appends it.
func (p *parser) addSegment(d Delimiters, line string, header bool) *DecodeError {
	pieces := strings.Count(line, string(d.Field)) + 1
	nfields := pieces - 1
	if header {
		nfields = pieces
	}
	if nfields > p.lim.MaxFields {
		return errorf(ReasonTooManyFields, 0, p.lim.MaxFields+1, "segment has more fields than the limit")
	}
	if d.Repetition != 0 && strings.Count(line, string(d.Repetition)) >= p.lim.MaxRepetitions {
		// Only a segment with that many repetition characters in all can
		// have a field over the limit: find it.
		rest := line
		for k := 0; ; k++ {
			f, more := rest, false
			if j := strings.IndexByte(rest, d.Field); j >= 0 {
				f, rest, more = rest[:j], rest[j+1:], true
			}
			if k > 0 && strings.Count(f, string(d.Repetition))+1 > p.lim.MaxRepetitions {
				if header {
					k++
				}
				return errorf(ReasonTooManyRepetitions, 0, k, "field has more repetitions than the limit")
			}
			if !more {
				break
			}
		}
	}
	p.segs = append(p.segs, Segment{line: line, pieces: int32(pieces), delims: d, header: header})
	return nil
}

// segmentName reports whether s is a segment name: an upper-case letter then
// two upper-case letters or digits (PID, PV1, ZDS).
func segmentName(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && isUpperAlnum(s[1:])
}

// blank reports whether a line holds only white space or MLLP framing.
func blank(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\f', '\x0b', '\x1c':
		default:
			return false
		}
	}
	return true
}

// lineScanner yields the lines of s split at CR, LF or CRLF. It remembers
// the next CR and LF so that an input using only one of them is still
// scanned in linear time.
type lineScanner struct {
	s      string
	pos    int
	cr, lf int // next CR/LF at or after pos, len(s) if none; -1 unknown
}

func (l *lineScanner) next() (line string, start int, ok bool) {
	if l.pos >= len(l.s) {
		return "", 0, false
	}
	if l.cr < l.pos {
		l.cr = indexFrom(l.s, '\r', l.pos)
	}
	if l.lf < l.pos {
		l.lf = indexFrom(l.s, '\n', l.pos)
	}
	end := min(l.cr, l.lf)
	start = l.pos
	l.pos = end + 1
	return l.s[start:end], start, true
}

func indexFrom(s string, c byte, from int) int {
	if i := strings.IndexByte(s[from:], c); i >= 0 {
		return from + i
	}
	return len(s)
}

func trim(s string) string { return strings.TrimSpace(s) }
