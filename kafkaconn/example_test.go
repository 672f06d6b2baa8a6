package kafkaconn_test

import (
	"fmt"

	"github.com/carecrest/hub/kafkaconn"
)

// The consumer dials through a Dialer, the producers and admin reads go
// through one shared Transport.
func Example() {
	cfg := kafkaconn.Config{
		TLS: kafkaconn.TLSConfig{Enabled: true, CAFile: "/etc/carecrest-hub/kafka/ca.crt"},
		SASL: kafkaconn.SASLConfig{
			Mechanism: kafkaconn.MechanismSCRAMSHA512, Username: "carecrest-hub",
			PasswordFile: "/var/run/secrets/carecrest-hub/kafka/password",
		},
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg)

	// With the files present:
	//
	//	dialer, err := kafkaconn.Dialer(cfg)
	//	reader := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, GroupID: group, Dialer: dialer, ...})
	//	transport, err := kafkaconn.Transport(cfg)
	//	dlq := &kafka.Writer{Addr: kafka.TCP(brokers...), Transport: transport, ...}

	// Output:
	// tls{enabled=true ca_file="/etc/carecrest-hub/kafka/ca.crt" cert_file="" key_file="" server_name="" insecure_skip_verify=false} sasl{mechanism="SCRAM-SHA-512" username="carecrest-hub" password="" password_file="/var/run/secrets/carecrest-hub/kafka/password"}
}
