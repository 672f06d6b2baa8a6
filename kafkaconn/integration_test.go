package kafkaconn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// These tests run kafka-go producers and consumers through Dialer and
// Transport against an in-process Kafka-protocol broker (franz-go's kfake,
// as the embedded broker is) that requires TLS and SASL.

const (
	goodPassword  = "correct horse battery staple"
	wrongPassword = "Tr0ub4dor&3-wrong"
	topic         = "hub.in.lis"
)

type secureBroker struct {
	addrs []string
	pki   pki
}

func startSecureBroker(t *testing.T) secureBroker {
	t.Helper()
	p := newPKI(t)
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.TLS(p.serverTLS(false)),
		kfake.EnableSASL(),
		kfake.Superuser(MechanismSCRAMSHA256, "hub-256", goodPassword),
		kfake.Superuser(MechanismSCRAMSHA512, "hub-512", goodPassword),
		kfake.Superuser(MechanismPlain, "hub-plain", goodPassword),
		kfake.SeedTopics(2, topic),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return secureBroker{addrs: c.ListenAddrs(), pki: p}
}

func (b secureBroker) config(t *testing.T, mech, user, password string) Config {
	t.Helper()
	file := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return Config{
		TLS:  TLSConfig{Enabled: true, CAFile: b.pki.caFile},
		SASL: SASLConfig{Mechanism: mech, Username: user, PasswordFile: file},
	}
}

func TestBrokerProduceConsumeSCRAM256(t *testing.T) {
	b := startSecureBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := b.config(t, MechanismSCRAMSHA256, "hub-256", goodPassword)

	tr, err := Transport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	if err := Ping(ctx, tr, b.addrs); err != nil {
		t.Fatalf("ping: %v", err)
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(b.addrs...), Topic: topic, Transport: tr, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	msgs := []kafka.Message{
		{Key: []byte("a"), Value: []byte("MSH|1")}, {Key: []byte("b"), Value: []byte("MSH|2")},
		{Key: []byte("c"), Value: []byte("MSH|3")},
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}

	d, err := Dialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: b.addrs, GroupID: "carecrest-hub", GroupTopics: []string{topic}, Dialer: d,
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond,
		CommitInterval: 0, HeartbeatInterval: 500 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RebalanceTimeout: 2 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
		ReadBackoffMin: 10 * time.Millisecond, ReadBackoffMax: 100 * time.Millisecond,
	})
	defer r.Close()
	var got []kafka.Message
	for range msgs {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("consume: %v", err)
		}
		got = append(got, m)
	}

	client := &kafka.Client{Addr: kafka.TCP(b.addrs...), Transport: tr}
	lag := func() (total int64) {
		t.Helper()
		pls, err := GroupLag(ctx, client, "carecrest-hub", []string{topic})
		if err != nil {
			t.Fatalf("lag: %v", err)
		}
		if len(pls) != 2 {
			t.Fatalf("lag of %d partitions, want 2: %+v", len(pls), pls)
		}
		for _, pl := range pls {
			total += pl.Lag
		}
		return total
	}
	if n := lag(); n != 3 {
		t.Errorf("lag before commit = %d, want 3", n)
	}
	if err := r.CommitMessages(ctx, got...); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if n := lag(); n != 0 {
		t.Errorf("lag after commit = %d, want 0", n)
	}
}

// TestBrokerMechanisms: each mechanism authenticates with the right
// password and fails with a wrong one, and no error shows either password.
func TestBrokerMechanisms(t *testing.T) {
	b := startSecureBroker(t)
	for _, c := range []struct{ mech, user string }{
		{MechanismSCRAMSHA256, "hub-256"},
		{MechanismSCRAMSHA512, "hub-512"},
		{MechanismPlain, "hub-plain"},
	} {
		t.Run(c.mech, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			good, err := Transport(b.config(t, c.mech, c.user, goodPassword))
			if err != nil {
				t.Fatal(err)
			}
			defer good.CloseIdleConnections()
			if err := Ping(ctx, good, b.addrs); err != nil {
				t.Fatalf("ping with the right password: %v", err)
			}
			d, err := Dialer(b.config(t, c.mech, c.user, goodPassword))
			if err != nil {
				t.Fatal(err)
			}
			conn, err := d.DialContext(ctx, "tcp", b.addrs[0])
			if err != nil {
				t.Fatalf("dial with the right password: %v", err)
			}
			conn.Close()

			bad := b.config(t, c.mech, c.user, wrongPassword)
			tr, err := Transport(bad)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.CloseIdleConnections()
			errs := []error{Ping(ctx, tr, b.addrs)}
			w := &kafka.Writer{Addr: kafka.TCP(b.addrs...), Topic: topic, Transport: tr, RequiredAcks: kafka.RequireAll, MaxAttempts: 1}
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			errs = append(errs, w.WriteMessages(wctx, kafka.Message{Value: []byte("MSH|x")}))
			wcancel()
			w.Close()
			bd, _ := Dialer(bad)
			_, err = bd.DialContext(ctx, "tcp", b.addrs[0])
			errs = append(errs, err)
			for i, err := range errs {
				if err == nil {
					t.Errorf("attempt %d with the wrong password succeeded", i)
					continue
				}
				t.Logf("wrong password, attempt %d: %v", i, err)
				if strings.Contains(err.Error(), wrongPassword) || strings.Contains(err.Error(), goodPassword) {
					t.Errorf("error shows a password: %v", err)
				}
			}
		})
	}
}

// TestBrokerNeedsTLS: a client without TLS cannot talk to a TLS broker, and
// one that does not trust the broker's CA refuses it.
func TestBrokerNeedsTLS(t *testing.T) {
	b := startSecureBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for name, cfg := range map[string]Config{
		"plaintext":      {SASL: SASLConfig{Mechanism: MechanismSCRAMSHA256, Username: "hub-256", Password: goodPassword}},
		"system roots":   {TLS: TLSConfig{Enabled: true}, SASL: SASLConfig{Mechanism: MechanismSCRAMSHA256, Username: "hub-256", Password: goodPassword}},
		"wrong hostname": {TLS: TLSConfig{Enabled: true, CAFile: b.pki.caFile, ServerName: "kafka-9"}, SASL: SASLConfig{Mechanism: MechanismSCRAMSHA256, Username: "hub-256", Password: goodPassword}},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := Dialer(cfg)
			if err != nil {
				t.Fatal(err)
			}
			dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
			defer dcancel()
			if conn, err := d.DialContext(dctx, "tcp", b.addrs[0]); err == nil {
				conn.Close()
				t.Fatal("connected")
			} else if errors.Is(err, context.DeadlineExceeded) && name != "plaintext" {
				t.Errorf("TLS failure surfaced only as a timeout: %v", err)
			}
		})
	}
}
