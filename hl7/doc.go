// Package hl7 parses HL7 v2 messages and maps them to the hub's canonical
// records (package record).
//
// # Parsing
//
// ParseAll and Parse are bounded by Limits (input size, messages, segments
// per message and per input, fields, repetitions) and never recurse. The
// parser copies the input once, splits it into segments and keeps each
// segment as its line: fields, repetitions, components and subcomponents
// are located when read, and leaf values are unescaped on the way. Parsing a
// message costs a handful of allocations; reading a value without escapes
// costs none.
//
// Segments may end with CR, LF or CRLF; a byte order mark, blank lines and
// MLLP framing are ignored. MSH-2 may hold 2 to 5 encoding characters (the
// fifth is the 2.7 truncation character); fewer than 4 is tolerated for old
// senders, the missing delimiters are then unused.
//
// # Mapping
//
// Decode maps ADT patient events to a FHIR Patient, ORU^R01 results to
// Observations and DiagnosticReports, scheduling (SIU) to Appointments,
// orders (ORM, OML, OMI) to ServiceRequests, pharmacy orders (RDE, RDS) to
// MedicationRequests and MedicationDispenses, charges (DFT) to ChargeItems,
// documents (MDM) to DocumentReferences and every IN1 to a Coverage (see
// DecodeMessage). Merge events (ADT A34, A40) yield the surviving Patients,
// whose Record.Replaces lists the identifiers they absorb (MergesOf gives
// the same pairs from a parsed message). Records list in
// Record.Practitioners the practitioners in a care relationship with the
// patient (see practitioner.go). Choices that the standard leaves open:
//
//   - A code whose coding system the mapping does not know is a sender's
//     local code: its system becomes urn:carecrest:local:<source>:<name>
//     (urn:carecrest:local:<source> when it has none). It is qualified by
//     the source because two senders' "L" or "99LAB" codes are different
//     code systems, and policies and labels match on system and code.
//
//   - An identifier without assigning authority gets the system
//     urn:carecrest:source:<source>:<kind>, where kind is "mrn" for PID-3
//     (or the lower-cased identifier type, "ss", "pi", when CX.5 names one
//     other than MR), "external" for PID-2 and "alternate" for PID-4, so
//     that an unqualified SSN never matches an unqualified MRN.
//
//   - A Quantity's unit (OBX-6.1) is also its UCUM code unless OBX-6.3 names
//     another unit system (ISO+, ANSI, a local one).
//
//   - A time without an offset is given without one (FHIR asks for an
//     offset; inventing one would be wrong). issued, a FHIR instant, is only
//     set when OBR-22 has an offset.
//
//   - The HL7 null "" reads as absent: a Patient built from an A08 says
//     nothing about fields the sender cleared.
//
//   - OBX-5 of type ED (encapsulated documents) is not copied: R4
//     Observation has no attachment value; dataAbsentReason says so.
//
//   - References to practitioners, locations, payors and equipment carry
//     only a display (and the resource type): the hub keeps no resources
//     for them.
//
//   - Appointment.start/end and DocumentReference.date are instants: a time
//     without an offset is not one. Appointment times without an offset go
//     to requestedPeriod (dateTimes) instead; a document date is then left
//     out (context.period keeps TXA-4).
//
//   - Message types that name one patient but make PID optional (SIU, ORM,
//     RDE, DFT, MDM) are missing-segment without PID; the first PID is the
//     subject.
//
//   - MDM: the event is MSH-9's; EVN-1 (deprecated, T10 in some senders'
//     T02) is neither checked nor recorded. Document text is PHI and goes
//     only into content.attachment.data, which the pipeline seals.
//
//   - Pharmacy and billing units (RXE-11, RXD-5) are UCUM codes only when
//     the units' coding system says UCUM.
//
//   - The insurance policy number (IN1-36) is given as a Coverage
//     identifier, never as the clear string subscriberId.
//
// Every failure is a *DecodeError (matching ErrInvalid) whose text carries
// no message content, so that it can be logged and used as a dead-letter
// reason without leaking PHI.
package hl7
