package erasure

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/keys"
	"github.com/carecrest/hub/keys/local"
	"github.com/carecrest/hub/phi"
	"github.com/carecrest/hub/policy"
	"github.com/carecrest/hub/query"
	"github.com/carecrest/hub/store/sqlite"
)

// fixture is one hub instance's erasure service over real components: the
// SQLite store, a local keyring, the sealer's key cache and the embedded
// policy.
type fixture struct {
	st     *sqlite.Store
	sealer *phi.Sealer
	reader *query.Reader
	svc    *Service
	keys   *flakyKeys
}

// flakyKeys fails DestroyWrapped while failDestroy is set, as a crash or an
// outage midway through an erasure would.
type flakyKeys struct {
	keys.MaintainedStore
	failDestroy atomic.Bool
}

func (f *flakyKeys) DestroyWrapped(ctx context.Context, owner string) error {
	if f.failDestroy.Load() {
		return errors.New("store: unavailable (test)")
	}
	return f.MaintainedStore.DestroyWrapped(ctx, owner)
}

var engine *policy.Engine

func policyEngine(t *testing.T) *policy.Engine {
	t.Helper()
	if engine == nil {
		e, err := policy.New(context.Background(), policy.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		engine = e
	}
	return engine
}

func newFixture(t *testing.T, dir, shard string, group func(context.Context, string) (string, []string, error)) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "hub.db"), Shard: shard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := local.Open(filepath.Join(dir, "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := phi.NewSealer(kr, st, phi.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := &query.Reader{Records: st, Consents: st, Decider: policyEngine(t), Opener: sealer, Audit: st, Querier: st}
	fk := &flakyKeys{MaintainedStore: st}
	svc, err := New(Deps{Governor: r, Audit: st, Keys: fk, Evict: sealer.Evict, Group: group})
	if err != nil {
		t.Fatal(err)
	}
	r.Erasures = svc
	return &fixture{st: st, sealer: sealer, reader: r, svc: svc, keys: fk}
}

func caller(id string, roles ...string) query.Caller {
	return query.Caller{Subject: policy.Subject{ID: id, Kind: "user", Roles: roles, Purpose: "HOPERAT"}, Application: "test", RequestID: "req-" + id}
}

var officer = caller("po.kim", "privacy_officer")

// patient creates the patient's data key, as ingest does on first sight.
func (f *fixture) patient(t *testing.T, id string) {
	t.Helper()
	if _, err := f.sealer.DataKey(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) events(t *testing.T, patient string, codes ...string) []audit.Event {
	t.Helper()
	evs, err := f.st.Query(context.Background(), audit.Filter{PatientID: patient, Codes: codes, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (f *fixture) hasKey(t *testing.T, owner string) bool {
	t.Helper()
	_, ok, err := f.st.GetWrapped(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestEraseUnderLegalHold(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, t.TempDir(), "hub-a", nil)
	const p = "Pq3zk7a1"
	f.patient(t, p)

	st, err := f.svc.PlaceHold(ctx, officer, p, "litigation", "CASE-2026-017")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Holds) != 1 || st.Holds[0].CaseRef != "CASE-2026-017" || st.Holds[0].Category != "litigation" || st.Holds[0].PlacedBy != "po.kim" {
		t.Fatalf("after placing: %+v", st)
	}
	if _, err := f.svc.PlaceHold(ctx, officer, p, "regulatory", "REG/4"); err != nil {
		t.Fatal(err)
	}

	_, err = f.svc.Erase(ctx, officer, p)
	if !errors.Is(err, query.ErrLegalHold) || !strings.Contains(err.Error(), "CASE-2026-017") {
		t.Fatalf("erase under hold: %v, want ErrLegalHold naming the case", err)
	}
	if !f.hasKey(t, p) {
		t.Fatal("erase under hold destroyed the key")
	}
	deny := f.events(t, p, audit.CodeErasureDeny)
	if len(deny) != 1 || deny[0].Outcome != audit.OutcomeDeny || !strings.Contains(deny[0].Reason, "legal hold") || deny[0].ActorID != "po.kim" {
		t.Fatalf("refusal events: %+v", deny)
	}

	// Lifting one case leaves the other in force.
	if st, err = f.svc.LiftHold(ctx, officer, p, "CASE-2026-017"); err != nil || len(st.Holds) != 1 || st.Holds[0].CaseRef != "REG/4" {
		t.Fatalf("lift: %+v, %v", st, err)
	}
	if _, err := f.svc.Erase(ctx, officer, p); !errors.Is(err, query.ErrLegalHold) {
		t.Fatalf("erase with one hold left: %v", err)
	}
	if _, err := f.svc.LiftHold(ctx, officer, p, "REG/4"); err != nil {
		t.Fatal(err)
	}

	st, err = f.svc.Erase(ctx, officer, p)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Erased || st.ErasureIncomplete || st.ErasedAt.IsZero() || len(st.Holds) != 0 {
		t.Fatalf("after erasure: %+v", st)
	}
	if f.hasKey(t, p) {
		t.Fatal("key still stored after erasure")
	}
	// The key is gone for good: not in the cache, not re-creatable.
	if _, err := f.sealer.DataKey(ctx, p); !errors.Is(err, keys.ErrDestroyed) {
		t.Fatalf("DataKey after erasure: %v, want keys.ErrDestroyed", err)
	}
	// Intent, then completion.
	evs := f.events(t, p, audit.CodeErasure)
	if len(evs) != 2 || !strings.HasPrefix(evs[0].Reason, reasonRequested) || !strings.HasPrefix(evs[1].Reason, reasonDone) {
		t.Fatalf("erasure events: %+v", evs)
	}
	if evs[0].PolicyRevision == "" || !slices.Contains(evs[0].Rules, "governance.role") {
		t.Errorf("intent event lacks the policy decision: %+v", evs[0])
	}
	if !evs[1].Time.After(evs[0].Time) {
		t.Errorf("completion %v not after intent %v", evs[1].Time, evs[0].Time)
	}

	at, erased, err := f.svc.ErasedAt(ctx, p)
	if err != nil || !erased || !at.Equal(evs[1].Time) {
		t.Fatalf("ErasedAt = %v, %v, %v; want the completion's time %v", at, erased, err, evs[1].Time)
	}
	// Another instance (no cache) folds the same date from the log.
	other, err := New(Deps{Governor: f.reader, Audit: f.st, Keys: f.st})
	if err != nil {
		t.Fatal(err)
	}
	if at2, erased, err := other.ErasedAt(ctx, p); err != nil || !erased || !at2.Equal(at) {
		t.Fatalf("ErasedAt from the log = %v, %v, %v; want %v", at2, erased, err, at)
	}
	// Erased is for ever: a second erasure and a new hold are refused.
	if _, err := f.svc.Erase(ctx, officer, p); !errors.Is(err, query.ErrErased) {
		t.Fatalf("second erasure: %v, want ErrErased", err)
	}
	if _, err := f.svc.PlaceHold(ctx, officer, p, "litigation", "LATE-1"); !errors.Is(err, query.ErrErased) {
		t.Fatalf("hold after erasure: %v, want ErrErased", err)
	}
	rep, err := audit.Verify(ctx, f.st)
	if err != nil || !rep.OK() {
		t.Fatalf("audit verify after erasure: %+v, %v", rep, err)
	}
}

func TestGovernedByPolicy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, t.TempDir(), "hub-a", nil)
	const p = "Pabc234"
	f.patient(t, p)
	for _, c := range []query.Caller{caller("rn.ito", "nurse"), caller("sa.ng", "security_analyst")} {
		var deny *query.DenyError
		if _, err := f.svc.Erase(ctx, c, p); !errors.As(err, &deny) {
			t.Errorf("%s erase: %v, want a denial", c.Subject.ID, err)
		}
		if _, err := f.svc.PlaceHold(ctx, c, p, "litigation", "C-1"); !errors.As(err, &deny) {
			t.Errorf("%s place hold: %v, want a denial", c.Subject.ID, err)
		}
	}
	if !f.hasKey(t, p) {
		t.Fatal("a denied erasure destroyed the key")
	}
	if n := len(f.events(t, p, audit.CodeErasureDeny)); n != 2 {
		t.Errorf("%d erasure denials audited, want 2", n)
	}
	// A denied hold is audited (its own code) and does not count as a hold.
	if held := f.events(t, p, audit.CodeLegalHold); len(held) != 0 {
		t.Fatalf("hold events: %+v", held)
	}
	if denied := f.events(t, p, audit.CodeLegalHoldDeny); len(denied) != 2 || denied[0].Outcome != audit.OutcomeDeny {
		t.Fatalf("denied hold events: %+v", denied)
	}
	st, err := f.svc.Status(ctx, officer, p)
	if err != nil || len(st.Holds) != 0 || st.Erased {
		t.Fatalf("status: %+v, %v", st, err)
	}
	// Status is an audit query: the security analyst may, the nurse may not.
	if _, err := f.svc.Status(ctx, caller("sa.ng", "security_analyst"), p); err != nil {
		t.Errorf("security analyst status: %v", err)
	}
	var deny *query.DenyError
	if _, err := f.svc.Status(ctx, caller("rn.ito", "nurse"), p); !errors.As(err, &deny) {
		t.Errorf("nurse status: %v, want a denial", err)
	}
	if n := len(f.events(t, p, audit.CodeAuditQuery, audit.CodeAuditQueryDeny)); n != 3 {
		t.Errorf("%d status queries audited, want 3", n)
	}
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, t.TempDir(), "hub-a", nil)
	const p = "Pabc234"
	f.patient(t, p)
	bad := func(what string, err error) {
		t.Helper()
		var api *query.APIError
		if !errors.As(err, &api) || api.Code != "BAD_REQUEST" {
			t.Errorf("%s: %v, want BAD_REQUEST", what, err)
		}
	}
	_, err := f.svc.Erase(ctx, officer, "MRN100001")
	bad("erase by MRN", err)
	_, err = f.svc.Erase(ctx, officer, "")
	bad("erase without patient", err)
	_, err = f.svc.PlaceHold(ctx, officer, p, "gossip", "C-1")
	bad("unknown category", err)
	_, err = f.svc.PlaceHold(ctx, officer, p, "litigation", "Smith v. Jones")
	bad("free-text case reference", err)
	_, err = f.svc.PlaceHold(ctx, officer, p, "litigation", strings.Repeat("x", 65))
	bad("long case reference", err)
	_, err = f.svc.LiftHold(ctx, officer, p, "NEVER-HELD")
	bad("lift of a case not held", err)
	if _, err := f.svc.PlaceHold(ctx, officer, p, "audit", "A-1"); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.PlaceHold(ctx, officer, p, "audit", "A-1")
	bad("same case twice", err)
	// A patient with no data key is not erased by mistake (typo, unknown id).
	if _, err := f.svc.Erase(ctx, officer, "Pnosuchpatient"); !errors.Is(err, query.ErrNotFound) {
		t.Errorf("erase unknown patient: %v, want ErrNotFound", err)
	}
	if _, ok, _ := f.st.GetWrapped(ctx, "Pnosuchpatient"); ok {
		t.Error("erasing an unknown patient created a key")
	}
}

func TestIncompleteErasureCompletes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, t.TempDir(), "hub-a", nil)
	const p = "Pcrash1"
	f.patient(t, p)
	f.keys.failDestroy.Store(true)
	if _, err := f.svc.Erase(ctx, officer, p); err == nil {
		t.Fatal("erasure with a failing key store succeeded")
	}
	st, err := f.svc.Status(ctx, officer, p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Erased || !st.ErasureIncomplete {
		t.Fatalf("after a failed erasure: %+v, want not erased, incomplete", st)
	}
	// The intent is in the log; no completion.
	if evs := f.events(t, p, audit.CodeErasure); len(evs) != 1 || !strings.HasPrefix(evs[0].Reason, reasonRequested) {
		t.Fatalf("events after a failed erasure: %+v", evs)
	}
	if _, erased, _ := f.svc.ErasedAt(ctx, p); erased {
		t.Fatal("ErasedAt says erased while the key is stored")
	}
	f.keys.failDestroy.Store(false)
	if st, err = f.svc.Erase(ctx, officer, p); err != nil || !st.Erased || st.ErasureIncomplete {
		t.Fatalf("erasing again: %+v, %v", st, err)
	}
	if st, err = f.svc.Status(ctx, officer, p); err != nil || !st.Erased || st.ErasureIncomplete {
		t.Fatalf("status after completing: %+v, %v", st, err)
	}
}

func TestAliasesAreErased(t *testing.T) {
	ctx := context.Background()
	group := func(_ context.Context, id string) (string, []string, error) {
		if id == "Psurvivor" || id == "Pretired" {
			return "Psurvivor", []string{"Psurvivor", "Pretired"}, nil
		}
		return id, []string{id}, nil
	}
	f := newFixture(t, t.TempDir(), "hub-a", group)
	f.patient(t, "Psurvivor")
	f.patient(t, "Pretired")
	f.patient(t, "Pother")
	// A hold placed on the retired id holds the person.
	if _, err := f.svc.PlaceHold(ctx, officer, "Pretired", Categories[0], "LIT-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Erase(ctx, officer, "Psurvivor"); !errors.Is(err, query.ErrLegalHold) {
		t.Fatalf("erase with a hold on a merged id: %v, want ErrLegalHold", err)
	}
	if _, err := f.svc.LiftHold(ctx, officer, "Psurvivor", "LIT-1"); err != nil {
		t.Fatal(err)
	}
	// Erasing through the retired id erases the whole person.
	if _, err := f.svc.Erase(ctx, officer, "Pretired"); err != nil {
		t.Fatal(err)
	}
	if f.hasKey(t, "Psurvivor") || f.hasKey(t, "Pretired") || !f.hasKey(t, "Pother") {
		t.Fatal("erasure must destroy the survivor's and the retired id's keys, and only those")
	}
	if _, erased, err := f.svc.ErasedAt(ctx, "Pretired"); err != nil || !erased {
		t.Fatalf("retired id erased = %v, %v", erased, err)
	}
}

// A second hub instance on the same storage stops using an erased
// patient's cached key once Watch sees the erasure, and answers reads from
// the shared state at once.
func TestOtherInstanceEvicts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := newFixture(t, dir, "hub-a", nil)
	b := newFixture(t, dir, "hub-b", nil)
	const p = "Pshared1"
	a.patient(t, p)
	if _, err := b.sealer.DataKey(ctx, p); err != nil { // cached on b
		t.Fatal(err)
	}
	if _, err := a.svc.Erase(ctx, officer, p); err != nil {
		t.Fatal(err)
	}
	if _, erased, err := b.svc.ErasedAt(ctx, p); err != nil || !erased {
		t.Fatalf("instance b: erased = %v, %v", erased, err)
	}
	if _, err := b.sealer.DataKey(ctx, p); err != nil {
		t.Fatalf("before watching, b still has the cached key (expected): %v", err)
	}
	if err := b.svc.evictErased(ctx, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.sealer.DataKey(ctx, p); !errors.Is(err, keys.ErrDestroyed) {
		t.Fatalf("after watching, b's DataKey = %v, want keys.ErrDestroyed", err)
	}

	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { b.svc.Watch(wctx, 10*time.Millisecond); close(done) }()
	cancel()
	<-done // Watch returns when its context ends
}

func TestReadOfErasedPatient(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, t.TempDir(), "hub-a", nil)
	const p = "Pread1"
	f.patient(t, p)
	if _, err := f.svc.Erase(ctx, officer, p); err != nil {
		t.Fatal(err)
	}
	for _, c := range []query.Caller{caller("dr.osei", "physician"), caller("bc.ruiz", "billing_clerk"), officer} {
		c.Subject.Purpose = "TREAT"
		_, err := f.reader.ReadPatient(ctx, c, p, map[string][]string{"Patient": {"*"}})
		var erased *query.ErasedError
		if !errors.As(err, &erased) || erased.At.IsZero() {
			t.Fatalf("%s read: %v, want ErasedError with a date", c.Subject.ID, err)
		}
		api := query.APIErrorOf(err).(*query.APIError)
		if api.Code != "ERASED" || !strings.HasPrefix(api.Message, "patient erased on ") {
			t.Errorf("API error = %+v", api)
		}
	}
	reads := f.events(t, p, audit.CodeRecordReadDeny)
	if len(reads) != 3 || reads[0].Reason == "" || !strings.HasPrefix(reads[0].Reason, "patient erased") {
		t.Fatalf("erased reads audited: %+v", reads)
	}
}
