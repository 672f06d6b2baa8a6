package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/carecrest/hub/audit"
	"github.com/carecrest/hub/broker"
	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/ingest"
	"github.com/carecrest/hub/server"
	"github.com/segmentio/kafka-go"
)

// startInstance starts a hub instance named name against an external
// Kafka-protocol broker, sharing dir (store and keyring) with its peers.
func startInstance(t *testing.T, name, dir string, brokers []string) *server.Hub {
	t.Helper()
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Instance = name
	cfg.SetDataDir(dir)
	cfg.Kafka.Backend, cfg.Kafka.Brokers = "kafka", brokers
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Ingest.BatchSize = 100
	cfg.Defaults()
	h, err := server.Start(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestTwoInstancesOneKilledMidStream: two hub instances in one consumer
// group share the partitions; one is stopped while traffic flows; every
// message ends up stored once and audited once, and both audit chains
// verify.
func TestTwoInstancesOneKilledMidStream(t *testing.T) {
	cfg := config.Config{}
	cfg.Defaults()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 4}, append(cfg.Kafka.Topics(), cfg.Ingest.DeadLetterTopic)...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dir := t.TempDir()
	a := startInstance(t, "hub-a", dir, b.Addrs())
	bb := startInstance(t, "hub-b", dir, b.Addrs())
	defer bb.Close()

	const rounds, perRound = 6, 200
	want, wantEvents := 0, 0
	for round := range rounds {
		msgs := mixedFeed(round, perRound)
		want += recordsIn(t, msgs)
		wantEvents += writeGroupsIn(t, msgs)
		publishTB(t, bb, msgs)
		if round == 2 {
			// Kill instance a mid-stream: whatever it had fetched but not
			// committed is redelivered to b.
			waitRecordsAtLeast(t, bb, want/3)
			if err := a.Close(); err != nil {
				t.Logf("close a: %v", err)
			}
		}
	}
	waitRecords(t, bb, want)
	time.Sleep(300 * time.Millisecond) // any straggling redelivery lands now

	records, err := bb.Store.CountRecords(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if records != want {
		t.Fatalf("records = %d, want exactly %d", records, want)
	}
	// Every record was audited exactly once as written.
	writes, err := bb.Store.Query(context.Background(), audit.Filter{Action: audit.ActionWrite, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, e := range writes {
		keys[e.Key] = true
	}
	if len(writes) != len(keys) || len(writes) != wantEvents {
		t.Fatalf("write events = %d (%d distinct), want %d: one per message and record type", len(writes), len(keys), wantEvents)
	}
	rep, err := audit.Verify(context.Background(), bb.Store)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	shards, _ := bb.Store.Shards(context.Background())
	if len(shards) != 2 {
		t.Errorf("shards = %v, want both instances' chains", shards)
	}
}

// writeGroupsIn counts the write audit events a feed should produce: one per
// message and record type.
func writeGroupsIn(t *testing.T, msgs []kafka.Message) int {
	n := 0
	for _, m := range msgs {
		recs, err := ingest.Decode(ingest.ContentHL7v2, "x", m.Value, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		types := map[string]bool{}
		for _, r := range recs {
			types[r.Type] = true
		}
		n += len(types)
	}
	return n
}

func waitRecordsAtLeast(t *testing.T, h *server.Hub, n int) {
	t.Helper()
	waitRecords(t, h, n)
}
