// Package mllp is the hub's HL7 v2 gateway: it receives messages over the
// Minimal Lower Layer Protocol (MLLP, HL7 v2 Appendix C) from systems that
// cannot produce to Kafka themselves, publishes each to hub.in.<source>, and
// answers the sender with an HL7 original-mode acknowledgment.
//
// # Acknowledgments
//
//	AA  the message is in Kafka (the Publisher returned nil: acknowledged by
//	    all in-sync replicas), or it is a retransmission of one that is
//	AE  it could not be published now (Kafka unavailable, timeout); the
//	    sender should resend it, MSA-3 and ERR say so
//	AR  it is not an acceptable HL7 message (not framed HL7, no MSH, a line
//	    that is not a segment, MSH-9 or MSH-10 empty, too large); resending
//	    it as is will not help. MSA-2 is empty when MSH-10 could not be read
//
// The ACK uses the inbound message's delimiters, MSH-11 and MSH-12, swaps
// sending and receiving application and facility, has its own control id,
// MSH-9 ACK^<trigger>^ACK and MSA-2 = the inbound MSH-10. Error texts in
// MSA-3 and ERR are fixed texts and hl7.DecodeError reasons: never message
// content, so that ACKs and logs carry no PHI.
//
// The gateway checks only what it must to answer and route: the MSH. Whether
// the message is one the hub can map, and whether the source may write it,
// is decided by the hub (package ingest), which dead-letters what it cannot
// accept; an AA therefore means "durably received", not "stored".
//
// # Kafka messages
//
// Topic hub.in.<Source>; Value the frame's payload as received; Key the
// sending application and facility (MSH-3|MSH-4, as encoded): it carries no
// patient data and keeps one sender's messages, which HL7 orders (A01 before
// A08), in one partition. Headers: content-type application/hl7-v2,
// mllp-peer, mllp-received and the MSH fields listed with HeaderControlID.
//
// # Retransmissions
//
// See dedup: a byte-identical resend of an acknowledged (MSH-3, MSH-4,
// MSH-10) is answered AA without a second publish. The hub's store also
// dedupes by an idempotency key derived from the source and MSH-10, so across
// gateway restarts, replicas and evictions from the bounded cache no message
// is stored twice; the cache only saves the round trip.
//
// # Hostile input
//
// Memory per connection is bounded by MaxFrame, time by ReadTimeout (per
// frame, which closes idle and trickling connections) and WriteTimeout, the
// number of connections by MaxConns, and a panic closes only its connection.
package mllp
