package mllp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/carecrest/hub/hl7"
)

// TestTLS serves MLLP over TLS with a throwaway self-signed certificate.
func TestTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)

	pub := &fakePublisher{}
	addr, _ := startServer(t, Config{TLS: &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}}, pub)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := WriteFrame(conn, []byte(adt("TLS-1", "\r"))); err != nil {
		t.Fatal(err)
	}
	r := NewReader(conn, 0)
	r.Timeout = 5 * time.Second
	frame, err := r.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	ack, err := hl7.Parse(frame, hl7.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	wantAck(t, ack, AckAccept, "TLS-1")
	if len(pub.published()) != 1 {
		t.Fatal("not published")
	}
}
