package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/audit/merkle"
	"github.com/graphql-go/graphql"
)

// Prover makes the audit log's checkpoints and proofs (merkle.Service).
type Prover interface {
	// Checkpoint returns the latest published checkpoint of shard,
	// publishing one when there is none.
	Checkpoint(ctx context.Context, shard string) (merkle.Checkpoint, error)
	InclusionProof(ctx context.Context, eventID string, treeSize uint64) (merkle.InclusionProof, error)
	ConsistencyProof(ctx context.Context, shard string, size1, size2 uint64) (merkle.ConsistencyProof, error)
	VerifierKey() string
}

var _ Prover = (*merkle.Service)(nil)

// Proofs is the tamper evidence of the audit log over GraphQL: signed
// checkpoints, inclusion proofs and consistency proofs, for privacy
// officers and security analysts. Each request is an audit query: decided
// by policy (audit.query) and audited before anything is returned.
type Proofs struct {
	Reader *Reader
	Prover Prover
}

// Checkpoint returns the latest published checkpoint of shard.
func (pf *Proofs) Checkpoint(ctx context.Context, c Caller, shard string) (merkle.Checkpoint, error) {
	var out merkle.Checkpoint
	err := pf.govern(ctx, c, "audit checkpoint shard="+shard, nil, func(ctx context.Context) error {
		var err error
		out, err = pf.Prover.Checkpoint(ctx, shard)
		return err
	})
	return out, err
}

// InclusionProof proves an event against the checkpoint of treeSize events
// of its shard (0: the latest covering it).
func (pf *Proofs) InclusionProof(ctx context.Context, c Caller, eventID string, treeSize uint64) (merkle.InclusionProof, error) {
	var out merkle.InclusionProof
	err := pf.govern(ctx, c, fmt.Sprintf("audit inclusion proof event=%s treeSize=%d", eventID, treeSize), []string{eventID},
		func(ctx context.Context) error {
			var err error
			out, err = pf.Prover.InclusionProof(ctx, eventID, treeSize)
			return err
		})
	return out, err
}

// ConsistencyProof proves that the first size2 events of shard (0: the
// latest checkpoint) extend its first size1.
func (pf *Proofs) ConsistencyProof(ctx context.Context, c Caller, shard string, size1, size2 uint64) (merkle.ConsistencyProof, error) {
	var out merkle.ConsistencyProof
	err := pf.govern(ctx, c, fmt.Sprintf("audit consistency proof shard=%s from=%d to=%d", shard, size1, size2), nil,
		func(ctx context.Context) error {
			var err error
			out, err = pf.Prover.ConsistencyProof(ctx, shard, size1, size2)
			return err
		})
	return out, err
}

func (pf *Proofs) govern(ctx context.Context, c Caller, describe string, ids []string, fn func(context.Context) error) error {
	return pf.Reader.Govern(ctx, c, Governed{
		Action: ActionAuditQuery, Code: audit.CodeAuditQuery, DenyCode: audit.CodeAuditQueryDeny,
		Describe: describe, RecordIDs: ids,
	}, fn)
}

// proofError translates the proof service's errors at the API edge. Their
// messages name shards, positions, sizes and event ids, never PHI.
func proofError(err error) error {
	switch {
	case errors.Is(err, merkle.ErrInvalid):
		return badRequest(err.Error())
	case errors.Is(err, merkle.ErrNotFound):
		return &APIError{Code: "NOT_FOUND", Message: err.Error()}
	case errors.Is(err, merkle.ErrTampered):
		return &APIError{Code: "TAMPERED", Message: err.Error()}
	default:
		return APIErrorOf(err)
	}
}

var (
	auditCheckpointType = obj("AuditCheckpoint", "A signed checkpoint of an audit shard's Merkle tree (C2SP tlog-checkpoint in a signed note, Ed25519).", graphql.Fields{
		"origin":      str("carecrest-hub/<shard>."),
		"shard":       str("The audit chain shard."),
		"treeSize":    {Type: graphql.Float, Description: "How many events of the shard (seq 1 to treeSize) it covers."},
		"rootHash":    str("RFC 6962 tree head, base64."),
		"time":        str("When it was signed (RFC 3339)."),
		"note":        str("The signed note: the checkpoint text and its signature lines, as published."),
		"verifierKey": str("The verifier key of the hub's checkpoint signing key (compare with the one you hold)."),
	})
	inclusionProofType = obj("AuditInclusionProof", "An RFC 6962 inclusion proof of one audit event.", graphql.Fields{
		"shard":      str(""),
		"leafIndex":  {Type: graphql.Float, Description: "The event's position in the tree (its seq - 1)."},
		"treeSize":   {Type: graphql.Float, Description: "Events in the tree the proof is against."},
		"hashes":     strs("The audit path, base64, leaf to root."),
		"checkpoint": str("The published signed checkpoint of treeSize events, if any."),
		"event":      str("The event as stored (JSON, every field its hash covers)."),
		"proof":      str("The whole proof as JSON: save it and check it offline with hubctl audit verify-proof."),
	})
	consistencyProofType = obj("AuditConsistencyProof", "An RFC 6962 consistency proof between two tree sizes of an audit shard.", graphql.Fields{
		"shard":         str(""),
		"oldSize":       {Type: graphql.Float},
		"newSize":       {Type: graphql.Float},
		"hashes":        strs("The proof, base64."),
		"oldCheckpoint": str("The published signed checkpoint of oldSize events, if any."),
		"newCheckpoint": str("The published signed checkpoint of newSize events, if any."),
		"proof":         str("The whole proof as JSON: save it and check it offline with hubctl audit verify-proof."),
	})
)

// Extension returns the GraphQL fields auditCheckpoint, inclusionProof and
// consistencyProof.
func (pf *Proofs) Extension() Extension {
	purposeArg := &graphql.ArgumentConfig{Type: graphql.String, Description: "Purpose of use (default: the token's first)."}
	return Extension{Query: graphql.Fields{
		"auditCheckpoint": {
			Type:        graphql.NewNonNull(auditCheckpointType),
			Description: "The latest signed checkpoint of an audit shard (published now if none is). An audited audit query.",
			Args: graphql.FieldConfigArgument{
				"shard":   {Type: graphql.NewNonNull(graphql.String), Description: "Audit chain shard (a hub instance)."},
				"purpose": purposeArg,
			},
			Resolve: pf.resolveCheckpoint,
		},
		"inclusionProof": {
			Type:        graphql.NewNonNull(inclusionProofType),
			Description: "Proof that an audit event is in its shard's log as a checkpoint covers it. An audited audit query.",
			Args: graphql.FieldConfigArgument{
				"eventId":  {Type: graphql.NewNonNull(graphql.ID), Description: "Audit event id."},
				"treeSize": {Type: graphql.Int, Description: "Size of the checkpoint to prove against (default: the latest covering the event)."},
				"purpose":  purposeArg,
			},
			Resolve: pf.resolveInclusion,
		},
		"consistencyProof": {
			Type:        graphql.NewNonNull(consistencyProofType),
			Description: "Proof that a shard's log of `to` events extends its log of `from` events. An audited audit query.",
			Args: graphql.FieldConfigArgument{
				"shard":   {Type: graphql.NewNonNull(graphql.String)},
				"from":    {Type: graphql.NewNonNull(graphql.Int), Description: "Old tree size."},
				"to":      {Type: graphql.Int, Description: "New tree size (default: the latest checkpoint)."},
				"purpose": purposeArg,
			},
			Resolve: pf.resolveConsistency,
		},
	}}
}

func sizeArg(args map[string]any, name string) (uint64, error) {
	n, ok := args[name].(int)
	if !ok {
		return 0, nil
	}
	if n < 0 {
		return 0, badRequest(name + " must not be negative")
	}
	return uint64(n), nil
}

func (pf *Proofs) resolveCheckpoint(p graphql.ResolveParams) (any, error) {
	c, err := CallerFrom(p.Context, p.Args)
	if err != nil {
		return nil, err
	}
	shard, _ := p.Args["shard"].(string)
	if shard == "" {
		return nil, badRequest("shard is required")
	}
	cp, err := pf.Checkpoint(p.Context, c, shard)
	if err != nil {
		return nil, proofError(err)
	}
	return map[string]any{
		"origin": cp.Origin, "shard": cp.Shard(), "treeSize": float64(cp.Size), "rootHash": cp.Root.String(),
		"time": cp.Time.UTC().Format(time.RFC3339), "note": cp.Note, "verifierKey": pf.Prover.VerifierKey(),
	}, nil
}

func (pf *Proofs) resolveInclusion(p graphql.ResolveParams) (any, error) {
	c, err := CallerFrom(p.Context, p.Args)
	if err != nil {
		return nil, err
	}
	id, _ := p.Args["eventId"].(string)
	size, err := sizeArg(p.Args, "treeSize")
	if err != nil {
		return nil, err
	}
	proof, err := pf.InclusionProof(p.Context, c, id, size)
	if err != nil {
		return nil, proofError(err)
	}
	whole, err := json.Marshal(proof)
	if err != nil {
		return nil, APIErrorOf(err)
	}
	event := ""
	if proof.Event != nil {
		b, _ := json.Marshal(proof.Event)
		event = string(b)
	}
	return map[string]any{
		"shard": proof.Shard, "leafIndex": float64(proof.LeafIndex), "treeSize": float64(proof.TreeSize),
		"hashes": hashStrings(proof.Hashes), "checkpoint": proof.Checkpoint, "event": event, "proof": string(whole),
	}, nil
}

func (pf *Proofs) resolveConsistency(p graphql.ResolveParams) (any, error) {
	c, err := CallerFrom(p.Context, p.Args)
	if err != nil {
		return nil, err
	}
	shard, _ := p.Args["shard"].(string)
	from, err := sizeArg(p.Args, "from")
	if err != nil {
		return nil, err
	}
	to, err := sizeArg(p.Args, "to")
	if err != nil {
		return nil, err
	}
	if shard == "" {
		return nil, badRequest("shard is required")
	}
	proof, err := pf.ConsistencyProof(p.Context, c, shard, from, to)
	if err != nil {
		return nil, proofError(err)
	}
	whole, err := json.Marshal(proof)
	if err != nil {
		return nil, APIErrorOf(err)
	}
	return map[string]any{
		"shard": proof.Shard, "oldSize": float64(proof.OldSize), "newSize": float64(proof.NewSize),
		"hashes": hashStrings(proof.Hashes), "oldCheckpoint": proof.OldCheckpoint, "newCheckpoint": proof.NewCheckpoint,
		"proof": string(whole),
	}, nil
}

func hashStrings(hs []merkle.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}
