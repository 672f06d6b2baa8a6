// Package httpingest is the hub's HTTP gateway for FHIR R4 and DICOM JSON:
// hospital systems POST a resource, a Bundle or DICOM JSON study metadata,
// the gateway validates it, publishes it unchanged to Kafka topic
// hub.in.<source> and answers only after Kafka has acknowledged the write.
//
// # Routes
//
//	POST /fhir/{type}    one FHIR R4 resource whose resourceType is {type}
//	POST /fhir           a Bundle: transaction, batch, collection, document
//	                     or message
//	POST /dicom/studies  DICOM JSON (PS3.18 Annex F) study metadata: one
//	POST /dicom          dataset or an array of them
//
// FHIR routes take Content-Type application/fhir+json or application/json,
// DICOM routes application/dicom+json or application/json; anything else is
// 415. The caller authenticates with a bearer token that an Authenticator
// maps to its source system; the source names the topic.
//
// # Responses
//
// Every response body is a FHIR OperationOutcome and every response carries
// X-Request-Id, a ULID that is also the Kafka header http-request-id and
// appears in the gateway's logs.
//
//	202  the message is in Kafka (the Publisher returned nil: acknowledged by
//	     all in-sync replicas). It is queued, not yet stored: the hub decodes
//	     it again, links its patients, decides whether the source may write
//	     it and stores it asynchronously, dead-lettering what it rejects. A
//	     transaction Bundle is answered 202 too, never with a
//	     transaction-response Bundle: the hub does not process it in the
//	     request.
//	400  not JSON, not FHIR or DICOM JSON, or resourceType does not match
//	     the URL; resending it as is will not help
//	401  no bearer token or an invalid one (WWW-Authenticate: Bearer)
//	403  a valid token whose holder is not a source system, or whose source
//	     name cannot name a topic
//	404  an unknown route or FHIR resource type
//	405  a method other than POST (Allow: POST)
//	413  the body exceeds Config.MaxBody (or the decoders' or Kafka's size
//	     limit)
//	415  an unsupported Content-Type
//	422  well-formed but not ingestible: the decoder's reason (no patient
//	     identifier, an unresolved patient reference, an unsupported Bundle
//	     type, DICOM without PatientID, ...)
//	503  Kafka did not acknowledge in time (Retry-After): nothing was
//	     accepted, the sender retries
//
// Validation is fhir.Decode and dicom.Decode with their default limits, the
// functions the hub's consumer (ingest.Decode) runs, so a sender learns at
// once that a message can never be stored instead of finding it in the
// dead-letter topic. Their errors are built from constants, element names,
// tags and indexes only, so the diagnostics returned and logged never contain
// a value from the message. The gateway never echoes or logs the body.
//
// # Kafka messages
//
// Topic hub.in.<source>; Value the request body byte for byte; Key the source
// name, which carries no patient data and keeps one sender's messages in one
// partition in the order they were acknowledged (a sender that needs order
// waits for each 202 before the next request, as an MLLP sender waits for
// each ACK). Headers: content-type (application/fhir+json or
// application/dicom+json, whatever media type the request used),
// http-request-id and http-received (RFC 3339, UTC, nanoseconds).
//
// A retry after a lost 202 publishes the message again; the hub's store
// dedupes it by its idempotency key (source and resource id or digest).
package httpingest
