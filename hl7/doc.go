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
// Decode maps ADT patient events to a FHIR Patient and ORU^R01 results to
// Observations and DiagnosticReports (see DecodeMessage). Choices that the
// standard leaves open:
//
//   - A code whose coding system the mapping does not know is a sender's
//     local code: its system becomes urn:carecrest:local:<source>:<name>
//     (urn:carecrest:local:<source> when it has none). It is qualified by
//     the source because two senders' "L" or "99LAB" codes are different
//     code systems, and policies and labels match on system and code.
//   - An identifier without assigning authority gets the system
//     urn:carecrest:source:<source>:<kind>, where kind is "mrn" for PID-3
//     (or the lower-cased identifier type, "ss", "pi", when CX.5 names one
//     other than MR), "external" for PID-2 and "alternate" for PID-4, so
//     that an unqualified SSN never matches an unqualified MRN.
//   - A Quantity's unit (OBX-6.1) is also its UCUM code unless OBX-6.3 names
//     another unit system (ISO+, ANSI, a local one).
//   - A time without an offset is given without one (FHIR asks for an
//     offset; inventing one would be wrong). issued, a FHIR instant, is only
//     set when OBR-22 has an offset.
//   - The HL7 null "" reads as absent: a Patient built from an A08 says
//     nothing about fields the sender cleared.
//   - OBX-5 of type ED (encapsulated documents) is not copied: R4
//     Observation has no attachment value; dataAbsentReason says so.
//
// Every failure is a *DecodeError (matching ErrInvalid) whose text carries
// no message content, so that it can be logged and used as a dead-letter
// reason without leaking PHI.
package hl7
