package hl7

import "strings"

// Segment is one segment of a message. Fields are numbered as in the
// standard, from 1: for MSH (and BHS/FHS), MSH-1 is the field separator
// itself and MSH-2 the encoding characters, so MSH-9 is the message type.
//
// A Segment is its line: fields are located when read, by scanning for field
// separators, which costs less than splitting every field of segments that
// are mostly never read.
type Segment struct {
	line   string
	pieces int32 // fields separated by the field separator, the name included
	delims Delimiters
	header bool // MSH-style numbering
}

// Name returns the segment name (PID, OBX, ZDS).
func (s *Segment) Name() string { return s.line[:3] }

// NumFields returns the number of fields present, empty ones included
// (trailing empty fields count when their separators are present).
func (s *Segment) NumFields() int {
	if s.header {
		return int(s.pieces)
	}
	return int(s.pieces) - 1
}

// Raw returns the segment as received, without its terminator.
func (s *Segment) Raw() string { return s.line }

// Field returns field n (1-based). A field that is not present is the empty
// Field. MSH-1 and MSH-2 are returned verbatim, without structure.
func (s *Segment) Field(n int) Field {
	if s.header {
		switch {
		case n == 1:
			return Field{s: s.line[3:4]}
		case n == 2:
			return Field{s: s.piece(1)}
		}
		n--
	}
	if n < 1 || n >= int(s.pieces) {
		return Field{}
	}
	return Field{s: s.piece(n), d: s.delims}
}

// fields fills dst[i] with field i+1 in one pass over the line, for
// mappings that read many fields of one segment.
func (s *Segment) fields(dst []Field) {
	rest := s.line[min(3, len(s.line)):]
	n := 0 // field number of the text after rest's first separator
	if s.header {
		if len(dst) > 0 {
			dst[0] = s.Field(1)
		}
		n = 1
	}
	for i := range dst {
		if i < n {
			continue
		}
		if rest == "" {
			dst[i] = Field{}
			continue
		}
		rest = rest[1:] // the separator before field i+1
		v := rest
		if j := strings.IndexByte(rest, s.delims.Field); j >= 0 {
			v, rest = rest[:j], rest[j:]
		} else {
			rest = ""
		}
		dst[i] = Field{s: v, d: s.delims}
		if s.header && i == 1 {
			dst[i].d = Delimiters{}
		}
	}
}

// fieldSet holds the first fields of a segment, split once.
type fieldSet [40]Field

// get returns field n (1-based), like Segment.Field.
func (fs *fieldSet) get(n int) Field {
	if n < 1 || n > len(fs) {
		return Field{}
	}
	return fs[n-1]
}

// piece returns the i-th piece of the line split at the field separator
// (piece 0 is the name).
func (s *Segment) piece(i int) string { return nth(s.line, s.delims.Field, i+1) }

// Get returns the unescaped text at a path relative to the segment:
// "5" (field 5, first repetition, whole), "5.1" (component), "5.1.2"
// (subcomponent), with an optional 1-based repetition: "3(2).1".
// A path that does not parse or points nowhere yields "".
func (s *Segment) Get(path string) string {
	p, ok := parsePath(path)
	if !ok {
		return ""
	}
	return s.get(p)
}

func (s *Segment) get(p fieldPath) string {
	f := s.Field(p.field)
	if p.comp == 0 {
		return f.Rep(p.rep).String()
	}
	c := f.Rep(p.rep).Comp(p.comp)
	if p.sub == 0 {
		return c.String()
	}
	return c.Sub(p.sub)
}

// Get returns the unescaped text at a terser-style path: "PID-5.1",
// "PID-3(2).4.2" (second repetition of PID-3, HD universal id), "OBX(3)-5"
// (fifth field of the third OBX). See Segment.Get for the field part.
func (m *Message) Get(path string) string {
	dash := strings.IndexByte(path, '-')
	if dash < 3 {
		return ""
	}
	name, occ := path[:dash], 1
	if len(name) > 3 {
		n, ok := parenInt(name[3:])
		if !ok {
			return ""
		}
		name, occ = name[:3], n
	}
	p, ok := parsePath(path[dash+1:])
	if !ok {
		return ""
	}
	for i := range m.segs {
		if m.segs[i].Name() == name {
			if occ--; occ == 0 {
				return m.segs[i].get(p)
			}
		}
	}
	return ""
}

type fieldPath struct{ field, rep, comp, sub int }

// parsePath parses "F[(R)][.C[.S]]".
func parsePath(s string) (fieldPath, bool) {
	p := fieldPath{rep: 1}
	var ok bool
	if p.field, s, ok = leadingInt(s); !ok {
		return p, false
	}
	if strings.HasPrefix(s, "(") {
		i := strings.IndexByte(s, ')')
		if i < 0 {
			return p, false
		}
		if p.rep, ok = parenInt(s[:i+1]); !ok {
			return p, false
		}
		s = s[i+1:]
	}
	for _, dst := range []*int{&p.comp, &p.sub} {
		if s == "" {
			return p, true
		}
		if s[0] != '.' {
			return p, false
		}
		if *dst, s, ok = leadingInt(s[1:]); !ok {
			return p, false
		}
	}
	return p, s == ""
}

// leadingInt parses a positive decimal number of up to 6 digits at the start
// of s.
func leadingInt(s string) (int, string, bool) {
	n, i := 0, 0
	for ; i < len(s) && i < 7 && isDigit(s[i]); i++ {
		n = n*10 + int(s[i]-'0')
	}
	if i == 0 || i == 7 || n == 0 {
		return 0, s, false
	}
	return n, s[i:], true
}

// parenInt parses "(n)".
func parenInt(s string) (int, bool) {
	if len(s) < 3 || s[0] != '(' || s[len(s)-1] != ')' {
		return 0, false
	}
	n, rest, ok := leadingInt(s[1 : len(s)-1])
	return n, ok && rest == ""
}

// Field is one field of a segment, possibly repeated. The zero Field is
// empty. A Field is a small value; copying it does not copy the text.
type Field struct {
	s string
	d Delimiters
}

// Raw returns the field as encoded, delimiters and escapes included.
func (f Field) Raw() string { return f.s }

// IsEmpty reports whether the field is empty or absent.
func (f Field) IsEmpty() bool { return f.s == "" }

// IsNull reports whether the field holds the explicit HL7 null `""`, which
// in an update means "delete the stored value".
func (f Field) IsNull() bool { return f.s == `""` }

// NumReps returns the number of repetitions (0 for an empty field).
func (f Field) NumReps() int { return count(f.s, f.d.Repetition) }

// Rep returns repetition i (1-based); out of range it is empty.
func (f Field) Rep(i int) Rep { return Rep{s: nth(f.s, f.d.Repetition, i), d: f.d} }

// Comp returns component i of the first repetition.
func (f Field) Comp(i int) Comp { return f.Rep(1).Comp(i) }

// String returns the unescaped text of the first repetition. Component and
// subcomponent separators in it are kept as they are; use Comp to read a
// composite value.
func (f Field) String() string { return f.Rep(1).String() }

// Rep is one repetition of a field.
type Rep struct {
	s string
	d Delimiters
}

// Raw returns the repetition as encoded.
func (r Rep) Raw() string { return r.s }

// IsEmpty reports whether the repetition is empty.
func (r Rep) IsEmpty() bool { return r.s == "" }

// NumComps returns the number of components (0 when empty).
func (r Rep) NumComps() int { return count(r.s, r.d.Component) }

// Comp returns component i (1-based); out of range it is empty.
func (r Rep) Comp(i int) Comp { return Comp{s: nth(r.s, r.d.Component, i), d: r.d} }

// String returns the unescaped text of the repetition, component separators
// kept as they are.
func (r Rep) String() string { return unescape(r.s, r.d) }

// Comp is one component of a repetition.
type Comp struct {
	s string
	d Delimiters
}

// Raw returns the component as encoded.
func (c Comp) Raw() string { return c.s }

// IsEmpty reports whether the component is empty.
func (c Comp) IsEmpty() bool { return c.s == "" }

// NumSubs returns the number of subcomponents (0 when empty).
func (c Comp) NumSubs() int { return count(c.s, c.d.Subcomponent) }

// Sub returns the unescaped text of subcomponent i (1-based).
func (c Comp) Sub(i int) string { return unescape(nth(c.s, c.d.Subcomponent, i), c.d) }

// String returns the unescaped text of the component, subcomponent
// separators kept as they are.
func (c Comp) String() string { return unescape(c.s, c.d) }

// nth returns the i-th (1-based) piece of s split at sep, without
// allocating. sep 0 means s is not split.
func nth(s string, sep byte, i int) string {
	if i < 1 {
		return ""
	}
	if sep == 0 {
		if i == 1 {
			return s
		}
		return ""
	}
	for ; i > 1; i-- {
		j := strings.IndexByte(s, sep)
		if j < 0 {
			return ""
		}
		s = s[j+1:]
	}
	if j := strings.IndexByte(s, sep); j >= 0 {
		return s[:j]
	}
	return s
}

func count(s string, sep byte) int {
	if s == "" {
		return 0
	}
	if sep == 0 {
		return 1
	}
	return strings.Count(s, string(sep)) + 1
}
