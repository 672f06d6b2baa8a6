package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/audit/merkle"
	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/phi"
	"github.com/carecrest/hub/server"
	"github.com/carecrest/hub/store/clickhouse"
	"github.com/carecrest/hub/store/sqlite"
)

// hubctlShardSuffix names the audit chain shard hubctl appends its
// checkpoint events to: a running hub keeps its own shard's head in
// memory, so no other process may append to that shard.
const hubctlShardSuffix = "-hubctl"

// storeFlags are the flags of the commands that open the store.
type storeFlags struct{ cfgPath, dataDir *string }

func addStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		cfgPath: fs.String("config", "", "hub configuration file"),
		dataDir: fs.String("data-dir", "", "hub data directory (the demo uses data/demo)"),
	}
}

// openProofs opens the store and the key manager of the configuration and
// returns the proof service over them, with what closes them.
func openProofs(ctx context.Context, f storeFlags) (*merkle.Service, *config.Config, func(), error) {
	cfg, err := loadConfig(*f.cfgPath, *f.dataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	if cfg.Store.Backend == "sqlite" {
		if _, err := os.Stat(cfg.Store.SQLite.Path); err != nil {
			return nil, nil, nil, err
		}
	}
	instance := cfg.Instance
	cfg.Instance += hubctlShardSuffix
	st, err := server.OpenStore(ctx, cfg, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	mgr, closeMgr, err := server.KeyManager(ctx, cfg, nil)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	closeAll := func() { closeMgr(); st.Close() }
	sealer, err := phi.NewSealer(mgr, st, phi.CacheConfig{})
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	signer, err := merkle.KeySigner(ctx, sealer)
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	svc, err := merkle.NewService(merkle.Deps{Chain: st, Events: st, Log: st, Signer: signer, Instance: cfg.Instance})
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	cfg.Instance = instance
	return svc, cfg, closeAll, nil
}

// proofExit maps a proof service error to an exit code and prints it.
func proofExit(cmd string, err error) int {
	fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
	switch {
	case errors.Is(err, merkle.ErrTampered):
		return 3
	case errors.Is(err, merkle.ErrInvalid):
		return 2
	default:
		return 1
	}
}

// output opens -o (stdout when empty or "-").
func output(path string) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return os.Stdout, func() error { return nil }, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

func writeOut(path string, write func(io.Writer) error) error {
	w, closeW, err := output(path)
	if err != nil {
		return err
	}
	if err := write(w); err != nil {
		closeW()
		return err
	}
	return closeW()
}

func auditCheckpoint(ctx context.Context, args []string) int {
	const cmd = "audit checkpoint"
	fs := flag.NewFlagSet("hubctl "+cmd, flag.ContinueOnError)
	sf := addStoreFlags(fs)
	shard := fs.String("shard", "", "audit chain shard (default: the configured instance)")
	publish := fs.Bool("publish", false, "also append the checkpoint to the audit log (CC4100I)")
	vkey := fs.Bool("verifier-key", false, "print the verifier key that checks the hub's checkpoints, and exit")
	out := fs.String("o", "", "write the signed checkpoint to this file (default stdout)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	svc, cfg, closeAll, err := openProofs(ctx, sf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
		return 1
	}
	defer closeAll()
	if *vkey {
		fmt.Println(svc.VerifierKey())
		return 0
	}
	if *shard == "" {
		*shard = cfg.Instance
	}
	var cp merkle.Checkpoint
	if *publish {
		cp, err = svc.Publish(ctx, *shard)
	} else {
		cp, err = svc.Sign(ctx, *shard)
	}
	if err != nil {
		return proofExit(cmd, err)
	}
	if cp.Size == 0 {
		fmt.Fprintf(os.Stderr, "hubctl %s: shard %s holds no events\n", cmd, *shard)
	}
	if err := writeOut(*out, func(w io.Writer) error { _, err := io.WriteString(w, cp.Note); return err }); err != nil {
		fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
		return 1
	}
	verb := "signed"
	if *publish {
		verb = "signed and published"
	}
	fmt.Fprintf(os.Stderr, "%s a checkpoint of shard %s: %d events, root %s\n", verb, *shard, cp.Size, cp.Root)
	return 0
}

func auditProve(ctx context.Context, args []string) int {
	const cmd = "audit prove"
	fs := flag.NewFlagSet("hubctl "+cmd, flag.ContinueOnError)
	sf := addStoreFlags(fs)
	id := fs.String("event", "", "audit event id (ULID)")
	size := fs.Uint64("size", 0, "tree size to prove against (default: the latest checkpoint covering the event, published if none)")
	out := fs.String("o", "", "write the proof (JSON) to this file (default stdout)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *id == "" {
		fmt.Fprintf(os.Stderr, "hubctl %s: --event is required\n", cmd)
		return 2
	}
	svc, _, closeAll, err := openProofs(ctx, sf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
		return 1
	}
	defer closeAll()
	p, err := svc.InclusionProof(ctx, *id, *size)
	if err != nil {
		return proofExit(cmd, err)
	}
	if err := writeOut(*out, func(w io.Writer) error { return writeJSON(w, p) }); err != nil {
		fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "event %s is leaf %d of the %d events of shard %s (%d hashes)\n", *id, p.LeafIndex, p.TreeSize, p.Shard, len(p.Hashes))
	if p.Checkpoint == "" {
		fmt.Fprintf(os.Stderr, "no checkpoint of %d events is published: verify against one you hold\n", p.TreeSize)
	}
	return 0
}

func auditConsistency(ctx context.Context, args []string) int {
	const cmd = "audit consistency"
	fs := flag.NewFlagSet("hubctl "+cmd, flag.ContinueOnError)
	sf := addStoreFlags(fs)
	shard := fs.String("shard", "", "audit chain shard (default: the configured instance)")
	from := fs.Uint64("from", 0, "old tree size (events covered by the older checkpoint)")
	to := fs.Uint64("to", 0, "new tree size (default: the latest published checkpoint)")
	out := fs.String("o", "", "write the proof (JSON) to this file (default stdout)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from == 0 {
		fmt.Fprintf(os.Stderr, "hubctl %s: --from is required (the size of the older checkpoint)\n", cmd)
		return 2
	}
	svc, cfg, closeAll, err := openProofs(ctx, sf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
		return 1
	}
	defer closeAll()
	if *shard == "" {
		*shard = cfg.Instance
	}
	p, err := svc.ConsistencyProof(ctx, *shard, *from, *to)
	if err != nil {
		return proofExit(cmd, err)
	}
	if err := writeOut(*out, func(w io.Writer) error { return writeJSON(w, p) }); err != nil {
		fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "shard %s: the first %d events extend the first %d (%d hashes)\n", p.Shard, p.NewSize, p.OldSize, len(p.Hashes))
	return 0
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// auditVerifyProof checks a proof offline: no store, no key manager, only
// the proof, the event, the checkpoints and the verifier key.
func auditVerifyProof(_ context.Context, args []string) int {
	const cmd = "audit verify-proof"
	fs := flag.NewFlagSet("hubctl "+cmd, flag.ContinueOnError)
	proofPath := fs.String("proof", "", "proof file (from hubctl audit prove or audit consistency, or GraphQL)")
	cpPath := fs.String("checkpoint", "", "trusted signed checkpoint (the new one, for a consistency proof); default: the one in the proof")
	oldPath := fs.String("old-checkpoint", "", "for a consistency proof: the older trusted checkpoint; default: the one in the proof")
	eventPath := fs.String("event", "", "for an inclusion proof: the event JSON to check; default: the event in the proof")
	key := fs.String("key", "", "verifier key (name+hash+key, from hubctl audit checkpoint --verifier-key)")
	keyFile := fs.String("key-file", "", "file holding the verifier key")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	vkey := strings.TrimSpace(*key)
	if vkey == "" && *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
			return 2
		}
		vkey = strings.TrimSpace(string(b))
	}
	if *proofPath == "" || vkey == "" {
		fmt.Fprintf(os.Stderr, "hubctl %s: --proof and --key (or --key-file) are required\n", cmd)
		return 2
	}
	raw, err := os.ReadFile(*proofPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
		return 2
	}
	readNote := func(path, fallback, what string) (string, bool) {
		if path == "" {
			if fallback == "" {
				fmt.Fprintf(os.Stderr, "hubctl %s: the proof carries no %s checkpoint: pass one you trust\n", cmd, what)
				return "", false
			}
			fmt.Fprintf(os.Stderr, "using the %s checkpoint in the proof (signed by the key; compare it with one you hold)\n", what)
			return fallback, true
		}
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
			return "", false
		}
		return string(b), true
	}
	var kind struct {
		OldSize *uint64 `json:"oldSize"`
	}
	if err := json.Unmarshal(raw, &kind); err != nil {
		fmt.Fprintf(os.Stderr, "hubctl %s: proof file is not JSON: %v\n", cmd, err)
		return 2
	}
	if kind.OldSize != nil {
		var p merkle.ConsistencyProof
		if err := json.Unmarshal(raw, &p); err != nil {
			fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
			return 2
		}
		oldCP, ok1 := readNote(*oldPath, p.OldCheckpoint, "old")
		newCP, ok2 := readNote(*cpPath, p.NewCheckpoint, "new")
		if !ok1 || !ok2 {
			return 2
		}
		if err := merkle.VerifyConsistency(oldCP, newCP, p, vkey); err != nil {
			fmt.Printf("FAILED: %v\n", err)
			return 3
		}
		fmt.Printf("OK: the %d events of shard %s extend its first %d, as both checkpoints say\n", p.NewSize, p.Shard, p.OldSize)
		return 0
	}
	var p merkle.InclusionProof
	if err := json.Unmarshal(raw, &p); err != nil {
		fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
		return 2
	}
	cp, ok := readNote(*cpPath, p.Checkpoint, "trusted")
	if !ok {
		return 2
	}
	var ev []byte
	switch {
	case *eventPath != "":
		if ev, err = os.ReadFile(*eventPath); err != nil {
			fmt.Fprintf(os.Stderr, "hubctl %s: %v\n", cmd, err)
			return 2
		}
	case p.Event != nil:
		ev, _ = json.Marshal(p.Event)
	default:
		fmt.Fprintf(os.Stderr, "hubctl %s: the proof carries no event: pass --event\n", cmd)
		return 2
	}
	if err := merkle.VerifyInclusion(ev, p, cp, vkey); err != nil {
		fmt.Printf("FAILED: %v\n", err)
		return 3
	}
	fmt.Printf("OK: the event is leaf %d of the %d events of shard %s covered by the checkpoint\n", p.LeafIndex, p.TreeSize, p.Shard)
	return 0
}

// countingStore gives a store's chains a cheap count, for the progress of
// audit verify.
type countingStore struct{ server.Store }

var _ audit.ChainCounter = countingStore{}

func (c countingStore) CountChain(ctx context.Context, shard string) (uint64, error) {
	return c.countWith(ctx, c.Store, shard)
}

func (countingStore) countWith(ctx context.Context, st any, shard string) (uint64, error) {
	var n uint64
	switch s := st.(type) {
	case *sqlite.Store:
		err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM audit_events WHERE shard = ?`, shard).Scan(&n)
		return n, err
	case *clickhouse.Store:
		err := s.Conn().QueryRow(ctx, `SELECT count() FROM audit_chain WHERE shard = ?`, shard).Scan(&n)
		return n, err
	default:
		return 0, errors.New("cannot count")
	}
}

// progressBar draws audit.Verify's progress on a terminal (a bar redrawn
// in place), or prints a plain line now and then when stderr is a file or
// a pipe.
type progressBar struct {
	w     io.Writer
	tty   bool
	every time.Duration
	start time.Time
	last  time.Time
	now   func() time.Time
}

func newProgressBar(w *os.File) *progressBar {
	tty := false
	if fi, err := w.Stat(); err == nil {
		tty = fi.Mode()&os.ModeCharDevice != 0
	}
	b := &progressBar{w: w, tty: tty, every: 10 * time.Second, now: time.Now}
	if tty {
		b.every = 100 * time.Millisecond
	}
	b.start = b.now()
	return b
}

func (b *progressBar) update(p audit.Progress) {
	now := b.now()
	if !p.Done && p.Events > 0 && now.Sub(b.last) < b.every {
		return
	}
	b.last = now
	el := now.Sub(b.start).Seconds()
	rate := float64(p.Events) / max(el, 1e-9)
	line := fmt.Sprintf("shard %d/%d %s: %d events", p.ShardIndex+1, p.Shards, p.Shard, p.Events)
	if p.Done {
		line = fmt.Sprintf("%d shard(s): %d events", p.Shards, p.Events)
	}
	if p.Total > 0 {
		frac := min(float64(p.Events)/float64(p.Total), 1)
		line = fmt.Sprintf("%s / %d (%.1f%%)", line, p.Total, 100*frac)
		if b.tty {
			const width = 30
			fill := int(frac * width)
			line = "[" + strings.Repeat("=", fill) + strings.Repeat(" ", width-fill) + "] " + line
		}
	}
	line += fmt.Sprintf(", %.0f events/s", rate)
	if p.Total > 0 && !p.Done && rate > 0 && p.Events <= p.Total {
		eta := time.Duration(float64(p.Total-p.Events) / rate * float64(time.Second))
		line += ", ETA " + eta.Round(time.Second).String()
	}
	switch {
	case b.tty && p.Done:
		fmt.Fprintf(b.w, "\r%s\x1b[K\n", line)
	case b.tty:
		fmt.Fprintf(b.w, "\r%s\x1b[K", line)
	default:
		fmt.Fprintln(b.w, "verify: "+line)
	}
}
