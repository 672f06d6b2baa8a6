package mllp

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/carecrest/hub/hl7"
)

// Acknowledgment codes (HL7 table 0008, original mode).
const (
	AckAccept = "AA" // published and acknowledged by Kafka
	AckError  = "AE" // could not be published now; the sender should retry
	AckReject = "AR" // not acceptable (not HL7, unparseable); do not retry as is
)

// HL7 table 0357 error codes used in ERR.
const (
	errCodeSegmentSequence  = 100 // not HL7 / no MSH / a line that is not a segment
	errCodeRequiredMissing  = 101 // MSH-9 or MSH-10 empty
	errCodeDataType         = 102 // a field the parser could not read
	errCodeInternal         = 207 // publish failed
	maxEchoedField          = 256 // longer inbound header fields are not echoed
	defaultAckVersion       = "2.5.1"
	defaultProcessingID     = "P"
	defaultEncodingChars    = `^~\&`
	defaultFieldSeparator   = '|'
	ackTimestampLayout      = "20060102150405-0700"
	errTableName            = "HL70357"
	errLocationSegmentIndex = "1"
)

// header is what an ACK needs from the inbound MSH, as raw (encoded) field
// values, so that they can be echoed with the inbound delimiters.
type header struct {
	known       bool // the MSH could be read; otherwise defaults are used
	delims      hl7.Delimiters
	encChars    string // MSH-2 verbatim
	sendApp     string // MSH-3
	sendFac     string // MSH-4
	recvApp     string // MSH-5
	recvFac     string // MSH-6
	trigger     string // MSH-9.2
	controlID   string // MSH-10
	processing  string // MSH-11
	version     string // MSH-12
	messageCode string // MSH-9.1
}

// headerOf reads the ACK-relevant fields of a parsed message's MSH.
func headerOf(m *hl7.Message) header {
	h := m.Header()
	raw := func(n int) string { return clip(h.Field(n).Raw()) }
	return header{
		known:       true,
		delims:      m.Delimiters(),
		encChars:    clip(h.Field(2).Raw()),
		sendApp:     raw(3),
		sendFac:     raw(4),
		recvApp:     raw(5),
		recvFac:     raw(6),
		messageCode: clip(h.Field(9).Comp(1).Raw()),
		trigger:     clip(h.Field(9).Comp(2).Raw()),
		controlID:   m.ControlID(),
		processing:  raw(11),
		version:     clip(h.Field(12).Comp(1).Raw()),
	}
}

// headerOfFrame reads the MSH of a frame that did not parse as a whole (a bad
// segment further down, an oversized frame): its first line alone is parsed.
// When even that fails the header is unknown and the ACK uses defaults, with
// MSA-2 empty.
func headerOfFrame(frame []byte) header {
	line := frame
	line = bytes.TrimLeft(line, "\x0b\r\n")
	line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	if i := bytes.IndexAny(line, "\r\n"); i >= 0 {
		line = line[:i]
	}
	if !bytes.HasPrefix(line, []byte("MSH")) || len(line) > 64<<10 {
		return header{}
	}
	m, err := hl7.Parse(line, hl7.Limits{})
	if err != nil {
		return header{}
	}
	return headerOf(m)
}

// clip drops (rather than truncates, which could cut an escape sequence) an
// inbound value too long to echo.
func clip(s string) string {
	if len(s) > maxEchoedField {
		return ""
	}
	return s
}

// ackError is the content-free reason of an AE or AR.
type ackError struct {
	code  int    // table 0357
	text  string // fixed text or hl7.DecodeError reason; never message content
	field int    // MSH field the error is about, or 0
}

// buildAck returns an original-mode ACK to h: sender and receiver swapped,
// controlID as its MSH-10, MSA-1 code, MSA-2 the inbound MSH-10 (empty when
// unknown), and for AE/AR the reason in MSA-3 and ERR.
func buildAck(h header, code, controlID string, now time.Time, e *ackError) []byte {
	fs, enc, version, proc := byte(defaultFieldSeparator), defaultEncodingChars, defaultAckVersion, defaultProcessingID
	d := hl7.Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'}
	if h.known {
		fs, enc, d = h.delims.Field, h.encChars, h.delims
		if h.version != "" {
			version = h.version
		}
		if h.processing != "" {
			proc = h.processing
		}
	}
	comp := string(d.Component)
	if d.Component == 0 {
		comp = "^"
	}
	msgType := "ACK"
	if h.trigger != "" {
		msgType = "ACK" + comp + h.trigger + comp + "ACK"
	}
	var b bytes.Buffer
	b.Grow(256)
	field := func(vals ...string) {
		for _, v := range vals {
			b.WriteByte(fs)
			b.WriteString(v)
		}
	}
	b.WriteString("MSH")
	b.WriteByte(fs)
	b.WriteString(enc)
	field(h.recvApp, h.recvFac, h.sendApp, h.sendFac, now.Format(ackTimestampLayout), "", msgType, controlID, proc, version)
	b.WriteByte('\r')
	b.WriteString("MSA")
	field(code, escape(h.controlID, d))
	if e != nil {
		field(escape(e.text, d))
		b.WriteByte('\r')
		b.WriteString("ERR")
		writeErr(&b, fs, comp, d, version, e)
	}
	b.WriteByte('\r')
	return b.Bytes()
}

// writeErr writes the fields of ERR after its name: ERR-2 (location),
// ERR-3 (code), ERR-4 (severity) from 2.5 on, ERR-1 (ELD) before.
func writeErr(b *bytes.Buffer, fs byte, comp string, d hl7.Delimiters, version string, e *ackError) {
	code := strconv.Itoa(e.code) + comp + escape(e.text, d) + comp + errTableName
	loc := ""
	if e.field > 0 {
		loc = "MSH" + comp + errLocationSegmentIndex + comp + strconv.Itoa(e.field)
	}
	if atLeast25(version) {
		b.WriteByte(fs)
		b.WriteByte(fs)
		b.WriteString(loc)
		b.WriteByte(fs)
		b.WriteString(code)
		b.WriteByte(fs)
		b.WriteString("E")
		return
	}
	// ELD: segment^sequence^field^code&text&table (the CE as subcomponents).
	sub := string(d.Subcomponent)
	if d.Subcomponent == 0 {
		sub = "&"
	}
	b.WriteByte(fs)
	if loc == "" {
		loc = comp + comp
	}
	b.WriteString(loc + comp + strconv.Itoa(e.code) + sub + escape(e.text, d) + sub + errTableName)
}

// atLeast25 reports whether an HL7 version id is 2.5 or later (unknown
// versions count as later).
func atLeast25(v string) bool {
	major, rest, _ := strings.Cut(v, ".")
	minor, _, _ := strings.Cut(rest, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > 2 || (ma == 2 && mi >= 5)
}

// escape encodes s for a text field with the delimiters d, and replaces
// control characters by spaces, so that it cannot break the ACK's structure.
func escape(s string, d hl7.Delimiters) string {
	esc := d.Escape
	if esc == 0 {
		esc = '\\'
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		var seq byte
		switch {
		case c == esc:
			seq = 'E'
		case c == d.Field:
			seq = 'F'
		case c == d.Component && c != 0:
			seq = 'S'
		case c == d.Repetition && c != 0:
			seq = 'R'
		case c == d.Subcomponent && c != 0:
			seq = 'T'
		case c == d.Truncation && c != 0:
			seq = 'P'
		case c < 0x20 || c == 0x7f:
			b.WriteByte(' ')
			continue
		default:
			b.WriteByte(c)
			continue
		}
		b.WriteByte(esc)
		b.WriteByte(seq)
		b.WriteByte(esc)
	}
	return b.String()
}
