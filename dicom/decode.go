// Package dicom decodes DICOM JSON study metadata (PS3.18 Annex F, as
// returned by QIDO-RS searches and WADO-RS metadata retrieval) into FHIR R4
// ImagingStudy records (package record).
//
// A message is one dataset or an array of them, at study, series or instance
// level. Datasets are grouped by StudyInstanceUID (0020000D); each study
// becomes one ImagingStudy record whose series and instances are those the
// message lists. The patient is linked from PatientID (00100020), qualified
// by IssuerOfPatientID (00100021), and from OtherPatientIDsSequence
// (00101002); these identifiers go to Record.Subject, never into the
// resource.
//
// What is never copied: PatientName, PatientBirthDate and every other
// patient attribute (ImagingStudy has no element for them: they are
// dropped), Pixel Data and any value sent as BulkDataURI or InlineBinary.
// The decoder reads a fixed list of attributes (see dataset.go) and builds
// the resource from them alone.
//
// StudyDescription and SeriesDescription are free text and may hold PHI;
// they are kept in the resource (description), where the phi package treats
// them as PHI elements. The referring physician's name is kept as
// referrer.display.
//
// Decoding is all or nothing: a message with one study that cannot be
// linked to a patient is rejected as a whole.
package dicom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/carecrest/hub/internal/jsondepth"
	"github.com/carecrest/hub/record"
)

// Default limits.
const (
	DefaultMaxBytes    = 32 << 20
	DefaultMaxDatasets = 50000
	DefaultMaxDepth    = 32
)

// SystemDCM is the FHIR system of DICOM coded values (modalities, DCM codes).
const SystemDCM = "http://dicom.nema.org/resources/ontology/DCM"

// Options bound what Decode accepts, so that a hostile message costs bounded
// memory and time, and say how to read local times. A zero field takes its
// default.
type Options struct {
	// MaxBytes is the largest message, in bytes.
	MaxBytes int
	// MaxDatasets is the largest number of datasets in an array.
	MaxDatasets int
	// MaxDepth is the deepest nesting of JSON objects and arrays, checked by
	// a scan before decoding. A sequence item is three levels below its
	// dataset (attribute object, Value array, item).
	MaxDepth int
	// Location is the time zone of StudyDate/StudyTime when the dataset has
	// no TimezoneOffsetFromUTC (00080201). When nil, such a study's started
	// is the date alone: FHIR requires a zone on a dateTime with a time, and
	// the hub does not guess one.
	Location *time.Location
}

// Defaults returns o with every zero field set to its default.
func (o Options) Defaults() Options {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxDatasets == 0 {
		o.MaxDatasets = DefaultMaxDatasets
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	return o
}

// Validate reports a negative limit.
func (o Options) Validate() error {
	if o.MaxBytes < 0 || o.MaxDatasets < 0 || o.MaxDepth < 0 {
		return errors.New("dicom: limits must not be negative")
	}
	return nil
}

// Decode decodes one DICOM JSON message from source with the default
// Options. See Options.Decode.
func Decode(source string, data []byte, received time.Time) ([]record.Record, error) {
	return Options{}.Decode(source, data, received)
}

// Decode decodes one DICOM JSON message, a dataset or an array of datasets,
// received from source at received, into one ImagingStudy record per study,
// in the order the studies first appear.
//
// Every error about the data is a *DecodeError (errors.Is(err, ErrInvalid));
// an empty source or invalid o returns another error. On error no record is
// returned.
func (o Options) Decode(source string, data []byte, received time.Time) ([]record.Record, error) {
	o = o.Defaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if source == "" {
		return nil, errors.New("dicom: empty source")
	}
	if len(data) > o.MaxBytes {
		return nil, decodeErr(ReasonTooLarge, "message exceeds "+strconv.Itoa(o.MaxBytes)+" bytes")
	}
	text := bytes.TrimPrefix(data, utf8BOM)
	if jsondepth.Exceeds(text, o.MaxDepth) {
		return nil, decodeErr(ReasonTooDeep, "JSON nests deeper than "+strconv.Itoa(o.MaxDepth)+" levels")
	}
	v, err := parse(text)
	if err != nil {
		return nil, err
	}
	var list []any
	switch v := v.(type) {
	case []any:
		list = v
	case map[string]any:
		list = []any{v}
	default:
		return nil, decodeErr(ReasonNotDICOMJSON, "message is neither a dataset nor an array of datasets")
	}
	if len(list) == 0 {
		return nil, decodeErr(ReasonNotDICOMJSON, "message holds no dataset")
	}
	if len(list) > o.MaxDatasets {
		return nil, decodeErr(ReasonTooManyDatasets, "message has more than "+strconv.Itoa(o.MaxDatasets)+" datasets")
	}
	var studies []*study
	byUID := map[string]*study{}
	for i, x := range list {
		obj, ok := x.(map[string]any)
		if !ok || !checkDataset(obj) {
			return nil, decodeErr(ReasonNotDICOMJSON, "dataset "+strconv.Itoa(i)+" is not a DICOM JSON dataset")
		}
		ds := dataset(obj)
		uid := ds.str(tagStudyInstanceUID)
		if uid == "" {
			return nil, decodeErr(ReasonNoStudyUID, "dataset "+strconv.Itoa(i)+" has no StudyInstanceUID (0020000D)")
		}
		if !validUID(uid) {
			return nil, decodeErr(ReasonInvalidUID, "dataset "+strconv.Itoa(i)+": StudyInstanceUID (0020000D) is not a valid UID")
		}
		st := byUID[uid]
		if st == nil {
			st = newStudy(uid, source, i)
			byUID[uid] = st
			studies = append(studies, st)
		}
		if err := st.add(i, ds); err != nil {
			return nil, err
		}
	}
	out := make([]record.Record, 0, len(studies))
	for _, st := range studies {
		if len(st.subject) == 0 {
			return nil, decodeErr(ReasonNoPatientID, "study of dataset "+strconv.Itoa(st.first)+" has no PatientID (00100020)")
		}
		res := st.resource(o.Location)
		mid, err := versionedID(st.uid, st.subject, res)
		if err != nil {
			return nil, err
		}
		key := record.NewKey(source, mid, 0)
		out = append(out, record.Record{
			ID:        record.IDFromKey(key),
			Type:      "ImagingStudy",
			Source:    source,
			SourceID:  st.uid,
			MessageID: mid,
			Key:       key,
			Subject:   st.subject,
			Codes:     st.codes(),
			Resource:  res,
			Received:  received,
		})
	}
	return out, nil
}

// versionedID is the message id of a study's metadata:
// ImagingStudy/<StudyInstanceUID>/_history/<v>, v the first 16 hex digits
// of the SHA-256 of the study as decoded (the ImagingStudy resource and
// the patient identifiers). Metadata re-sent for a known study with changed
// series or instances (a study still being acquired, a corrected
// description) gets a new id, so it is stored as a new version of the
// study (same SourceID), while a redelivery of the same metadata keeps its
// id and is a duplicate. A resend that lists the same datasets in another
// order is a new version with the same content.
func versionedID(uid string, subject []record.Identifier, res map[string]any) (string, error) {
	b, err := json.Marshal(struct {
		Subject  []record.Identifier `json:"s"`
		Resource map[string]any      `json:"r"`
	}{subject, res})
	if err != nil {
		// Cannot happen: the resource is built from strings and numbers.
		return "", errors.New("dicom: study is not JSON-encodable")
	}
	sum := sha256.Sum256(b)
	return "ImagingStudy/" + uid + "/_history/" + hex.EncodeToString(sum[:8]), nil
}

// parse decodes exactly one JSON value. Errors say where, never what.
func parse(text []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &syn):
			return nil, decodeErr(ReasonInvalidJSON, "syntax error at byte offset "+strconv.FormatInt(syn.Offset, 10))
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, decodeErr(ReasonInvalidJSON, "unexpected end of input")
		default:
			return nil, decodeErr(ReasonInvalidJSON, "malformed JSON")
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, decodeErr(ReasonInvalidJSON, "data after the JSON value at byte offset "+strconv.FormatInt(dec.InputOffset(), 10))
	}
	return v, nil
}

// patientSystem returns the identifier system of a PatientID: the issuer's
// when IssuerOfPatientID is given (as urn:oid: when it is an OID, the form
// HL7 v2 assigning authorities and FHIR use, so the same MRN links across
// them), else one scoped to the source.
func patientSystem(source, issuer string) string {
	if isOID(issuer) {
		return "urn:oid:" + issuer
	}
	if issuer != "" {
		return "urn:carecrest:dicom-issuer:" + urnPart(issuer)
	}
	return "urn:carecrest:source:" + source + ":dicom-patient-id"
}

// started returns ImagingStudy.started from StudyDate (DA, YYYYMMDD) and
// StudyTime (TM, HH[MM[SS[.F{1,6}]]]), "" when the date is absent or
// invalid. A time is used only with a zone: TimezoneOffsetFromUTC (+HHMM or
// -HHMM) or loc.
func started(date, tm, offset string, loc *time.Location) string {
	d, err := time.Parse("20060102", date)
	if err != nil || len(date) != 8 {
		return ""
	}
	day := d.Format("2006-01-02")
	h, m, s, ok := parseTM(tm)
	if !ok {
		return day
	}
	zone := loc
	if offset != "" {
		z, err := time.Parse("-0700", offset)
		if err != nil {
			return day
		}
		_, off := z.Zone()
		zone = time.FixedZone("", off)
	}
	if zone == nil {
		return day
	}
	t := time.Date(d.Year(), d.Month(), d.Day(), h, m, s, 0, zone)
	return t.Format("2006-01-02T15:04:05-07:00")
}

// parseTM parses the whole seconds of a DICOM TM value; the fraction is
// dropped.
func parseTM(tm string) (h, m, s int, ok bool) {
	tm, _, _ = strings.Cut(tm, ".")
	if len(tm) < 2 || len(tm) > 6 || len(tm)%2 != 0 {
		return 0, 0, 0, false
	}
	var f [3]int
	for i := 0; i < len(tm); i += 2 {
		a, b := tm[i], tm[i+1]
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return 0, 0, 0, false
		}
		f[i/2] = int(a-'0')*10 + int(b-'0')
	}
	if f[0] > 23 || f[1] > 59 || f[2] > 59 {
		return 0, 0, 0, false
	}
	return f[0], f[1], f[2], true
}

// isOID reports whether s is a dotted numeric object identifier.
func isOID(s string) bool {
	if len(s) < 3 || len(s) > 64 || !strings.Contains(s, ".") {
		return false
	}
	for i, part := range strings.Split(s, ".") {
		if part == "" || (len(part) > 1 && part[0] == '0') || (i == 0 && part != "0" && part != "1" && part != "2") {
			return false
		}
		for _, c := range part {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}
