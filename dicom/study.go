package dicom

import (
	"strconv"
	"time"

	"github.com/carecrest/hub/record"
)

// study gathers the datasets of one StudyInstanceUID.
type study struct {
	uid    string
	source string
	first  int // index of the first dataset of the study

	// Study-level attributes: the first non-empty value wins.
	date, time, offset, description, referrer string
	modalities                                []string
	procedures                                []record.Coding
	numSeries, numInstances                   int
	hasNumSeries, hasNumInstances             bool

	subject []record.Identifier
	primary record.Identifier // first PatientID (with issuer)

	series   []*series
	seriesBy map[string]*series
}

// series gathers the datasets of one SeriesInstanceUID.
type series struct {
	uid, modality, description, bodySite string
	number                               int
	hasNumber                            bool
	instances                            []instance
	instanceBy                           map[string]bool
}

// instance is one SOP instance of a series.
type instance struct {
	uid, sopClass string
	number        int
	hasNumber     bool
}

func newStudy(uid, source string, first int) *study {
	return &study{uid: uid, source: source, first: first, seriesBy: map[string]*series{}}
}

// setIfEmpty sets *dst to v unless it holds a value already.
func setIfEmpty(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// add merges dataset i into the study.
func (st *study) add(i int, ds dataset) error {
	if err := st.addPatient(i, ds); err != nil {
		return err
	}
	setIfEmpty(&st.date, ds.str(tagStudyDate))
	setIfEmpty(&st.time, ds.str(tagStudyTime))
	setIfEmpty(&st.offset, ds.str(tagTimezoneOffsetFromUTC))
	setIfEmpty(&st.description, ds.str(tagStudyDescription))
	setIfEmpty(&st.referrer, ds.personName(tagReferringPhysicianName))
	for _, m := range ds.strs(tagModalitiesInStudy) {
		st.addModality(m)
	}
	if len(st.procedures) == 0 {
		for _, it := range ds.items(tagProcedureCodeSequence) {
			if c, ok := st.coding(it); ok {
				st.procedures = append(st.procedures, c)
			}
		}
	}
	if n, ok := ds.uint(tagNumberOfStudySeries); ok && !st.hasNumSeries {
		st.numSeries, st.hasNumSeries = n, true
	}
	if n, ok := ds.uint(tagNumberOfStudyInstances); ok && !st.hasNumInstances {
		st.numInstances, st.hasNumInstances = n, true
	}

	suid := ds.str(tagSeriesInstanceUID)
	if suid == "" {
		return nil // a study-level dataset (QIDO-RS study search)
	}
	if !validUID(suid) {
		return decodeErr(ReasonInvalidUID, "dataset "+strconv.Itoa(i)+": SeriesInstanceUID (0020000E) is not a valid UID")
	}
	se := st.seriesBy[suid]
	if se == nil {
		se = &series{uid: suid, instanceBy: map[string]bool{}}
		st.seriesBy[suid] = se
		st.series = append(st.series, se)
	}
	if m := ds.str(tagModality); validCS(m) {
		setIfEmpty(&se.modality, m)
		st.addModality(m)
	}
	setIfEmpty(&se.description, ds.str(tagSeriesDescription))
	setIfEmpty(&se.bodySite, ds.str(tagBodyPartExamined))
	if n, ok := ds.uint(tagSeriesNumber); ok && !se.hasNumber {
		se.number, se.hasNumber = n, true
	}

	iuid := ds.str(tagSOPInstanceUID)
	if iuid == "" {
		return nil // a series-level dataset
	}
	cuid := ds.str(tagSOPClassUID)
	if !validUID(iuid) || (cuid != "" && !validUID(cuid)) {
		return decodeErr(ReasonInvalidUID, "dataset "+strconv.Itoa(i)+": SOPInstanceUID (00080018) or SOPClassUID (00080016) is not a valid UID")
	}
	if se.instanceBy[iuid] {
		return nil // listed twice: keep the first
	}
	se.instanceBy[iuid] = true
	in := instance{uid: iuid, sopClass: cuid}
	in.number, in.hasNumber = ds.uint(tagInstanceNumber)
	se.instances = append(se.instances, in)
	return nil
}

// addPatient adds the dataset's patient identifiers to the study's subject.
// All datasets of a study must name the same primary PatientID (with its
// issuer): a study whose instances name two patients is rejected rather
// than linked to both.
func (st *study) addPatient(i int, ds dataset) error {
	if pid := ds.str(tagPatientID); pid != "" {
		id := record.Identifier{System: patientSystem(st.source, ds.str(tagIssuerOfPatientID)), Value: pid}
		if st.primary == (record.Identifier{}) {
			st.primary = id
		} else if st.primary != id {
			return decodeErr(ReasonConflictingPatID, "dataset "+strconv.Itoa(i)+" names another PatientID (00100020) than an earlier dataset of its study")
		}
		st.subject = appendIdentifier(st.subject, id)
	}
	for _, it := range ds.items(tagOtherPatientIDsSeq) {
		if pid := it.str(tagPatientID); pid != "" {
			st.subject = appendIdentifier(st.subject, record.Identifier{System: patientSystem(st.source, it.str(tagIssuerOfPatientID)), Value: pid})
		}
	}
	return nil
}

// addModality adds a modality code to the study's list, once.
func (st *study) addModality(m string) {
	if !validCS(m) {
		return
	}
	for _, x := range st.modalities {
		if x == m {
			return
		}
	}
	st.modalities = append(st.modalities, m)
}

// codingSchemes maps common DICOM Coding Scheme Designators (PS3.16 8) to
// FHIR systems.
var codingSchemes = map[string]string{
	"DCM":    SystemDCM,
	"SCT":    "http://snomed.info/sct",
	"SRT":    "http://snomed.info/sct",
	"LN":     "http://loinc.org",
	"I10":    "http://hl7.org/fhir/sid/icd-10",
	"UCUM":   "http://unitsofmeasure.org",
	"RADLEX": "http://radlex.org",
	"RADLX":  "http://radlex.org",
}

// coding converts a code sequence item (CodeValue, CodingSchemeDesignator,
// CodeMeaning) to a Coding. An unknown scheme becomes the source's local
// system urn:carecrest:local:<source>:<designator>, as in package hl7.
func (st *study) coding(it dataset) (record.Coding, bool) {
	code := it.str(tagCodeValue)
	if code == "" {
		return record.Coding{}, false
	}
	scheme := it.str(tagCodingSchemeDesignator)
	system, ok := codingSchemes[scheme]
	if !ok {
		system = "urn:carecrest:local:" + st.source
		if scheme != "" {
			system += ":" + urnPart(scheme)
		}
	}
	return record.Coding{System: system, Code: code, Display: it.str(tagCodeMeaning)}, true
}

// codes returns the record's clear codes: the modalities, then the
// procedure codes.
func (st *study) codes() []record.Coding {
	out := make([]record.Coding, 0, len(st.modalities)+len(st.procedures))
	for _, m := range st.modalities {
		out = append(out, record.Coding{System: SystemDCM, Code: m})
	}
	return append(out, st.procedures...)
}

// resource builds the FHIR R4 ImagingStudy. It has no subject: the pipeline
// writes it from PatientID after linking.
func (st *study) resource(loc *time.Location) map[string]any {
	res := map[string]any{
		"resourceType": "ImagingStudy",
		"identifier":   []any{map[string]any{"system": "urn:dicom:uid", "value": "urn:oid:" + st.uid}},
		"status":       "available",
	}
	if s := started(st.date, st.time, st.offset, loc); s != "" {
		res["started"] = s
	}
	if len(st.modalities) > 0 {
		mods := make([]any, len(st.modalities))
		for i, m := range st.modalities {
			mods[i] = modalityCoding(m)
		}
		res["modality"] = mods
	}
	nSeries, nInstances := len(st.series), 0
	for _, se := range st.series {
		nInstances += len(se.instances)
	}
	// A study-level search result carries the archive's counts; metadata
	// that lists the instances is counted.
	if nSeries == 0 && st.hasNumSeries {
		nSeries = st.numSeries
	}
	if nInstances == 0 && st.hasNumInstances {
		nInstances = st.numInstances
	}
	if nSeries > 0 || st.hasNumSeries {
		res["numberOfSeries"] = nSeries
	}
	if nInstances > 0 || st.hasNumInstances {
		res["numberOfInstances"] = nInstances
	}
	if st.description != "" {
		res["description"] = st.description
	}
	if st.referrer != "" {
		res["referrer"] = map[string]any{"display": st.referrer}
	}
	if len(st.procedures) > 0 {
		cs := make([]any, len(st.procedures))
		for i, c := range st.procedures {
			cs[i] = codingJSON(c)
		}
		res["procedureCode"] = []any{map[string]any{"coding": cs}}
	}
	if len(st.series) > 0 {
		list := make([]any, len(st.series))
		for i, se := range st.series {
			list[i] = se.resource()
		}
		res["series"] = list
	}
	return res
}

// resource builds ImagingStudy.series.
func (se *series) resource() map[string]any {
	out := map[string]any{"uid": se.uid}
	if se.hasNumber {
		out["number"] = se.number
	}
	if se.modality != "" {
		out["modality"] = modalityCoding(se.modality)
	}
	if se.description != "" {
		out["description"] = se.description
	}
	out["numberOfInstances"] = len(se.instances)
	if se.bodySite != "" {
		out["bodySite"] = map[string]any{"display": se.bodySite}
	}
	if len(se.instances) > 0 {
		list := make([]any, len(se.instances))
		for i, in := range se.instances {
			m := map[string]any{"uid": in.uid}
			if in.sopClass != "" {
				m["sopClass"] = map[string]any{"system": "urn:ietf:rfc:3986", "code": "urn:oid:" + in.sopClass}
			}
			if in.hasNumber {
				m["number"] = in.number
			}
			list[i] = m
		}
		out["instance"] = list
	}
	return out
}

func modalityCoding(m string) map[string]any {
	return map[string]any{"system": SystemDCM, "code": m}
}

func codingJSON(c record.Coding) map[string]any {
	m := map[string]any{"system": c.System, "code": c.Code}
	if c.Display != "" {
		m["display"] = c.Display
	}
	return m
}

// appendIdentifier appends id unless ids holds it already.
func appendIdentifier(ids []record.Identifier, id record.Identifier) []record.Identifier {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	return append(ids, id)
}
