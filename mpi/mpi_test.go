package mpi

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/carecrest/hub/record"
)

// memLinks is an in-memory Links: the first link of a hash wins.
type memLinks struct {
	mu      sync.Mutex
	m       map[string]string
	lookups int
	fail    error
}

func newMem() *memLinks { return &memLinks{m: map[string]string{}} }

func (l *memLinks) LookupLinks(_ context.Context, hashes []string) (map[string]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, l.fail
	}
	l.lookups++
	out := map[string]string{}
	for _, h := range hashes {
		if p, ok := l.m[h]; ok {
			out[h] = p
		}
	}
	return out, nil
}

func (l *memLinks) PutLinks(_ context.Context, links map[string]string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	for h, p := range links {
		if _, ok := l.m[h]; !ok {
			l.m[h] = p
		}
	}
	return nil
}

var (
	ehrMRN = record.Identifier{System: "urn:oid:1.2.3.ehr", Value: "MRN-1"}
	lisMRN = record.Identifier{System: "urn:oid:1.2.3.lis", Value: "L-77"}
	other  = record.Identifier{System: "urn:oid:1.2.3.ehr", Value: "MRN-2"}
)

func TestResolveLinksSharedIdentifiers(t *testing.T) {
	ctx := context.Background()
	x := New([]byte("0123456789abcdef0123456789abcdef"), newMem())
	ids, err := x.ResolveAll(ctx, [][]record.Identifier{{ehrMRN}, {ehrMRN, lisMRN}, {lisMRN}, {other}})
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("records sharing identifiers resolved to %v, want one patient", ids[:3])
	}
	if ids[3] == ids[0] {
		t.Error("an unrelated identifier joined the patient")
	}
	if !strings.HasPrefix(ids[0], "P") {
		t.Errorf("enterprise id %q", ids[0])
	}
	// Later messages naming only the LIS identifier find the same patient.
	again, err := x.ResolveAll(ctx, [][]record.Identifier{{lisMRN}})
	if err != nil || again[0] != ids[0] {
		t.Fatalf("re-resolve = %v, %v; want %s", again, err, ids[0])
	}
	p, ok, err := x.Lookup(ctx, ehrMRN)
	if err != nil || !ok || p != ids[0] {
		t.Fatalf("Lookup = %s %v %v", p, ok, err)
	}
}

func TestResolveIsDeterministicAcrossRestarts(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	a, _ := New(key, newMem()).ResolveAll(context.Background(), [][]record.Identifier{{ehrMRN}})
	b, _ := New(key, newMem()).ResolveAll(context.Background(), [][]record.Identifier{{ehrMRN}})
	if a[0] != b[0] {
		t.Fatalf("a redelivered message would get a new patient: %s vs %s", a[0], b[0])
	}
	c, _ := New([]byte("another key, another hospital...!"), newMem()).ResolveAll(context.Background(), [][]record.Identifier{{ehrMRN}})
	if c[0] == a[0] {
		t.Fatal("enterprise ids do not depend on the index key")
	}
}

func TestStoredLinkWins(t *testing.T) {
	links := newMem()
	x := New([]byte("k"), links)
	links.m[x.Hash(ehrMRN)] = "Pexisting"
	ids, err := x.ResolveAll(context.Background(), [][]record.Identifier{{lisMRN, ehrMRN}})
	if err != nil || ids[0] != "Pexisting" {
		t.Fatalf("ids = %v, %v; want the stored patient", ids, err)
	}
	if links.m[x.Hash(lisMRN)] != "Pexisting" {
		t.Error("the new identifier was not linked to the stored patient")
	}
}

func TestHashesHidePlaintext(t *testing.T) {
	links := newMem()
	x := New([]byte("k"), links)
	if _, err := x.ResolveAll(context.Background(), [][]record.Identifier{{ehrMRN}}); err != nil {
		t.Fatal(err)
	}
	for h, p := range links.m {
		if strings.Contains(h, "MRN-1") || strings.Contains(p, "MRN-1") {
			t.Fatal("identifier stored in plaintext")
		}
	}
	if x.Hash(record.Identifier{System: "a", Value: "bc"}) == x.Hash(record.Identifier{System: "ab", Value: "c"}) {
		t.Fatal("system/value boundary is ambiguous")
	}
}

func TestNoIdentifierAndStoreErrors(t *testing.T) {
	x := New([]byte("k"), newMem())
	if _, err := x.ResolveAll(context.Background(), [][]record.Identifier{{{System: "s", Value: "  "}}}); !errors.Is(err, ErrNoIdentifier) {
		t.Fatalf("err = %v, want ErrNoIdentifier", err)
	}
	links := newMem()
	links.fail = errors.New("down")
	if _, err := New([]byte("k"), links).ResolveAll(context.Background(), [][]record.Identifier{{ehrMRN}}); err == nil {
		t.Fatal("a store error was swallowed")
	}
}

func TestCacheSavesLookups(t *testing.T) {
	links := newMem()
	x := New([]byte("k"), links)
	ctx := context.Background()
	x.ResolveAll(ctx, [][]record.Identifier{{ehrMRN}})
	before := links.lookups
	for range 10 {
		x.ResolveAll(ctx, [][]record.Identifier{{ehrMRN}})
	}
	if links.lookups != before {
		t.Fatalf("known identifiers looked up %d more times", links.lookups-before)
	}
}
