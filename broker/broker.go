// Package broker runs the embedded, in-process Kafka-protocol broker that
// the hub uses on embedded defaults (make demo, tests). It is franz-go's
// kfake: real Kafka clients (kafka-go, kcat, franz-go) talk to it over TCP on
// loopback. It keeps messages in memory only; production uses Kafka.
package broker

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config configures the embedded broker.
type Config struct {
	// Addr is the listen address (host:port); port 0 picks a free one.
	Addr string `yaml:"addr"`
	// Partitions per topic.
	Partitions int `yaml:"partitions"`
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:9092"
	}
	if c.Partitions == 0 {
		c.Partitions = 3
	}
}

// Broker is a running embedded broker.
type Broker struct {
	c *kfake.Cluster
}

// Start starts a broker with the given topics created up front; clients may
// also create topics.
func Start(cfg Config, topics ...string) (*Broker, error) {
	cfg.Defaults()
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker: address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("broker: port %q: %w", portStr, err)
	}
	if port == 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("broker: find a free port: %w", err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
	}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(cfg.Partitions), topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("broker: start: %w", err)
	}
	return &Broker{c: c}, nil
}

// Addrs returns the bootstrap addresses.
func (b *Broker) Addrs() []string { return b.c.ListenAddrs() }

// Close stops the broker; its messages are gone.
func (b *Broker) Close() { b.c.Close() }
