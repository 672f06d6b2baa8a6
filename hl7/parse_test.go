package hl7

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t *testing.T, s string) *Message {
	t.Helper()
	m, err := Parse([]byte(s), Limits{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func reasonOf(err error) string {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ""
}

const simple = "MSH|^~\\&|APP|FAC|HUB|CC|20240101||ADT^A01^ADT_A01|CTRL-1|P|2.5\r" +
	"PID|1||A1^^^AUTH&1.2.3&ISO^MR~B2^^^OTHER^PI||Family^Given^Middle\r" +
	"PV1|||||\r" +
	"PV1\r" +
	"ZAB|z1^z2&z3~r2|\r"

func TestHeaderFieldNumbering(t *testing.T) {
	m := mustParse(t, simple)
	h := m.Header()
	tests := []struct {
		n    int
		want string
	}{
		{1, "|"},
		{2, `^~\&`},
		{3, "APP"},
		{7, "20240101"},
		{9, "ADT^A01^ADT_A01"},
		{10, "CTRL-1"},
		{12, "2.5"},
		{13, ""},
	}
	for _, tt := range tests {
		if got := h.Field(tt.n).String(); got != tt.want {
			t.Errorf("MSH-%d = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := h.NumFields(); got != 12 {
		t.Errorf("MSH NumFields = %d, want 12", got)
	}
	// MSH-2 has no structure: it is not split at its own characters.
	if got := h.Field(2).Comp(1).String(); got != `^~\&` {
		t.Errorf("MSH-2.1 = %q", got)
	}
	code, trigger, structure := m.Type()
	if code != "ADT" || trigger != "A01" || structure != "ADT_A01" {
		t.Errorf("Type = %q %q %q", code, trigger, structure)
	}
	if m.ControlID() != "CTRL-1" || m.Version() != "2.5" {
		t.Errorf("ControlID %q Version %q", m.ControlID(), m.Version())
	}
}

func TestGetPaths(t *testing.T) {
	m := mustParse(t, simple)
	tests := []struct{ path, want string }{
		{"MSH-9.1", "ADT"},
		{"MSH-9.2", "A01"},
		{"MSH-1", "|"},
		{"PID-1", "1"},
		{"PID-3", "A1^^^AUTH&1.2.3&ISO^MR"},
		{"PID-3.1", "A1"},
		{"PID-3.4", "AUTH&1.2.3&ISO"},
		{"PID-3.4.2", "1.2.3"},
		{"PID-3.4.3", "ISO"},
		{"PID-3.4.4", ""},
		{"PID-3(2).1", "B2"},
		{"PID-3(2).4", "OTHER"},
		{"PID-3(3).1", ""},
		{"PID-5.1", "Family"},
		{"PID-5.3", "Middle"},
		{"PID-5.9", ""},
		{"PID-99", ""},
		{"PV1-3", ""},
		{"PV1(2)-1", ""},
		{"ZAB-1.2.2", "z3"},
		{"ZAB-1(2)", "r2"},
		{"OBX-1", ""},
		// malformed paths
		{"PID", ""},
		{"PID-", ""},
		{"PID-0", ""},
		{"PID-3(0)", ""},
		{"PID-3.", ""},
		{"PID-3.x", ""},
		{"PID-3(2", ""},
		{"PID-1234567", ""},
		{"PID(x)-1", ""},
	}
	for _, tt := range tests {
		if got := m.Get(tt.path); got != tt.want {
			t.Errorf("Get(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	pid := m.Segment("PID")
	if got := pid.Get("3(2).1"); got != "B2" {
		t.Errorf("seg.Get = %q", got)
	}
	f := pid.Field(3)
	if f.NumReps() != 2 || f.Rep(1).NumComps() != 5 || f.Rep(1).Comp(4).NumSubs() != 3 {
		t.Errorf("counts: reps %d comps %d subs %d", f.NumReps(), f.Rep(1).NumComps(), f.Rep(1).Comp(4).NumSubs())
	}
	if got := f.Rep(1).Comp(4).Sub(1); got != "AUTH" {
		t.Errorf("Sub = %q", got)
	}
	if !pid.Field(4).IsEmpty() || pid.Field(4).NumReps() != 0 {
		t.Errorf("PID-4 should be empty")
	}
}

func TestEmptySegmentsAndZSegments(t *testing.T) {
	m := mustParse(t, simple)
	pv1 := m.Segments("PV1")
	if len(pv1) != 2 {
		t.Fatalf("PV1 count = %d, want 2", len(pv1))
	}
	if pv1[0].NumFields() != 5 || pv1[1].NumFields() != 0 {
		t.Errorf("PV1 NumFields = %d, %d; want 5, 0", pv1[0].NumFields(), pv1[1].NumFields())
	}
	if pv1[1].Field(1).Raw() != "" || pv1[1].Field(-1).Raw() != "" {
		t.Error("fields of an empty segment should be empty")
	}
	if z := m.Segment("ZAB"); z == nil || z.NumFields() != 2 {
		t.Errorf("Z-segment not kept as a generic segment")
	}
	if m.Len() != 5 || m.At(4).Name() != "ZAB" {
		t.Errorf("Len %d", m.Len())
	}
	var names []string
	for i, s := range m.All() {
		if i == 2 {
			break
		}
		names = append(names, s.Name())
	}
	if strings.Join(names, ",") != "MSH,PID" {
		t.Errorf("All = %v", names)
	}
}

func TestNullValue(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|||||||ADT^A08|1|P|2.5\rPID|1||X^^^A||\"\"\r")
	f := m.Segment("PID").Field(5)
	if !f.IsNull() || f.IsEmpty() {
		t.Errorf("PID-5 should be the explicit null")
	}
}

func TestDelimiters(t *testing.T) {
	tests := []struct {
		name string
		msh  string
		want Delimiters
	}{
		{"default", "MSH|^~\\&|A", Delimiters{'|', '^', '~', '\\', '&', 0}},
		{"truncation 2.7", "MSH|^~\\&#|A", Delimiters{'|', '^', '~', '\\', '&', '#'}},
		{"non-default", "MSH!@#$%*!A", Delimiters{'!', '@', '#', '$', '%', '*'}},
		{"three chars", "MSH|^~\\|A", Delimiters{'|', '^', '~', '\\', 0, 0}},
		{"only encoding chars", "MSH|^~\\&", Delimiters{'|', '^', '~', '\\', '&', 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.msh)
			if m.Delimiters() != tt.want {
				t.Errorf("Delimiters = %+v, want %+v", m.Delimiters(), tt.want)
			}
		})
	}
}

func TestCustomDelimitersFixture(t *testing.T) {
	m, err := Parse(readFixture(t, "adt_custom_delims.hl7"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{"MSH-1", "!"},
		{"MSH-2", "@#$%*"},
		{"MSH-9.2", "A28"},
		{"MSH-12", "2.7"},
		{"PID-3.1", "ID!9"},        // \F\ is the field separator "!"
		{"PID-3.4", "EAST^Health"}, // ^ is plain text here
		{"PID-3(2).1", "ID2"},      // # repeats
		{"PID-5.1", "Bang@Bang"},   // \S\ is the component separator "@"
		{"PID-5.2.2", "Ann"},       // % splits subcomponents
		{"ZXX-1.2", "b%c"},         // component text keeps subcomponent separators
		{"ZXX-2(2)", "e"},
	}
	for _, tt := range tests {
		if got := m.Get(tt.path); got != tt.want {
			t.Errorf("Get(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestTerminators(t *testing.T) {
	body := []string{"MSH|^~\\&|||||||ADT^A01|1|P|2.5", "PID|1||X^^^A", "PV1|1"}
	tests := []struct {
		name, input string
	}{
		{"CR", strings.Join(body, "\r")},
		{"LF", strings.Join(body, "\n") + "\n"},
		{"CRLF", strings.Join(body, "\r\n") + "\r\n"},
		{"mixed", body[0] + "\r\n" + body[1] + "\n" + body[2] + "\r"},
		{"BOM", "\ufeff" + strings.Join(body, "\r")},
		{"blank lines", "\n\n" + body[0] + "\r\r\n\n" + body[1] + "\n \t \n" + body[2]},
		{"trailing whitespace lines", strings.Join(body, "\r") + "\r\n   \r\n\t\n"},
		{"MLLP framing", "\x0b" + strings.Join(body, "\r") + "\r\x1c\r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.input)
			if m.Len() != 3 || m.Get("PV1-1") != "1" || m.Get("PID-3.1") != "X" {
				t.Errorf("Len %d PV1-1 %q", m.Len(), m.Get("PV1-1"))
			}
			if !strings.HasPrefix(m.Text(), "MSH|") || !strings.HasSuffix(m.Text(), "PV1|1") {
				t.Errorf("Text = %q", m.Text())
			}
		})
	}
}

func TestParseAllBatches(t *testing.T) {
	tests := []struct {
		file string
		ids  []string
	}{
		{"batch.hl7", []string{"B-1", "B-2"}},
		{"stream_no_trailers.hl7", []string{"S-1", "S-2"}},
		{"oru_r01.hl7", []string{"ORU-0001"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			msgs, err := ParseAll(readFixture(t, tt.file), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range msgs {
				ids = append(ids, m.ControlID())
			}
			if strings.Join(ids, ",") != strings.Join(tt.ids, ",") {
				t.Errorf("control ids = %v, want %v", ids, tt.ids)
			}
		})
	}
	// Batch segments are not part of the messages.
	msgs, _ := ParseAll(readFixture(t, "batch.hl7"), Limits{})
	if msgs[1].Segment("BTS") != nil || msgs[1].Len() != 4 {
		t.Errorf("second message has %d segments", msgs[1].Len())
	}
	// Batch without trailers, headers only before each message.
	in := "BHS|^~\\&\rMSH|^~\\&|||||||ADT^A01|1|P|2.5\rPID|1\rBHS|^~\\&\rMSH|^~\\&|||||||ADT^A01|2|P|2.5\r"
	if msgs, err := ParseAll([]byte(in), Limits{}); err != nil || len(msgs) != 2 {
		t.Errorf("ParseAll = %d, %v", len(msgs), err)
	}
	if _, err := Parse(readFixture(t, "batch.hl7"), Limits{}); reasonOf(err) != ReasonNotOneMessage {
		t.Errorf("Parse of a batch: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	msh := "MSH|^~\\&|||||||ADT^A01|1|P|2.5\r"
	tests := []struct {
		name    string
		input   string
		lim     Limits
		reason  string
		message int
		segment int
		field   int
	}{
		{"empty", "", Limits{}, ReasonEmpty, 0, -1, 0},
		{"blank only", "\r\n \n", Limits{}, ReasonEmpty, 0, -1, 0},
		{"no MSH", "PID|1||X\r", Limits{}, ReasonNoMSH, 0, 0, 0},
		{"batch without message", "FHS|^~\\&\rFTS|0\r", Limits{}, ReasonNoMSH, 0, -1, 0},
		{"segment after trailer", msh + "BTS|1\rPID|1\r", Limits{}, ReasonNoMSH, 1, 2, 0},
		{"MSH alone", "MSH", Limits{}, ReasonTruncated, 0, 0, 1},
		{"MSH no encoding", "MSH|", Limits{}, ReasonTruncated, 0, 0, 1},
		{"MSH empty encoding", "MSH||A", Limits{}, ReasonBadDelimiters, 0, 0, 2},
		{"MSH letter separator", "MSHA^~\\&", Limits{}, ReasonBadDelimiters, 0, 0, 1},
		{"MSH duplicate encoding", "MSH|^^\\&|A", Limits{}, ReasonBadDelimiters, 0, 0, 2},
		{"MSH 6 encoding chars", "MSH|^~\\&#$|A", Limits{}, ReasonBadDelimiters, 0, 0, 2},
		{"lower-case segment", msh + "pid|1\r", Limits{}, ReasonBadSegment, 0, 1, 0},
		{"short line", msh + "PI\r", Limits{}, ReasonBadSegment, 0, 1, 0},
		{"wrong separator", msh + "PID^1\r", Limits{}, ReasonBadSegment, 0, 1, 0},
		{"continuation line", msh + "OBX|1|TX|||first\rsecond line\r", Limits{}, ReasonBadSegment, 0, 2, 0},
		{"second message bad", msh + msh + "PID|1\rpv1\r", Limits{}, ReasonBadSegment, 1, 2, 0},
		{"too large", msh, Limits{MaxBytes: 10}, ReasonTooLarge, 0, -1, 0},
		{"too many messages", msh + msh + msh, Limits{MaxMessages: 2}, ReasonTooManyMessages, 2, -1, 0},
		{"too many segments", msh + "PID\rPV1\rPV2\r", Limits{MaxSegments: 3}, ReasonTooManySegments, 0, 3, 0},
		{"too many fields", msh + "PID" + strings.Repeat("|x", 13) + "\r", Limits{MaxFields: 12}, ReasonTooManyFields, 0, 1, 13},
		{"too many MSH fields", msh, Limits{MaxFields: 11}, ReasonTooManyFields, 0, 0, 12},
		{"too many repetitions", msh + "PID|1||a~b~c~d\r", Limits{MaxRepetitions: 3}, ReasonTooManyRepetitions, 0, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAll([]byte(tt.input), tt.lim)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want *DecodeError", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Error("DecodeError should match ErrInvalid")
			}
			if de.Reason != tt.reason || de.Message != tt.message || de.Segment != tt.segment || de.Field != tt.field {
				t.Errorf("got %s/%d/%d/%d (%v), want %s/%d/%d/%d", de.Reason, de.Message, de.Segment, de.Field, de,
					tt.reason, tt.message, tt.segment, tt.field)
			}
		})
	}
}

// checkFieldSplit checks that the one-pass split used by the mappings agrees
// with Segment.Field.
func checkFieldSplit(t testing.TB, s *Segment) {
	var fs fieldSet
	s.fields(fs[:])
	for n := 0; n <= len(fs); n++ { // beyond the set, get is empty by design
		if got, want := fs.get(n), s.Field(n); got != want {
			t.Fatalf("%s field %d: split %q, Field %q", s.Name(), n, got.Raw(), want.Raw())
		}
	}
}

func TestFieldSplit(t *testing.T) {
	inputs := []string{simple, "MSH|^~\\&\rPID\rPID|\rPID||\rPID|a|b||" + strings.Repeat("|x", 50) + "\r"}
	for _, name := range []string{"adt_a01.hl7", "oru_r01.hl7", "adt_custom_delims.hl7", "batch.hl7"} {
		inputs = append(inputs, string(readFixture(t, name)))
	}
	for _, in := range inputs {
		msgs, err := ParseAll([]byte(in), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			for _, s := range m.All() {
				checkFieldSplit(t, s)
			}
		}
	}
}

func TestLimitsDefaults(t *testing.T) {
	if got := (Limits{}).withDefaults(); got != DefaultLimits() {
		t.Errorf("zero Limits = %+v", got)
	}
	if got := (Limits{MaxSegments: -1, MaxFields: 7}).withDefaults(); got.MaxSegments != DefaultLimits().MaxSegments || got.MaxFields != 7 {
		t.Errorf("partial Limits = %+v", got)
	}
}

// TestHostileInputsBounded checks that inputs built to make the parser work
// hard or allocate much stay within bounds: few allocations, and bytes
// allocated a small multiple of the input size.
func TestHostileInputsBounded(t *testing.T) {
	msh := "MSH|^~\\&|||||||ADT^A01|1|P|2.5\r"
	big := 4 << 20
	tests := []struct {
		name  string
		input string
	}{
		{"one huge field of pipes", msh + "PID" + strings.Repeat("|", big-100)},
		{"many tiny segments", msh + strings.Repeat("PV1\r", (big-100)/4)},
		{"many messages", strings.Repeat(msh, (big-100)/len(msh))},
		{"repetitions", msh + "PID|" + strings.Repeat("~", big-100)},
		{"blank lines", msh + strings.Repeat("\n", big-100)},
		{"escapes", msh + "PID|" + strings.Repeat(`\X4142\`, (big-100)/7)},
		{"CR only huge", msh + strings.Repeat("PID|1\r", (big-100)/6)},
		{"tiny messages", strings.Repeat(msh+"PV1\rPV1\r", (big-100)/(len(msh)+8))},
		{"full segments", strings.Repeat(msh+strings.Repeat("PV1"+strings.Repeat("|", 999)+"\r", 4000), 2)[:big-10]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.input)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			allocs := testing.AllocsPerRun(1, func() {
				msgs, err := ParseAll(data, Limits{})
				if err == nil {
					for _, m := range msgs {
						_ = m.Get("PID-1")
					}
				}
			})
			runtime.ReadMemStats(&after)
			if allocs > 50 {
				t.Errorf("%v allocations", allocs)
			}
			// Two runs (AllocsPerRun warms up once).
			if per := float64(after.TotalAlloc-before.TotalAlloc) / 2 / float64(len(data)); per > 6 {
				t.Errorf("allocated %.1f bytes per input byte", per)
			}
		})
	}
}
